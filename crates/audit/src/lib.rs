//! pveha-audit (placeholder until its issue lands).
