# The seed audit's "Optimal HA Configuration Blueprint" (PVE 8, HA groups), as code.
#
# Connection settings come from the environment (PROXMOX_VE_ENDPOINT, PROXMOX_VE_API_TOKEN,
# PROXMOX_VE_TLS_FINGERPRINT), so the same files run against `pveha sim` and a real cluster.

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

# DNS and DHCP. The pairs (adguard/adguard-2, kea-dhcp-1/kea-dhcp-2) already sit on different
# nodes; nofailback keeps them there, and recovery prefers proxmox2/proxmox3.
resource "pveha_group" "critical_infrastructure" {
  name       = "critical-infrastructure"
  nodes      = { proxmox = 1, proxmox2 = 2, proxmox3 = 2 }
  nofailback = true
  comment    = "DNS, DHCP: essential services"
}

# Traefik. PVE 8 has no anti-affinity, and a single group with equal priorities lets the basic
# scheduler put both instances on the same least-loaded node. Two restricted groups with mirrored
# priorities keep one instance on proxmox2 and one on proxmox3, and never on proxmox.
resource "pveha_group" "reverse_proxy" {
  name       = "reverse-proxy"
  nodes      = { proxmox2 = 2, proxmox3 = 1 }
  restricted = true
  comment    = "Traefik, first instance: proxmox2, fails over to proxmox3"
}

resource "pveha_group" "reverse_proxy_2" {
  name       = "reverse-proxy-2"
  nodes      = { proxmox2 = 1, proxmox3 = 2 }
  restricted = true
  comment    = "Traefik, second instance: proxmox3, fails over to proxmox2"
}

resource "pveha_group" "databases" {
  name       = "databases"
  nodes      = { proxmox = 1, proxmox2 = 1, proxmox3 = 1 }
  nofailback = true
  comment    = "Database services, distributed"
}

resource "pveha_group" "applications" {
  name       = "applications"
  nodes      = { proxmox = 1, proxmox2 = 1, proxmox3 = 1 }
  nofailback = true
  comment    = "Application containers, balanced"
}

locals {
  # sid => group. New HA resources (the seed's CRITICAL and HIGH items) and the existing seven.
  ha = {
    "ct:110"  = pveha_group.reverse_proxy.name   # traefik (new)
    "ct:121"  = pveha_group.reverse_proxy_2.name # traefik-2 (new)
    "ct:132"  = pveha_group.applications.name    # uptime-kuma (new)
    "ct:134"  = pveha_group.critical_infrastructure.name # kea-dhcp-2 (new)
    "ct:116"  = pveha_group.critical_infrastructure.name # adguard-2
    "ct:1250" = pveha_group.critical_infrastructure.name # adguard
    "ct:100"  = pveha_group.databases.name       # influxdb
    "ct:113"  = pveha_group.databases.name       # postgresql
    "ct:122"  = pveha_group.applications.name    # zigbee2mqtt
    "ct:131"  = pveha_group.applications.name    # netbox
  }
}

resource "pveha_resource" "service" {
  for_each     = local.ha
  sid          = each.key
  group        = each.value
  state        = "started"
  max_restart  = 3
  max_relocate = 2
}

# Rebalance: the seed moves mqtt-prod from the busiest node (proxmox3) to the idle one (proxmox).
resource "pveha_resource" "mqtt_prod" {
  sid          = "ct:130"
  group        = pveha_group.applications.name
  node         = "proxmox"
  max_restart  = 3
  max_relocate = 2
}

# Boot order only matters for guests the HA stack does not start: Proxmox ignores onboot and
# startup for HA-managed guests, so the order classes apply to the non-HA ones.
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
