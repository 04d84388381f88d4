terraform {
  required_providers {
    pveha = {
      source = "pveha/pveha"
    }
  }
}

# Every setting falls back to an environment variable (PROXMOX_VE_ENDPOINT, PROXMOX_VE_API_TOKEN,
# PROXMOX_VE_TLS_FINGERPRINT, ...), so `provider "pveha" {}` is enough when they are set.
provider "pveha" {
  endpoint        = "https://192.168.1.137:8006"
  api_token       = var.pve_token
  tls_fingerprint = var.pve_tls_fingerprint
}

variable "pve_token" {
  description = "API token as USER@REALM!TOKENID=SECRET."
  type        = string
  sensitive   = true
}

variable "pve_tls_fingerprint" {
  description = "SHA-256 fingerprint of the node's certificate, as the web UI shows it."
  type        = string
  default     = null
}
