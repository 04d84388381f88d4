//! pveha-pve (placeholder until its issue lands).
