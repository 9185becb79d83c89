//! A WeCom access-token provider implemented by a C callback.

use crate::error::{Error, ErrorKind, Result};
use crate::{AccessTokenProvider, Secret};
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Room given to the callback for the token and its NUL (WeCom tokens are at most 512 bytes).
pub(super) const TOKEN_CAPACITY: usize = 1024;

/// The callback's C type; see `wxrefund_client_new_with_token_provider`.
pub type wxrefund_access_token_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        rejected_token: *const c_char,
        token_out: *mut c_char,
        token_capacity: usize,
    ) -> c_int,
>;

pub(super) struct CallbackProvider {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char, *mut c_char, usize) -> c_int,
    /// The host's pointer, kept as an address: the host promises it may be
    /// used from any thread (one call at a time, see `lock`).
    user_data: usize,
    lock: Mutex<()>,
}

impl CallbackProvider {
    pub(super) fn new(callback: wxrefund_access_token_fn, user_data: *mut c_void) -> Result<Self> {
        let callback = callback.ok_or_else(|| super::strings::null_argument("provider"))?;
        Ok(CallbackProvider {
            callback,
            user_data: user_data as usize,
            lock: Mutex::new(()),
        })
    }
}

fn provider_error(message: String) -> Error {
    Error::new(ErrorKind::Api, "token_provider_failed", message).with_retry(true, false)
}

impl AccessTokenProvider for CallbackProvider {
    fn access_token(&self, rejected: Option<&str>) -> Result<Secret> {
        // One call at a time: the host's cache needs no locking of its own.
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let rejected = rejected
            .and_then(|token| CString::new(token).ok())
            .map(Zeroizing::new);
        let rejected_ptr = rejected.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        let mut buffer = Zeroizing::new(vec![0u8; TOKEN_CAPACITY]);
        // SAFETY: the host registered a callback with this signature; the
        // buffer is writable for TOKEN_CAPACITY bytes and outlives the call.
        let status = unsafe {
            (self.callback)(
                self.user_data as *mut c_void,
                rejected_ptr,
                buffer.as_mut_ptr().cast::<c_char>(),
                TOKEN_CAPACITY,
            )
        };
        if status != 0 {
            return Err(provider_error(format!(
                "the access token provider returned {status}"
            )));
        }
        let end = buffer.iter().position(|&b| b == 0).ok_or_else(|| {
            provider_error("the access token provider did not NUL-terminate the token".into())
        })?;
        match std::str::from_utf8(&buffer[..end]) {
            Ok("") => Err(provider_error(
                "the access token provider gave an empty token".into(),
            )),
            Ok(token) => Ok(Secret::new(token)),
            Err(_) => Err(provider_error(
                "the access token provider gave invalid UTF-8".into(),
            )),
        }
    }
}
