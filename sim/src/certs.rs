//! The `/v3/certificates` payload: platform certificates encrypted with AEAD_AES_256_GCM
//! under the merchant's APIv3 key (PROTOCOL §2.5, §3.1).

use std::io;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde_json::{json, Value};

use crate::clock::random_alnum;
use crate::keys::{
    APIV3_KEY, PLATFORM_CERT_PEM, PLATFORM_EFFECTIVE_TIME, PLATFORM_EXPIRE_TIME,
    PLATFORM_NEXT_CERT_PEM, PLATFORM_NEXT_SERIAL, PLATFORM_SERIAL,
};

/// Associated data the platform uses for certificate payloads.
const CERT_AAD: &str = "certificate";

/// Encrypts `plaintext` and returns base64(ciphertext || 16-byte tag).
///
/// `nonce` must be exactly 12 bytes; the platform uses 12 ASCII characters directly.
pub(crate) fn encrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> io::Result<String> {
    let key = aead_key(key)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| io::Error::other("AES-GCM nonce must be 12 bytes"))?;
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| io::Error::other("AES-GCM encryption failed"))?;
    Ok(BASE64.encode(buf))
}

/// Reverses [`encrypt`]; used by the tests to check the round trip.
#[cfg(test)]
pub(crate) fn decrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext_b64: &str,
) -> io::Result<Vec<u8>> {
    let key = aead_key(key)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| io::Error::other("AES-GCM nonce must be 12 bytes"))?;
    let mut buf = BASE64
        .decode(ciphertext_b64)
        .map_err(|_| io::Error::other("ciphertext is not base64"))?;
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| io::Error::other("AES-GCM tag mismatch"))?;
    Ok(plain.to_vec())
}

fn aead_key(key: &[u8]) -> io::Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, key)
        .map_err(|_| io::Error::other("AES-256 key must be 32 bytes"))?;
    Ok(LessSafeKey::new(unbound))
}

/// An encrypted object (PROTOCOL §3.1) of `plaintext` under `key`, with a fresh
/// 12-character nonce: `algorithm`, `nonce`, `associated_data` and `ciphertext`.
pub(crate) fn encrypted_object(key: &[u8], aad: &str, plaintext: &[u8]) -> io::Result<Value> {
    let nonce = random_alnum(12);
    let ciphertext = encrypt(key, nonce.as_bytes(), aad.as_bytes(), plaintext)?;
    Ok(json!({
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": aad,
        "ciphertext": ciphertext,
    }))
}

/// One `data[]` entry of the certificate list, with a fresh nonce.
fn certificate_entry(serial: &str, pem: &str) -> io::Result<Value> {
    Ok(json!({
        "serial_no": serial,
        "effective_time": PLATFORM_EFFECTIVE_TIME,
        "expire_time": PLATFORM_EXPIRE_TIME,
        "encrypt_certificate": encrypted_object(APIV3_KEY.as_bytes(), CERT_AAD, pem.as_bytes())?,
    }))
}

/// The full `/v3/certificates` body; after rotation both certificates are listed.
pub(crate) fn certificate_list(rotated: bool) -> io::Result<Value> {
    let mut data = vec![certificate_entry(PLATFORM_SERIAL, PLATFORM_CERT_PEM)?];
    if rotated {
        data.push(certificate_entry(
            PLATFORM_NEXT_SERIAL,
            PLATFORM_NEXT_CERT_PEM,
        )?);
    }
    Ok(json!({ "data": data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_payload_round_trips() {
        let list = certificate_list(true).expect("list");
        let data = list["data"].as_array().expect("data array");
        assert_eq!(data.len(), 2);
        for (entry, pem) in data.iter().zip([PLATFORM_CERT_PEM, PLATFORM_NEXT_CERT_PEM]) {
            let enc = &entry["encrypt_certificate"];
            assert_eq!(enc["algorithm"], "AEAD_AES_256_GCM");
            let nonce = enc["nonce"].as_str().expect("nonce");
            assert_eq!(nonce.len(), 12);
            let ciphertext = enc["ciphertext"].as_str().expect("ciphertext");
            let plain = decrypt(
                APIV3_KEY.as_bytes(),
                nonce.as_bytes(),
                b"certificate",
                ciphertext,
            )
            .expect("decrypts");
            assert_eq!(plain, pem.as_bytes());
            // Wrong associated data fails authentication.
            assert!(decrypt(APIV3_KEY.as_bytes(), nonce.as_bytes(), b"", ciphertext).is_err());
        }
        assert_eq!(data[0]["serial_no"], PLATFORM_SERIAL);
        assert_eq!(data[1]["serial_no"], PLATFORM_NEXT_SERIAL);
    }

    #[test]
    fn ciphertext_carries_a_16_byte_tag() {
        let ct = encrypt(&[7u8; 32], b"abcdefghijkl", b"", b"hello").expect("encrypt");
        assert_eq!(BASE64.decode(ct).expect("base64").len(), 5 + 16);
    }
}
