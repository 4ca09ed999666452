//! `--at SNAPSHOT|TIME` of `syncd show` and `syncd restore`: which point in the history a user
//! means. Pure apart from reading the clock and the time zone for local and relative times.

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ZonedDateTime, civil};
use vault::history::At;

const HELP: &str = "name a snapshot by the hex digits `syncd log` prints (at least 4), or give a time: 2026-12-01T09:30:00Z (RFC 3339), 2026-12-01 09:30 or 2026-12-01 (this machine's time zone), or one before now: 2h, 3 days, 1 week ago";

/// `text` as a point in the history. Hex digits name a snapshot; anything else must be a time:
/// RFC 3339 (with an offset), `YYYY-MM-DD[ HH:MM[:SS]]` in this machine's time zone (a day
/// alone is its midnight), or a span before now (`2h`, `3 days`, `1 week ago`).
pub fn parse_at(text: &str) -> Result<At, String> {
    let text = text.trim();
    if let Some(at) = At::snapshot(text) {
        return Ok(at);
    }
    let ns = |t: Timestamp| i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX);
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(At::Time(ns(t)));
    }
    let local = text.parse::<civil::DateTime>().ok().or_else(|| {
        text.parse::<civil::Date>()
            .ok()
            .map(|d| d.to_datetime(civil::Time::midnight()))
    });
    if let Some(dt) = local
        && let Ok(z) = dt.to_zoned_datetime(TimeZone::system())
    {
        return Ok(At::Time(ns(z.timestamp())));
    }
    let span = text.strip_suffix("ago").unwrap_or(text).trim();
    if let Ok(span) = span.parse::<Span>()
        && let Ok(then) = ZonedDateTime::now().checked_sub(span.abs())
    {
        return Ok(At::Time(ns(then.timestamp())));
    }
    Err(format!("`{text}` is neither a snapshot nor a time: {HELP}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> i64 {
        match parse_at(text) {
            Ok(At::Time(t)) => t,
            other => panic!("{text:?} -> {other:?}"),
        }
    }

    #[test]
    fn snapshots_are_hex_digits() {
        assert_eq!(
            parse_at("a1b2c3d4e5f6"),
            Ok(At::Snapshot("a1b2c3d4e5f6".into()))
        );
        assert_eq!(parse_at("ABCD"), Ok(At::Snapshot("abcd".into())));
        assert!(parse_at("abc").is_err(), "3 digits are too few");
    }

    #[test]
    fn absolute_times_parse_to_the_nanosecond() {
        assert_eq!(time("1970-01-01T00:00:01.5Z"), 1_500_000_000);
        assert_eq!(time("1970-01-01T01:00:00+01:00"), 0);
        let local = |s: &str| {
            s.parse::<civil::DateTime>()
                .unwrap()
                .to_zoned_datetime(TimeZone::system())
                .unwrap()
                .timestamp()
                .as_nanosecond() as i64
        };
        assert_eq!(time("2026-12-01 09:30"), local("2026-12-01T09:30:00"));
        assert_eq!(time("2026-12-01 09:30:15"), local("2026-12-01T09:30:15"));
        assert_eq!(time("2026-12-01"), local("2026-12-01T00:00:00"));
    }

    #[test]
    fn relative_times_are_before_now() {
        let now = Timestamp::now().as_nanosecond() as i64;
        for (text, secs) in [
            ("2h", 7200),
            ("3 days ago", 3 * 86_400),
            ("90 minutes", 5400),
        ] {
            let back = now - time(text);
            let want = secs * 1_000_000_000;
            // Allow for the test's own run time and a daylight-saving change within 3 days.
            assert!((back - want).abs() < 3_700_000_000_000, "{text}: {back}");
        }
        for bad in ["", "yesterday-ish", "2026-13-01", "soon", "-"] {
            assert!(parse_at(bad).is_err(), "{bad:?} parsed");
        }
    }
}
