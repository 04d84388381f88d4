//! Proxmox property strings that pveha reads and writes: an HA group's `nodes` list
//! (`a:2,b,c:1`, returned in random order) and a guest's `startup` (`order=N,up=N,down=N`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Why a property string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    /// A `nodes` entry that is not `<node>[:<priority>]`.
    #[error("'{0}' is not a node entry of the form <node>[:<priority>]")]
    NodeEntry(String),
    /// A `nodes` list with no entries.
    #[error("the node list is empty")]
    NoNodes,
    /// A `startup` part that is not `order=N`, `up=N`, `down=N` or a bare order number.
    #[error("'{0}' is not a startup option (expected order=N, up=N or down=N)")]
    StartupPart(String),
    /// A `startup` key given twice.
    #[error("startup option '{0}' is given twice")]
    StartupDuplicate(String),
}

/// Whether `name` is a valid Proxmox node name (`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`).
pub fn is_node_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// An HA group's or node-affinity rule's nodes with their priorities (higher is preferred;
/// no priority means 0). Kept sorted by node name so that the server's random order never diffs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePriorities(pub BTreeMap<String, u32>);

impl FromStr for NodePriorities {
    type Err = PropertyError;

    fn from_str(s: &str) -> Result<NodePriorities, PropertyError> {
        let mut nodes = BTreeMap::new();
        // The server splits lists on commas, semicolons and white space alike.
        for entry in s
            .split([',', ';', ' ', '\t', '\n'])
            .filter(|e| !e.is_empty())
        {
            let bad = || PropertyError::NodeEntry(entry.to_string());
            let (name, prio) = match entry.split_once(':') {
                Some((name, prio)) => {
                    let digits = !prio.is_empty() && prio.bytes().all(|b| b.is_ascii_digit());
                    (
                        name,
                        if digits {
                            prio.parse().map_err(|_| bad())?
                        } else {
                            return Err(bad());
                        },
                    )
                }
                None => (entry, 0),
            };
            if !is_node_name(name) {
                return Err(bad());
            }
            nodes.insert(name.to_string(), prio);
        }
        if nodes.is_empty() {
            return Err(PropertyError::NoNodes);
        }
        Ok(NodePriorities(nodes))
    }
}

impl fmt::Display for NodePriorities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, prio) in &self.0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match prio {
                0 => write!(f, "{name}")?,
                p => write!(f, "{name}:{p}")?,
            }
        }
        Ok(())
    }
}

/// A guest's `startup` property: boot order and the delays around it, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Startup {
    /// Position in the boot order; guests without one start last.
    pub order: Option<u64>,
    /// Seconds to wait after starting this guest before starting the next.
    pub up: Option<u64>,
    /// Shutdown timeout in seconds.
    pub down: Option<u64>,
}

impl Startup {
    /// Whether no option is set (the property would be empty).
    pub fn is_empty(&self) -> bool {
        self.order.is_none() && self.up.is_none() && self.down.is_none()
    }
}

impl FromStr for Startup {
    type Err = PropertyError;

    fn from_str(s: &str) -> Result<Startup, PropertyError> {
        let mut out = Startup::default();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let bad = || PropertyError::StartupPart(part.to_string());
            let (key, value) = part.split_once('=').unwrap_or(("order", part));
            let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            let number: u64 = if digits {
                value.parse().map_err(|_| bad())?
            } else {
                return Err(bad());
            };
            let slot = match key {
                "order" => &mut out.order,
                "up" => &mut out.up,
                "down" => &mut out.down,
                _ => return Err(bad()),
            };
            if slot.replace(number).is_some() {
                return Err(PropertyError::StartupDuplicate(key.to_string()));
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [("order", self.order), ("up", self.up), ("down", self.down)];
        let mut first = true;
        for (key, value) in parts {
            if let Some(v) = value {
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                write!(f, "{key}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn node_order_from_the_server_does_not_matter() {
        let a: NodePriorities = "proxmox3:1,proxmox2:2,proxmox".parse().unwrap();
        let b: NodePriorities = "proxmox,proxmox2:2,proxmox3:1".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "proxmox,proxmox2:2,proxmox3:1");
    }

    #[test]
    fn node_list_accepts_the_servers_separators() {
        let n: NodePriorities = "a1:2;b2 c3".parse().unwrap();
        assert_eq!(n.0.len(), 3);
    }

    #[test]
    fn bad_node_entries_are_named() {
        assert_eq!(
            "a:x".parse::<NodePriorities>(),
            Err(PropertyError::NodeEntry("a:x".into()))
        );
        assert_eq!(
            "-a".parse::<NodePriorities>(),
            Err(PropertyError::NodeEntry("-a".into()))
        );
        assert_eq!("".parse::<NodePriorities>(), Err(PropertyError::NoNodes));
    }

    #[test]
    fn startup_parses_the_documented_forms() {
        let s: Startup = "order=3,up=30".parse().unwrap();
        assert_eq!(
            s,
            Startup {
                order: Some(3),
                up: Some(30),
                down: None
            }
        );
        assert_eq!("2".parse::<Startup>().unwrap().order, Some(2));
        assert_eq!(
            "down=60,order=1".parse::<Startup>().unwrap().to_string(),
            "order=1,down=60"
        );
    }

    #[test]
    fn startup_rejects_unknown_and_duplicate_keys() {
        assert_eq!(
            "order=1,order=2".parse::<Startup>(),
            Err(PropertyError::StartupDuplicate("order".into()))
        );
        assert!("wait=3".parse::<Startup>().is_err());
        assert!("order=-1".parse::<Startup>().is_err());
        assert!("up=".parse::<Startup>().is_err());
    }

    proptest! {
        #[test]
        fn startup_round_trips(order in proptest::option::of(0u64..100_000), up in proptest::option::of(0u64..10_000), down in proptest::option::of(0u64..10_000)) {
            let s = Startup { order, up, down };
            prop_assert_eq!(s.to_string().parse::<Startup>().unwrap(), s);
        }

        #[test]
        fn parsers_never_panic(input in ".{0,64}") {
            let _ = input.parse::<Startup>();
            let _ = input.parse::<NodePriorities>();
        }

        #[test]
        fn node_priorities_round_trip(map in proptest::collection::btree_map("[a-z][a-z0-9]{0,6}", 0u32..1000, 1..6)) {
            let n = NodePriorities(map);
            prop_assert_eq!(n.to_string().parse::<NodePriorities>().unwrap(), n);
        }
    }
}
