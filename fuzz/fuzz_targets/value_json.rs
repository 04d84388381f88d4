//! JSON value decoding (the state format), strict and lenient, plus type-spelling parsing: never a panic,
//! JSON and JSON → msgpack round trips keep the value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tfplugin::Type::from_json(data);
    if let Some((ty, bytes)) = pveha_fuzz::split_typed(data) {
        pveha_fuzz::check_json(&ty, bytes);
    }
});
