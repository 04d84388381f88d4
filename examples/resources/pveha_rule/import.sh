# HA rules are imported by their name.
terraform import pveha_rule.traefik_apart traefik-apart
