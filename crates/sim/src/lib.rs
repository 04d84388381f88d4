//! pveha-sim (placeholder until its issue lands).
