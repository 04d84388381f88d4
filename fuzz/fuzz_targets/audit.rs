//! `pveha_audit::audit` on arbitrary snapshot documents: an audit may refuse a document whose inventory is missing
//! or not a list, but never panics, and every report it returns renders as Markdown and JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pveha_audit::{audit, Options};
use pveha_model::Snapshot;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snap) = Snapshot::from_json(text) else {
        return;
    };
    let Ok(report) = audit(&snap, &Options::default()) else {
        return;
    };
    let _ = report.to_markdown();
    serde_json::to_string(&report).unwrap_or_else(|e| panic!("a report does not serialize: {e}"));
});
