//! Fuzz target `json_body`: see `dravo_connect::test_util::fuzz::json_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dravo_connect::test_util::fuzz::json_body(data));
