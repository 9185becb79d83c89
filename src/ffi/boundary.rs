//! The one panic boundary every `extern "C"` body runs in.

use super::strings::output_string;
use super::wxrefund_status;
use crate::error::{Error, Result};
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; maps its error or panic to a status and, when
/// `error_json_out` is not NULL, writes the error JSON there.
pub(super) fn boundary(
    error_json_out: *mut *mut c_char,
    body: impl FnOnce() -> Result<()>,
) -> wxrefund_status {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return wxrefund_status::Ok,
        Ok(Err(error)) => error,
        Err(payload) => Error::from_panic(payload),
    };
    if !error_json_out.is_null() {
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(error_json_out, output_string(&error.to_json())) };
    }
    wxrefund_status::of(error.kind)
}

/// Writes an output parameter. Callers check `out` for NULL first.
///
/// # Safety
/// `out` must be non-NULL and valid for writes.
pub(super) unsafe fn write_out<T>(out: *mut T, value: T) {
    unsafe { out.write(value) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::ffi::CStr;

    #[test]
    fn a_panic_becomes_a_status_with_its_message() {
        let mut error_json: *mut c_char = std::ptr::null_mut();
        let status = boundary(&mut error_json, || panic!("boom {}", 42));
        assert_eq!(status, wxrefund_status::Panic);
        assert!(!error_json.is_null());
        // SAFETY: written by `boundary` from a CString.
        let text = unsafe { CStr::from_ptr(error_json) }
            .to_str()
            .unwrap()
            .to_string();
        super::super::strings::free(error_json);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["status"], "PANIC");
        assert!(value["message"].as_str().unwrap().contains("boom 42"));
    }

    #[test]
    fn errors_map_to_statuses_and_null_error_out_is_fine() {
        let status = boundary(std::ptr::null_mut(), || {
            Err(Error::new(ErrorKind::NotFound, "x", "missing"))
        });
        assert_eq!(status, wxrefund_status::NotFound);
        assert_eq!(
            boundary(std::ptr::null_mut(), || Ok(())),
            wxrefund_status::Ok
        );
    }
}
