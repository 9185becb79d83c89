//! Keys, RSA-SHA256 signatures and AEAD_AES_256_GCM, on the crypto backend.
//!
//! The backend is `ring` by default and `aws-lc-rs` with the `aws-lc` feature. aws-lc-rs
//! mirrors ring's API, so the code names only `backend`; TLS (src/tls.rs) and
//! signature verification (webpki) take the same library.
//!
//! Key loading diagnoses the files merchants confuse (PROTOCOL.md §1.5, §7.8):
//! the `.p12` bundle, an encrypted key, the certificate given as the key.
//! No error message ever contains key material.

use crate::error::{Error, ErrorKind, Result};
use backend::rand::{SecureRandom, SystemRandom};
use backend::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer,
};

#[cfg(feature = "aws-lc")]
pub(crate) use aws_lc_rs as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc")))]
pub(crate) use ring as backend;
#[cfg(not(any(feature = "ring", feature = "aws-lc")))]
compile_error!("wxrefund needs a crypto backend: the `ring` feature (default) or `aws-lc`");

/// [`CRYPTO_BACKEND`], NUL-terminated for the C ABI.
pub(crate) const CRYPTO_BACKEND_C: &std::ffi::CStr = if cfg!(feature = "aws-lc") {
    c"aws-lc"
} else {
    c"ring"
};

/// The name of the crypto backend this build uses: `"ring"` or `"aws-lc"`.
pub const CRYPTO_BACKEND: &str = match CRYPTO_BACKEND_C.to_str() {
    Ok(name) => name,
    Err(_) => "unknown",
};

/// RSASSA-PKCS1-v1_5 with SHA-256 as webpki verifies it, on the backend.
pub(crate) const RSA_SHA256: &dyn rustls_pki_types::SignatureVerificationAlgorithm = {
    #[cfg(feature = "aws-lc")]
    {
        webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        webpki::ring::RSA_PKCS1_2048_8192_SHA256
    }
};

/// rustls's provider for the backend: TLS uses the same library.
pub(crate) fn tls_provider() -> rustls::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc")]
    {
        rustls::crypto::aws_lc_rs::default_provider()
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        rustls::crypto::ring::default_provider()
    }
}

/// The merchant's RSA private key, ready to sign.
pub(crate) struct SigningKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    /// Loads a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub(crate) fn from_pem(pem: &[u8], field: &str) -> Result<SigningKey> {
        let label = match pem_header(pem) {
            PemHeader::Label(label) => Some(label),
            PemHeader::Missing => None,
            PemHeader::Malformed { line } => {
                return Err(Error::config(
                    field,
                    format!(
                        "malformed PEM header on line {line}; expected \
                         `-----BEGIN PRIVATE KEY-----` on a line of its own"
                    ),
                ))
            }
        };
        let pair = match label {
            Some("PRIVATE KEY") => {
                let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
                    .map_err(|_| Error::config(field, "the PKCS#8 PEM is not valid base64/DER"))?;
                RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| {
                    Error::config(field, "the PKCS#8 key is not an RSA key of 2048-4096 bits")
                })?
            }
            Some("RSA PRIVATE KEY") if contains(pem, b"ENCRYPTED") => {
                return Err(encrypted_key(field));
            }
            Some("RSA PRIVATE KEY") => {
                let der = PrivatePkcs1KeyDer::from_pem_slice(pem)
                    .map_err(|_| Error::config(field, "the PKCS#1 PEM is not valid base64/DER"))?;
                RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|_| {
                    Error::config(field, "the PKCS#1 key is not an RSA key of 2048-4096 bits")
                })?
            }
            Some("ENCRYPTED PRIVATE KEY") => return Err(encrypted_key(field)),
            Some("CERTIFICATE") => {
                return Err(Error::config(
                    field,
                    "this is a certificate (apiclient_cert.pem), not the private key; \
                     give apiclient_key.pem",
                ))
            }
            Some("PUBLIC KEY") => {
                return Err(Error::config(
                    field,
                    "this is a public key; the merchant private key (apiclient_key.pem) is needed",
                ))
            }
            Some(other) => {
                return Err(Error::config(
                    field,
                    format!("unsupported PEM block `{other}`; expected an RSA PRIVATE KEY"),
                ))
            }
            None if pem.first() == Some(&0x30) => {
                return Err(Error::config(
                    field,
                    "this is binary DER, likely the PKCS#12 bundle apiclient_cert.p12; \
                     give the PEM file apiclient_key.pem",
                ))
            }
            None => {
                return Err(Error::config(
                    field,
                    "not a PEM private key (no `-----BEGIN PRIVATE KEY-----` block)",
                ))
            }
        };
        Ok(SigningKey {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// RSASSA-PKCS1-v1_5 over SHA-256: the raw signature bytes.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut signature = vec![0u8; self.modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|_| Error::new(ErrorKind::Internal, "signing_failed", "RSA signing failed"))?;
        Ok(signature)
    }

    /// The public half, as a PKCS#1 `RSAPublicKey` DER (the end of a
    /// certificate's SubjectPublicKeyInfo): to check a certificate matches.
    pub(crate) fn public_key_der(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The size of the RSA modulus in bits.
    pub(crate) fn public_key_bits(&self) -> usize {
        self.modulus_len().saturating_mul(8)
    }

    /// The size of the RSA modulus (and of a signature) in bytes; the one call the
    /// backends spell differently.
    fn modulus_len(&self) -> usize {
        #[cfg(feature = "aws-lc")]
        {
            self.pair.public_modulus_len()
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            self.pair.public().modulus_len()
        }
    }
}

fn encryption_failed(field: &str) -> Error {
    Error::new(
        ErrorKind::Internal,
        "encryption_failed",
        format!("{field}: RSA-OAEP encryption with the platform key failed (value not shown)"),
    )
}

fn encrypted_key(field: &str) -> Error {
    Error::config(
        field,
        "the private key is encrypted; decrypt it first \
         (openssl pkey -in key.pem -out apiclient_key.pem)",
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first PEM header line of a file.
#[derive(Debug, PartialEq)]
enum PemHeader<'a> {
    /// `PRIVATE KEY` for `-----BEGIN PRIVATE KEY-----`.
    Label(&'a str),
    /// A boundary-like line that is not a well-formed BEGIN line. Only its
    /// number is kept: the line may run into the key itself.
    Malformed { line: usize },
    /// No boundary-like line: not PEM (or not text).
    Missing,
}

/// Finds the first line that looks like a PEM boundary (five dashes, or
/// `BEGIN ` with its space: base64 has neither) and checks it is
/// `-----BEGIN LABEL-----` with an upper-case label.
fn pem_header(pem: &[u8]) -> PemHeader<'_> {
    let Ok(text) = std::str::from_utf8(pem) else {
        return PemHeader::Missing;
    };
    let boundary = |line: &&str| line.contains("-----") || line.contains("BEGIN ");
    let Some((index, line)) = text.lines().enumerate().find(|(_, l)| boundary(l)) else {
        return PemHeader::Missing;
    };
    match line
        .trim()
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
    {
        Some(label)
            if (1..=40).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ') =>
        {
            PemHeader::Label(label)
        }
        _ => PemHeader::Malformed { line: index + 1 },
    }
}

/// A random string of `[0-9A-Za-z]`, without modulo bias.
pub(crate) fn random_alphanumeric(rng: &SystemRandom, len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf)
            .map_err(|_| Error::new(ErrorKind::Internal, "rng_failed", "the OS CSPRNG failed"))?;
        // 248 = 62 * 4: bytes at or above it would bias the distribution.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(b % 62)] as char);
        }
    }
    Ok(out)
}

/// A key that verifies WeChat Pay signatures: the WeChat Pay public key (SPKI)
/// or a platform certificate.
pub(crate) enum VerifyingKey {
    PublicKey(SubjectPublicKeyInfoDer<'static>),
    Certificate(CertificateDer<'static>),
}

impl VerifyingKey {
    /// Parses a `BEGIN PUBLIC KEY` PEM (the WeChat Pay public key, `pub_key.pem`).
    pub(crate) fn public_key_pem(pem: &[u8], field: &str) -> Result<VerifyingKey> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|_| Error::config(field, "expected a `-----BEGIN PUBLIC KEY-----` PEM"))?;
        let key = VerifyingKey::PublicKey(der);
        key.check_parses()
            .map_err(|_| Error::config(field, "the public key is not a valid RSA key"))?;
        Ok(key)
    }

    /// Parses a `BEGIN CERTIFICATE` PEM (a platform certificate).
    pub(crate) fn certificate_pem(pem: &[u8]) -> Result<VerifyingKey> {
        let invalid = || {
            Error::new(
                ErrorKind::VerificationFailed,
                "invalid_certificate",
                "a downloaded platform certificate is not a valid X.509 PEM",
            )
        };
        let der = CertificateDer::from_pem_slice(pem).map_err(|_| invalid())?;
        let key = VerifyingKey::Certificate(der);
        key.check_parses().map_err(|_| invalid())?;
        Ok(key)
    }

    fn check_parses(&self) -> Result<(), webpki::Error> {
        match self {
            VerifyingKey::PublicKey(der) => webpki::RawPublicKeyEntity::try_from(der).map(drop),
            VerifyingKey::Certificate(der) => webpki::EndEntityCert::try_from(der).map(drop),
        }
    }

    /// Encrypts `plaintext` (a field named `field`) with RSA-OAEP, SHA-1 and
    /// MGF1-SHA-1 as the platform requires (§4.4), base64 encoded. A public-key
    /// operation: the `rsa` crate's advisory (timing of private-key
    /// operations) does not apply.
    pub(crate) fn encrypt_oaep(&self, plaintext: &[u8], field: &str) -> Result<String> {
        use rsa::pkcs8::DecodePublicKey;
        let spki = match self {
            VerifyingKey::PublicKey(der) => der.as_ref().to_vec(),
            VerifyingKey::Certificate(der) => webpki::EndEntityCert::try_from(der)
                .map(|cert| cert.subject_public_key_info().as_ref().to_vec())
                .map_err(|_| encryption_failed(field))?,
        };
        let key =
            rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|_| encryption_failed(field))?;
        let ciphertext = key
            .encrypt(
                &mut rsa::rand_core::OsRng,
                rsa::Oaep::new::<sha1::Sha1>(),
                plaintext,
            )
            .map_err(|_| encryption_failed(field))?;
        Ok(BASE64.encode(ciphertext))
    }

    /// True when `signature` (raw bytes) is a valid RSA-SHA256 signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm = RSA_SHA256;
        match self {
            VerifyingKey::PublicKey(der) => webpki::RawPublicKeyEntity::try_from(der)
                .and_then(|key| key.verify_signature(algorithm, message, signature))
                .is_ok(),
            VerifyingKey::Certificate(der) => webpki::EndEntityCert::try_from(der)
                .and_then(|cert| cert.verify_signature(algorithm, message, signature))
                .is_ok(),
        }
    }
}

/// An `AEAD_AES_256_GCM` object as WeChat Pay sends it (notifications,
/// certificate downloads). `ciphertext` is base64 of ciphertext ‖ 16-byte tag.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct EncryptedResource {
    pub algorithm: String,
    pub ciphertext: String,
    pub nonce: String,
    #[serde(default)]
    pub associated_data: Option<String>,
}

/// Decrypts `resource` with the 32-byte APIv3 key (used as raw bytes, §3.1).
pub(crate) fn aead_decrypt(apiv3_key: &[u8], resource: &EncryptedResource) -> Result<Vec<u8>> {
    use backend::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let fail = |reason, message: &str| Error::new(ErrorKind::DecryptionFailed, reason, message);
    if resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(fail(
            "unsupported_algorithm",
            "resource.algorithm is not AEAD_AES_256_GCM",
        ));
    }
    let nonce = Nonce::try_assume_unique_for_key(resource.nonce.as_bytes())
        .map_err(|_| fail("invalid_nonce", "resource.nonce is not 12 bytes"))?;
    let mut in_out = BASE64
        .decode(resource.ciphertext.as_bytes())
        .map_err(|_| fail("invalid_ciphertext", "resource.ciphertext is not base64"))?;
    let key = UnboundKey::new(&AES_256_GCM, apiv3_key)
        .map_err(|_| fail("invalid_key", "the APIv3 key is not 32 bytes"))?;
    let aad = resource.associated_data.as_deref().unwrap_or("");
    let plaintext = LessSafeKey::new(key)
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out)
        .map_err(|_| {
            fail(
                "authentication_failed",
                "AEAD tag mismatch: wrong APIv3 key, or the payload was altered",
            )
        })?;
    Ok(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_alphanumeric_and_sized() {
        let rng = SystemRandom::new();
        let a = random_alphanumeric(&rng, 32).unwrap();
        let b = random_alphanumeric(&rng, 32).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn pem_header_reads_the_first_dashed_line() {
        assert_eq!(
            pem_header(b"junk\n-----BEGIN RSA PRIVATE KEY-----\nabc"),
            PemHeader::Label("RSA PRIVATE KEY")
        );
        assert_eq!(pem_header(b"no pem here"), PemHeader::Missing);
        for broken in [
            "----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY----\nMIIE\n-----END PRIVATE KEY-----",
            "-----BEGIN private key-----\nMIIE\n-----END PRIVATE KEY-----",
            "x\n-----END PRIVATE KEY-----",
        ] {
            assert!(
                matches!(pem_header(broken.as_bytes()), PemHeader::Malformed { .. }),
                "{broken}"
            );
        }
        assert_eq!(
            pem_header(b"\n\n-----BEGIN PRIVATE KEY----\nMIIE"),
            PemHeader::Malformed { line: 3 }
        );
    }

    #[test]
    fn aead_rejects_other_algorithms_and_bad_tags() {
        let key = [7u8; 32];
        let resource = EncryptedResource {
            algorithm: "AEAD_AES_128_GCM".into(),
            ciphertext: BASE64.encode([0u8; 20]),
            nonce: "0123456789ab".into(),
            associated_data: None,
        };
        assert_eq!(
            aead_decrypt(&key, &resource).unwrap_err().reason,
            "unsupported_algorithm"
        );
        let resource = EncryptedResource {
            algorithm: "AEAD_AES_256_GCM".into(),
            ..resource
        };
        assert_eq!(
            aead_decrypt(&key, &resource).unwrap_err().reason,
            "authentication_failed"
        );
    }
}
