# The cluster's HA settings (datacenter.cfg). A planned reboot under the default "conditional" policy
# freezes the node's HA services until it is back; "migrate" moves them to other nodes first.
resource "pveha_ha_settings" "this" {
  shutdown_policy    = "migrate"
  crs                = "static"
  rebalance_on_start = false
  fencing            = "watchdog"
}
