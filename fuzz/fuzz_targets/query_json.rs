#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wxrefund_fuzz::query_json(data));
