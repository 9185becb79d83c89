//! Refund notifications (PROTOCOL.md §3, §2.5-§2.7): verify the signature
//! over the exact bytes received, enforce the timestamp window, decrypt the
//! resource, and tell the host what to answer.

use crate::config::MAX_JSON_BYTES;
use crate::crypto::EncryptedResource;
use crate::error::{Error, ErrorKind, Reply, Result};
use crate::refund::Refund;
use crate::v3::ApiV3;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub(crate) mod wecom;

/// Request headers of a notification. Names match without regard to case,
/// and the CGI form (`HTTP_WECHATPAY_SIGNATURE`) matches `Wechatpay-Signature`.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Headers from name/value pairs.
    pub fn new<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Headers {
        Headers(
            pairs
                .into_iter()
                .map(|(name, value)| (canonical_name(&name.into()), value.into()))
                .collect(),
        )
    }

    /// Headers from a JSON object of string values.
    pub fn from_json(json: &str) -> Result<Headers> {
        let object: Map<String, Value> = crate::refund::parse_json("headers", json)?;
        let mut pairs = Vec::with_capacity(object.len());
        for (name, value) in object {
            match value {
                Value::String(value) => pairs.push((name, value)),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidJson,
                        "malformed_json",
                        format!("headers: the value of {name} is not a string"),
                    ))
                }
            }
        }
        Ok(Headers::new(pairs))
    }

    /// The value of header `name`, however the host spelled it.
    pub fn get(&self, name: &str) -> Option<&str> {
        let wanted = canonical_name(name);
        self.0
            .iter()
            .find(|(key, _)| *key == wanted)
            .map(|(_, value)| value.as_str())
    }
}

/// `Wechatpay-Signature`, `wechatpay-signature` and `HTTP_WECHATPAY_SIGNATURE`
/// all become `wechatpay-signature`.
fn canonical_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("http_").unwrap_or(&lower);
    bare.replace('_', "-")
}

/// A verified and decrypted refund notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The notification id; duplicates of one notification share it.
    pub id: String,
    /// `REFUND.SUCCESS`, `REFUND.ABNORMAL` or `REFUND.CLOSED`.
    pub event_type: String,
    /// When the platform created it (RFC 3339).
    pub create_time: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// A human summary, e.g. 退款成功.
    pub summary: Option<String>,
    /// The decrypted refund, its status normalized like a query's.
    pub refund: Refund,
}

impl Notification {
    /// What to answer the platform: 200, empty body.
    pub fn reply(&self) -> Reply {
        Reply::success()
    }

    /// The envelope, the decrypted refund (with `wxrefund` normalization) and the reply.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "event_type": self.event_type,
            "create_time": self.create_time,
            "resource_type": self.resource_type,
            "summary": self.summary,
            "refund": self.refund.to_json(),
            "reply": self.reply().to_json(),
        })
    }
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    create_time: String,
    resource_type: String,
    event_type: String,
    #[serde(default)]
    summary: Option<String>,
    resource: EncryptedResource,
}

pub(crate) fn malformed(message: String) -> Error {
    Error::new(
        ErrorKind::MalformedNotification,
        "malformed_notification",
        message,
    )
}

/// Verifies, decrypts and parses an APIv3 refund notification.
pub(crate) fn parse_apiv3(api: &ApiV3, headers: &Headers, body: &[u8]) -> Result<Notification> {
    // Verify first, on the bytes exactly as received (§3.2 order of operations).
    api.verify_notification(|name| headers.get(name), body)?;
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("notification envelope: {e}")))?;
    let plaintext = api.decrypt(&envelope.resource).map_err(|mut error| {
        error.message = format!("notification {}: {}", envelope.id, error.message);
        error
    })?;
    let fields = match serde_json::from_slice(&plaintext) {
        Ok(Value::Object(fields)) => fields,
        _ => {
            return Err(malformed(format!(
                "notification {}: the decrypted resource is not a JSON object",
                envelope.id
            )))
        }
    };
    // Global's refund id is `id`; the mainland's `refund_id`.
    let id_field = if fields.contains_key("refund_id") {
        "refund_id"
    } else {
        "id"
    };
    let status_field = if fields.contains_key("refund_status") {
        "refund_status"
    } else {
        "status"
    };
    Ok(Notification {
        id: envelope.id,
        event_type: envelope.event_type,
        create_time: envelope.create_time,
        resource_type: envelope.resource_type,
        summary: envelope.summary,
        refund: Refund::from_fields_named(fields, id_field, status_field),
    })
}

/// Refuses a body no platform sends, before any parsing: every family's
/// notification is a small envelope.
pub(crate) fn check_body_size(body: &[u8]) -> Result<()> {
    if body.len() > MAX_JSON_BYTES {
        return Err(malformed(format!(
            "body larger than {MAX_JSON_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Attaches the answer the host should give the platform for a failed notification.
pub(crate) fn with_reply(mut error: Error) -> Error {
    let http_status = match error.kind {
        ErrorKind::VerificationFailed | ErrorKind::TimestampOutOfWindow => 401,
        ErrorKind::MalformedNotification | ErrorKind::InvalidJson | ErrorKind::InvalidArgument => {
            400
        }
        // Our side (wrong key, certificate download failed): let the platform retry later.
        _ => 500,
    };
    error.reply = Some(Reply::failure(http_status));
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_match_in_any_spelling() {
        let headers = Headers::new([
            ("HTTP_WECHATPAY_SIGNATURE", "sig"),
            ("wechatpay-timestamp", "1"),
            ("Wechatpay-Nonce", "n"),
        ]);
        assert_eq!(headers.get("Wechatpay-Signature"), Some("sig"));
        assert_eq!(headers.get("WECHATPAY-TIMESTAMP"), Some("1"));
        assert_eq!(headers.get("wechatpay_nonce"), Some("n"));
        assert_eq!(headers.get("Wechatpay-Serial"), None);
    }

    #[test]
    fn headers_json_must_hold_strings() {
        assert!(Headers::from_json(r#"{"Wechatpay-Nonce":"n"}"#).is_ok());
        let err = Headers::from_json(r#"{"Wechatpay-Timestamp":1}"#).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidJson);
    }

    #[test]
    fn replies_by_kind() {
        let reply = |kind| {
            with_reply(Error::new(kind, "x", "y"))
                .reply
                .clone()
                .unwrap()
                .http_status
        };
        assert_eq!(reply(ErrorKind::VerificationFailed), 401);
        assert_eq!(reply(ErrorKind::TimestampOutOfWindow), 401);
        assert_eq!(reply(ErrorKind::MalformedNotification), 400);
        assert_eq!(reply(ErrorKind::DecryptionFailed), 500);
        assert_eq!(Reply::success().http_status, 200);
    }
}
