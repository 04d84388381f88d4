//! HA rules, `/cluster/ha/rules[/{rule}]`: PVE 9 only. On PVE 8 every call fails before any
//! request with `VersionUnsupported`. `type` is sent on every write (the server requires it on
//! PUT too), and `disable` is only ever sent as 1: re-enabling is `delete=disable`.

use pveha_model::{HaModel, HaRule, NodePriorities, Sid};

use crate::error::Result;
use crate::ha::section;
use crate::transport::Form;
use crate::{Change, Client};

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

fn sid_list(sids: &[Sid]) -> String {
    let mut v: Vec<String> = sids.iter().map(Sid::to_string).collect();
    v.sort();
    v.join(",")
}

section::collection!(
    Rules, HaRules: Indexed<String, HaRule>, "HA rule",
    path "/cluster/ha/rules", not_found "no such ha rule",
    gate Some((HaModel::Rules, "HA rules")), confined false,
    key |r| Some(r.rule.clone()), cache rules, get(rule: &str)
);

/// Creates a rule.
pub async fn create(client: &Client, new: &NewHaRule) -> Result<()> {
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
    section::create::<Rules>(client, &new.rule, form).await
}

/// Updates a rule (`type` is always sent, so the update is never empty).
pub async fn update(client: &Client, rule: &str, update: &HaRuleUpdate) -> Result<()> {
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
    section::update::<Rules>(client, &rule, form, update.digest.as_ref()).await
}

/// Deletes a rule. The server answers success for a rule that does not exist.
pub async fn delete(client: &Client, rule: &str) -> Result<()> {
    section::delete::<Rules>(client, &rule, Form::new()).await
}
