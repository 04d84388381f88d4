# The HA settings are cluster-wide: there is one, imported with the ID "cluster".
terraform import pveha_ha_settings.this cluster
