# The whole cluster.
data "pveha_cluster" "all" {}

# Only the HA-managed guests tagged "critical".
data "pveha_cluster" "critical_ha" {
  tag             = "critical"
  ha_managed_only = true
}

output "ha_model" {
  value = data.pveha_cluster.all.ha_model # "groups" on PVE 8, "rules" on PVE 9
}

output "offline_nodes" {
  value = [for n in data.pveha_cluster.all.nodes : n.name if !n.online]
}

output "guests_on_each_node" {
  value = { for n in data.pveha_cluster.all.nodes : n.name => [for g in data.pveha_cluster.all.guests : g.sid if g.node == n.name] }
}
