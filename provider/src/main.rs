//! `terraform-provider-pveha` (placeholder).

fn main() {}
