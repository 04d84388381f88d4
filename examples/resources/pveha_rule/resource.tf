# PVE 9: keep the two Traefik instances on different nodes...
resource "pveha_rule" "traefik_apart" {
  name      = "traefik-apart"
  type      = "resource-affinity"
  affinity  = "negative"
  resources = [pveha_resource.traefik.sid, pveha_resource.traefik_2.sid]
  comment   = "Never both reverse proxies on one node"
}

# ...and only on proxmox2/proxmox3, preferring proxmox2.
resource "pveha_rule" "reverse_proxy_nodes" {
  name      = "reverse-proxy-nodes"
  type      = "node-affinity"
  resources = [pveha_resource.traefik.sid, pveha_resource.traefik_2.sid]
  nodes     = { proxmox2 = 2, proxmox3 = 1 }
  strict    = true
}

resource "pveha_resource" "traefik" {
  sid = "ct:110"
}

resource "pveha_resource" "traefik_2" {
  sid = "ct:121"
}
