//! Verification of the merchant's `Authorization` header (PROTOCOL §1).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::keys::{Keys, MCHID, MERCHANT_SERIAL};

/// The only signature scheme APIv3 uses.
const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far the request timestamp may be from the simulator clock, in seconds.
const MAX_SKEW_SECS: i64 = 300;

/// The five `key="value"` pairs of an `Authorization` header.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) mchid: String,
    pub(crate) nonce_str: String,
    pub(crate) timestamp: String,
    pub(crate) serial_no: String,
    pub(crate) signature: String,
}

/// Parses `WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",...` (pairs in any order).
pub(crate) fn parse_authorization(header: &str) -> Result<Credentials, String> {
    let rest = header
        .strip_prefix(SCHEME)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| format!("Authorization认证类型不是{SCHEME}"))?;

    let mut creds = Credentials::default();
    let mut seen = Vec::new();
    let mut remaining = rest.trim();
    while !remaining.is_empty() {
        let (key, after_key) = remaining
            .split_once("=\"")
            .ok_or_else(|| "Authorization格式错误".to_string())?;
        let (value, after_value) = after_key
            .split_once('"')
            .ok_or_else(|| "Authorization格式错误".to_string())?;
        let key = key.trim();
        if seen.contains(&key) {
            return Err(format!("Authorization中{key}重复"));
        }
        seen.push(key);
        let slot = match key {
            "mchid" => &mut creds.mchid,
            "nonce_str" => &mut creds.nonce_str,
            "timestamp" => &mut creds.timestamp,
            "serial_no" => &mut creds.serial_no,
            "signature" => &mut creds.signature,
            other => return Err(format!("Authorization中有未知字段{other}")),
        };
        *slot = value.to_string();
        remaining = after_value.trim_start();
        if let Some(next) = remaining.strip_prefix(',') {
            remaining = next.trim_start();
        } else if !remaining.is_empty() {
            return Err("Authorization格式错误".to_string());
        }
    }
    for field in ["mchid", "nonce_str", "timestamp", "serial_no", "signature"] {
        if !seen.contains(&field) {
            return Err(format!("Authorization缺少{field}"));
        }
    }
    Ok(creds)
}

/// Builds the string the merchant signed: `METHOD\nTARGET\nTIMESTAMP\nNONCE\nBODY\n`.
pub(crate) fn signing_message(
    method: &str,
    target: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut msg = format!("{method}\n{target}\n{timestamp}\n{nonce}\n").into_bytes();
    msg.extend_from_slice(body);
    msg.push(b'\n');
    msg
}

/// Checks a request the way the platform does. `Err` carries the SIGN_ERROR message.
pub(crate) fn verify_request(
    keys: &Keys,
    authorization: Option<&str>,
    method: &str,
    target: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), String> {
    let header = authorization.ok_or_else(|| "错误的签名，缺少Authorization".to_string())?;
    let creds = parse_authorization(header)?;
    if creds.mchid != MCHID {
        return Err("Authorization中的mchid与商户不匹配".to_string());
    }
    if !creds.serial_no.eq_ignore_ascii_case(MERCHANT_SERIAL) {
        return Err("商户证书序列号有误".to_string());
    }
    let timestamp: i64 = creds
        .timestamp
        .parse()
        .map_err(|_| "Authorization中的timestamp格式错误".to_string())?;
    // Checked: the timestamp is peer input and may be anywhere in the i64 range.
    let skew = now_secs.checked_sub(timestamp).and_then(i64::checked_abs);
    if skew.is_none_or(|s| s > MAX_SKEW_SECS) {
        return Err("请求时间戳与服务器时间相差超过5分钟".to_string());
    }
    let signature = BASE64
        .decode(&creds.signature)
        .map_err(|_| "签名不是合法的Base64".to_string())?;
    let message = signing_message(method, target, &creds.timestamp, &creds.nonce_str, body);
    if keys.verify_merchant(&message, &signature) {
        Ok(())
    } else {
        Err("错误的签名，验签失败".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{load_rsa_key, MERCHANT_KEY_PEM};
    use ring::rand::SystemRandom;
    use ring::signature::RSA_PKCS1_SHA256;

    const NOW: i64 = 1_795_000_000;

    fn sign(message: &[u8]) -> String {
        let key = load_rsa_key(MERCHANT_KEY_PEM).expect("merchant key");
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
            .expect("sign");
        BASE64.encode(sig)
    }

    fn header(timestamp: i64, signature: &str) -> String {
        // PHP's pair order, to show order does not matter.
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{MCHID}\",serial_no=\"{MERCHANT_SERIAL}\",\
             timestamp=\"{timestamp}\",nonce_str=\"NONCE123\",signature=\"{signature}\""
        )
    }

    #[test]
    fn signed_request_passes_and_tampering_fails() {
        let keys = Keys::load().expect("keys");
        let target = "/v3/refund/domestic/refunds";
        let body = br#"{"out_refund_no":"R1"}"#;
        let msg = signing_message("POST", target, &NOW.to_string(), "NONCE123", body);
        let auth = header(NOW, &sign(&msg));

        assert_eq!(
            verify_request(&keys, Some(&auth), "POST", target, body, NOW),
            Ok(())
        );
        // Different body bytes, target or method: the signature no longer matches.
        let tampered = br#"{"out_refund_no":"R2"}"#;
        assert!(verify_request(&keys, Some(&auth), "POST", target, tampered, NOW).is_err());
        assert!(verify_request(&keys, Some(&auth), "POST", "/v3/x", body, NOW).is_err());
        assert!(verify_request(&keys, Some(&auth), "GET", target, body, NOW).is_err());
        // Too far from the simulator clock.
        assert!(verify_request(&keys, Some(&auth), "POST", target, body, NOW + 301).is_err());
        // Extreme timestamps are refused, not overflowed.
        for ts in [i64::MIN, i64::MAX] {
            let auth = header(ts, &sign(&msg));
            assert!(verify_request(&keys, Some(&auth), "POST", target, body, NOW).is_err());
        }
        // Missing header.
        assert!(verify_request(&keys, None, "POST", target, body, NOW).is_err());
    }

    #[test]
    fn get_with_empty_body_verifies() {
        let keys = Keys::load().expect("keys");
        let target = "/v3/refund/domestic/refunds/R%7C1?sub_mchid=1900000109";
        let msg = signing_message("GET", target, &NOW.to_string(), "NONCE123", b"");
        assert!(msg.ends_with(b"NONCE123\n\n"));
        let auth = header(NOW, &sign(&msg));
        assert_eq!(
            verify_request(&keys, Some(&auth), "GET", target, b"", NOW),
            Ok(())
        );
    }

    #[test]
    fn parses_pairs_in_any_order_and_rejects_junk() {
        let c = parse_authorization(
            "WECHATPAY2-SHA256-RSA2048 signature=\"c2ln\",timestamp=\"1\",serial_no=\"S\",nonce_str=\"N\",mchid=\"M\"",
        )
        .expect("valid header");
        assert_eq!(c.mchid, "M");
        assert_eq!(c.signature, "c2ln");
        assert!(parse_authorization("Bearer x").is_err());
        assert!(parse_authorization("WECHATPAY2-SHA256-RSA2048 mchid=\"M\"").is_err());
        assert!(parse_authorization("WECHATPAY2-SHA256-RSA2048 mchid=\"M").is_err());
        assert!(parse_authorization("WECHATPAY2-SHA256-RSA2048 mchid=M").is_err());
    }
}
