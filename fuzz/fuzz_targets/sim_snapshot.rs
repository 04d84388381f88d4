//! The simulator's `load_snapshot` on arbitrary text: errors are fine, panics are not, and whatever loads
//! dumps to a document that loads again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sim) = pveha_sim::load_snapshot(text) else {
        return;
    };
    let _ = (sim.pve_version(), sim.major());
    let dumped = sim.snapshot().to_string();
    if let Err(e) = pveha_sim::load_snapshot(&dumped) {
        panic!("a loaded snapshot dumps to a document that does not load: {e}\n{dumped}");
    }
});
