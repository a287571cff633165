#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sb_fuzz::sql_query(data));
