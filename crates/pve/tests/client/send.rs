//! The provider runs client calls on a multi-threaded runtime (tonic), so every public future must
//! be `Send`; this fails to compile otherwise. The futures are created, never polled.

use pveha_model::Sid;
use pveha_pve::guests::{self, GuestLocation};
use pveha_pve::ha::{groups, resources, rules, status};
use pveha_pve::snapshot::{capture, CaptureOptions};
use pveha_pve::{cluster, nodes, storage, Auth, Client, ClientConfig};

fn is_send<T: Send>(_: T) {}

#[test]
fn public_futures_are_send() {
    let cfg = ClientConfig::new("https://127.0.0.1:8006", Auth::token("root@pam!tf=s"));
    let c = Client::new(&cfg).unwrap();
    let sid: Sid = "ct:100".parse().unwrap();
    let at = GuestLocation {
        node: "proxmox".into(),
        kind: sid.kind,
        vmid: sid.vmid,
    };
    is_send(c.version());
    is_send(groups::list(&c));
    is_send(groups::create(
        &c,
        &groups::NewHaGroup {
            group: "g".into(),
            nodes: "a".parse().unwrap(),
            restricted: None,
            nofailback: None,
            comment: None,
        },
    ));
    is_send(groups::delete(&c, "g"));
    is_send(resources::get(&c, &sid));
    is_send(resources::update(&c, &sid, &Default::default()));
    is_send(resources::migrate(&c, &sid, "proxmox"));
    is_send(rules::list(&c));
    is_send(status::current(&c));
    is_send(guests::update_startup(&c, &at, &Default::default()));
    is_send(cluster::resources(&c, None));
    is_send(nodes::journal(&c, "proxmox", &Default::default()));
    is_send(storage::list(&c));
    is_send(capture(&c, &CaptureOptions::default()));
}
