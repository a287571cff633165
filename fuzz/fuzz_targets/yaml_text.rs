#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sb_fuzz::yaml_text(data));
