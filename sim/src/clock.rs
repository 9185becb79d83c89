//! Time and randomness helpers shared by the simulator.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

/// Seconds since the Unix epoch (negative before 1970, which never happens in practice).
pub(crate) fn epoch_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Formats a time as RFC 3339 in China Standard Time, the way the platform does:
/// `2026-11-22T18:30:05+08:00`.
pub(crate) fn rfc3339_cst(t: SystemTime) -> String {
    let local = epoch_secs(t) + 8 * 3600;
    let days = local.div_euclid(86_400);
    let secs_of_day = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+08:00",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month, day) civil date.
///
/// Howard Hinnant's `civil_from_days` algorithm; avoids pulling in a date crate.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `now - days`, used to seed orders "paid N days ago".
pub(crate) fn days_ago(days: u64) -> SystemTime {
    SystemTime::now()
        .checked_sub(Duration::from_secs(days * 86_400))
        .unwrap_or(UNIX_EPOCH)
}

/// A random string of `len` characters from `[0-9A-Za-z]`, like the SDKs' nonces.
pub(crate) fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    fill_random(&mut bytes);
    // The modulo bias is irrelevant for a test simulator.
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `buf` with random bytes.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if SystemRandom::new().fill(buf).is_err() {
        // The OS generator essentially never fails; fall back to the clock so a nonce is
        // still produced rather than aborting the request.
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_china_time() {
        // 2018-06-08T02:34:56Z is 10:34:56 in UTC+8.
        let t = UNIX_EPOCH + Duration::from_secs(1_528_425_296);
        assert_eq!(rfc3339_cst(t), "2018-06-08T10:34:56+08:00");
        // Crossing midnight and a leap day.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_222_400 - 3600); // 2024-02-29T15:00:00Z
        assert_eq!(rfc3339_cst(t), "2024-02-29T23:00:00+08:00");
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5]), "000fa5");
    }

    #[test]
    fn alnum_nonce_has_requested_length() {
        let n = random_alnum(32);
        assert_eq!(n.len(), 32);
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
