//! Who signs a merchant's requests: the private key given as PEM, a signer
//! the host supplies (a callback, an HSM behind an API), or a PKCS#11
//! token. The APIv3 channel asks for a signature and knows nothing else.

use crate::config::{Config, SignerConfig};
use crate::crypto::SigningKey;
use crate::error::{Error, ErrorKind, Result};
use std::sync::Arc;

/// Signs the exact bytes of a request with the merchant's private key,
/// wherever it lives. Implement it for a key the library must never see.
///
/// Called from any thread that uses the client, possibly from several at
/// once; wrap a resource that is not thread-safe in a mutex.
pub trait Signer: Send + Sync {
    /// The RSASSA-PKCS1-v1_5 signature over SHA-256 of `message`: the raw
    /// bytes (256 for an RSA-2048 key), not base64. An error fails the call
    /// in progress with `SIGNER_FAILED` before its request is sent.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// Longest signature accepted from a signer (RSA-8192); anything longer is not one.
pub(crate) const MAX_SIGNATURE_BYTES: usize = 1024;

impl Signer for SigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.sign_raw(message)
    }
}

/// An error of the signer, as every caller reports it.
pub(crate) fn signer_failed(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::SignerFailed, "signer_failed", message).with_retry(true, false)
}

/// Signs `message` with `signer` and checks the answer is signature-sized.
pub(crate) fn sign(signer: &dyn Signer, message: &[u8]) -> Result<Vec<u8>> {
    let signature = signer.sign(message).map_err(|mut error| {
        if error.kind != ErrorKind::SignerFailed {
            error = signer_failed(format!("the signer failed: {}", error.message));
        }
        error
    })?;
    if signature.is_empty() || signature.len() > MAX_SIGNATURE_BYTES {
        return Err(signer_failed(format!(
            "the signer returned {} bytes, not an RSA signature",
            signature.len()
        )));
    }
    Ok(signature)
}

/// The merchant's signer for an APIv3 client: exactly one of
/// `private_key_pem`, `private_key_file`, `signer` in the configuration, or
/// the host's `signer`.
pub(crate) fn merchant_signer(
    config: &Config,
    host: Option<Arc<dyn Signer>>,
) -> Result<Arc<dyn Signer>> {
    let pem_given = config.private_key_pem.is_some() || config.private_key_file.is_some();
    match (host, &config.signer, pem_given) {
        (Some(host), None, false) => Ok(host),
        (None, None, true) => {
            let field = if config.private_key_file.is_some() {
                "private_key_file"
            } else {
                "private_key_pem"
            };
            Ok(Arc::new(SigningKey::from_pem(
                &config.private_key_bytes()?,
                field,
            )?))
        }
        (None, Some(SignerConfig::Pkcs11(settings)), false) => pkcs11_signer(settings),
        (None, None, false) => Err(Error::config(
            "private_key_pem",
            "the merchant private key is missing: give private_key_pem, private_key_file \
             or a signer",
        )),
        _ => Err(Error::config(
            "signer",
            "give exactly one way to sign: private_key_pem, private_key_file, \
             \"signer\" in the configuration, or a signer from the host",
        )),
    }
}

#[cfg(feature = "pkcs11")]
fn pkcs11_signer(settings: &crate::config::Pkcs11Config) -> Result<Arc<dyn Signer>> {
    Ok(Arc::new(pkcs11::Pkcs11Signer::open(settings)?))
}

#[cfg(not(feature = "pkcs11"))]
fn pkcs11_signer(_: &crate::config::Pkcs11Config) -> Result<Arc<dyn Signer>> {
    Err(Error::config(
        "signer.pkcs11",
        "this build of wxrefund has no PKCS#11 support (cargo feature `pkcs11`)",
    ))
}

#[cfg(feature = "pkcs11")]
mod pkcs11;
