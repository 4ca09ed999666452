//! The directory walk of a scan: every folder is listed and its files stat'ed relative to the
//! open folder (`fstatat` through [`std::fs::DirEntry::metadata`], so no path is resolved from
//! the vault root again), folders in parallel on all cores. Results come back in path order,
//! so warnings are deterministic.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::filestat::FileStat;
use crate::fsutil::is_own_temp_name;
use crate::ignore_rules::IgnoreRules;
use crate::paths::{PathError, VaultPath};

/// A regular file the walk found, with the stat taken while listing (or why it could not be).
pub(super) struct Candidate {
    pub path: VaultPath,
    /// `Ok(None)`: it stopped being a regular file or vanished between listing and stat.
    pub stat: io::Result<Option<FileStat>>,
}

/// What the walk of one folder (and everything under it) found, in path order.
#[derive(Default)]
pub(super) struct Walked {
    pub files: Vec<Candidate>,
    pub warnings: Vec<String>,
    pub unreadable: Vec<VaultPath>,
    pub temp_files: Vec<PathBuf>,
}

impl Walked {
    fn append(&mut self, mut other: Walked) {
        self.files.append(&mut other.files);
        self.warnings.append(&mut other.warnings);
        self.unreadable.append(&mut other.unreadable);
        self.temp_files.append(&mut other.temp_files);
    }
}

/// One listed entry, before it is classified.
enum Entry {
    File(Candidate),
    Dir(VaultPath, PathBuf),
}

/// Walk the folder `abs` (the vault root when `path` is `None`). Errors listing the root are
/// returned; errors below it become warnings and `unreadable` paths.
pub(super) fn walk(
    abs: &Path,
    path: Option<&VaultPath>,
    rules: &IgnoreRules,
) -> io::Result<Walked> {
    let mut out = Walked::default();
    let listing = match fs::read_dir(abs) {
        Ok(l) => l,
        Err(e) if path.is_none() => return Err(e),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            let path = path.expect("not the root");
            out.warnings
                .push(format!("skipped `{path}`: {e}; check its permissions"));
            out.unreadable.push(path.clone());
            return Ok(out);
        }
    };
    let mut raw: Vec<(OsString, fs::DirEntry)> = Vec::new();
    for entry in listing {
        match entry {
            Ok(e) => raw.push((e.file_name(), e)),
            Err(e) => {
                let shown = path.map(VaultPath::as_str).unwrap_or(".");
                out.warnings.push(format!(
                    "skipped part of `{shown}`: {e}; check its permissions"
                ));
                if let Some(p) = path {
                    out.unreadable.push(p.clone());
                }
            }
        }
    }
    raw.sort_by(|a, b| a.0.cmp(&b.0));

    let mut entries = Vec::with_capacity(raw.len());
    for (name, entry) in raw {
        if let Some(e) = classify(&name, &entry, path, rules, &mut out) {
            entries.push(e);
        }
    }
    // Folders in parallel; their results are put back in listing order.
    let mut below: Vec<Option<io::Result<Walked>>> = entries
        .par_iter()
        .map(|e| match e {
            Entry::Dir(p, a) => Some(walk(a, Some(p), rules)),
            Entry::File(_) => None,
        })
        .collect();
    for (entry, sub) in entries.into_iter().zip(below.iter_mut()) {
        match (entry, sub.take()) {
            (Entry::File(c), _) => out.files.push(c),
            (Entry::Dir(..), Some(Ok(w))) => out.append(w),
            (Entry::Dir(p, _), Some(Err(e))) => {
                out.warnings
                    .push(format!("skipped `{p}`: {e}; check its permissions"));
                out.unreadable.push(p);
            }
            (Entry::Dir(..), None) => {}
        }
    }
    Ok(out)
}

/// Decide what one listed entry is: a file to examine, a folder to enter, or something to skip
/// (with a warning where the user can act).
fn classify(
    name: &OsString,
    entry: &fs::DirEntry,
    parent: Option<&VaultPath>,
    rules: &IgnoreRules,
    out: &mut Walked,
) -> Option<Entry> {
    let shown = || match parent {
        Some(p) => format!("{p}/{}", name.to_string_lossy()),
        None => name.to_string_lossy().into_owned(),
    };
    let Some(text) = name.to_str() else {
        out.warnings.push(format!(
            "skipped `{}`: {}; rename it to sync it",
            shown(),
            PathError::NotUtf8(name.clone())
        ));
        return None;
    };
    let path = match parent {
        None => VaultPath::new(text),
        Some(p) => p.join(text),
    };
    let path = match path {
        Ok(p) => p,
        // `.vault/` is the agent's own state: skipped without a word.
        Err(PathError::StateDir(_)) => return None,
        Err(err) => {
            out.warnings.push(format!(
                "skipped `{}`: {err}; rename it to sync it",
                shown()
            ));
            return None;
        }
    };
    let file_type = match entry.file_type() {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            out.warnings
                .push(format!("skipped `{path}`: {e}; check its permissions"));
            out.unreadable.push(path);
            return None;
        }
    };
    let is_dir = file_type.is_dir();
    // Ignored folders are never entered, so the ancestors are known to be kept.
    if rules.is_ignored_below_kept_folders(&path, is_dir) {
        if file_type.is_file() && is_own_temp_name(text) {
            out.temp_files.push(entry.path());
        }
        return None;
    }
    if is_dir {
        return Some(Entry::Dir(path, entry.path()));
    }
    if file_type.is_file() {
        let stat = match entry.metadata() {
            Ok(m) if m.file_type().is_file() => Ok(Some(FileStat::from_metadata(&m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        return Some(Entry::File(Candidate { path, stat }));
    }
    if file_type.is_symlink() {
        out.warnings.push(format!(
            "skipped `{path}`: it is a symbolic link, and links are not followed or synced; \
             replace it with the file or folder it points to to sync that"
        ));
    } else {
        tracing::debug!(%path, "skipping a socket, pipe or device");
    }
    None
}
