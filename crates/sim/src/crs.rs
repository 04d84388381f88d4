//! What the static CRS reads of the simulated cluster: node capacity (`maxcpu`, `maxmem` of the node's
//! `/cluster/resources` entry) and each guest's committed CPU and memory from its config, as
//! pve-ha-manager's `get_static_stats` derives them (`max-cpu`, `max-memory`). Pure reading of the model.

use pveha_placement::{NodeStats, Scheduler, ServiceStats};
use serde_json::Value;

use crate::state::{Guest, Kind, Node, Obj};

/// Memory a guest gets when its config has no `memory` (MiB), for both QEMU and LXC.
const DEFAULT_MEMORY_MIB: f64 = 512.0;
const MIB: f64 = 1024.0 * 1024.0;

/// A config or resource value as a number, whether stored as JSON number or string.
fn number(o: &Obj, key: &str) -> Option<f64> {
    match o.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite() && *v >= 0.0)
}

/// The scheduler `crs: ha=` names; `dynamic` and unknown modes are not modelled and schedule as basic.
pub fn scheduler(mode: &str) -> Scheduler {
    match mode {
        "static" => Scheduler::Static,
        _ => Scheduler::Basic,
    }
}

/// A node's capacity, if its resource entry has both figures.
pub fn node_stats(n: &Node) -> Option<NodeStats> {
    let cpus = number(&n.resource_entry, "maxcpu")?;
    let memory = number(&n.resource_entry, "maxmem")?;
    Some(NodeStats {
        cpus,
        memory: memory as u64,
    })
}

/// A guest's committed CPUs (0 = unlimited) and memory in bytes: QEMU counts `vcpus`, else sockets × cores;
/// LXC counts `cpulimit`, else `cores`, else unlimited; memory defaults to 512 MiB.
pub fn service_stats(g: &Guest) -> ServiceStats {
    let cfg = &g.config;
    let positive = |key: &str| number(cfg, key).filter(|v| *v > 0.0);
    let maxcpu = match g.kind {
        Kind::Qemu => positive("vcpus").unwrap_or_else(|| {
            positive("sockets").unwrap_or(1.0) * positive("cores").unwrap_or(1.0)
        }),
        Kind::Lxc => positive("cpulimit")
            .or_else(|| positive("cores"))
            .unwrap_or(0.0),
    };
    let memory = positive("memory").unwrap_or(DEFAULT_MEMORY_MIB);
    ServiceStats {
        maxcpu,
        maxmem: (memory * MIB) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guest(kind: Kind, config: Value) -> Guest {
        Guest {
            vmid: 100,
            kind,
            node: "n1".into(),
            running: true,
            entry: Obj::new(),
            config: config.as_object().cloned().unwrap_or_default(),
            digest_override: None,
        }
    }

    #[test]
    fn qemu_counts_vcpus_or_sockets_times_cores() {
        let vm = guest(
            Kind::Qemu,
            json!({"cores": 2, "sockets": 2, "memory": "4096", "cpulimit": 1}),
        );
        assert_eq!(
            service_stats(&vm),
            ServiceStats {
                maxcpu: 4.0,
                maxmem: 4096 * 1024 * 1024
            }
        );
        let vm = guest(Kind::Qemu, json!({"cores": 4, "vcpus": 2}));
        let stats = service_stats(&vm);
        assert_eq!(stats.maxcpu, 2.0);
        assert_eq!(
            stats.maxmem,
            512 * 1024 * 1024,
            "memory defaults to 512 MiB"
        );
        assert_eq!(service_stats(&guest(Kind::Qemu, json!({}))).maxcpu, 1.0);
    }

    #[test]
    fn containers_count_cpulimit_then_cores_else_unlimited() {
        assert_eq!(service_stats(&guest(Kind::Lxc, json!({}))).maxcpu, 0.0);
        assert_eq!(
            service_stats(&guest(Kind::Lxc, json!({"cores": 4, "cpulimit": "1.5"}))).maxcpu,
            1.5
        );
        let ct = guest(Kind::Lxc, json!({"cores": 2, "memory": 1024}));
        assert_eq!(service_stats(&ct).maxcpu, 2.0);
        assert_eq!(service_stats(&ct).maxmem, 1024 * 1024 * 1024);
    }

    #[test]
    fn only_static_is_a_modelled_scheduler() {
        assert_eq!(scheduler("static"), Scheduler::Static);
        assert_eq!(scheduler("basic"), Scheduler::Basic);
        assert_eq!(scheduler("dynamic"), Scheduler::Basic);
    }
}
