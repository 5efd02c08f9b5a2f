//! Fuzz target `return_url`: see `dravo_connect_fuzz::return_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dravo_connect_fuzz::return_url(data));
