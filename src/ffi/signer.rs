//! A merchant signer implemented by a C callback.

use crate::error::Result;
use crate::signer::{signer_failed, Signer, MAX_SIGNATURE_BYTES};
use std::ffi::{c_int, c_void};

/// The callback's C type; see `wxrefund_client_new_with_signer`.
pub type wxrefund_sign_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        message: *const u8,
        message_len: usize,
        signature_out: *mut u8,
        signature_capacity: usize,
        signature_len_out: *mut usize,
    ) -> c_int,
>;

pub(super) struct CallbackSigner {
    callback:
        unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u8, usize, *mut usize) -> c_int,
    /// The host's pointer, kept as an address: the host promises it may be
    /// used from any thread, at once.
    user_data: usize,
}

impl CallbackSigner {
    pub(super) fn new(callback: wxrefund_sign_fn, user_data: *mut c_void) -> Result<Self> {
        let callback = callback.ok_or_else(|| super::strings::null_argument("signer"))?;
        Ok(CallbackSigner {
            callback,
            user_data: user_data as usize,
        })
    }
}

impl Signer for CallbackSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut signature = vec![0u8; MAX_SIGNATURE_BYTES];
        // Written by the host; anything above the capacity is refused below.
        let mut length = usize::MAX;
        // SAFETY: the host registered a callback with this signature; the
        // message is readable and the buffer writable for their lengths, and
        // both outlive the call.
        let status = unsafe {
            (self.callback)(
                self.user_data as *mut c_void,
                message.as_ptr(),
                message.len(),
                signature.as_mut_ptr(),
                signature.len(),
                &mut length,
            )
        };
        if status != 0 {
            return Err(signer_failed(format!(
                "the signer callback returned {status}; nothing was sent"
            )));
        }
        if length == 0 || length > MAX_SIGNATURE_BYTES {
            return Err(signer_failed(format!(
                "the signer callback reported a signature of {} bytes (1-{MAX_SIGNATURE_BYTES} expected)",
                if length == usize::MAX { 0 } else { length }
            )));
        }
        signature.truncate(length);
        Ok(signature)
    }
}
