//! Loose objects into a pack. An export writes every object as a file of its own; a first
//! export of a large vault leaves tens of thousands, which a dumb-HTTP clone fetches one
//! request each (minutes for 20,000 notes) and a disk stores one block each. Past
//! [`PACK_LOOSE_AT`] loose objects they are written into one pack (gix-pack: the pack
//! stream, then its index, as a fetch receives one), and removed only once the pack is
//! durable and listed in `objects/info/packs`, so a reader always finds every object.
//!
//! Objects larger than [`LARGEST_PACKED`] stay loose: packing reads each object whole into
//! memory, and a large attachment is one request either way.
//!
//! Each pack adds a file a dumb client may have to fetch whole; once [`MAX_PACKS`] have
//! gathered, the next packing takes them in too, so a repository holds a handful of packs
//! however long its history.

use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::odb::loose;
use gix::odb::pack::data::output;

use crate::ExportError;

/// Loose objects that make a pack worthwhile (git's own `gc --auto` waits for 6,700; a
/// dumb-HTTP fetch wants fewer requests sooner).
pub const PACK_LOOSE_AT: usize = 512;
/// Objects above this size stay loose.
pub const LARGEST_PACKED: u64 = 16 << 20;
/// Objects compressed and written per step (a bound on memory).
const BATCH: usize = 256;
/// Packs that make the next packing merge them all into one.
pub const MAX_PACKS: usize = 16;

/// Objects written into a new pack, whose old copies (loose files, and merged packs) are
/// still on disk until [`Packed::remove_old`].
#[derive(Debug)]
pub struct Packed {
    /// Objects in the new pack.
    objects: usize,
    /// The pack's objects as loose files.
    loose: Vec<PathBuf>,
    /// The packs it replaces (`.pack`, `.idx` and their other files).
    merged: Vec<PathBuf>,
}

impl Packed {
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// The file names of the packs it replaces (for `objects/info/packs`, which must not list
    /// them any more).
    pub fn merged_packs(&self) -> Vec<String> {
        (self.merged.iter())
            .filter_map(|p| p.file_name()?.to_str())
            .filter(|n| n.ends_with(".pack"))
            .map(str::to_string)
            .collect()
    }

    /// Remove the old copies (after `objects/info/packs` names the new pack and no longer
    /// the merged ones).
    pub fn remove_old(self) -> Result<(), ExportError> {
        for path in &self.merged {
            remove_if_any(path)?;
        }
        for path in &self.loose {
            remove_if_any(path)?;
            // Its folder too, once empty (a failure means it is not).
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        Ok(())
    }
}

/// Remove the file `path`; one already gone is fine.
fn remove_if_any(path: &Path) -> Result<(), ExportError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ExportError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Write the loose objects of `git_dir` (up to [`LARGEST_PACKED`] bytes each) into one new
/// pack, when there are at least `at` of them; with them the objects of all packs, when
/// there are [`MAX_PACKS`] already.
pub fn pack_loose(git_dir: &Path, at: usize) -> Result<Option<Packed>, ExportError> {
    let objects = git_dir.join("objects");
    let store = loose::Store::at(&objects, gix::hash::Kind::Sha1);
    let git = |detail: String| ExportError::Git {
        path: git_dir.to_path_buf(),
        detail,
    };
    let mut ids = Vec::new();
    for id in store.iter() {
        let id = id.map_err(|e| git(format!("listing loose objects: {e}")))?;
        let (size, _) = store
            .try_header(&id)
            .map_err(|e| git(format!("reading loose object {id}: {e}")))?
            .ok_or_else(|| git(format!("loose object {id} vanished")))?;
        if size <= LARGEST_PACKED {
            ids.push(id);
        }
    }
    if ids.len() < at || ids.is_empty() {
        return Ok(None);
    }
    let loose_ids = ids.clone();
    let pack_dir = objects.join("pack");
    let packs = packs_in(&pack_dir);
    let mut merged = Vec::new();
    if packs.len() >= MAX_PACKS {
        for pack in &packs {
            let idx = pack.with_extension("idx");
            let index = gix::odb::pack::index::File::at(&idx, gix::hash::Kind::Sha1)
                .map_err(|e| git(format!("reading {}: {e}", idx.display())))?;
            ids.extend(index.iter().map(|entry| entry.oid));
            for ext in ["pack", "idx", "rev", "keep", "bitmap"] {
                merged.push(pack.with_extension(ext));
            }
        }
    }
    ids.sort();
    ids.dedup();
    let odb = gix::odb::at(&objects, gix::hash::Kind::Sha1)
        .map_err(|e| git(format!("opening the objects: {e}")))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(&pack_dir).map_err(io(&pack_dir))?;

    // The pack stream, into a temporary file beside the packs.
    let mut stream = TempFile::new(&pack_dir, "stream")?;
    let count = u32::try_from(ids.len()).map_err(|_| git("too many objects".into()))?;
    let mut failed = None;
    let batches = ids.chunks(BATCH).map_while(|batch| {
        let mut entries = Vec::with_capacity(batch.len());
        let mut buf = Vec::new();
        for id in batch {
            let entry = match gix::objs::Find::try_find(&odb, id, &mut buf) {
                Ok(Some(data)) => output::Entry::from_data(
                    &output::Count::from_data(*id, None),
                    &data,
                    // git's own level for loose objects: a pack made once per export, fast.
                    gix::zlib::Compression::BEST_SPEED,
                )
                .map_err(|e| format!("compressing {id}: {e}")),
                Ok(None) => Err(format!("object {id} vanished")),
                Err(e) => Err(format!("reading object {id}: {e}")),
            };
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    failed = Some(e);
                    return None;
                }
            }
        }
        Some(Ok(entries))
    });
    let mut writer = output::bytes::FromEntriesIter::new(
        batches,
        BufWriter::new(&mut stream.file),
        count,
        gix::odb::pack::data::Version::V2,
        gix::hash::Kind::Sha1,
    );
    for step in writer.by_ref() {
        step.map_err(|e| git(format!("writing a pack: {e}")))?;
    }
    drop(writer);
    if let Some(e) = failed {
        return Err(git(e));
    }

    // Its index, and both moved into place, as a fetch writes a received pack.
    let file = &mut stream.file;
    file.flush().map_err(io(&stream.path))?;
    file.rewind().map_err(io(&stream.path))?;
    let outcome = gix::odb::pack::Bundle::write_to_directory(
        &mut BufReader::new(&mut *file),
        Some(&pack_dir),
        &mut gix::progress::Discard,
        &AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        gix::hash::Kind::Sha1,
        gix::odb::pack::bundle::write::Options {
            // One thread: as fast here (the pack has no deltas to resolve), and a server
            // exporting in the background keeps its memory.
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .map_err(|e| git(format!("indexing a pack: {e}")))?;
    for path in [&outcome.data_path, &outcome.index_path]
        .into_iter()
        .flatten()
    {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io(path))?;
    }
    sync_dir(&pack_dir)?;
    if let Some(keep) = &outcome.keep_path {
        std::fs::remove_file(keep).map_err(io(keep))?;
    }
    let loose = loose_ids.iter().map(|id| store.object_path(id)).collect();
    // The new pack itself is not replaced (the same objects make the same pack name).
    let new = outcome
        .data_path
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_owned());
    merged.retain(|p| p.file_stem().map(|s| s.to_owned()) != new);
    Ok(Some(Packed {
        objects: ids.len(),
        loose,
        merged,
    }))
}

/// The packs in `pack_dir` that have their index, sorted.
fn packs_in(pack_dir: &Path) -> Vec<PathBuf> {
    let mut packs: Vec<PathBuf> = std::fs::read_dir(pack_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .filter(|p| p.with_extension("idx").is_file())
        .collect();
    packs.sort();
    packs
}

/// A file that is removed when dropped, named `.tmp-<what>-<pid>` (never `*.pack`, which
/// `objects/info/packs` would list).
pub(crate) struct TempFile {
    pub(crate) path: PathBuf,
    pub(crate) file: std::fs::File,
}

impl TempFile {
    pub(crate) fn new(dir: &Path, what: &str) -> Result<TempFile, ExportError> {
        let path = dir.join(format!(".tmp-{what}-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| ExportError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(TempFile { path, file })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Remove the temporary files of exports that died (their process is gone) from `git_dir`
/// and its pack folder; those of a live process are its own business.
pub(crate) fn remove_leftovers(git_dir: &Path) {
    for dir in [git_dir.to_path_buf(), git_dir.join("objects/pack")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(".tmp-"))
                .and_then(|n| n.rsplit_once('-'))
                .and_then(|(_, pid)| pid.parse::<u32>().ok())
            else {
                continue;
            };
            let alive = Path::new("/proc").join(pid.to_string()).exists();
            if !alive || pid == std::process::id() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ExportError::Io {
            path: dir.to_path_buf(),
            source,
        })
}
