//! HA service ids (`vm:100`, `ct:110`). A bare VMID is never guessed into a sid: the server resolves
//! it by the guest's real type, so callers must do the same with the inventory.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of guest behind an HA service id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuestKind {
    /// A QEMU virtual machine (`vm:`; `qemu` in the inventory).
    Vm,
    /// An LXC container (`ct:`; `lxc` in the inventory).
    Ct,
}

impl GuestKind {
    /// The sid prefix: `vm` or `ct`.
    pub fn sid_prefix(self) -> &'static str {
        match self {
            GuestKind::Vm => "vm",
            GuestKind::Ct => "ct",
        }
    }

    /// The inventory type and API path segment: `qemu` or `lxc`.
    pub fn api_type(self) -> &'static str {
        match self {
            GuestKind::Vm => "qemu",
            GuestKind::Ct => "lxc",
        }
    }

    /// Parses the inventory type (`qemu` / `lxc`).
    pub fn from_api_type(s: &str) -> Option<GuestKind> {
        match s {
            "qemu" => Some(GuestKind::Vm),
            "lxc" => Some(GuestKind::Ct),
            _ => None,
        }
    }
}

/// Why a string is not a valid sid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    /// A bare number: the type must come from the inventory.
    #[error("'{0}' is a bare VMID; an HA resource id needs its type, such as ct:{0} or vm:{0}")]
    BareVmid(u32),
    /// Not of the form `vm:N` or `ct:N`.
    #[error("'{0}' is not an HA resource id of the form vm:<vmid> or ct:<vmid>")]
    Malformed(String),
}

/// An HA service id: guest kind plus VMID, rendered `vm:100` / `ct:110`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sid {
    /// The guest kind.
    pub kind: GuestKind,
    /// The guest's VMID (100 and up).
    pub vmid: u32,
}

impl Sid {
    /// A sid for a guest of `kind` with `vmid`.
    pub fn new(kind: GuestKind, vmid: u32) -> Sid {
        Sid { kind, vmid }
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.sid_prefix(), self.vmid)
    }
}

// Ordering follows the HA manager, which walks services in Perl string order of the sid
// (`ct:*` before `vm:*`, `vm:1000` before `vm:200`).
impl Ord for Sid {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for Sid {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Parses a VMID as the server does: digits, no leading zero, at least 100 is not enforced here.
fn parse_vmid(s: &str) -> Option<u32> {
    let valid = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    if valid {
        s.parse().ok()
    } else {
        None
    }
}

impl FromStr for Sid {
    type Err = SidError;

    fn from_str(s: &str) -> Result<Sid, SidError> {
        if let Some(vmid) = parse_vmid(s) {
            return Err(SidError::BareVmid(vmid));
        }
        let malformed = || SidError::Malformed(s.to_string());
        let (prefix, id) = s.split_once(':').ok_or_else(malformed)?;
        let kind = match prefix {
            "vm" => GuestKind::Vm,
            "ct" => GuestKind::Ct,
            _ => return Err(malformed()),
        };
        let vmid = parse_vmid(id).ok_or_else(malformed)?;
        Ok(Sid { kind, vmid })
    }
}

impl Serialize for Sid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sid, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_both_kinds() {
        assert_eq!("ct:110".parse::<Sid>().unwrap().to_string(), "ct:110");
        assert_eq!(
            "vm:1250".parse::<Sid>().unwrap(),
            Sid::new(GuestKind::Vm, 1250)
        );
    }

    #[test]
    fn bare_vmid_is_refused_not_guessed() {
        assert_eq!("110".parse::<Sid>(), Err(SidError::BareVmid(110)));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "", "ct:", "ct:0110", "qemu:100", "vm:10a", "vm: 100", "ct:-1",
        ] {
            assert!(bad.parse::<Sid>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn order_is_the_ha_managers_string_order() {
        let mut sids: Vec<Sid> = ["vm:200", "vm:1000", "ct:300"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        sids.sort();
        let rendered: Vec<String> = sids.iter().map(Sid::to_string).collect();
        assert_eq!(rendered, ["ct:300", "vm:1000", "vm:200"]);
    }
}
