//! Fuzz target `json_body`: see `dravo_connect_fuzz::json_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dravo_connect_fuzz::json_body(data));
