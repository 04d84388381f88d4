//! Journal findings, from each node's kernel journal within the window before `captured_at`: `memory-errors`
//! (EDAC / ECC / IBECC / MCE), `filesystem-errors` (ext4 / XFS / block I/O, with the device) and `unclean-shutdown`
//! (a `-- Reboot --` with no clean shutdown before it). Journal times carry no year or zone: the year is taken
//! from `captured_at` and the times are read as UTC.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::{finding, short_list, Ctx};
use crate::report::{Finding, Severity};

static MEMORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"EDAC.*(?i:error)|EDAC.*\b(?:CE|UE)\b|(?i:ibecc)|mce: \[Hardware Error\]|Machine check events logged|(?i:memory failure:)")
        .unwrap_or_else(|e| unreachable!("static pattern: {e}"))
});
static UNCORRECTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bUE\b|(?i:uncorrect|fatal)")
        .unwrap_or_else(|e| unreachable!("static pattern: {e}"))
});
static FILESYSTEM: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"EXT4-fs error \(device ([^)\s]+)\)",
        r"EXT4-fs \(([^)\s]+)\):.*(?i:error|read-only)",
        r"XFS \(([^)\s]+)\):.*(?i:error|corrupt|shut ?down)",
        r"I/O error,? (?:on )?dev(?:ice)? ([A-Za-z0-9_\-]+)",
    ]
    .iter()
    .map(|p| Regex::new(p).unwrap_or_else(|e| unreachable!("static pattern: {e}")))
    .collect()
});

/// Every line either family's patterns can match contains one of these (case aside): one scan of a line decides
/// whether the patterns need to look at it at all, and almost every journal line is neither.
static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i:edac|ibecc|mce: \[hardware error\]|machine check events logged|memory failure:|ext4-fs|xfs \(|i/o error)")
        .unwrap_or_else(|e| unreachable!("static pattern: {e}"))
});
/// [`CLEAN_MARKERS`] as one pattern, so a line is searched once for all of them.
static CLEAN: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives: Vec<String> = CLEAN_MARKERS.iter().map(|m| regex::escape(m)).collect();
    Regex::new(&alternatives.join("|")).unwrap_or_else(|e| unreachable!("static pattern: {e}"))
});

/// Lines that only a clean shutdown or reboot writes at the end of a boot.
const CLEAN_MARKERS: &[&str] = &[
    "systemd-shutdown",
    "Reached target System Reboot",
    "Reached target System Power Off",
    "Reached target Shutdown",
    "Reached target Final Step",
    "Journal stopped",
    "System is rebooting",
    "System is powering down",
    "reboot: Restarting system",
    "reboot: Power down",
];

/// What one node's journal shows within the window.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub memory: Vec<String>,
    pub uncorrected: bool,
    /// Device → evidence lines.
    pub filesystem: BTreeMap<String, Vec<String>>,
    /// For each unclean boot: the last line written before it.
    pub unclean: Vec<String>,
}

/// The timestamp at the start of a journal line (`Nov 10 08:36:35 …` or ISO `2025-11-10T08:36:35…`).
pub(crate) fn line_time(line: &str, captured: OffsetDateTime) -> Option<OffsetDateTime> {
    if let Some(iso) = line
        .get(..19)
        .filter(|s| s.as_bytes().get(10) == Some(&b'T'))
    {
        let date = Date::from_calendar_date(
            iso.get(..4)?.parse().ok()?,
            Month::try_from(iso.get(5..7)?.parse::<u8>().ok()?).ok()?,
            iso.get(8..10)?.parse().ok()?,
        )
        .ok()?;
        let time = parse_hms(iso.get(11..19)?)?;
        return Some(PrimitiveDateTime::new(date, time).assume_utc());
    }
    let mut parts = line.split_whitespace();
    let month = match parts.next()? {
        "Jan" => Month::January,
        "Feb" => Month::February,
        "Mar" => Month::March,
        "Apr" => Month::April,
        "May" => Month::May,
        "Jun" => Month::June,
        "Jul" => Month::July,
        "Aug" => Month::August,
        "Sep" => Month::September,
        "Oct" => Month::October,
        "Nov" => Month::November,
        "Dec" => Month::December,
        _ => return None,
    };
    let day: u8 = parts.next()?.parse().ok()?;
    let time = parse_hms(parts.next()?)?;
    let at = |year: i32| {
        Date::from_calendar_date(year, month, day)
            .ok()
            .map(|d| PrimitiveDateTime::new(d, time).assume_utc())
    };
    let this_year = at(captured.year())?;
    // A date after the capture belongs to the year before (a journal read in January showing December).
    if this_year > captured + time::Duration::days(1) {
        return at(captured.year() - 1);
    }
    Some(this_year)
}

fn parse_hms(s: &str) -> Option<Time> {
    let mut it = s.split(':');
    let (h, m, sec) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.get(..2)?.parse().ok()?,
    );
    Time::from_hms(h, m, sec).ok()
}

/// Scans one node's journal; `captured` None reads every line.
pub(crate) fn scan(lines: &[String], captured: Option<OffsetDateTime>, window: Duration) -> Scan {
    let since = captured.map(|c| {
        c - time::Duration::seconds(i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2))
    });
    let mut out = Scan::default();
    let mut last_time: Option<OffsetDateTime> = None;
    // Lines up to this index have been searched for the latest timestamp: stamps are read only when a line's time
    // matters (a candidate line, the first line of a boot), walking back to the latest stamped line.
    let mut stamped_to: Option<usize> = None;
    let mut clean = false;
    let mut last_line: Option<&str> = None;
    let mut pending_boot: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let line_trimmed = line.trim();
        if line_trimmed.starts_with("-- Reboot --") || line_trimmed.starts_with("-- Boot ") {
            if let (Some(before), false) = (last_line, clean) {
                pending_boot = Some(before.to_string());
            }
            clean = false;
            last_line = None;
            continue;
        }
        let mut in_window = || {
            let (Some(since), Some(c)) = (since, captured) else {
                return true;
            };
            let from = stamped_to.map_or(0, |j| j + 1);
            if from <= i {
                if let Some(t) = lines[from..=i].iter().rev().find_map(|l| line_time(l, c)) {
                    last_time = Some(t);
                }
                stamped_to = Some(i);
            }
            last_time.is_some_and(|t| t >= since)
        };
        if let Some(before) = pending_boot.take() {
            // The boot's time is that of its first line.
            if in_window() {
                out.unclean.push(before);
            }
        }
        last_line = Some(line);
        if CLEAN.is_match(line) {
            clean = true;
        }
        if !CANDIDATE.is_match(line) || !in_window() {
            continue;
        }
        if MEMORY.is_match(line) {
            out.uncorrected |= UNCORRECTED.is_match(line);
            out.memory.push(line.clone());
        }
        if let Some(device) = FILESYSTEM
            .iter()
            .find_map(|re| re.captures(line))
            .and_then(|c| c.get(1))
        {
            out.filesystem
                .entry(device.as_str().to_string())
                .or_default()
                .push(line.clone());
        }
    }
    out
}

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>, notes: &mut Vec<String>) {
    let window = ctx.options.journal_window;
    let hours = window.as_secs() / 3600;
    let span = if hours > 0 {
        format!("{hours} h")
    } else {
        format!("{} s", window.as_secs())
    };
    let nodes_without: Vec<&str> = ctx
        .view
        .nodes
        .iter()
        .filter(|n| !ctx.view.journals.contains_key(&n.name))
        .map(|n| n.name.as_str())
        .collect();
    if !nodes_without.is_empty() {
        notes.push(format!(
            "no journal in the snapshot for {}: hardware findings cannot be checked there",
            nodes_without.join(", ")
        ));
    }
    for (node, lines) in &ctx.view.journals {
        let scan = scan(lines, ctx.view.captured_at, window);
        if !scan.memory.is_empty() {
            let severity = if scan.uncorrected {
                Severity::Critical
            } else {
                Severity::High
            };
            let kind = if scan.uncorrected {
                "uncorrected"
            } else {
                "corrected or unclassified"
            };
            out.push(finding(
                "memory-errors",
                severity,
                format!("Memory errors on {node}"),
                format!(
                    "{} memory error line(s) ({kind}) in the last {span} of {node}'s journal, e.g. `{}`.",
                    scan.memory.len(),
                    scan.memory[0].trim()
                ),
                vec![node.clone()],
                None,
                Vec::new(),
            ));
        }
        if !scan.filesystem.is_empty() {
            let devices: Vec<String> = scan.filesystem.keys().cloned().collect();
            let example = scan
                .filesystem
                .values()
                .flatten()
                .next()
                .map(|l| l.trim().to_string())
                .unwrap_or_default();
            let count: usize = scan.filesystem.values().map(Vec::len).sum();
            let mut subjects = vec![node.clone()];
            subjects.extend(devices.iter().cloned());
            out.push(finding(
                "filesystem-errors",
                Severity::High,
                format!("Filesystem errors on {node} ({})", short_list(&devices, 6)),
                format!(
                    "{count} filesystem error line(s) on device(s) {} in the last {span} of {node}'s journal, e.g. `{example}`.",
                    devices.join(", ")
                ),
                subjects,
                None,
                Vec::new(),
            ));
        }
        if !scan.unclean.is_empty() {
            out.push(finding(
                "unclean-shutdown",
                Severity::Medium,
                format!("{node} rebooted without a clean shutdown"),
                format!(
                    "{} boot(s) in the last {span} of {node}'s journal follow no shutdown sequence; the last line before the first was `{}`.",
                    scan.unclean.len(),
                    scan.unclean[0].trim()
                ),
                vec![node.clone()],
                None,
                Vec::new(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured() -> OffsetDateTime {
        OffsetDateTime::parse(
            "2025-11-10T09:30:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    }

    #[test]
    fn classic_times_take_the_capture_year() {
        let t = line_time("Nov 10 08:36:35 proxmox kernel: x", captured()).unwrap();
        assert_eq!((t.year(), t.hour(), t.minute()), (2025, 8, 36));
        let dec = line_time("Dec 31 23:00:00 proxmox kernel: x", captured()).unwrap();
        assert_eq!(dec.year(), 2024, "a date after the capture is last year's");
        assert!(line_time("-- Reboot --", captured()).is_none());
        let iso = line_time("2025-11-09T10:00:00+0000 proxmox kernel: x", captured()).unwrap();
        assert_eq!(iso.day(), 9);
    }

    #[test]
    fn device_names_come_from_each_pattern() {
        let lines: Vec<String> = [
            "Nov 10 08:40:00 p kernel: EXT4-fs error (device dm-16): ext4_journal_check_start:83: comm x: Detected aborted journal",
            "Nov 10 08:40:01 p kernel: EXT4-fs (dm-14): error count since last fsck: 3",
            "Nov 10 08:40:02 p kernel: XFS (sdb1): Corruption detected. Unmount and run xfs_repair",
            "Nov 10 08:40:03 p kernel: blk_update_request: I/O error, dev sda, sector 1234",
            "Nov 10 08:40:04 p kernel: EXT4-fs (dm-3): mounted filesystem with ordered data mode",
        ]
        .map(String::from)
        .to_vec();
        let s = scan(&lines, Some(captured()), Duration::from_secs(86_400));
        let devices: Vec<&str> = s.filesystem.keys().map(String::as_str).collect();
        assert_eq!(devices, ["dm-14", "dm-16", "sda", "sdb1"]);
    }

    #[test]
    fn clean_reboot_is_not_unclean() {
        let lines: Vec<String> = [
            "Nov 10 01:00:00 p systemd[1]: Reached target System Reboot.",
            "Nov 10 01:00:01 p systemd-journald[300]: Journal stopped",
            "-- Reboot --",
            "Nov 10 01:02:00 p kernel: Linux version 6.8",
        ]
        .map(String::from)
        .to_vec();
        assert!(scan(&lines, Some(captured()), Duration::from_secs(86_400))
            .unclean
            .is_empty());
    }
}
