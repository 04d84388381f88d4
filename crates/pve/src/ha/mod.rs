//! The cluster-wide HA configuration, `/cluster/ha/...`: groups (PVE 8), resources, rules (PVE 9)
//! and status. Lists are served from the client's single-flight cache, shared and indexed
//! ([`Indexed`]) so one object's read is a lookup; writes go through the client's HA write queue.
//! This module holds what the four share: the indexed list, and how a write is checked against
//! what the server shows after an ambiguous failure.

pub mod groups;
mod indexed;
pub mod resources;
pub mod rules;
mod section;
pub mod status;

pub use indexed::Indexed;

use pveha_model::NodePriorities;
use serde_json::Value;

use crate::error::Result;
use crate::retry::Outcome;
use crate::transport::Form;
use crate::Client;

/// Whether the object the server shows carries every value of `form` and none of its deletions.
/// Values are compared as the server renders them (numbers, 0/1 booleans, node lists in any order).
pub(crate) fn shows(form: &Form, object: &Value) -> bool {
    let sent = form
        .pairs()
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "delete" | "digest" | "type" | "purge"));
    for (key, want) in sent {
        let Some(have) = object.get(&key).and_then(render) else {
            return false;
        };
        let same = match key.as_str() {
            "nodes" => want.parse::<NodePriorities>().ok() == have.parse::<NodePriorities>().ok(),
            "resources" => sorted_list(&want) == sorted_list(&have),
            _ => want == have,
        };
        if !same {
            return false;
        }
    }
    form.deleted().iter().all(|k| object.get(k).is_none())
}

fn render(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

fn sorted_list(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split([',', ';', ' ']).filter(|p| !p.is_empty()).collect();
    v.sort_unstable();
    v
}

/// Re-reads `path` after an ambiguous create or update: applied when the object shows the form.
pub(crate) async fn verify_shows(client: &Client, path: &str, form: &Form) -> Result<Outcome> {
    match client.get_raw(path, &[]).await {
        Ok(object) if shows(form, &object) => Ok(Outcome::Applied),
        Ok(_) => Ok(Outcome::NotApplied),
        Err(e) if e.is_not_found() => Ok(Outcome::NotApplied),
        Err(e) => Err(e),
    }
}

/// Re-reads `path` after an ambiguous delete: applied when the object is gone.
pub(crate) async fn verify_gone(client: &Client, path: &str) -> Result<Outcome> {
    match client.get_raw(path, &[]).await {
        Ok(_) => Ok(Outcome::NotApplied),
        Err(e) if e.is_not_found() => Ok(Outcome::Applied),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_compares_as_the_server_renders() {
        let mut f = Form::new();
        f.set("nodes", "a:2,b")
            .set_bool("restricted", Some(true))
            .set("max_relocate", 2)
            .set("digest", "old")
            .delete("comment");
        let server = json!({"nodes": "b,a:2", "restricted": 1, "max_relocate": 2, "digest": "new"});
        assert!(shows(&f, &server));
        let with_comment =
            json!({"nodes": "b,a:2", "restricted": 1, "max_relocate": 2, "comment": "x"});
        assert!(!shows(&f, &with_comment), "a deleted key must be absent");
        let other_nodes = json!({"nodes": "a:1,b", "restricted": 1, "max_relocate": 2});
        assert!(!shows(&f, &other_nodes));
    }

    #[test]
    fn resource_lists_compare_unordered() {
        let mut f = Form::new();
        f.set("resources", "vm:2,ct:1");
        assert!(shows(&f, &json!({"resources": "ct:1,vm:2"})));
        assert!(!shows(&f, &json!({"resources": "ct:1"})));
    }
}
