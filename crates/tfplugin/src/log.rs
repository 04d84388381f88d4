//! `tracing` to stderr as go-hclog JSON lines (`@level`, `@message`, `@module`, `@timestamp`, extra
//! fields), which go-plugin re-logs at their level so `TF_LOG`/`TF_LOG_PROVIDER` show them.
//! Log only names and sizes: attribute values may be sensitive.

use std::io::Write;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Formats events as hclog JSON lines on a writer.
pub struct HclogLayer<W> {
    module: String,
    make_writer: W,
}

impl<W> HclogLayer<W> {
    /// A layer tagging every line with `@module` = `module`.
    pub fn new(module: impl Into<String>, make_writer: W) -> Self {
        HclogLayer {
            module: module.into(),
            make_writer,
        }
    }
}

struct Fields(Map<String, Json>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), Json::from(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), Json::from(value));
    }
}

/// Renders one event as an hclog JSON line (without the newline).
pub fn format_line(module: &str, level: &Level, fields: Map<String, Json>) -> String {
    let mut line = Map::new();
    let level = match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    };
    line.insert("@level".into(), Json::from(level));
    let mut fields = fields;
    let message = fields.remove("message").unwrap_or(Json::from(""));
    line.insert("@message".into(), message);
    line.insert("@module".into(), Json::from(module));
    // go-plugin parses exactly Go's "2006-01-02T15:04:05.000000Z07:00"; any other shape is logged raw.
    let ts = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default();
    line.insert("@timestamp".into(), Json::from(ts));
    for (k, v) in fields {
        line.insert(k, v);
    }
    Json::Object(line).to_string()
}

impl<S, W> Layer<S> for HclogLayer<W>
where
    S: Subscriber,
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let line = format_line(&self.module, event.metadata().level(), fields.0);
        let mut w = self.make_writer.make_writer();
        let _ = writeln!(w, "{line}");
    }
}

/// The level Terraform asked for: `TF_LOG_PROVIDER`, else `TF_LOG`, else warnings only.
fn level_from_env() -> Option<Level> {
    let v = std::env::var("TF_LOG_PROVIDER")
        .or_else(|_| std::env::var("TF_LOG"))
        .unwrap_or_default();
    match v.to_ascii_lowercase().as_str() {
        "off" => None,
        "trace" | "json" => Some(Level::TRACE),
        "debug" => Some(Level::DEBUG),
        "info" => Some(Level::INFO),
        "error" => Some(Level::ERROR),
        _ => Some(Level::WARN),
    }
}

/// Installs the hclog stderr logger as the global subscriber (once; later calls do nothing).
pub fn init(module: &str) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let level = level_from_env().map_or(LevelFilter::OFF, LevelFilter::from_level);
    // The transport stack's own tracing is far too chatty for TF_LOG=TRACE; keep its warnings only.
    let quiet = LevelFilter::WARN.min(level);
    let filter = Targets::new().with_default(level).with_targets(
        ["rustls", "h2", "hyper", "hyper_util", "tonic", "tower"].map(|t| (t, quiet)),
    );
    let layer = HclogLayer::new(module, std::io::stderr).with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[test]
    fn events_become_hclog_json_lines() {
        let buf = Buf::default();
        let subscriber =
            tracing_subscriber::registry().with(HclogLayer::new("provider", buf.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(name = "web", count = 3, "thing created");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: Json = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["@level"], "debug");
        assert_eq!(line["@message"], "thing created");
        assert_eq!(line["@module"], "provider");
        assert_eq!(line["name"], "web");
        assert_eq!(line["count"], 3);
        let ts = line["@timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok()
        );
        // Six fractional digits and a literal Z, as go-plugin's parser demands.
        assert_eq!(ts.len(), "2006-01-02T15:04:05.000000Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
