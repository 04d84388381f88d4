# Start the Kea DHCP container at boot, early (order 2), and give it 15 s before the next guest starts.
# Proxmox ignores onboot and startup order for HA-managed guests; pveha warns at plan time when this one is.
resource "pveha_guest_startup" "kea_dhcp_1" {
  vmid   = 133
  onboot = true
  order  = 2
  up     = 15
}
