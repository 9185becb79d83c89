//! The outer layer of WeCom callbacks (PROTOCOL §6.4): AES-256-CBC under the app's
//! EncodingAESKey and the SHA-1 `msg_signature`. Public (as
//! `wxrefund_sim::wecom_callback`) so that tests and fuzzers can make callbacks of their own.

use std::io;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use base64::alphabet::STANDARD as ALPHABET;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};

use crate::clock::{fill_random, hex};

/// Callback plaintexts are padded (PKCS#7 style) to a multiple of this many bytes.
const PAD_BLOCK: usize = 32;

/// The 32-byte AES key of a 43-character EncodingAESKey: base64 of it plus `=`, decoded
/// leniently (trailing bits allowed), as WeCom's own libraries do.
pub fn aes_key(encoding_aes_key: &str) -> io::Result<[u8; 32]> {
    let lenient = GeneralPurpose::new(
        &ALPHABET,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let decoded = lenient
        .decode(format!("{encoding_aes_key}="))
        .map_err(|e| io::Error::other(format!("EncodingAESKey: {e}")))?;
    decoded
        .try_into()
        .map_err(|_| io::Error::other("EncodingAESKey must decode to 32 bytes"))
}

/// The `Encrypt` value of a callback: base64 of AES-256-CBC (IV = the key's first 16
/// bytes) over 16 random bytes ‖ the message length (4 bytes, big-endian) ‖ message ‖
/// `receive_id`, padded to a multiple of 32 bytes with the pad length (1 to 32).
pub fn encrypt(key: &[u8; 32], message: &[u8], receive_id: &str) -> String {
    let mut data = vec![0u8; 16];
    fill_random(&mut data);
    let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
    data.extend_from_slice(&length.to_be_bytes());
    data.extend_from_slice(message);
    data.extend_from_slice(receive_id.as_bytes());
    // WeCom pads to 32 bytes, which no padding scheme of the cipher crate knows.
    let pad = PAD_BLOCK - data.len() % PAD_BLOCK;
    data.resize(data.len() + pad, u8::try_from(pad).unwrap_or(0));
    let length = data.len();
    let encrypted = cbc::Encryptor::<aes::Aes256>::new(key.into(), &iv(key).into())
        .encrypt_padded::<NoPadding>(&mut data, length)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    BASE64.encode(encrypted)
}

/// The CBC IV WeCom uses with a key: the key's first 16 bytes.
fn iv(key: &[u8; 32]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&key[..16]);
    iv
}

/// `msg_signature`: lower-case hex SHA-1 of the token, timestamp, nonce and `Encrypt`
/// value, sorted and concatenated.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypted];
    parts.sort_unstable();
    hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, parts.concat().as_bytes()).as_ref())
}

/// Reverses [`encrypt`]: the message and the receive id; used by the tests.
#[cfg(test)]
pub(crate) fn decrypt(key: &[u8; 32], encrypted: &str) -> Option<(Vec<u8>, String)> {
    use aes::cipher::BlockModeDecrypt;

    let mut data = BASE64.decode(encrypted).ok()?;
    if data.is_empty() || data.len() % PAD_BLOCK != 0 {
        return None;
    }
    let plain_len = cbc::Decryptor::<aes::Aes256>::new(key.into(), &iv(key).into())
        .decrypt_padded::<NoPadding>(&mut data)
        .ok()?
        .len();
    data.truncate(plain_len);
    let pad = usize::from(*data.last()?);
    if pad == 0
        || pad > PAD_BLOCK
        || data[data.len() - pad..]
            .iter()
            .any(|&b| usize::from(b) != pad)
    {
        return None;
    }
    data.truncate(data.len() - pad);
    let length = u32::from_be_bytes(data.get(16..20)?.try_into().ok()?);
    let rest = data.get(20..)?;
    let (message, receive_id) = rest.split_at_checked(usize::try_from(length).ok()?)?;
    Some((
        message.to_vec(),
        String::from_utf8(receive_id.to_vec()).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wecom::{CALLBACK_TOKEN, CORPID, ENCODING_AES_KEY};

    #[test]
    fn encoding_aes_key_decodes_leniently() {
        let key = aes_key(ENCODING_AES_KEY).expect("key");
        let expected: Vec<u8> = (7..=38).collect();
        assert_eq!(key.to_vec(), expected);
        // "Z" leaves trailing bits set: a strict decoder refuses, WeCom's accepts.
        let odd = format!("{}Z", &ENCODING_AES_KEY[..42]);
        assert!(BASE64.decode(format!("{odd}=")).is_err());
        assert!(aes_key(&odd).is_ok());
        assert!(aes_key("short").is_err());
        assert!(aes_key("!!!").is_err());
    }

    #[test]
    fn encryption_round_trips_with_32_byte_padding() {
        let key = aes_key(ENCODING_AES_KEY).expect("key");
        for len in [0, 1, 11, 12, 43, 44, 300] {
            let message = vec![b'm'; len];
            let encrypted = encrypt(&key, &message, CORPID);
            let raw = BASE64.decode(&encrypted).expect("base64");
            assert_eq!(raw.len() % 32, 0);
            // 16 + 4 + 18 (corpid) + len, then 1..=32 bytes of padding.
            let unpadded = 38 + len;
            assert_eq!(raw.len(), (unpadded / 32 + 1) * 32, "{len}");
            assert_eq!(
                decrypt(&key, &encrypted),
                Some((message, CORPID.to_string()))
            );
        }
        let other = [9u8; 32];
        let encrypted = encrypt(&key, b"{}", CORPID);
        assert_ne!(
            decrypt(&other, &encrypted).map(|(m, _)| m),
            Some(b"{}".to_vec())
        );
    }

    #[test]
    fn msg_signature_sorts_its_inputs() {
        let signature = msg_signature(CALLBACK_TOKEN, "1700000000", "nonce", "ENC");
        assert_eq!(signature.len(), 40);
        assert_eq!(
            signature,
            msg_signature("ENC", "nonce", "1700000000", CALLBACK_TOKEN)
        );
        // SHA-1("abc"), split and shuffled.
        assert_eq!(
            msg_signature("c", "", "b", "a"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
