# Put the Traefik container under HA, in the group that keeps it on proxmox2/proxmox3 (PVE 8).
resource "pveha_resource" "traefik" {
  sid          = "ct:110"
  state        = "started"
  max_restart  = 2
  max_relocate = 2
  group        = pveha_group.reverse_proxy.name
  comment      = "Reverse proxy, first instance"
}

resource "pveha_group" "reverse_proxy" {
  name       = "reverse-proxy"
  nodes      = { proxmox2 = 2, proxmox3 = 1 }
  restricted = true
}
