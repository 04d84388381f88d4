# The same intent as examples/homelab on PVE 9, where HA rules replaced HA groups: node-affinity
# rules say where services prefer to run, and a negative resource-affinity rule keeps the two
# Traefik instances on different nodes whatever happens.

terraform {
  required_providers {
    pveha = {
      source = "pveha/pveha"
    }
  }
}

provider "pveha" {}

# Planned reboots. The seed's outage began with a reboot of proxmox: under the default
# "conditional" policy a reboot freezes the node's HA services, so they stay down until the node
# is back. "migrate" moves them to the other nodes first (and back afterwards). crs stays the
# basic scheduler the cluster already runs, the one pveha's audit predicts placement with.
resource "pveha_ha_settings" "cluster" {
  shutdown_policy = "migrate"
  crs             = "basic"
}

locals {
  new_ha      = ["ct:110", "ct:121", "ct:132", "ct:134"]
  existing_ha = ["ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250"]
}

resource "pveha_resource" "service" {
  for_each     = toset(concat(local.new_ha, local.existing_ha))
  sid          = each.key
  state        = "started"
  max_restart  = 3
  max_relocate = 2
}

# Traefik never on proxmox, and never both on one node.
resource "pveha_rule" "reverse_proxy_nodes" {
  name      = "reverse-proxy"
  type      = "node-affinity"
  resources = [pveha_resource.service["ct:110"].sid, pveha_resource.service["ct:121"].sid]
  nodes     = { proxmox2 = 1, proxmox3 = 1 }
  strict    = true
  comment   = "Traefik runs on proxmox2 and proxmox3 only"
}

resource "pveha_rule" "reverse_proxy_apart" {
  name      = "reverse-proxy-apart"
  type      = "resource-affinity"
  resources = [pveha_resource.service["ct:110"].sid, pveha_resource.service["ct:121"].sid]
  affinity  = "negative"
  comment   = "The two Traefik instances never share a node"
}

# DNS and DHCP pairs apart as well.
resource "pveha_rule" "dns_apart" {
  name      = "dns-apart"
  type      = "resource-affinity"
  resources = [pveha_resource.service["ct:116"].sid, pveha_resource.service["ct:1250"].sid]
  affinity  = "negative"
}

resource "pveha_rule" "databases" {
  name      = "databases"
  type      = "node-affinity"
  resources = [pveha_resource.service["ct:100"].sid, pveha_resource.service["ct:113"].sid]
  nodes     = { proxmox = 1, proxmox2 = 1, proxmox3 = 1 }
}

resource "pveha_guest_startup" "kea_dhcp_1" {
  vmid   = 133
  onboot = true
  order  = 2
  up     = 15
}

resource "pveha_guest_startup" "stork_server" {
  vmid   = 135
  onboot = true
  order  = 6
}
