//! C ABI behaviour that is easiest to drive from Rust: free waits for calls in flight.

use std::ffi::{c_char, CStr, CString};
use std::ptr;
use std::time::{Duration, Instant};
use wxrefund::ffi::*;
use wxrefund_sim::{Fault, SimOptions, Simulator};

fn take_string(ptr: *mut c_char) -> String {
    assert!(!ptr.is_null());
    // SAFETY: a string returned by the library, freed right after.
    let text = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_string();
    unsafe { wxrefund_string_free(ptr) };
    text
}

#[test]
fn free_waits_for_a_call_in_flight_and_the_handle_dies() {
    let sim = Simulator::start(SimOptions::default()).unwrap();
    let config = CString::new(sim.client_config().to_string()).unwrap();
    let mut client = ptr::null_mut();
    let status = unsafe { wxrefund_client_new(config.as_ptr(), &mut client, ptr::null_mut()) };
    assert_eq!(status, wxrefund_status::Ok);
    let handle = client as usize;

    sim.inject(Fault::Delay(Duration::from_millis(500)), 1);
    let call = std::thread::spawn(move || {
        let request = CString::new(
            r#"{"out_trade_no":"T20261122000001","out_refund_no":"R-inflight","amount":{"refund":1,"total":10000,"currency":"CNY"}}"#,
        )
        .unwrap();
        let mut response = ptr::null_mut();
        let mut error = ptr::null_mut();
        let status = unsafe {
            wxrefund_refund_create(
                handle as *const wxrefund_client,
                request.as_ptr(),
                &mut response,
                &mut error,
            )
        };
        (
            status,
            if status == wxrefund_status::Ok {
                take_string(response)
            } else {
                take_string(error)
            },
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(unsafe { wxrefund_client_free(client) }, wxrefund_status::Ok);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "free returned while the call was in flight"
    );
    let (status, text) = call.join().unwrap();
    assert_eq!(status, wxrefund_status::Ok, "{text}");
    assert!(text.contains("R-inflight"));
    assert_eq!(
        unsafe { wxrefund_client_free(client) },
        wxrefund_status::InvalidHandle
    );
}
