# HA groups are imported by their name.
terraform import pveha_group.reverse_proxy reverse-proxy
