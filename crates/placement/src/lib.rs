//! pveha-placement (placeholder until its issue lands).
