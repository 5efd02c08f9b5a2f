//! Fuzz target `state`: see `dravo_connect_fuzz::state`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dravo_connect_fuzz::state(data));
