# Guest startup settings are imported by the guest's VMID.
terraform import pveha_guest_startup.kea_dhcp_1 133
