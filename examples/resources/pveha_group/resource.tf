# A PVE 8 HA group: services in it run on proxmox2 (priority 2), fail over to proxmox3, and never run
# on any other node (restricted).
resource "pveha_group" "reverse_proxy" {
  name       = "reverse-proxy"
  nodes      = { proxmox2 = 2, proxmox3 = 1 }
  restricted = true
  nofailback = false
  comment    = "Traefik: proxmox2, fails over to proxmox3"
}
