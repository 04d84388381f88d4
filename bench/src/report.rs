//! The benchmark's output: figures with their targets, printed as one table and written as JSON.
//! It only formats what the measurements produced; it measures nothing and never decides a figure's value.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

/// A figure's target: the value must be below (`Below`) or at most (`AtMost`) a bound.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "op", content = "bound", rename_all = "snake_case")]
pub enum Target {
    /// `value < bound`.
    Below(f64),
    /// `value ≤ bound`.
    AtMost(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::Below(b) => value < b,
            Target::AtMost(b) => value <= b,
        }
    }

    /// How far `value` is from the bound, as a factor (`> 1` is a miss).
    pub fn ratio(self, value: f64) -> f64 {
        let bound = match self {
            Target::Below(b) | Target::AtMost(b) => b,
        };
        if bound == 0.0 {
            return f64::INFINITY;
        }
        value / bound
    }

    fn render(self, unit: &str) -> String {
        let (op, b) = match self {
            Target::Below(b) => ("<", b),
            Target::AtMost(b) => ("≤", b),
        };
        format!("{op} {}{}", number(b), spaced(unit))
    }
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable machine key, e.g. `handshake_median_ms`.
    pub key: String,
    /// What a reader sees in the table.
    pub name: String,
    /// The measured value; `None` when the measurement could not run (see `note`).
    pub value: Option<f64>,
    /// Unit of `value` and of the target bound.
    pub unit: String,
    /// The target, when the figure has one.
    pub target: Option<Target>,
    /// Whether the target is met (`None`: no target, or not measured).
    pub met: Option<bool>,
    /// Why a figure is missing, or context that changes how to read it.
    pub note: Option<String>,
    /// The least the figure can be, where one exists (same unit): a lock-serialized write count × latency, the
    /// time to parse the input alone.
    pub floor: Option<f64>,
    /// `value ÷ floor` (`None` without a floor or a value).
    pub ratio: Option<f64>,
}

impl Figure {
    /// A measured figure; `met` is derived from the target.
    pub fn new(key: &str, name: &str, value: f64, unit: &str, target: Option<Target>) -> Figure {
        Figure {
            key: key.to_string(),
            name: name.to_string(),
            value: Some(value),
            unit: unit.to_string(),
            met: target.map(|t| t.met(value)),
            target,
            note: None,
            floor: None,
            ratio: None,
        }
    }

    /// A figure whose measurement failed or was skipped, with the reason.
    pub fn missing(
        key: &str,
        name: &str,
        unit: &str,
        target: Option<Target>,
        why: impl Into<String>,
    ) -> Figure {
        Figure {
            key: key.to_string(),
            name: name.to_string(),
            value: None,
            unit: unit.to_string(),
            target,
            met: None,
            note: Some(why.into()),
            floor: None,
            ratio: None,
        }
    }

    /// Sets the floor (same unit as the value) and derives the ratio.
    pub fn with_floor(mut self, floor: f64) -> Figure {
        self.floor = Some(floor);
        self.ratio = self.value.filter(|_| floor > 0.0).map(|v| v / floor);
        self
    }

    /// Adds a note (kept short: it goes under the table).
    pub fn with_note(mut self, note: impl Into<String>) -> Figure {
        self.note = Some(note.into());
        self
    }
}

/// Everything one run produced.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Injected latency per API request, in milliseconds.
    pub latency_ms: u64,
    /// The Terraform CLI used, e.g. `1.11.4`.
    pub terraform_version: String,
    /// The figures, in table order.
    pub figures: Vec<Figure>,
    /// Raw measurements behind the figures (per-route request counts, samples, criterion ids).
    pub details: serde_json::Map<String, Value>,
}

impl Report {
    /// The table: figure, value, floor, ratio, target, met?; then the notes.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .figures
            .iter()
            .map(|f| {
                [
                    f.name.clone(),
                    f.value.map_or_else(
                        || "n/a".to_string(),
                        |v| format!("{}{}", number(v), spaced(&f.unit)),
                    ),
                    f.floor.map_or_else(
                        || "—".to_string(),
                        |v| format!("{}{}", number(v), spaced(&f.unit)),
                    ),
                    f.ratio
                        .map_or_else(|| "—".to_string(), |r| format!("{}×", number(r))),
                    f.target
                        .map_or_else(|| "—".to_string(), |t| t.render(&f.unit)),
                    match (f.met, f.value, f.target) {
                        (Some(true), _, _) => "yes".to_string(),
                        (Some(false), Some(v), Some(t)) => {
                            format!("NO ({}× the bound)", number(t.ratio(v)))
                        }
                        (Some(false), _, _) => "NO".to_string(),
                        (None, _, _) => "—".to_string(),
                    },
                ]
            })
            .collect();
        let header = ["figure", "value", "floor", "ratio", "target", "met?"];
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String; 6]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            let _ = writeln!(out, "| {} |", padded.join(" | "));
        };
        line(&mut out, &header.map(str::to_string));
        let _ = writeln!(out, "|{}|", widths.map(|w| "-".repeat(w + 2)).join("|"));
        for row in &rows {
            line(&mut out, row);
        }
        let notes: Vec<&Figure> = self.figures.iter().filter(|f| f.note.is_some()).collect();
        if !notes.is_empty() {
            let _ = writeln!(out);
        }
        for f in notes {
            let _ = writeln!(
                out,
                "- {}: {}",
                f.name,
                f.note.as_deref().unwrap_or_default()
            );
        }
        let _ = writeln!(
            out,
            "\ninjected latency {} ms per API request; terraform {}",
            self.latency_ms, self.terraform_version
        );
        out
    }

    /// Writes the JSON document to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).context("serialising the report")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

/// A number with precision that suits its size (3 significant digits below 100, integers above).
fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn spaced(unit: &str) -> String {
    match unit {
        "" => String::new(),
        "×" | "%" => unit.to_string(),
        u => format!(" {u}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_decide_met_at_the_bound() {
        assert!(Target::Below(10.0).met(9.99));
        assert!(!Target::Below(10.0).met(10.0));
        assert!(Target::AtMost(10.0).met(10.0));
        assert!(!Target::AtMost(10.0).met(11.0));
        assert_eq!(Target::Below(40.0).ratio(60.0), 1.5);
    }

    #[test]
    fn table_has_one_row_per_figure_and_marks_misses() {
        let report = Report {
            latency_ms: 5,
            terraform_version: "1.11.4".into(),
            figures: vec![
                Figure::new(
                    "a",
                    "handshake, median",
                    4.2,
                    "ms",
                    Some(Target::Below(10.0)),
                ),
                Figure::new("b", "requests", 12.0, "", Some(Target::AtMost(10.0))).with_floor(8.0),
                Figure::missing(
                    "c",
                    "audit",
                    "ms",
                    Some(Target::Below(50.0)),
                    "bench not run",
                ),
            ],
            details: serde_json::Map::new(),
        };
        let table = report.table();
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + 3, "{table}");
        assert!(
            rows[2].contains("4.20 ms") && rows[2].contains("< 10 ms") && rows[2].contains("yes"),
            "{table}"
        );
        assert!(
            rows[3].contains("12")
                && rows[3].contains("≤ 10")
                && rows[3].contains("| 8 ")
                && rows[3].contains("1.50×")
                && rows[3].contains("NO (1.20× the bound)"),
            "{table}"
        );
        assert!(rows[4].contains("n/a"), "{table}");
        assert!(table.contains("- audit: bench not run"), "{table}");
    }
}
