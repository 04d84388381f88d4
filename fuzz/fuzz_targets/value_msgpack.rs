//! msgpack `DynamicValue` decoding against the schema types in `pveha_fuzz` (and fuzzed types): never a
//! panic, and what decodes re-encodes to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((ty, bytes)) = pveha_fuzz::split_typed(data) {
        pveha_fuzz::check_msgpack(&ty, bytes);
    }
});
