#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wxrefund_fuzz::apiv3_notification(data));
