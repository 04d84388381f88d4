//! The simulator's request handling, in-process: short exchanges of arbitrary method, path, query, headers
//! and body against the homelab fixtures; see `pveha_fuzz::sim` for what must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|exchange: pveha_fuzz::sim::Exchange| {
    pveha_fuzz::sim::run(&exchange);
});
