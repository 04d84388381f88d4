//! Services: the units a user cares about being up, each made of one or more guests (replicas). They come from the
//! `services` option, from negative resource-affinity rules, and (unless switched off) from guest names
//! (`traefik` / `traefik-2`); every other guest is a service of its own. Also decides which guests are critical.

use std::collections::BTreeMap;

use pveha_model::Sid;
use pveha_placement::fasthash::{FastMap, FastSet};

use crate::options::Options;
use crate::view::ClusterView;

/// Where a service's membership comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `services` option.
    Option,
    /// A negative resource-affinity rule (its members are replicas by the user's own statement).
    Rule,
    /// Guest names sharing a base (`kea-dhcp-1`, `kea-dhcp-2`).
    Inferred,
    /// A guest on its own.
    Single,
}

/// One service.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub name: String,
    /// Sorted, at least one.
    pub members: Vec<Sid>,
    pub source: Source,
    pub critical: bool,
}

impl Service {
    /// Whether it is meant to have replicas.
    pub fn replicated(&self) -> bool {
        self.members.len() > 1
    }
}

/// Every guest's service and criticality.
#[derive(Debug, Clone, Default)]
pub(crate) struct Services {
    /// Sorted by name.
    pub list: Vec<Service>,
    /// Guest → index into `list`.
    pub of_guest: FastMap<Sid, usize>,
    /// Critical guests.
    pub critical: FastSet<Sid>,
}

impl Services {
    /// The service a guest belongs to.
    pub fn of(&self, sid: &Sid) -> Option<&Service> {
        self.of_guest.get(sid).and_then(|i| self.list.get(*i))
    }
}

/// The name a replica's base name is inferred from: a trailing number, with its `-`/`_` separator, removed.
pub(crate) fn base_name(name: &str) -> &str {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() == name.len() || trimmed.is_empty() {
        return name;
    }
    let base = trimmed.trim_end_matches(['-', '_']);
    if base.is_empty() {
        name
    } else {
        base
    }
}

/// Builds the services and the critical set.
pub(crate) fn build(
    view: &ClusterView,
    options: &Options,
    patterns: &[regex::Regex],
    notes: &mut Vec<String>,
) -> Services {
    let critical_tags: FastSet<&str> = options.critical_tags.iter().map(String::as_str).collect();
    let critical_vmids: FastSet<u64> = options.critical_vmids.iter().copied().collect();
    let critical: FastSet<Sid> = view
        .guests
        .iter()
        .filter(|g| {
            g.tags.iter().any(|t| critical_tags.contains(t.as_str()))
                || critical_vmids.contains(&u64::from(g.sid.vmid))
                || patterns.iter().any(|p| p.is_match(&g.name))
        })
        .map(|g| g.sid)
        .collect();
    for vmid in &options.critical_vmids {
        if !view.vmid_index.contains_key(vmid) {
            notes.push(format!(
                "critical VMID {vmid} is not a guest of this cluster"
            ));
        }
    }

    let mut assigned: FastSet<Sid> = FastSet::default();
    let mut groups: Vec<(String, Vec<Sid>, Source)> = Vec::new();

    for (name, vmids) in &options.services {
        let mut members = Vec::new();
        for vmid in vmids {
            match view.vmid_index.get(vmid).and_then(|i| view.guests.get(*i)) {
                Some(g) if assigned.insert(g.sid) => members.push(g.sid),
                Some(g) => notes.push(format!(
                    "{} is in more than one service; kept in the first",
                    g.sid
                )),
                None => notes.push(format!(
                    "service '{name}': VMID {vmid} is not a guest of this cluster"
                )),
            }
        }
        if !members.is_empty() {
            groups.push((name.clone(), members, Source::Option));
        }
    }

    for rule in view.active_rules() {
        if rule.kind != "resource-affinity" || rule.affinity.as_deref() != Some("negative") {
            continue;
        }
        let members: Vec<Sid> = rule
            .resources
            .iter()
            .filter_map(|r| r.parse::<Sid>().ok())
            .filter(|sid| view.guest_index.contains_key(sid) && !assigned.contains(sid))
            .collect();
        if members.len() < 2 {
            continue;
        }
        assigned.extend(members.iter().copied());
        groups.push((rule.rule.clone(), members, Source::Rule));
    }

    if options.infer_services {
        let mut by_base: BTreeMap<String, Vec<Sid>> = BTreeMap::new();
        for g in view.guests.iter().filter(|g| !assigned.contains(&g.sid)) {
            by_base
                .entry(base_name(&g.name.to_lowercase()).to_string())
                .or_default()
                .push(g.sid);
        }
        for (base, members) in by_base.into_iter().filter(|(_, m)| m.len() > 1) {
            assigned.extend(members.iter().copied());
            groups.push((base, members, Source::Inferred));
        }
    }

    let mut taken: FastSet<String> = groups.iter().map(|(n, _, _)| n.clone()).collect();
    for g in view.guests.iter().filter(|g| !assigned.contains(&g.sid)) {
        let name = if taken.insert(g.name.clone()) {
            g.name.clone()
        } else {
            format!("{} ({})", g.name, g.sid)
        };
        taken.insert(name.clone());
        groups.push((name, vec![g.sid], Source::Single));
    }

    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Services {
        critical,
        ..Services::default()
    };
    for (name, mut members, source) in groups {
        members.sort();
        let index = out.list.len();
        for sid in &members {
            out.of_guest.insert(*sid, index);
        }
        let critical = members.iter().any(|s| out.critical.contains(s));
        out.list.push(Service {
            name,
            members,
            source,
            critical,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_names_share_a_base() {
        assert_eq!(base_name("traefik-2"), "traefik");
        assert_eq!(base_name("traefik"), "traefik");
        assert_eq!(base_name("kea-dhcp-1"), "kea-dhcp");
        assert_eq!(base_name("web01"), "web");
        assert_eq!(base_name("db_3"), "db");
        assert_eq!(base_name("mqtt-prod"), "mqtt-prod");
        assert_eq!(
            base_name("123"),
            "123",
            "a name of digits only keeps itself"
        );
    }
}
