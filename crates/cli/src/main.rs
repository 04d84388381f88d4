//! `pveha`: the companion CLI (placeholder).

fn main() {}
