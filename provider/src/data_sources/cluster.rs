//! `pveha_cluster`: the cluster as the API shows it now — nodes, guests, HA status, version and HA model —
//! with optional filters. Read-only: four GETs through `pveha_pve` (`/version`, `/cluster/resources`,
//! `/cluster/status`, `/cluster/ha/status/current`); it changes nothing.

use std::collections::BTreeMap;

use pveha_model::{ClusterResource, ClusterStatusEntry, HaModel, HaStatusEntry};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{async_trait, Context, DataSource, Diagnostics, ReadDataRequest, Value};

use crate::diag;
use crate::provider::Pve;

/// The cluster as the Proxmox VE API shows it now: nodes, guests, HA status, version and HA model. The
/// filters narrow `nodes` and `guests`; `ha` always describes the whole cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ClusterModel {
    /// Only this node: `nodes` holds just it and `guests` only the guests on it. Must be a cluster member.
    pub node: Value<String>,
    /// Only guests carrying this tag (Proxmox tags, e.g. `critical`).
    pub tag: Value<String>,
    /// Only HA-managed guests. Defaults to `false`.
    #[schemars(extend("x-tf-default" = false))]
    pub ha_managed_only: Value<bool>,
    /// The cluster's nodes, by name.
    #[schemars(extend("x-tf-computed" = true))]
    pub nodes: Value<Vec<NodeModel>>,
    /// The guests (containers and VMs), by VMID.
    #[schemars(extend("x-tf-computed" = true))]
    pub guests: Value<Vec<GuestModel>>,
    /// The HA stack's view: quorum, the active manager and every HA service.
    #[schemars(extend("x-tf-computed" = true))]
    pub ha: Value<HaModelAttr>,
    /// The pve-manager version, e.g. `8.4.1`.
    #[schemars(extend("x-tf-computed" = true))]
    pub pve_version: Value<String>,
    /// How HA placement is configured on this version: `groups` (Proxmox VE 8, `pveha_group`) or `rules`
    /// (Proxmox VE 9, `pveha_rule`).
    #[schemars(extend("x-tf-computed" = true))]
    pub ha_model: Value<String>,
}

/// One cluster node.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NodeModel {
    /// Node name.
    #[schemars(extend("x-tf-computed" = true))]
    pub name: String,
    /// Whether the node is online in the cluster membership.
    #[schemars(extend("x-tf-computed" = true))]
    pub online: bool,
    /// The node's cluster address, when the API shows one.
    #[schemars(extend("x-tf-computed" = true))]
    pub ip: Option<String>,
    /// Number of CPUs.
    #[schemars(extend("x-tf-computed" = true))]
    pub cpu_total: f64,
    /// CPU use, from 0 to 1 of `cpu_total`.
    #[schemars(extend("x-tf-computed" = true))]
    pub cpu_used: f64,
    /// Memory size, bytes.
    #[schemars(extend("x-tf-computed" = true))]
    pub memory_total: u64,
    /// Memory in use, bytes.
    #[schemars(extend("x-tf-computed" = true))]
    pub memory_used: u64,
}

/// One guest.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GuestModel {
    /// VMID.
    #[schemars(extend("x-tf-computed" = true))]
    pub vmid: u64,
    /// HA resource id: `ct:N` for a container, `vm:N` for a VM (HA-managed or not).
    #[schemars(extend("x-tf-computed" = true))]
    pub sid: String,
    /// Guest name.
    #[schemars(extend("x-tf-computed" = true))]
    pub name: Option<String>,
    /// `lxc` or `qemu`.
    #[schemars(extend("x-tf-computed" = true))]
    pub r#type: String,
    /// The node it is on now.
    #[schemars(extend("x-tf-computed" = true))]
    pub node: String,
    /// `running` or `stopped`.
    #[schemars(extend("x-tf-computed" = true))]
    pub status: Option<String>,
    /// Proxmox tags.
    #[schemars(extend("x-tf-computed" = true))]
    pub tags: Vec<String>,
    /// Memory limit, bytes.
    #[schemars(extend("x-tf-computed" = true))]
    pub memory: u64,
    /// The HA manager's state of the guest (`started`, `stopped`, `error`…); null when it is not HA-managed.
    #[schemars(extend("x-tf-computed" = true))]
    pub ha_state: Option<String>,
}

/// The HA stack's view of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HaModelAttr {
    /// Whether the cluster has quorum (without it, HA does nothing).
    #[schemars(extend("x-tf-computed" = true))]
    pub quorate: bool,
    /// The node running the active HA manager (CRM master); null when no manager is active.
    #[schemars(extend("x-tf-computed" = true))]
    pub manager_master: Option<String>,
    /// Every HA service, by sid.
    #[schemars(extend("x-tf-computed" = true))]
    pub services: Vec<HaServiceModel>,
}

/// One HA service as the HA manager reports it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HaServiceModel {
    /// HA resource id, `ct:N` or `vm:N`.
    #[schemars(extend("x-tf-computed" = true))]
    pub sid: String,
    /// The node the service is on.
    #[schemars(extend("x-tf-computed" = true))]
    pub node: Option<String>,
    /// The service's state (`started`, `stopped`, `fence`, `recovery`, `error`, `queued`…).
    #[schemars(extend("x-tf-computed" = true))]
    pub state: Option<String>,
    /// The requested state (`started`, `stopped`, `disabled`, `ignored`).
    #[schemars(extend("x-tf-computed" = true))]
    pub request_state: Option<String>,
}

/// The `pveha_cluster` type.
pub struct ClusterDataSource;

#[async_trait]
impl DataSource for ClusterDataSource {
    type Client = Pve;
    type Model = ClusterModel;

    fn type_name(&self) -> &'static str {
        "pveha_cluster"
    }

    async fn read(
        &self,
        ctx: &Context<Pve>,
        req: ReadDataRequest<ClusterModel>,
        diags: &mut Diagnostics,
    ) -> Option<ClusterModel> {
        let pve = ctx.require_client(diags)?;
        let api = pve.api();
        let version = match api.version().await {
            Ok(v) => v,
            Err(e) => return fail(diags, "the cluster's version", &e),
        };
        let inventory = match pveha_pve::cluster::resources(api, None).await {
            Ok(r) => r,
            Err(e) => return fail(diags, "the cluster's resources", &e),
        };
        let status = match pveha_pve::cluster::status(api).await {
            Ok(s) => s,
            Err(e) => return fail(diags, "the cluster's status", &e),
        };
        let ha_status = match pveha_pve::ha::status::current(api).await {
            Ok(s) => s,
            Err(e) => return fail(diags, "the HA status", &e),
        };
        let mut model = req.config;
        let filters = Filters {
            node: model.node.as_str().map(str::to_string),
            tag: model.tag.as_str().map(str::to_string),
            ha_managed_only: model.ha_managed_only.as_ref().copied().unwrap_or(false),
        };
        let view = build(&inventory, &status, &ha_status, &filters);
        if let Some(node) = &filters.node {
            if view.nodes.is_empty() {
                let names: Vec<String> = nodes(&inventory, &status)
                    .into_iter()
                    .map(|n| n.name)
                    .collect();
                diags.error_at(
                    "node",
                    "Unknown node",
                    format!(
                        "{node:?} is not a node of this cluster; its nodes are {}.",
                        names.join(", ")
                    ),
                );
                return None;
            }
        }
        model.ha_managed_only = Value::Known(filters.ha_managed_only);
        model.nodes = Value::Known(view.nodes);
        model.guests = Value::Known(view.guests);
        model.ha = Value::Known(view.ha);
        model.ha_model = Value::Known(
            match version.ha_model() {
                HaModel::Groups => "groups",
                HaModel::Rules => "rules",
            }
            .to_string(),
        );
        model.pve_version = Value::Known(version.version);
        Some(model)
    }
}

fn fail<T>(diags: &mut Diagnostics, what: &str, err: &pveha_pve::Error) -> Option<T> {
    diag::api_error(diags, "read", what, err, &[]);
    None
}

/// The data source's filters, decoded.
#[derive(Debug, Default)]
struct Filters {
    node: Option<String>,
    tag: Option<String>,
    ha_managed_only: bool,
}

/// The computed attributes.
#[derive(Debug)]
struct View {
    nodes: Vec<NodeModel>,
    guests: Vec<GuestModel>,
    ha: HaModelAttr,
}

/// Every node: names and figures from `/cluster/resources`, membership and address from `/cluster/status`.
fn nodes(inventory: &[ClusterResource], status: &[ClusterStatusEntry]) -> Vec<NodeModel> {
    let mut out: BTreeMap<String, NodeModel> = BTreeMap::new();
    for r in inventory.iter().filter(|r| r.kind == "node") {
        let Some(name) = r.node.clone() else { continue };
        out.insert(
            name.clone(),
            NodeModel {
                name,
                online: r.status.as_deref() == Some("online"),
                ip: None,
                cpu_total: r.maxcpu.unwrap_or(0.0),
                cpu_used: r.cpu.unwrap_or(0.0),
                memory_total: r.maxmem.unwrap_or(0),
                memory_used: r.mem.unwrap_or(0),
            },
        );
    }
    for s in status.iter().filter(|s| s.kind == "node") {
        let node = out.entry(s.name.clone()).or_insert_with(|| NodeModel {
            name: s.name.clone(),
            online: false,
            ip: None,
            cpu_total: 0.0,
            cpu_used: 0.0,
            memory_total: 0,
            memory_used: 0,
        });
        node.ip = s.ip.clone();
        // Membership is what HA acts on; the inventory's status can lag behind it.
        if let Some(online) = s.online {
            node.online = online;
        }
    }
    out.into_values().collect()
}

fn build(
    inventory: &[ClusterResource],
    status: &[ClusterStatusEntry],
    ha_status: &[HaStatusEntry],
    filters: &Filters,
) -> View {
    let services: Vec<HaServiceModel> = ha_status
        .iter()
        .filter(|e| e.kind == "service")
        .filter_map(|e| {
            let sid = e
                .sid
                .clone()
                .or_else(|| e.id.strip_prefix("service:").map(str::to_string))?;
            Some(HaServiceModel {
                sid,
                node: e.node.clone().filter(|n| !n.is_empty()),
                state: e.state.clone(),
                request_state: e.request_state.clone(),
            })
        })
        .collect();
    let service_state: BTreeMap<&str, Option<&str>> = services
        .iter()
        .map(|s| (s.sid.as_str(), s.state.as_deref()))
        .collect();

    let mut guests: Vec<GuestModel> = inventory
        .iter()
        .filter_map(|r| {
            let sid = r.sid()?;
            let node = r.node.clone()?;
            let sid_text = sid.to_string();
            let ha_state = r.hastate.clone().or_else(|| {
                service_state
                    .get(sid_text.as_str())
                    .map(|s| s.unwrap_or("queued").to_string())
            });
            Some(GuestModel {
                vmid: u64::from(sid.vmid),
                sid: sid_text,
                name: r.name.clone(),
                r#type: r.kind.clone(),
                node,
                status: r.status.clone(),
                tags: r.tags.clone(),
                memory: r.maxmem.unwrap_or(0),
                ha_state,
            })
        })
        .filter(|g| filters.node.as_ref().is_none_or(|n| &g.node == n))
        .filter(|g| {
            filters
                .tag
                .as_ref()
                .is_none_or(|t| g.tags.iter().any(|x| x == t))
        })
        .filter(|g| !filters.ha_managed_only || g.ha_state.is_some())
        .collect();
    guests.sort_by_key(|g| g.vmid);

    let nodes = nodes(inventory, status)
        .into_iter()
        .filter(|n| filters.node.as_ref().is_none_or(|f| &n.name == f))
        .collect();

    let quorate = ha_status
        .iter()
        .find(|e| e.kind == "quorum")
        .and_then(|e| e.quorate)
        .or_else(|| {
            status
                .iter()
                .find(|s| s.kind == "cluster")
                .and_then(|s| s.quorate)
        })
        // A single node without a cluster has no quorum entry and is trivially quorate.
        .unwrap_or(true);
    let manager_master = ha_status
        .iter()
        .find(|e| e.kind == "master")
        .and_then(|e| e.node.clone());
    let mut services = services;
    services.sort_by(|a, b| a.sid.cmp(&b.sid));
    View {
        nodes,
        guests,
        ha: HaModelAttr {
            quorate,
            manager_master,
            services,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn inventory() -> Vec<ClusterResource> {
        serde_json::from_value(json!([
            {"type": "node", "id": "node/a", "node": "a", "status": "online", "maxcpu": 4, "cpu": 0.25,
             "maxmem": 1000, "mem": 400},
            {"type": "node", "id": "node/b", "node": "b", "status": "online", "maxcpu": 8, "maxmem": 2000},
            {"type": "lxc", "id": "lxc/110", "vmid": 110, "name": "traefik", "node": "a", "status": "running",
             "tags": "critical;proxy", "maxmem": 512},
            {"type": "qemu", "id": "qemu/200", "vmid": 200, "name": "db", "node": "b", "status": "running",
             "maxmem": 4096, "hastate": "started"},
            {"type": "storage", "id": "storage/a/local", "node": "a", "storage": "local"}
        ]))
        .unwrap()
    }

    fn status() -> Vec<ClusterStatusEntry> {
        serde_json::from_value(json!([
            {"type": "cluster", "name": "homelab", "quorate": 1, "nodes": 2},
            {"type": "node", "name": "a", "ip": "10.0.0.1", "online": 1},
            {"type": "node", "name": "b", "ip": "10.0.0.2", "online": 0}
        ]))
        .unwrap()
    }

    fn ha_status() -> Vec<HaStatusEntry> {
        serde_json::from_value(json!([
            {"type": "quorum", "id": "quorum", "node": "a", "quorate": 1},
            {"type": "master", "id": "master", "node": "a"},
            {"type": "service", "id": "service:vm:200", "sid": "vm:200", "node": "b", "state": "started",
             "request_state": "started"}
        ]))
        .unwrap()
    }

    #[test]
    fn nodes_join_inventory_figures_with_membership_and_address() {
        let v = build(&inventory(), &status(), &ha_status(), &Filters::default());
        assert_eq!(v.nodes.len(), 2);
        let b = &v.nodes[1];
        assert_eq!(
            (b.name.as_str(), b.online, b.ip.as_deref()),
            ("b", false, Some("10.0.0.2"))
        );
        assert_eq!(
            (
                v.nodes[0].cpu_total,
                v.nodes[0].cpu_used,
                v.nodes[0].memory_used
            ),
            (4.0, 0.25, 400)
        );
    }

    #[test]
    fn guests_carry_sid_type_tags_and_ha_state_and_storage_is_not_a_guest() {
        let v = build(&inventory(), &status(), &ha_status(), &Filters::default());
        let sids: Vec<&str> = v.guests.iter().map(|g| g.sid.as_str()).collect();
        assert_eq!(sids, ["ct:110", "vm:200"]);
        assert_eq!(v.guests[0].r#type, "lxc");
        assert_eq!(v.guests[0].tags, ["critical", "proxy"]);
        assert_eq!(v.guests[0].ha_state, None);
        assert_eq!(v.guests[1].ha_state.as_deref(), Some("started"));
        assert!(v.ha.quorate);
        assert_eq!(v.ha.manager_master.as_deref(), Some("a"));
        assert_eq!(v.ha.services.len(), 1);
    }

    #[test]
    fn filters_narrow_guests_and_nodes_but_not_ha() {
        let only_b = Filters {
            node: Some("b".into()),
            ..Filters::default()
        };
        let v = build(&inventory(), &status(), &ha_status(), &only_b);
        assert_eq!(
            v.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(v.guests.iter().map(|g| g.vmid).collect::<Vec<_>>(), [200]);
        assert_eq!(v.ha.services.len(), 1);

        let tagged = Filters {
            tag: Some("critical".into()),
            ..Filters::default()
        };
        assert_eq!(
            build(&inventory(), &status(), &ha_status(), &tagged)
                .guests
                .len(),
            1
        );

        let ha_only = Filters {
            ha_managed_only: true,
            ..Filters::default()
        };
        let v = build(&inventory(), &status(), &ha_status(), &ha_only);
        assert_eq!(
            v.guests.iter().map(|g| g.sid.as_str()).collect::<Vec<_>>(),
            ["vm:200"]
        );
    }

    #[test]
    fn a_service_known_only_to_the_ha_status_still_marks_its_guest() {
        let mut ha = ha_status();
        ha.push(
            serde_json::from_value(
                json!({"type": "service", "id": "service:ct:110", "sid": "ct:110", "node": "a",
                "state": "queued"}),
            )
            .unwrap(),
        );
        let v = build(
            &inventory(),
            &status(),
            &ha,
            &Filters {
                ha_managed_only: true,
                ..Filters::default()
            },
        );
        assert_eq!(v.guests.len(), 2);
        assert_eq!(v.guests[0].ha_state.as_deref(), Some("queued"));
    }
}
