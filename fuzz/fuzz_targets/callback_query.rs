//! Fuzz target `callback_query`: see `dravo_connect::test_util::fuzz::callback_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dravo_connect::test_util::fuzz::callback_query(data));
