//! Naming, parsing, listing and pruning of `.revisions/`.
//!
//! When a version loses a conflict (or is replaced by a restore) it is kept, not dropped: it moves
//! to a revision path that still says where it came from, when, and from which device:
//!
//! ```text
//! notes/todo.md, device "laptop", mtime 2026-11-23 12:35:14.5 UTC
//!   -> .revisions/notes/todo.2026-11-23T12-35-14.500Z.laptop.md
//! ```
//!
//! The name is `<stem>.<time>.<device>[~N][.<ext>]`. The time has no colons (valid on Windows),
//! is UTC and has milliseconds; the device is reduced to `[A-Za-z0-9_-]` (no dots, so the name
//! parses back unambiguously); `~N` only appears when the plain name is already taken, so an
//! earlier revision is never overwritten. The extension stays last so the file still opens in the
//! right program. Everything here is pure: the caller says which paths are taken.
//!
//! Names longer than the 255-byte limit get their stem shortened; such a revision parses back to
//! the shortened original name (it is still listed, just under a shorter name).

use std::collections::BTreeMap;

use crate::object::FlatTree;
use crate::paths::{REVISIONS_DIR, VaultPath};

const MAX_NAME_BYTES: usize = 255;
const MAX_PATH_BYTES: usize = 4096;
/// Longest device part of a revision name.
pub const MAX_DEVICE_CHARS: usize = 32;
/// Device part used when a device name has no usable character.
const FALLBACK_DEVICE: &str = "device";
/// `YYYY-MM-DDTHH-MM-SS.mmmZ`
const TIME_LEN: usize = 24;
const NS_PER_MS: i64 = 1_000_000;

/// A file under `.revisions/` whose name says where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    /// Where the revision is kept.
    pub path: VaultPath,
    /// The path the version had when it was current.
    pub original: VaultPath,
    /// Modification time of the kept version, in nanoseconds since the Unix epoch, at the
    /// millisecond precision the name keeps.
    pub time_ns: i64,
    /// The (sanitised) name of the device whose version it was.
    pub device: String,
}

/// The path at which to keep the version of `original` with modification time `time_ns` written
/// by `device_name`. Never returns a path for which `taken` is true: `~2`, `~3`, … are added
/// after the device part until one is free.
///
/// If `original` is itself inside `.revisions/` (two versions of one revision file collided),
/// the result is a sibling in the same folder, `~N` inserted before the extension, rather than a
/// `.revisions/.revisions/…` chain.
pub fn revision_path(
    original: &VaultPath,
    time_ns: i64,
    device_name: &str,
    taken: &dyn Fn(&VaultPath) -> bool,
) -> VaultPath {
    if inside_revisions(original) {
        return sibling_path(original, taken);
    }
    let device = sanitize_device(device_name);
    let time = format_time(time_ns);
    let (stem, ext) = split_ext(original.file_name());
    let dir = match original.parent() {
        Some(p) => format!("{REVISIONS_DIR}/{p}"),
        None => REVISIONS_DIR.to_string(),
    };
    let mut n: u64 = 1;
    loop {
        let middle = format!(".{time}.{device}{}", tilde(n));
        let candidate = place(&dir, stem, &middle, ext)
            // A folder path so long that no name fits beside it: keep the revision at the top of
            // `.revisions/` rather than fail (it still parses, to a top-level original).
            .or_else(|| place(REVISIONS_DIR, stem, &middle, ext))
            .or_else(|| place(REVISIONS_DIR, "revision", &middle, None));
        if let Some(c) = candidate
            && !taken(&c)
        {
            return c;
        }
        n += 1;
    }
}

/// Read a revision path back: `None` if `path` is not in `.revisions/` or its name does not have
/// the revision form (callers list such files as of unknown origin).
pub fn parse_revision(path: &VaultPath) -> Option<RevisionInfo> {
    if !inside_revisions(path) {
        return None;
    }
    let parts = parse_name(path.file_name())?;
    let name = match parts.ext {
        Some(ext) => format!("{}.{ext}", parts.stem),
        None => parts.stem.to_string(),
    };
    // Folders between `.revisions/` and the file are the original's folders.
    let rel = path
        .as_str()
        .strip_prefix(REVISIONS_DIR)?
        .strip_prefix('/')?;
    let original = match rel.rfind('/') {
        Some(i) => VaultPath::new(&format!("{}/{name}", &rel[..i])),
        None => VaultPath::new(&name),
    }
    .ok()?;
    Some(RevisionInfo {
        path: path.clone(),
        original,
        time_ns: parse_time(parts.time)?,
        device: parts.device.to_string(),
    })
}

/// The revisions in `files`, newest first (ties by path, so the order is stable); only those of
/// `of` when it is given. Files in `.revisions/` whose names do not parse are left out: see
/// [`unknown_revisions`].
pub fn list_revisions(files: &FlatTree, of: Option<&VaultPath>) -> Vec<RevisionInfo> {
    let mut out: Vec<RevisionInfo> = files
        .keys()
        .filter(|p| p.is_revision())
        .filter_map(parse_revision)
        .filter(|r| of.is_none_or(|o| &r.original == o))
        .collect();
    out.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then_with(|| a.path.cmp(&b.path)));
    out
}

/// Files in `.revisions/` whose names are not revision names (put there by hand, or shortened
/// beyond recognition): listed as "unknown origin" so nothing kept there is hidden.
pub fn unknown_revisions(files: &FlatTree) -> Vec<VaultPath> {
    files
        .keys()
        .filter(|p| p.is_revision() && parse_revision(p).is_none())
        .cloned()
        .collect()
}

/// Which revisions an explicit `prune` removes. Pruning is never automatic: losing an old
/// version must always be something the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrunePolicy {
    /// Revisions whose time is more than this many nanoseconds before now (negative counts as 0).
    OlderThan(i64),
    /// Keep this many of the newest revisions of each original path.
    KeepNewest(usize),
}

/// The paths `policy` would remove from `revs`, sorted. Pure: the caller deletes them.
pub fn select_prunable(revs: &[RevisionInfo], policy: PrunePolicy, now_ns: i64) -> Vec<VaultPath> {
    let mut out: Vec<VaultPath> = match policy {
        PrunePolicy::OlderThan(age) => {
            let cutoff = now_ns.saturating_sub(age.max(0));
            revs.iter()
                .filter(|r| r.time_ns < cutoff)
                .map(|r| r.path.clone())
                .collect()
        }
        PrunePolicy::KeepNewest(keep) => {
            let mut by_original: BTreeMap<&VaultPath, Vec<&RevisionInfo>> = BTreeMap::new();
            for r in revs {
                by_original.entry(&r.original).or_default().push(r);
            }
            by_original
                .into_values()
                .flat_map(|mut group| {
                    group.sort_by(|a, b| {
                        b.time_ns.cmp(&a.time_ns).then_with(|| a.path.cmp(&b.path))
                    });
                    group.into_iter().skip(keep).map(|r| r.path.clone())
                })
                .collect()
        }
    };
    out.sort();
    out.dedup();
    out
}

/// Reduce a device name to what a revision name may hold: runs of other characters become one
/// `-`, at most [`MAX_DEVICE_CHARS`] characters, never empty.
pub fn sanitize_device(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_DEVICE_CHARS); // ASCII only, so any byte index is a char boundary.
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        FALLBACK_DEVICE.to_string()
    } else {
        trimmed.to_string()
    }
}

/// `2026-11-23T12-35-14.500Z`: UTC, milliseconds (rounded down), no colons.
pub fn format_time(time_ns: i64) -> String {
    // Every i64 of nanoseconds (years 1677..2262) is a valid jiff timestamp.
    let ts = jiff::Timestamp::from_nanosecond(i128::from(time_ns))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let dt = jiff::tz::TimeZone::UTC.to_datetime(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}.{:03}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

/// Inverse of [`format_time`]; times outside the i64 nanosecond range saturate.
fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != TIME_LEN || !time_shape(b) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        num(0..4)?,
        i8::try_from(num(5..7)?).ok()?,
        i8::try_from(num(8..10)?).ok()?,
        i8::try_from(num(11..13)?).ok()?,
        i8::try_from(num(14..16)?).ok()?,
        i8::try_from(num(17..19)?).ok()?,
        i32::from(num(20..23)?) * NS_PER_MS as i32,
    )
    .ok()?;
    let ns = jiff::tz::TimeZone::UTC
        .to_timestamp(dt)
        .ok()?
        .as_nanosecond();
    Some(i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX }))
}

/// Whether `b` (24 bytes) looks like `DDDD-DD-DDTDD-DD-DD.DDDZ`.
fn time_shape(b: &[u8]) -> bool {
    const PATTERN: &[u8; TIME_LEN] = b"9999-99-99T99-99-99.999Z";
    b.len() == TIME_LEN
        && b.iter().zip(PATTERN).all(|(&c, &p)| match p {
            b'9' => c.is_ascii_digit(),
            _ => c == p,
        })
}

/// The parts of a revision file name; borrowed from it.
struct NameParts<'a> {
    stem: &'a str,
    time: &'a str,
    device: &'a str,
    ext: Option<&'a str>,
}

/// Split `<stem>.<time>.<device>[~N][.<ext>]`. The rightmost time-shaped part whose tail parses
/// is the time, since neither the device nor the extension can contain one; the stem may.
fn parse_name(name: &str) -> Option<NameParts<'_>> {
    let b = name.as_bytes();
    // A time part is `.` + TIME_LEN bytes + `.`, followed by at least one device character.
    let last_start = b.len().checked_sub(TIME_LEN + 3)?;
    (0..=last_start).rev().find_map(|i| {
        if b[i] != b'.' || b[i + TIME_LEN + 1] != b'.' || !time_shape(&b[i + 1..i + 1 + TIME_LEN]) {
            return None;
        }
        // Byte i is an ASCII dot, so these are char boundaries.
        let tail = &name[i + TIME_LEN + 2..];
        let (dev_part, ext) = match tail.split_once('.') {
            Some((d, e)) if !e.is_empty() => (d, Some(e)),
            Some(_) => return None,
            None => (tail, None),
        };
        let device = match dev_part.split_once('~') {
            Some((d, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => d,
            Some(_) => return None,
            None => dev_part,
        };
        let valid_device = !device.is_empty()
            && device.len() <= MAX_DEVICE_CHARS
            && device
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        valid_device.then(|| NameParts {
            stem: &name[..i],
            time: &name[i + 1..i + 1 + TIME_LEN],
            device,
            ext,
        })
    })
}

/// Whether `path` lies in a folder under `.revisions/` (the folder itself, as a top-level file
/// name, does not count).
fn inside_revisions(path: &VaultPath) -> bool {
    path.is_revision() && path.parent().is_some()
}

/// A free sibling of a revision file: the same name with `~N` before the extension.
fn sibling_path(original: &VaultPath, taken: &dyn Fn(&VaultPath) -> bool) -> VaultPath {
    let dir = original
        .parent()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let name = original.file_name();
    // (text before `~N`, text after it). A revision name keeps `~N` after the device; any
    // other name gets it before its extension. An existing `~N` is replaced, not stacked.
    let (base, ext): (String, Option<&str>) = match parse_name(name) {
        Some(p) => (format!("{}.{}.{}", p.stem, p.time, p.device), p.ext),
        None => {
            let (stem, ext) = split_ext(name);
            (strip_tilde_number(stem).to_string(), ext)
        }
    };
    let mut n: u64 = 2;
    loop {
        let candidate = place(&dir, &base, &tilde(n), ext)
            .or_else(|| place(&dir, "revision", &tilde(n), ext))
            .or_else(|| place(&dir, "r", &tilde(n), None));
        if let Some(c) = candidate
            && &c != original
            && !taken(&c)
        {
            return c;
        }
        n += 1;
    }
}

fn tilde(n: u64) -> String {
    if n <= 1 {
        String::new()
    } else {
        format!("~{n}")
    }
}

/// `stem` without a trailing `~<digits>`.
fn strip_tilde_number(stem: &str) -> &str {
    match stem.rsplit_once('~') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => base,
        _ => stem,
    }
}

/// Split a file name into stem and extension at the last dot: `archive.tar.gz` -> (`archive.tar`,
/// `gz`). A leading dot (`.syncignore`) or a trailing one (`a.`) does not start an extension.
pub fn split_ext(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// `dir/<stem><middle>[.ext]` as a valid path, shortening the stem (then the extension) on a char
/// boundary so the name fits in 255 bytes and the path in 4096; `None` if even that cannot fit.
fn place(dir: &str, stem: &str, middle: &str, ext: Option<&str>) -> Option<VaultPath> {
    let dir_bytes = if dir.is_empty() { 0 } else { dir.len() + 1 };
    let budget = MAX_NAME_BYTES.min(MAX_PATH_BYTES.checked_sub(dir_bytes)?);
    let ext_bytes = ext.map_or(0, |e| e.len() + 1);
    let stem_budget = budget.checked_sub(middle.len())?;
    let (stem, ext) = if stem.len() + ext_bytes <= stem_budget {
        (stem, ext)
    } else if ext_bytes < stem_budget {
        (truncate(stem, stem_budget - ext_bytes), ext)
    } else {
        // An extension too long to keep: shorten it, keeping at least its dot and one byte.
        let ext = ext.map(|e| truncate(e, stem_budget.saturating_sub(1)));
        (truncate(stem, 0), ext.filter(|e| !e.is_empty()))
    };
    let name = match ext {
        Some(e) => format!("{stem}{middle}.{e}"),
        None => format!("{stem}{middle}"),
    };
    let path = if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    };
    VaultPath::new(&path).ok()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
