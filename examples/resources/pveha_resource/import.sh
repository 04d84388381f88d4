# HA resources are imported by their sid (ct:N for a container, vm:N for a VM).
terraform import pveha_resource.traefik ct:110
