//! WeCom callbacks (PROTOCOL.md §6.4): `msg_signature` is SHA-1 over the
//! sorted Token, timestamp, nonce and ciphertext; the payload is AES-256-CBC
//! with the key and IV from the app's EncodingAESKey, inside a JSON or XML
//! envelope.

use super::{malformed, Headers, Notification};
use crate::config::Secret;
use crate::crypto::{aead_decrypt, EncryptedResource};
use crate::error::{Error, ErrorKind, Result};
use crate::refund::Refund;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The app's callback secrets: Token and the AES key from EncodingAESKey.
pub(crate) struct CallbackKeys {
    token: Secret,
    aes_key: Zeroizing<[u8; 32]>,
    /// Expected `receiveid` (the corp id), when the configuration names it.
    corpid: Option<String>,
    max_skew: u64,
}

impl CallbackKeys {
    pub(crate) fn new(
        token: &Secret,
        encoding_aes_key: &Secret,
        corpid: Option<String>,
        max_skew: u64,
    ) -> Result<CallbackKeys> {
        let invalid = || {
            Error::config(
                "encoding_aes_key",
                "must be the 43-character EncodingAESKey of the app's callback settings",
            )
        };
        if encoding_aes_key.expose().len() != 43 {
            return Err(invalid());
        }
        // Random 43-character keys rarely end on a byte boundary: WeCom's own
        // decoders drop the trailing bits, and so must we.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let decoded = Zeroizing::new(
            lenient
                .decode(format!("{}=", encoding_aes_key.expose()))
                .map_err(|_| invalid())?,
        );
        let aes_key: [u8; 32] = decoded.as_slice().try_into().map_err(|_| invalid())?;
        if token.expose().is_empty() {
            return Err(Error::config("callback_token", "must not be empty"));
        }
        Ok(CallbackKeys {
            token: token.clone(),
            aes_key: Zeroizing::new(aes_key),
            corpid,
            max_skew,
        })
    }

    /// Verifies and decrypts one callback. `params` holds the callback URL's
    /// query parameters `msg_signature`, `timestamp` and `nonce`.
    pub(crate) fn parse(&self, params: &Headers, body: &[u8]) -> Result<Notification> {
        let param = |name: &'static str| {
            params.get(name).ok_or_else(|| {
                Error::verification(
                    "missing_parameter",
                    format!("the callback URL parameter {name} is missing"),
                )
            })
        };
        let signature = param("msg_signature")?;
        let timestamp = param("timestamp")?;
        let nonce = param("nonce")?;
        crate::v3::check_timestamp("timestamp", timestamp, crate::v3::unix_now(), self.max_skew)?;
        let encrypted = encrypted_field(body)?;
        let expected = msg_signature(self.token.expose(), timestamp, nonce, &encrypted);
        if !constant_time_eq(
            expected.as_bytes(),
            signature.trim().to_ascii_lowercase().as_bytes(),
        ) {
            return Err(Error::verification(
                "bad_signature",
                "msg_signature does not match: wrong Token, or an altered body",
            ));
        }
        let (message, receive_id) = self.decrypt(&encrypted)?;
        if let Some(corpid) = &self.corpid {
            if receive_id != *corpid {
                return Err(Error::verification(
                    "receiveid_mismatch",
                    "the callback was encrypted for another corp id",
                ));
            }
        }
        let event = parse_object(&message).ok_or_else(|| {
            malformed("the decrypted callback is neither a JSON object nor XML".into())
        })?;
        self.notification(event)
    }

    /// AES-256-CBC, IV = the key's first 16 bytes, PKCS#7 padding to 32-byte
    /// blocks; plaintext = 16 random bytes, 4-byte length, message, receiveid.
    fn decrypt(&self, encrypted: &str) -> Result<(Vec<u8>, String)> {
        use aes::cipher::{block_padding::NoPadding, BlockModeDecrypt, KeyIvInit};
        let fail =
            |message: &str| Error::new(ErrorKind::DecryptionFailed, "callback_decryption", message);
        let mut data = Zeroizing::new(
            BASE64
                .decode(encrypted.trim())
                .map_err(|_| fail("Encrypt is not base64"))?,
        );
        let iv: [u8; 16] = self.aes_key[..16]
            .try_into()
            .map_err(|_| fail("the AES key is shorter than its IV"))?;
        // WeCom pads to 32 bytes, which no block-padding scheme of the crate
        // knows: decrypt without unpadding, then strip it below.
        let plain = cbc::Decryptor::<aes::Aes256>::new(&(*self.aes_key).into(), &iv.into())
            .decrypt_padded::<NoPadding>(&mut data)
            .map_err(|_| fail("Encrypt is not a whole number of AES blocks"))?;
        let pad = usize::from(plain.last().copied().unwrap_or(0));
        let unpadded = plain
            .len()
            .checked_sub(pad)
            .filter(|_| (1..=32).contains(&pad))
            .map(|len| &plain[..len])
            .ok_or_else(|| fail("bad padding: wrong EncodingAESKey, or an altered body"))?;
        let (length, rest) = match unpadded.get(16..) {
            Some([a, b, c, d, rest @ ..]) => (u32::from_be_bytes([*a, *b, *c, *d]), rest),
            _ => return Err(fail("the decrypted callback is too short")),
        };
        let (message, receive_id) = usize::try_from(length)
            .ok()
            .filter(|&length| length <= rest.len())
            .map(|length| rest.split_at(length))
            .ok_or_else(|| fail("bad message length: wrong EncodingAESKey, or an altered body"))?;
        Ok((
            message.to_vec(),
            String::from_utf8_lossy(receive_id).into_owned(),
        ))
    }

    /// The event's refund: its `resource` decrypted, or the event's own fields.
    fn notification(&self, event: Map<String, Value>) -> Result<Notification> {
        let text = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_string);
        let id = text("id").or_else(|| text("MsgId")).unwrap_or_default();
        let fields = match event.get("resource") {
            Some(resource) => {
                let resource: EncryptedResource = serde_json::from_value(resource.clone())
                    .map_err(|e| malformed(format!("callback {id}: resource: {e}")))?;
                // PROTOCOL.md §6.4 leaves the key open; the app's AES key is the
                // one 32-byte secret WeCom and the app share.
                let plaintext = aead_decrypt(&*self.aes_key, &resource)?;
                match serde_json::from_slice(&plaintext) {
                    Ok(Value::Object(fields)) => fields,
                    _ => {
                        return Err(malformed(format!(
                            "callback {id}: resource is not a JSON object"
                        )))
                    }
                }
            }
            None => event.clone(),
        };
        let status_field = if fields.contains_key("refund_status") {
            "refund_status"
        } else {
            "status"
        };
        Ok(Notification {
            event_type: text("event_type")
                .or_else(|| text("Event"))
                .unwrap_or_default(),
            create_time: text("create_time")
                .or_else(|| text("CreateTime"))
                .unwrap_or_default(),
            resource_type: text("resource_type").unwrap_or_default(),
            summary: text("summary"),
            refund: Refund::from_fields_named(fields, "refund_id", status_field),
            id,
        })
    }
}

/// `Encrypt` of a JSON (`{"encrypt": ...}`) or XML (`<Encrypt>...</Encrypt>`) envelope.
fn encrypted_field(body: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| malformed("the callback body is not UTF-8".into()))?;
    let object = parse_object(text.as_bytes())
        .ok_or_else(|| malformed("the callback body is neither a JSON object nor XML".into()))?;
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("encrypt"))
        .and_then(|(_, value)| value.as_str())
        .map(str::to_string)
        .ok_or_else(|| malformed("the callback envelope has no Encrypt field".into()))
}

/// A JSON object, or an XML document as an object of its root's children.
fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.starts_with('{') {
        return match serde_json::from_str(text).ok()? {
            Value::Object(object) => Some(object),
            _ => None,
        };
    }
    match xml::parse_document(text)? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypted];
    parts.sort_unstable();
    let digest = crate::crypto::backend::digest::digest(
        &crate::crypto::backend::digest::SHA1_FOR_LEGACY_USE_ONLY,
        parts.concat().as_bytes(),
    );
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// WeCom envelopes and messages: elements, text, CDATA and entities, read
/// by quick-xml's streaming reader. Nesting is tracked on the heap and
/// bounded, so no document can exhaust the host's stack.
mod xml {
    use quick_xml::events::Event;
    use quick_xml::Reader;
    use serde_json::{Map, Value};

    /// WeCom documents are two or three levels deep; anything deeper is not theirs.
    const MAX_DEPTH: usize = 16;

    struct Element {
        name: String,
        children: Map<String, Value>,
        text: String,
    }

    impl Element {
        /// An object of child elements, or the element's text when it has none.
        fn into_value(self) -> (String, Value) {
            let value = if self.children.is_empty() {
                Value::String(self.text)
            } else {
                Value::Object(self.children)
            };
            (self.name, value)
        }
    }

    /// The root element's content: an object of child elements, or its text.
    /// `None` for anything malformed, deeper than [`MAX_DEPTH`], or with an
    /// entity other than XML's five.
    pub(super) fn parse_document(text: &str) -> Option<Value> {
        let mut reader = Reader::from_str(text);
        let mut open: Vec<Element> = Vec::new();
        loop {
            let closed = match reader.read_event().ok()? {
                Event::Start(start) => {
                    if open.len() >= MAX_DEPTH {
                        return None;
                    }
                    open.push(Element {
                        name: start.name().as_ref().to_string(),
                        children: Map::new(),
                        text: String::new(),
                    });
                    continue;
                }
                Event::Empty(empty) => (
                    empty.name().as_ref().to_string(),
                    Value::String(String::new()),
                ),
                Event::End(_) => open.pop()?.into_value(),
                Event::Text(text) => {
                    if let Some(element) = open.last_mut() {
                        element.text.push_str(&text.xml10_content());
                    }
                    continue;
                }
                Event::CData(cdata) => {
                    open.last_mut()?.text.push_str(&cdata.into_inner());
                    continue;
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref().ok()? {
                        Some(c) => c,
                        None => predefined_entity(&reference.into_inner())?,
                    };
                    open.last_mut()?.text.push(resolved);
                    continue;
                }
                Event::Eof => return None,
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => continue,
            };
            match open.last_mut() {
                Some(parent) => {
                    parent.children.insert(closed.0, closed.1);
                }
                None => return Some(closed.1),
            }
        }
    }

    fn predefined_entity(name: &str) -> Option<char> {
        Some(match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => return None,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_wecom_envelopes() {
            let doc = "<?xml version=\"1.0\"?><xml><ToUserName><![CDATA[ww1]]></ToUserName>\
                       <Encrypt><![CDATA[abc+/=]]></Encrypt><AgentID>1000002</AgentID>\
                       <Nested><A>1 &amp; 2 &#x41;</A></Nested><Empty/></xml>";
            let value = parse_document(doc).unwrap();
            assert_eq!(value["ToUserName"], "ww1");
            assert_eq!(value["Encrypt"], "abc+/=");
            assert_eq!(value["AgentID"], "1000002");
            assert_eq!(value["Nested"]["A"], "1 & 2 A");
            assert_eq!(value["Empty"], "");
            assert!(parse_document("<xml><open></xml>").is_none());
            assert!(parse_document("<xml><open>").is_none());
            assert!(parse_document("<xml>&custom;</xml>").is_none());
        }

        #[test]
        fn depth_is_bounded_without_recursion() {
            let nested = |depth: usize| format!("{}x{}", "<a>".repeat(depth), "</a>".repeat(depth));
            assert!(parse_document(&nested(MAX_DEPTH)).is_some());
            assert!(parse_document(&nested(MAX_DEPTH + 1)).is_none());
            // The finding: 20,000 unclosed levels crashed hosts through stack overflow.
            assert!(parse_document(&"<a>".repeat(20_000)).is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/wecom_callback_vector.json"
        ))
        .unwrap()
    }

    fn keys(corpid: &str) -> CallbackKeys {
        let v = vector();
        CallbackKeys::new(
            &Secret::new(v["callback_token"].as_str().unwrap()),
            &Secret::new(v["encoding_aes_key"].as_str().unwrap()),
            Some(corpid.into()),
            300,
        )
        .unwrap()
    }

    /// Query parameters signed now with the vector's Token.
    fn params(encrypted: &str, token: &str, timestamp: i64) -> Headers {
        let ts = timestamp.to_string();
        let signature = msg_signature(token, &ts, "n0nce42", encrypted);
        Headers::new([
            ("msg_signature", signature),
            ("timestamp", ts),
            ("nonce", "n0nce42".into()),
        ])
    }

    #[test]
    fn signature_matches_python_sha1_vector() {
        let v = vector();
        let sig = msg_signature(
            v["callback_token"].as_str().unwrap(),
            v["fixed_timestamp"].as_str().unwrap(),
            v["nonce"].as_str().unwrap(),
            v["json"]["encrypt"].as_str().unwrap(),
        );
        assert_eq!(
            sig,
            v["json"]["msg_signature_at_fixed_timestamp"]
                .as_str()
                .unwrap()
        );
    }

    #[test]
    fn openssl_encrypted_json_and_xml_callbacks_decrypt() {
        let v = vector();
        let keys = keys("ww5f1e2d3c4b5a6978");
        let token = v["callback_token"].as_str().unwrap();
        let now = crate::v3::unix_now();
        let body = v["json"]["body"].as_str().unwrap();
        let parsed = keys
            .parse(
                &params(v["json"]["encrypt"].as_str().unwrap(), token, now),
                body.as_bytes(),
            )
            .unwrap();
        assert_eq!(parsed.id, "EV-WECOM-0001");
        assert_eq!(parsed.event_type, "REFUND.SUCCESS");
        assert_eq!(parsed.refund.status, crate::RefundStatus::Success);
        assert_eq!(
            parsed.refund.refund_id.as_deref(),
            Some("50300000000000000000000000000001")
        );
        let body = v["xml"]["body"].as_str().unwrap();
        let parsed = keys
            .parse(
                &params(v["xml"]["encrypt"].as_str().unwrap(), token, now),
                body.as_bytes(),
            )
            .unwrap();
        assert_eq!(parsed.id, "EV-WECOM-0002");
        assert_eq!(parsed.refund.status, crate::RefundStatus::Closed);
    }

    #[test]
    fn each_failure_has_its_kind() {
        let v = vector();
        let token = v["callback_token"].as_str().unwrap();
        let encrypted = v["json"]["encrypt"].as_str().unwrap();
        let body = v["json"]["body"].as_str().unwrap().as_bytes();
        let now = crate::v3::unix_now();
        let kind = |keys: &CallbackKeys, params: &Headers, body: &[u8]| {
            keys.parse(params, body).unwrap_err().kind
        };
        let good = keys("ww5f1e2d3c4b5a6978");
        assert_eq!(
            kind(&good, &params(encrypted, "other-token", now), body),
            ErrorKind::VerificationFailed
        );
        assert_eq!(
            kind(&good, &params(encrypted, token, now - 301), body),
            ErrorKind::TimestampOutOfWindow
        );
        assert_eq!(
            kind(
                &keys("ww-someone-else"),
                &params(encrypted, token, now),
                body
            ),
            ErrorKind::VerificationFailed
        );
        assert_eq!(
            kind(&good, &params("x", token, now), b"{\"encrypt\":\"x\"}"),
            ErrorKind::DecryptionFailed
        );
        assert_eq!(
            kind(&good, &params(encrypted, token, now), b"not json or xml"),
            ErrorKind::MalformedNotification
        );
        let wrong_key = CallbackKeys::new(
            &Secret::new(token),
            &Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            None,
            300,
        )
        .unwrap();
        assert_eq!(
            kind(&wrong_key, &params(encrypted, token, now), body),
            ErrorKind::DecryptionFailed
        );
        let err = CallbackKeys::new(&Secret::new(token), &Secret::new("short"), None, 300)
            .err()
            .unwrap();
        assert_eq!(err.field.as_deref(), Some("encoding_aes_key"));
    }
}
