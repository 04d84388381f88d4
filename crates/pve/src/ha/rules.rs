//! HA rules, `/cluster/ha/rules[/{rule}]`: PVE 9 only. On PVE 8 every call fails before any
//! request with `VersionUnsupported`. `type` is sent on every write (the server requires it on
//! PUT too), and `disable` is only ever sent as 1: re-enabling is `delete=disable`.

use std::sync::Arc;

use pveha_model::{HaModel, HaRule, NodePriorities, Sid};
use reqwest::Method;

use crate::client::decode;
use crate::error::{Error, Result};
use crate::ha::{verify_gone, verify_shows, Indexed};
use crate::transport::Form;
use crate::{Change, Client};

const OPERATION: &str = "HA rules";

/// The two kinds of HA rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Services prefer (or, strict, are limited to) nodes.
    NodeAffinity,
    /// Services stay together (positive) or apart (negative).
    ResourceAffinity,
}

impl RuleKind {
    /// The API's `type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::NodeAffinity => "node-affinity",
            RuleKind::ResourceAffinity => "resource-affinity",
        }
    }
}

/// A rule to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHaRule {
    /// Rule id (`^[a-z][a-z0-9_-]+$`).
    pub rule: String,
    /// Node or resource affinity.
    pub kind: RuleKind,
    /// The HA resources it applies to (never bare VMIDs).
    pub resources: Vec<Sid>,
    /// Node affinity: nodes and priorities.
    pub nodes: Option<NodePriorities>,
    /// Node affinity: only these nodes (server default false).
    pub strict: Option<bool>,
    /// Resource affinity: `positive` or `negative`.
    pub affinity: Option<String>,
    /// Create the rule disabled.
    pub disable: bool,
    /// Free-form comment.
    pub comment: Option<String>,
}

/// Changes to an existing rule; fields left at `Keep`/`None` are not sent.
#[derive(Debug, Clone, PartialEq)]
pub struct HaRuleUpdate {
    /// The rule's kind; the server requires it on every update.
    pub kind: RuleKind,
    /// New resource list.
    pub resources: Option<Vec<Sid>>,
    /// New node list (node affinity).
    pub nodes: Option<NodePriorities>,
    /// Strict flag (node affinity).
    pub strict: Change<bool>,
    /// New affinity (resource affinity).
    pub affinity: Option<String>,
    /// Disabled (`Set(false)` and `Unset` both re-enable, as `delete=disable`).
    pub disable: Change<bool>,
    /// Comment.
    pub comment: Change<String>,
    /// Digest from a previous read, for optimistic locking.
    pub digest: Option<String>,
}

impl HaRuleUpdate {
    /// An update that changes nothing yet.
    pub fn new(kind: RuleKind) -> HaRuleUpdate {
        HaRuleUpdate {
            kind,
            resources: None,
            nodes: None,
            strict: Change::Keep,
            affinity: None,
            disable: Change::Keep,
            comment: Change::Keep,
            digest: None,
        }
    }
}

fn path(rule: &str) -> String {
    format!("/cluster/ha/rules/{rule}")
}

fn sid_list(sids: &[Sid]) -> String {
    let mut v: Vec<String> = sids.iter().map(Sid::to_string).collect();
    v.sort();
    v.join(",")
}

/// The rule list as cached, indexed by rule id.
pub type HaRules = Indexed<String, HaRule>;

/// Every rule, shared with the cache (one list request per validity window, however many callers).
pub async fn shared(client: &Client) -> Result<Arc<HaRules>> {
    client.require(HaModel::Rules, OPERATION).await?;
    client
        .ha_cached(
            |c| &c.rules,
            || async {
                let data = client.get_raw("/cluster/ha/rules", &[]).await?;
                let list = decode::<Vec<HaRule>>("/cluster/ha/rules", data)?;
                Ok(Indexed::new(list, |x: &HaRule| Some(x.rule.clone())))
            },
        )
        .await
}

/// Every rule, as an owned copy of the cached list ([`shared`] avoids the copy).
pub async fn list(client: &Client) -> Result<Vec<HaRule>> {
    Ok(shared(client).await?.to_vec())
}

/// One rule, looked up in the cached list; `NotFound` as the server words it.
pub async fn get(client: &Client, rule: &str) -> Result<HaRule> {
    shared(client)
        .await?
        .get(rule)
        .cloned()
        .ok_or_else(|| Error::NotFound {
            message: format!("no such ha rule '{rule}'"),
        })
}

/// Creates a rule.
pub async fn create(client: &Client, new: &NewHaRule) -> Result<()> {
    client.require(HaModel::Rules, OPERATION).await?;
    let mut form = Form::new();
    form.set("rule", &new.rule)
        .set("type", new.kind.as_str())
        .set("resources", sid_list(&new.resources))
        .set_opt("nodes", new.nodes.as_ref())
        .set_bool("strict", new.strict)
        .set_opt("affinity", new.affinity.as_ref())
        .set_opt("comment", new.comment.as_ref());
    if new.disable {
        form.set_bool("disable", Some(true));
    }
    let one = path(&new.rule);
    client
        .ha_write(|| {
            client.write(Method::POST, "/cluster/ha/rules", form.clone(), || {
                verify_shows(client, &one, &form)
            })
        })
        .await?;
    Ok(())
}

/// Updates a rule.
pub async fn update(client: &Client, rule: &str, update: &HaRuleUpdate) -> Result<()> {
    client.require(HaModel::Rules, OPERATION).await?;
    let mut form = Form::new();
    form.set("type", update.kind.as_str())
        .set_opt("resources", update.resources.as_deref().map(sid_list))
        .set_opt("nodes", update.nodes.as_ref())
        .set_opt("affinity", update.affinity.as_ref());
    update.strict.apply_bool(&mut form, "strict");
    match update.disable {
        Change::Keep => {}
        Change::Set(true) => {
            form.set_bool("disable", Some(true));
        }
        // The server drops a falsy `disable`, so only deleting the key re-enables the rule.
        Change::Set(false) | Change::Unset => {
            form.delete("disable");
        }
    }
    update.comment.apply(&mut form, "comment");
    form.set_opt("digest", update.digest.as_ref());
    let one = path(rule);
    client
        .ha_write(|| {
            client.write(Method::PUT, &one, form.clone(), || {
                verify_shows(client, &one, &form)
            })
        })
        .await?;
    Ok(())
}

/// Deletes a rule. The server answers success for a rule that does not exist.
pub async fn delete(client: &Client, rule: &str) -> Result<()> {
    client.require(HaModel::Rules, OPERATION).await?;
    let one = path(rule);
    client
        .ha_write(|| {
            client.write(Method::DELETE, &one, Form::new(), || {
                verify_gone(client, &one)
            })
        })
        .await?;
    Ok(())
}
