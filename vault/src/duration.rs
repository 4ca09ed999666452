//! Durations as people type them on a command line: a whole number and one unit (`90s`, `30m`,
//! `12h`, `30d`, `2w`). One parser for every flag that takes one (`revisions prune
//! --older-than`, `hub gc --grace`, `vault-server gc --grace`), so they all read alike.

use std::time::Duration;

/// `45s`, `90m`, `12h`, `30d`, `2w` (`0s`: none). The error says how to write one.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("`{text}` is not a duration; write a number and a unit: 90s, 30m, 12h, 30d, 2w");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "d",
            "30",
            "30x",
            "-3d",
            "3.5d",
            "1dd",
            "99999999999999999999w",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("a number and a unit"), "{bad:?}: {err}");
        }
    }
}
