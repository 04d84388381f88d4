//! What the audit is asked to look for: the options of the `pveha_audit` data source and of `pveha audit`,
//! with their defaults, and the one error the engine can return. Parsing only; no I/O.

use std::collections::BTreeMap;
use std::time::Duration;

use pveha_model::SnapshotError;

/// Why an audit could not run at all (odd cluster data never fails it; it becomes a note instead).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The snapshot cannot be read as a cluster.
    #[error("cannot audit this snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    /// A `critical_name_patterns` entry is not a valid regular expression.
    #[error("critical name pattern '{pattern}' is not a valid regular expression: {message}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// The regex engine's complaint.
        message: String,
    },
    /// A duration string such as `24h` that does not parse.
    #[error("'{0}' is not a duration (expected e.g. 90s, 30m, 24h, 7d or 1h30m)")]
    Duration(String),
}

/// The audit's options, with the data source's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Guests carrying any of these tags are critical.
    pub critical_tags: Vec<String>,
    /// Guests with these VMIDs are critical.
    pub critical_vmids: Vec<u64>,
    /// Guests whose name matches any of these regular expressions are critical.
    pub critical_name_patterns: Vec<String>,
    /// Explicit services: name → member VMIDs.
    pub services: BTreeMap<String, Vec<u64>>,
    /// Infer services from guest names (`traefik` / `traefik-2`).
    pub infer_services: bool,
    /// Allowed HA load difference between online nodes, in percent.
    pub balance_tolerance_percent: f64,
    /// How far back from the snapshot's `captured_at` the journal is read.
    pub journal_window: Duration,
    /// Recovery time critical services must stay under.
    pub rto_target: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            critical_tags: vec!["critical".to_string()],
            critical_vmids: Vec::new(),
            critical_name_patterns: Vec::new(),
            services: BTreeMap::new(),
            infer_services: true,
            balance_tolerance_percent: 25.0,
            journal_window: Duration::from_secs(24 * 3600),
            rto_target: Duration::from_secs(120),
        }
    }
}

impl Options {
    /// Checks the options that can be wrong on their own (the name patterns), so callers can fail early.
    pub fn check(&self) -> Result<(), AuditError> {
        self.name_patterns().map(|_| ())
    }

    /// The compiled name patterns.
    pub(crate) fn name_patterns(&self) -> Result<Vec<regex::Regex>, AuditError> {
        self.critical_name_patterns
            .iter()
            .map(|p| {
                regex::Regex::new(p).map_err(|e| AuditError::Pattern {
                    pattern: p.clone(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Parses a duration such as `90s`, `30m`, `24h`, `7d`, `1h30m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, AuditError> {
    let bad = || AuditError::Duration(text.to_string());
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for ch in trimmed.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let value: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_forms_users_write() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        for bad in ["", "h", "24x", "1h30", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn invalid_name_pattern_is_named() {
        let options = Options {
            critical_name_patterns: vec!["traefik(".to_string()],
            ..Options::default()
        };
        let err = options.check().unwrap_err().to_string();
        assert!(err.contains("traefik("), "{err}");
    }
}
