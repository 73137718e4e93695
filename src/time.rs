//! Dates: RFC 3339 in, Unix seconds inside, IMF-fixdate (RFC 8594 `Sunset`) out. The caller owns the clock.

use alloc::string::String;
use core::fmt::Write;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |n, &b| n * 10 + i64::from(b - b'0')))
}

/// Parse an RFC 3339 date-time (`2024-10-22T00:00:00Z`, fractions and offsets allowed) to Unix seconds.
/// Fractions of a second are dropped; a leap second reads as the second before it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let y = digits(b.get(0..4)?)?;
    let mo = digits(b.get(5..7)?)?;
    let d = digits(b.get(8..10)?)?;
    let h = digits(b.get(11..13)?)?;
    let mi = digits(b.get(14..16)?)?;
    let sec = digits(b.get(17..19)?)?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60
    {
        return None;
    }
    let mut rest = b.get(19..)?;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = frac.get(n..)?;
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = digits(&[*oh1, *oh2])?;
            let om = digits(&[*om1, *om2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(days * 86_400 + h * 3600 + mi * 60 + sec.min(59) - offset)
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate), as RFC 8594's `Sunset` wants.
pub fn imf_fixdate(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = WEEKDAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Thu");
    let mon = MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan");
    let mut out = String::with_capacity(29);
    let _ = write!(
        out,
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} GMT",
        tod / 3600,
        (tod % 3600) / 60,
        tod % 60
    );
    out
}

/// `2024-10-22`: the day of a moment, for messages.
pub fn date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let mut out = String::with_capacity(10);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-10-22T00:00:00Z"), Some(1_729_555_200));
        assert_eq!(parse_rfc3339("2024-02-07T00:00:00Z"), Some(1_707_264_000));
        assert_eq!(
            parse_rfc3339("2024-10-22T02:00:00+02:00"),
            Some(1_729_555_200)
        );
        assert_eq!(
            parse_rfc3339("2024-10-21T23:00:00.999-01:00"),
            Some(1_729_555_200)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-10-22"), None);
        assert_eq!(parse_rfc3339("2024-10-22T00:00:00"), None);
        assert_eq!(parse_rfc3339("2024-10-22T00:00:00.Z"), None);
        assert_eq!(parse_rfc3339("２０２４-10-22T00:00:00Z"), None);
    }

    #[test]
    fn imf_fixdate_matches_rfc_examples() {
        // RFC 9110 §5.6.7's own example.
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(1_729_555_200), "Tue, 22 Oct 2024 00:00:00 GMT");
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(1_729_555_200), "2024-10-22");
    }

    #[test]
    fn round_trip_days() {
        for days in [-1000i64, -1, 0, 1, 11_000, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
