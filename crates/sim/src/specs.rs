//! The parameter specs of every endpoint the simulator serves, per PVE major version, written out from the
//! official API schema. `tests/schema_conformance.rs` proves each spec equal to the schema files; nothing here
//! reads those files at run time.

use crate::params::ParamSpec as P;

/// PVE major version whose behaviour is simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Major {
    /// PVE 8 (pve-ha-manager 4.x: groups).
    Pve8,
    /// PVE 9 (pve-ha-manager 5.x: rules).
    Pve9,
}

const STATES: &[&str] = &["started", "stopped", "enabled", "disabled", "ignored"];
const HA_TYPES: &[&str] = &["ct", "vm"];
const RULE_TYPES: &[&str] = &["node-affinity", "resource-affinity"];

const SID: P = P::string("sid").fmt("pve-ha-resource-or-vm-id");
const GROUP_ID: P = P::string("group").fmt("pve-configid");
const RULE_ID: P = P::string("rule").fmt("pve-configid");
const NODE: P = P::string("node").fmt("pve-node");
const VMID: P = P::integer("vmid").fmt("pve-vmid").min(100).max(999_999_999);
const COMMENT: P = P::string("comment").opt().max_len(4096);
const DELETE_4096: P = P::string("delete")
    .opt()
    .fmt("pve-configid-list")
    .max_len(4096);
const DIGEST_64: P = P::string("digest").opt().max_len(64);
const MAX_RESTART: P = P::integer("max_restart").opt().min(0);
const MAX_RELOCATE: P = P::integer("max_relocate").opt().min(0);
const STATE: P = P::string("state").opt().one_of(STATES);
const FAILBACK: P = P::boolean("failback").opt();
const HA_GROUP_OPT: P = P::string("group").opt().fmt("pve-configid");

/// Every (method, schema path) the simulator answers, for the given version.
pub fn endpoints(major: Major) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("POST", "/access/ticket"),
        ("GET", "/version"),
        ("GET", "/cluster/status"),
        ("GET", "/cluster/resources"),
        ("GET", "/cluster/options"),
        ("PUT", "/cluster/options"),
        ("GET", "/cluster/backup"),
        ("GET", "/cluster/backup/{id}"),
        ("GET", "/cluster/replication"),
        ("GET", "/nodes"),
        ("GET", "/nodes/{node}/journal"),
        ("GET", "/nodes/{node}/syslog"),
        ("GET", "/nodes/{node}/lxc/{vmid}/config"),
        ("PUT", "/nodes/{node}/lxc/{vmid}/config"),
        ("GET", "/nodes/{node}/qemu/{vmid}/config"),
        ("PUT", "/nodes/{node}/qemu/{vmid}/config"),
        ("POST", "/nodes/{node}/qemu/{vmid}/config"),
        ("GET", "/cluster/ha"),
        ("GET", "/cluster/ha/status"),
        ("GET", "/cluster/ha/status/current"),
        ("GET", "/cluster/ha/status/manager_status"),
        ("GET", "/cluster/ha/groups"),
        ("POST", "/cluster/ha/groups"),
        ("GET", "/cluster/ha/groups/{group}"),
        ("PUT", "/cluster/ha/groups/{group}"),
        ("DELETE", "/cluster/ha/groups/{group}"),
        ("GET", "/cluster/ha/resources"),
        ("POST", "/cluster/ha/resources"),
        ("GET", "/cluster/ha/resources/{sid}"),
        ("PUT", "/cluster/ha/resources/{sid}"),
        ("DELETE", "/cluster/ha/resources/{sid}"),
        ("POST", "/cluster/ha/resources/{sid}/migrate"),
        ("POST", "/cluster/ha/resources/{sid}/relocate"),
    ];
    if major == Major::Pve9 {
        v.extend([
            ("GET", "/cluster/ha/rules"),
            ("POST", "/cluster/ha/rules"),
            ("GET", "/cluster/ha/rules/{rule}"),
            ("PUT", "/cluster/ha/rules/{rule}"),
            ("DELETE", "/cluster/ha/rules/{rule}"),
        ]);
    }
    v
}

/// The parameter specs of one endpoint (`None` when the simulator does not serve it on that version).
pub fn params(major: Major, method: &str, path: &str) -> Option<Vec<P>> {
    let pve9 = major == Major::Pve9;
    let node_list = if pve9 {
        "pve-ha-node-list"
    } else {
        "pve-ha-group-node-list"
    };
    let specs = match (method, path) {
        ("POST", "/access/ticket") => vec![
            P::boolean("new-format").opt(),
            P::string("otp").opt(),
            P::string("password"),
            P::string("path").opt().max_len(64),
            P::string("privs").opt().fmt("pve-priv-list").max_len(64),
            P::string("realm").opt().fmt("pve-realm").max_len(32),
            P::string("tfa-challenge").opt(),
            P::string("username").max_len(64),
        ],
        ("GET", "/version")
        | ("GET", "/cluster/status")
        | ("GET", "/cluster/options")
        | ("GET", "/cluster/backup")
        | ("GET", "/cluster/replication")
        | ("GET", "/nodes")
        | ("GET", "/cluster/ha")
        | ("GET", "/cluster/ha/status")
        | ("GET", "/cluster/ha/status/current")
        | ("GET", "/cluster/ha/status/manager_status")
        | ("GET", "/cluster/ha/groups") => vec![],
        ("GET", "/cluster/resources") => {
            vec![P::string("type")
                .opt()
                .one_of(&["vm", "storage", "node", "sdn"])]
        }
        ("PUT", "/cluster/options") => cluster_options_update(pve9),
        ("GET", "/cluster/backup/{id}") => vec![P::string("id").max_len(50).pat(r"\S+")],
        ("GET", "/nodes/{node}/journal") => vec![
            P::string("endcursor").opt(),
            P::integer("lastentries").opt().min(0),
            NODE,
            P::integer("since").opt().min(0),
            P::string("startcursor").opt(),
            P::integer("until").opt().min(0),
        ],
        ("GET", "/nodes/{node}/syslog") => vec![
            P::integer("limit").opt().min(0),
            NODE,
            P::string("service").opt().max_len(128),
            P::string("since")
                .opt()
                .pat(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$"),
            P::integer("start").opt().min(0),
            P::string("until")
                .opt()
                .pat(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$"),
        ],
        ("GET", "/nodes/{node}/lxc/{vmid}/config")
        | ("GET", "/nodes/{node}/qemu/{vmid}/config") => vec![
            P::boolean("current").opt(),
            NODE,
            P::string("snapshot").opt().fmt("pve-configid").max_len(40),
            VMID,
        ],
        ("PUT", "/nodes/{node}/lxc/{vmid}/config") => guest_update(
            if pve9 {
                LXC_OPAQUE_PVE9
            } else {
                LXC_OPAQUE_PVE8
            },
            false,
        ),
        ("PUT", "/nodes/{node}/qemu/{vmid}/config") => guest_update(
            if pve9 {
                QEMU_OPAQUE_PVE9
            } else {
                QEMU_OPAQUE_PVE8
            },
            true,
        ),
        ("POST", "/nodes/{node}/qemu/{vmid}/config") => {
            let mut v = guest_update(
                if pve9 {
                    QEMU_OPAQUE_PVE9
                } else {
                    QEMU_OPAQUE_PVE8
                },
                true,
            );
            v.push(P::integer("background_delay").opt().min(1).max(30));
            v.push(
                P::string("import-working-storage")
                    .opt()
                    .fmt("pve-storage-id")
                    .opaque(),
            );
            v
        }
        ("POST", "/cluster/ha/groups") => vec![
            COMMENT,
            GROUP_ID,
            P::string("nodes").fmt(node_list),
            P::boolean("nofailback").opt(),
            P::boolean("restricted").opt(),
            P::string("type").opt().one_of(&["group"]),
        ],
        ("GET", "/cluster/ha/groups/{group}") | ("DELETE", "/cluster/ha/groups/{group}") => {
            vec![GROUP_ID]
        }
        ("PUT", "/cluster/ha/groups/{group}") => vec![
            COMMENT,
            DELETE_4096,
            DIGEST_64,
            GROUP_ID,
            P::string("nodes").opt().fmt(node_list),
            P::boolean("nofailback").opt(),
            P::boolean("restricted").opt(),
        ],
        ("GET", "/cluster/ha/resources") => vec![P::string("type").opt().one_of(HA_TYPES)],
        ("POST", "/cluster/ha/resources") => {
            let mut v = vec![COMMENT, HA_GROUP_OPT, MAX_RELOCATE, MAX_RESTART, SID, STATE];
            v.push(P::string("type").opt().one_of(HA_TYPES));
            if pve9 {
                v.push(FAILBACK);
            }
            v
        }
        ("GET", "/cluster/ha/resources/{sid}") => vec![SID],
        ("DELETE", "/cluster/ha/resources/{sid}") => {
            if pve9 {
                vec![SID, P::boolean("purge").opt()]
            } else {
                vec![SID]
            }
        }
        ("PUT", "/cluster/ha/resources/{sid}") => {
            let mut v = vec![
                COMMENT,
                DELETE_4096,
                DIGEST_64,
                HA_GROUP_OPT,
                MAX_RELOCATE,
                MAX_RESTART,
                SID,
                STATE,
            ];
            if pve9 {
                v.push(FAILBACK);
            }
            v
        }
        ("POST", "/cluster/ha/resources/{sid}/migrate")
        | ("POST", "/cluster/ha/resources/{sid}/relocate") => {
            vec![NODE, SID]
        }
        ("GET", "/cluster/ha/rules") if pve9 => vec![
            P::string("resource").opt(),
            P::string("type").opt().one_of(RULE_TYPES),
        ],
        ("POST", "/cluster/ha/rules") if pve9 => vec![
            P::string("affinity")
                .opt()
                .one_of(&["positive", "negative"]),
            COMMENT,
            P::boolean("disable").opt(),
            P::string("nodes").opt().fmt("pve-ha-node-list"),
            P::string("resources").fmt("pve-ha-resource-id-list"),
            RULE_ID,
            P::boolean("strict").opt(),
            P::string("type").one_of(RULE_TYPES),
        ],
        ("GET", "/cluster/ha/rules/{rule}") | ("DELETE", "/cluster/ha/rules/{rule}") if pve9 => {
            vec![RULE_ID]
        }
        ("PUT", "/cluster/ha/rules/{rule}") if pve9 => vec![
            P::string("affinity")
                .opt()
                .one_of(&["positive", "negative"]),
            COMMENT,
            DELETE_4096,
            DIGEST_64,
            P::boolean("disable").opt(),
            P::string("nodes").opt().fmt("pve-ha-node-list"),
            P::string("resources").opt().fmt("pve-ha-resource-id-list"),
            RULE_ID,
            P::boolean("strict").opt(),
            P::string("type").one_of(RULE_TYPES),
        ],
        _ => return None,
    };
    Some(specs)
}

/// `PUT /cluster/options`: the HA keys and the plain enums checked in full (the hash-format strings `ha`,
/// `crs` and `migration` by `api::options`), the other datacenter options after their type check only.
fn cluster_options_update(pve9: bool) -> Vec<P> {
    let mut v = vec![
        P::string("console")
            .opt()
            .one_of(&["applet", "vv", "html5", "xtermjs"]),
        P::string("consent-text").opt().max_len(65536),
        P::string("crs").opt(),
        P::string("delete").opt().fmt("pve-configid-list"),
        P::string("description").opt().max_len(65536),
        P::string("fencing")
            .opt()
            .one_of(&["watchdog", "hardware", "both"]),
        P::string("ha").opt(),
        P::string("keyboard").opt().one_of(KEYBOARDS),
        P::string("language").opt().one_of(LANGUAGES),
        P::integer("max_workers").opt().min(1),
        P::string("migration").opt(),
    ];
    v.extend(opaque_specs(DATACENTER_OPAQUE));
    if pve9 {
        v.extend(opaque_specs("replication:s"));
    }
    v
}

const DATACENTER_OPAQUE: &str =
    "bwlimit:s email_from:s http_proxy:s mac_prefix:s migration_unsecure:b next-id:s \
notify:s registered-tags:s tag-style:s u2f:s user-tag-access:s webauthn:s";

const KEYBOARDS: &[&str] = &[
    "de", "de-ch", "da", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch", "hu", "is",
    "it", "ja", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "sv", "sl", "tr",
];
const LANGUAGES: &[&str] = &[
    "ar", "ca", "da", "de", "en", "es", "eu", "fa", "fr", "hr", "he", "it", "ja", "ka", "kr", "nb",
    "nl", "nn", "pl", "pt_BR", "ru", "sl", "sv", "tr", "ukr", "zh_CN", "zh_TW",
];

/// Guest config update: the startup parameters checked in full, every other schema parameter accepted
/// after its type check and stored verbatim.
fn guest_update(opaque: &'static str, qemu: bool) -> Vec<P> {
    let mut v = vec![
        P::string("delete").opt().fmt("pve-configid-list"),
        P::string("digest").opt().max_len(40),
        NODE,
        P::boolean("onboot").opt(),
        P::string("revert").opt().fmt("pve-configid-list"),
        P::string("startup").opt().fmt("pve-startup-order"),
        VMID,
    ];
    if qemu {
        v.push(P::boolean("skiplock").opt());
    }
    v.extend(opaque_specs(opaque));
    v
}

/// Parse `name:t` tokens (t = s/i/b/n) into opaque optional specs.
fn opaque_specs(list: &'static str) -> Vec<P> {
    list.split_whitespace()
        .filter_map(|tok| {
            let (name, ty) = tok.split_once(':')?;
            let spec = match ty {
                "i" => P::integer(name),
                "b" => P::boolean(name),
                "n" => P::number(name),
                _ => P::string(name),
            };
            Some(spec.opt().opaque())
        })
        .collect()
}

const LXC_COMMON: &str = "arch:s cmode:s console:b cores:i cpulimit:n cpuunits:i debug:b description:s dev[n]:s \
features:s hookscript:s hostname:s lock:s memory:i mp[n]:s nameserver:s net[n]:s ostype:s protection:b rootfs:s \
searchdomain:s swap:i tags:s template:b timezone:s tty:i unprivileged:b unused[n]:s";
const LXC_OPAQUE_PVE8: &str = LXC_COMMON;
const LXC_OPAQUE_PVE9: &str = concat!(
    "arch:s cmode:s console:b cores:i cpulimit:n cpuunits:i debug:b description:s dev[n]:s ",
    "features:s hookscript:s hostname:s lock:s memory:i mp[n]:s nameserver:s net[n]:s ostype:s protection:b rootfs:s ",
    "searchdomain:s swap:i tags:s template:b timezone:s tty:i unprivileged:b unused[n]:s entrypoint:s env:s"
);
const QEMU_OPAQUE_PVE8: &str = concat!(
    "acpi:b affinity:s agent:s amd-sev:s arch:s args:s audio0:s autostart:b balloon:i bios:s boot:s bootdisk:s ",
    "cdrom:s cicustom:s cipassword:s citype:s ciupgrade:b ciuser:s cores:i cpu:s cpulimit:n cpuunits:i ",
    "description:s efidisk0:s force:b freeze:b hookscript:s hostpci[n]:s hotplug:s hugepages:s ide[n]:s ",
    "ipconfig[n]:s ivshmem:s keephugepages:b keyboard:s kvm:b localtime:b lock:s machine:s memory:s ",
    "migrate_downtime:n migrate_speed:i name:s nameserver:s net[n]:s numa:b numa[n]:s ostype:s parallel[n]:s ",
    "protection:b reboot:b rng0:s sata[n]:s scsi[n]:s scsihw:s searchdomain:s serial[n]:s shares:i smbios1:s ",
    "smp:i sockets:i spice_enhancements:s sshkeys:s startdate:s tablet:b tags:s tdf:b template:b tpmstate0:s ",
    "unused[n]:s usb[n]:s vcpus:i vga:s virtio[n]:s virtiofs[n]:s vmgenid:s vmstatestorage:s watchdog:s"
);
const QEMU_OPAQUE_PVE9: &str = concat!(
    "acpi:b affinity:s agent:s amd-sev:s arch:s args:s audio0:s autostart:b balloon:i bios:s boot:s bootdisk:s ",
    "cdrom:s cicustom:s cipassword:s citype:s ciupgrade:b ciuser:s cores:i cpu:s cpulimit:n cpuunits:i ",
    "description:s efidisk0:s force:b freeze:b hookscript:s hostpci[n]:s hotplug:s hugepages:s ide[n]:s ",
    "ipconfig[n]:s ivshmem:s keephugepages:b keyboard:s kvm:b localtime:b lock:s machine:s memory:s ",
    "migrate_downtime:n migrate_speed:i name:s nameserver:s net[n]:s numa:b numa[n]:s ostype:s parallel[n]:s ",
    "protection:b reboot:b rng0:s sata[n]:s scsi[n]:s scsihw:s searchdomain:s serial[n]:s shares:i smbios1:s ",
    "smp:i sockets:i spice_enhancements:s sshkeys:s startdate:s tablet:b tags:s tdf:b template:b tpmstate0:s ",
    "unused[n]:s usb[n]:s vcpus:i vga:s virtio[n]:s virtiofs[n]:s vmgenid:s vmstatestorage:s watchdog:s ",
    "allow-ksm:b intel-tdx:s"
);
