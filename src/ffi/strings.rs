//! Strings across the boundary: NUL-terminated UTF-8 in, registered
//! `CString`s out (so that a double or foreign free is caught, not UB).

use crate::error::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::ffi::{c_char, CStr, CString};
use std::sync::{LazyLock, Mutex};

/// Addresses of strings handed out and not yet freed.
static LIVE: LazyLock<Mutex<HashSet<usize>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

fn live() -> std::sync::MutexGuard<'static, HashSet<usize>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn null_argument(name: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        "null_argument",
        format!("{name} is NULL"),
    )
}

/// Borrows a NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives the call.
pub(super) unsafe fn input_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            "invalid_utf8",
            format!("{name} is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// Serializes `value` into a registered C string owned by the caller.
pub(super) fn output_string(value: &Value) -> *mut c_char {
    // serde_json escapes U+0000, so the text holds no interior NUL.
    let text = CString::new(value.to_string()).unwrap_or_default();
    let ptr = text.into_raw();
    live().insert(ptr as usize);
    ptr
}

/// Frees a string from [`output_string`]; anything else is ignored.
pub(super) fn free(ptr: *mut c_char) {
    if ptr.is_null() || !live().remove(&(ptr as usize)) {
        return;
    }
    // SAFETY: the registry proves `ptr` came from `CString::into_raw` and was not freed.
    drop(unsafe { CString::from_raw(ptr) });
}
