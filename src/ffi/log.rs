//! The host's log callback: a thin adapter from the library's log records.

use crate::error::{Error, ErrorKind, Result};
use crate::logging::{self, Forwarded};
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

/// The callback's C type; see `wxrefund_set_log_callback`.
pub type wxrefund_log_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: c_int,
        message: *const c_char,
        fields_json: *const c_char,
    ),
>;

/// `level` as the `log` crate's filter: 1 ERROR ... 5 TRACE.
fn level_filter(level: c_int) -> Result<log::LevelFilter> {
    match level {
        1 => Ok(log::LevelFilter::Error),
        2 => Ok(log::LevelFilter::Warn),
        3 => Ok(log::LevelFilter::Info),
        4 => Ok(log::LevelFilter::Debug),
        5 => Ok(log::LevelFilter::Trace),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            "invalid_level",
            format!("level must be 1 (ERROR) to 5 (TRACE), got {level}"),
        )),
    }
}

/// Installs (or, with no callback, removes) the process-wide log callback.
pub(super) fn set(level: c_int, callback: wxrefund_log_fn, user_data: *mut c_void) -> Result<()> {
    let Some(callback) = callback else {
        return logging::set_sink(log::LevelFilter::Off, None);
    };
    let level = level_filter(level)?;
    // The host promises `user_data` may be used from any thread.
    let user_data = user_data as usize;
    let sink = move |record: &Forwarded<'_>| {
        // Messages and field values come from the library and hold no NUL;
        // should one ever, the record is dropped rather than cut short.
        let (Ok(message), Ok(fields)) = (
            CString::new(record.message),
            CString::new(serde_json::Value::Object(record.fields.clone()).to_string()),
        ) else {
            return;
        };
        // SAFETY: the host promised `callback` is safe to call with `user_data`
        // from any thread until it is replaced; both strings outlive the call.
        unsafe {
            callback(
                user_data as *mut c_void,
                record.level as c_int,
                message.as_ptr(),
                fields.as_ptr(),
            )
        };
    };
    logging::set_sink(level, Some(Arc::new(sink)))
}
