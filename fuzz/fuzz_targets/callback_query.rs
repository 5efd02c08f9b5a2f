//! Fuzz target `callback_query`: see `dravo_connect_fuzz::callback_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dravo_connect_fuzz::callback_query(data));
