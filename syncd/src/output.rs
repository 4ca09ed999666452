//! Printing: JSON on stdout, human text on stdout, errors on stderr; times and ids for people.

use std::io::{self, Write};

use vault::{FileMeta, ObjectId};

/// Append one formatted line to a `String` (formatting into a `String` cannot fail).
macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use line;

/// Write `text` to stdout. A closed pipe (`syncd log | head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    stream(|out| out.write_all(text.as_bytes()))
}

/// Write to stdout through a buffer as `write` goes, so a long listing is never held whole. A
/// closed pipe (`syncd tasks | head`) is not an error.
pub fn stream(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `value` as pretty JSON on stdout, written as it is serialized.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    stream(|out| {
        serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
        out.write_all(b"\n")
    })
}

/// A JSON array serialized from an iterator as it goes (once: a second serialization is an
/// empty array), so its items are made one at a time rather than collected first.
pub struct JsonSeq<I>(std::cell::RefCell<Option<I>>);

impl<I> JsonSeq<I> {
    pub fn new(items: I) -> JsonSeq<I> {
        JsonSeq(std::cell::RefCell::new(Some(items)))
    }
}

impl<I> serde::Serialize for JsonSeq<I>
where
    I: Iterator,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take();
        serializer.collect_seq(items.into_iter().flatten())
    }
}

/// An error and its causes on stderr. A cause already quoted in the message before it (many
/// messages include their source) is not repeated.
pub fn print_error(err: &anyhow::Error) {
    let mut text = format!("error: {err}\n");
    let mut last = err.to_string();
    for cause in err.chain().skip(1) {
        let this = cause.to_string();
        if !last.contains(&this) {
            text.push_str(&format!("  caused by: {this}\n"));
        }
        last = this;
    }
    let _ = io::stderr().write_all(text.as_bytes());
}

fn timestamp(ns: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// `2026-11-23 13:35:14 +01:00`, in this machine's time zone.
pub fn local_time(ns: i64) -> String {
    timestamp(ns)
        .to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// `2026-11-23 12:35:14Z`.
pub fn utc_time(ns: i64) -> String {
    timestamp(ns).strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The short form of an id, or `none`.
pub fn short(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "none".to_string(), |id| id.short())
}

/// `abc123def456, 12 bytes, modified 2026-…` or `absent`.
pub fn file_meta(meta: Option<&FileMeta>) -> String {
    match meta {
        None => "absent".to_string(),
        Some(m) => format!(
            "{}, {} bytes{}, modified {}",
            m.id.short(),
            m.size,
            if m.executable { ", executable" } else { "" },
            local_time(m.mtime_ns)
        ),
    }
}

/// `1 file` / `2 files`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_counts_read_well() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc_time(1_700_000_000_500_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(count(1u64, "file", "files"), "1 file");
        assert_eq!(count(3u64, "file", "files"), "3 files");
        assert_eq!(short(None), "none");
    }
}
