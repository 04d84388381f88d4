//! Structured remediation: the Proxmox HA objects that fix a finding, with the values they need, as data. The audit
//! decides what to create or change; presenting it (HCL for the Terraform provider, API calls, prose) is the
//! caller's, so the engine knows no Terraform. Serialised in the report's JSON under `remediation_actions`.

use std::collections::BTreeMap;

use pveha_model::Sid;
use serde::{Deserialize, Serialize};

/// Whether the object is new or an existing one gets the given values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create the object with these values.
    Create,
    /// Give an existing object these values, leaving the others as they are.
    Update,
}

/// One Proxmox object and the values a fix gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Object {
    /// An HA resource (`/cluster/ha/resources`); unset values are left to the server's defaults.
    HaResource {
        /// `ct:N` or `vm:N`.
        sid: String,
        /// Requested state (`started`, `stopped`...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
        /// Restart attempts on the same node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_restart: Option<u32>,
        /// Relocation attempts to other nodes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_relocate: Option<u32>,
        /// PVE 8 HA group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// The node it should run on (a migration).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    /// A PVE 8 HA group (`/cluster/ha/groups`).
    HaGroup {
        /// Group name.
        name: String,
        /// Member node → priority (higher preferred).
        nodes: BTreeMap<String, u32>,
        /// Members only.
        restricted: bool,
        /// Why it exists.
        comment: String,
    },
    /// A PVE 9 node-affinity HA rule (`/cluster/ha/rules`).
    NodeAffinityRule {
        /// Rule name.
        name: String,
        /// Sids it places.
        resources: Vec<String>,
        /// Node → priority (higher preferred).
        nodes: BTreeMap<String, u32>,
        /// Why it exists.
        comment: String,
    },
    /// A PVE 9 resource-affinity HA rule (`/cluster/ha/rules`).
    ResourceAffinityRule {
        /// Rule name.
        name: String,
        /// Sids it binds.
        resources: Vec<String>,
        /// `true`: together; `false`: apart.
        positive: bool,
        /// Why it exists.
        comment: String,
    },
    /// A guest's start-at-boot setting (`onboot` in its config).
    GuestStartup {
        /// The guest's sid.
        sid: String,
        /// Start at boot.
        onboot: bool,
    },
    /// The datacenter's HA settings (`/cluster/options`); unset values are left as they are.
    HaSettings {
        /// `ha: shutdown_policy=`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shutdown_policy: Option<String>,
    },
}

/// One step of a fix: what to do with which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// Create or update.
    pub action: Action,
    /// The object and its values.
    #[serde(flatten)]
    pub object: Object,
}

fn nodes(list: &[(String, u32)]) -> BTreeMap<String, u32> {
    list.iter().cloned().collect()
}

fn sids(list: &[Sid]) -> Vec<String> {
    list.iter().map(Sid::to_string).collect()
}

/// A new HA resource, started, with the seed's restart and relocate limits, optionally in a PVE 8 group.
pub(crate) fn ha_resource(sid: &Sid, group: Option<&str>) -> Remediation {
    Remediation {
        action: Action::Create,
        object: Object::HaResource {
            sid: sid.to_string(),
            state: Some("started".into()),
            max_restart: Some(3),
            max_relocate: Some(2),
            group: group.map(str::to_string),
            node: None,
        },
    }
}

/// Moving an existing HA resource to `node`.
pub(crate) fn ha_resource_on(sid: &Sid, node: &str) -> Remediation {
    Remediation {
        action: Action::Update,
        object: Object::HaResource {
            sid: sid.to_string(),
            state: None,
            max_restart: None,
            max_relocate: None,
            group: None,
            node: Some(node.to_string()),
        },
    }
}

/// A new PVE 8 HA group.
pub(crate) fn group(
    name: &str,
    members: &[(String, u32)],
    restricted: bool,
    comment: &str,
) -> Remediation {
    Remediation {
        action: Action::Create,
        object: Object::HaGroup {
            name: name.to_string(),
            nodes: nodes(members),
            restricted,
            comment: comment.to_string(),
        },
    }
}

/// A new PVE 9 resource-affinity rule.
pub(crate) fn resource_affinity_rule(
    name: &str,
    members: &[Sid],
    positive: bool,
    comment: &str,
) -> Remediation {
    Remediation {
        action: Action::Create,
        object: Object::ResourceAffinityRule {
            name: name.to_string(),
            resources: sids(members),
            positive,
            comment: comment.to_string(),
        },
    }
}

/// A new PVE 9 node-affinity rule.
pub(crate) fn node_affinity_rule(
    name: &str,
    members: &[Sid],
    prefs: &[(String, u32)],
    comment: &str,
) -> Remediation {
    Remediation {
        action: Action::Create,
        object: Object::NodeAffinityRule {
            name: name.to_string(),
            resources: sids(members),
            nodes: nodes(prefs),
            comment: comment.to_string(),
        },
    }
}

/// Turning a guest's `onboot` on.
pub(crate) fn guest_onboot(sid: &Sid) -> Remediation {
    Remediation {
        action: Action::Update,
        object: Object::GuestStartup {
            sid: sid.to_string(),
            onboot: true,
        },
    }
}

/// Setting the datacenter's shutdown policy.
pub(crate) fn shutdown_policy(policy: &str) -> Remediation {
    Remediation {
        action: Action::Update,
        object: Object::HaSettings {
            shutdown_policy: Some(policy.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remediation_serialises_as_flat_tagged_data() {
        let sid: Sid = "ct:110".parse().unwrap();
        let value = serde_json::to_value(ha_resource(&sid, Some("reverse-proxy"))).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"action": "create", "kind": "ha_resource", "sid": "ct:110", "state": "started",
                "max_restart": 3, "max_relocate": 2, "group": "reverse-proxy"})
        );
        let back: Remediation = serde_json::from_value(value).unwrap();
        assert_eq!(back, ha_resource(&sid, Some("reverse-proxy")));
        assert_eq!(
            serde_json::to_value(shutdown_policy("migrate")).unwrap(),
            serde_json::json!({"action": "update", "kind": "ha_settings", "shutdown_policy": "migrate"})
        );
    }
}
