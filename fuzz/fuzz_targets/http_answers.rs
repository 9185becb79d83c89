#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wxrefund_fuzz::http_answers(data));
