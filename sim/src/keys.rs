//! The simulator's embedded key material and the RSA operations on it.

use std::io;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Oaep, RsaPrivateKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// Merchant ID of the default (and service-provider) merchant.
pub(crate) const MCHID: &str = "1900000100";
/// App ID of the merchant (the `sp_appid` in Global institution mode).
pub(crate) const APPID: &str = "wxd678efh567hg6787";
/// The merchant's APIv3 key; exactly 32 bytes, used raw as the AES-256 key.
pub(crate) const APIV3_KEY: &str = "wxrefundSimulatorApiV3Key0123456";
/// Serial number of the merchant API certificate.
pub(crate) const MERCHANT_SERIAL: &str = "3775B6A45ACD588826F4C8F3E3A0E1F2A1B2C3D4";
/// Serial number of the original platform certificate.
pub(crate) const PLATFORM_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// Serial number of the rotated platform certificate.
pub(crate) const PLATFORM_NEXT_SERIAL: &str = "6B3C1E2D4F5A69788796A5B4C3D2E1F0A9B8C7D6";
/// ID of the "WeChat Pay public key".
pub(crate) const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0112345678902024111100000001";

/// Validity of both platform certificates (they were issued together), as the platform
/// reports it in `/v3/certificates`.
pub(crate) const PLATFORM_EFFECTIVE_TIME: &str = "2026-11-23T01:10:23+08:00";
/// See [`PLATFORM_EFFECTIVE_TIME`].
pub(crate) const PLATFORM_EXPIRE_TIME: &str = "2126-10-30T01:10:23+08:00";

pub(crate) const MERCHANT_KEY_PEM: &str = include_str!("../keys/merchant_key.pem");
const MERCHANT_CERT_PEM: &str = include_str!("../keys/merchant_cert.pem");
const PLATFORM_KEY_PEM: &str = include_str!("../keys/platform_key.pem");
pub(crate) const PLATFORM_CERT_PEM: &str = include_str!("../keys/platform_cert.pem");
const PLATFORM_NEXT_KEY_PEM: &str = include_str!("../keys/platform_next_key.pem");
pub(crate) const PLATFORM_NEXT_CERT_PEM: &str = include_str!("../keys/platform_next_cert.pem");
const PUBKEY_KEY_PEM: &str = include_str!("../keys/wechatpay_pubkey_key.pem");
pub(crate) const PUBKEY_PUB_PEM: &str = include_str!("../keys/wechatpay_pubkey_pub.pem");

/// A private key the simulator signs responses with, and the serial it announces.
pub(crate) struct Signer {
    pub(crate) serial: &'static str,
    key: RsaKeyPair,
}

impl Signer {
    fn load(serial: &'static str, pem: &str) -> io::Result<Signer> {
        Ok(Signer {
            serial,
            key: load_rsa_key(pem)?,
        })
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 over `message`, standard base64.
    pub(crate) fn sign(&self, message: &[u8]) -> io::Result<String> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .map_err(|_| io::Error::other("RSA signing failed"))?;
        Ok(BASE64.encode(sig))
    }
}

/// All keys the simulator needs, parsed once at start-up.
pub(crate) struct Keys {
    pub(crate) platform: Signer,
    pub(crate) platform_next: Signer,
    pub(crate) public_key: Signer,
    /// The same three private keys for RSA-OAEP decryption (apply-abnormal-refund), by
    /// serial / public key id.
    decrypters: [(&'static str, RsaPrivateKey); 3],
    merchant_cert: CertificateDer<'static>,
}

impl Keys {
    /// Parses the embedded PEM files.
    pub(crate) fn load() -> io::Result<Keys> {
        let merchant_cert = CertificateDer::from_pem_slice(MERCHANT_CERT_PEM.as_bytes())
            .map_err(|e| io::Error::other(format!("merchant certificate: {e}")))?;
        Ok(Keys {
            platform: Signer::load(PLATFORM_SERIAL, PLATFORM_KEY_PEM)?,
            platform_next: Signer::load(PLATFORM_NEXT_SERIAL, PLATFORM_NEXT_KEY_PEM)?,
            public_key: Signer::load(PUBLIC_KEY_ID, PUBKEY_KEY_PEM)?,
            decrypters: [
                (PLATFORM_SERIAL, load_oaep_key(PLATFORM_KEY_PEM)?),
                (PLATFORM_NEXT_SERIAL, load_oaep_key(PLATFORM_NEXT_KEY_PEM)?),
                (PUBLIC_KEY_ID, load_oaep_key(PUBKEY_KEY_PEM)?),
            ],
            merchant_cert,
        })
    }

    /// The private key of `serial` (a platform certificate serial, any case, or the
    /// public key id), to decrypt what a client encrypted for it.
    pub(crate) fn decrypter(&self, serial: &str) -> Option<&RsaPrivateKey> {
        self.decrypters
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(serial))
            .map(|(_, key)| key)
    }

    /// Checks a base64-decoded request signature against the merchant certificate.
    pub(crate) fn verify_merchant(&self, message: &[u8], signature: &[u8]) -> bool {
        match webpki::EndEntityCert::try_from(&self.merchant_cert) {
            Ok(cert) => cert
                .verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Err(_) => false,
        }
    }
}

/// Parses a PKCS#8 PEM RSA private key for the `rsa` crate (ring cannot decrypt).
fn load_oaep_key(pem: &str) -> io::Result<RsaPrivateKey> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| io::Error::other(format!("private key PEM: {e}")))?;
    RsaPrivateKey::from_pkcs8_der(der.secret_pkcs8_der())
        .map_err(|e| io::Error::other(format!("private key: {e}")))
}

/// Decrypts RSA-OAEP with SHA-1 and MGF1-SHA-1, as the platform does for sensitive fields
/// (PROTOCOL §4.4); `None` when `ciphertext` was not made for `key` this way.
pub(crate) fn oaep_decrypt(key: &RsaPrivateKey, ciphertext: &[u8]) -> Option<Vec<u8>> {
    key.decrypt(Oaep::new::<sha1::Sha1>(), ciphertext).ok()
}

/// Parses a PKCS#8 PEM RSA private key.
pub(crate) fn load_rsa_key(pem: &str) -> io::Result<RsaKeyPair> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| io::Error::other(format!("private key PEM: {e}")))?;
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| io::Error::other(format!("private key: {e}")))
}

/// Whether `signature_b64` is a valid RSA-SHA256 signature of `message` by the key of the
/// certificate `cert_pem`; used by the tests.
#[cfg(test)]
pub(crate) fn verifies(cert_pem: &str, message: &[u8], signature_b64: &str) -> bool {
    let Ok(signature) = BASE64.decode(signature_b64) else {
        return false;
    };
    let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    cert.verify_signature(
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        message,
        &signature,
    )
    .is_ok()
}

/// Like [`verifies`], with the WeChat Pay public key; used by the tests.
#[cfg(test)]
pub(crate) fn verifies_with_public_key(message: &[u8], signature_b64: &str) -> bool {
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use rustls_pki_types::SubjectPublicKeyInfoDer;

    let Ok(signature) = BASE64.decode(signature_b64) else {
        return false;
    };
    let Ok(spki) = SubjectPublicKeyInfoDer::from_pem_slice(PUBKEY_PUB_PEM.as_bytes()) else {
        return false;
    };
    // A 2048-bit RSA SubjectPublicKeyInfo is a 24-byte header, then the PKCS#1 key.
    let Some(rsa_key) = spki.get(24..).filter(|_| spki.len() == 294) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_key)
        .verify(message, &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_embedded_keys_parse() {
        let keys = Keys::load().expect("keys");
        assert_eq!(APIV3_KEY.len(), 32);
        let signature = keys.public_key.sign(b"message").expect("sign");
        assert!(verifies_with_public_key(b"message", &signature));
        assert!(!verifies_with_public_key(b"other", &signature));
        assert!(!verifies(PLATFORM_CERT_PEM, b"message", &signature));
    }
}
