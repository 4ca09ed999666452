//! An on-disk object store made of pack files, as git and restic store objects.
//!
//! A pack is written once and never changed; it is named by the blake3 hash of its header
//! (which lists every object's id, offset and length, so one name means one content):
//! `<dir>/<64 hex digits>.pack`. One upload is one pack, so storing 20,000 objects
//! costs a few fsyncs, not 20,000. Layout of a pack (all integers little-endian):
//!
//! ```text
//! offset 0      magic  "VPACK001"                                    8 bytes
//! offset 8      object bytes, concatenated                           (sum of lengths)
//! H             header: one entry per object, in file order          50 bytes per entry
//!                 kind      u8   (object::Kind: 1 blob, 2 tree, 3 snapshot)
//!                 encoding  u8   (0 = raw bytes; other values reserved for compression)
//!                 id        [u8; 32]  blake3 of the object's raw bytes
//!                 offset    u64  where the object's bytes start in the file
//!                 length    u64  how many bytes it has
//! end - 44      entry count      u32
//! end - 40      blake3(header)   32 bytes
//! end - 8       magic  "VPACKEND"                                    8 bytes
//! ```
//!
//! The header sits after the objects so a writer can stream objects without knowing them all
//! first; the fixed-size trailer at the very end tells a reader where the header starts. Opening
//! a store therefore reads the trailer and the header of each pack (a few bytes per object), and
//! never the objects themselves. Every read of an object re-hashes its bytes, so a damaged pack
//! yields [`StoreError::Corrupt`], never wrong bytes.
//!
//! Writes go through [`TempFile`] (temp file in the same folder, fsync, rename, fsync folder),
//! so a crash leaves either no pack or a complete one; leftover temp files (names starting with
//! [`TEMP_PREFIX`]) are ignored. The full description is in `docs/format.md`, section "Packs".

use crate::vfs::{self as fs, File};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::{PathIoError, TEMP_PREFIX, io_at};
use crate::id::ObjectId;
use crate::object::{Kind, Object};
use index::{Index, entry_at};
use pack_io::{PackWriter, ReadyPack};

/// First 8 bytes of every pack.
pub const PACK_MAGIC: &[u8; 8] = b"VPACK001";
/// Last 8 bytes of every pack.
pub const PACK_END_MAGIC: &[u8; 8] = b"VPACKEND";
/// File name extension of packs.
pub const PACK_EXTENSION: &str = "pack";
/// Bytes per header entry: kind, encoding, id, offset, length.
pub const ENTRY_LEN: usize = 1 + 1 + 32 + 8 + 8;
/// Bytes of the fixed trailer: entry count, header hash, end magic.
pub const TRAILER_LEN: usize = 4 + 32 + 8;
/// The only encoding written today: the object's bytes as they are.
pub const ENCODING_RAW: u8 = 0;

/// At most this many pack files stay open during one batch read, so a store with thousands of
/// packs cannot run a process out of file descriptors.
const MAX_OPEN_PACKS: usize = 64;

/// Why a store operation failed. Each variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "{0}; check that the folder exists, is reachable and that this user may read and write it"
    )]
    Io(#[from] PathIoError),
    #[error(
        "pack `{path}` is not a valid pack: {reason}; it is damaged or incomplete: move it out of the folder, then sync from a device that has its objects to re-upload them"
    )]
    BadPack { path: PathBuf, reason: String },
    #[error(
        "object {id} in pack `{pack}` is damaged (its bytes hash to {actual}); storing a good copy again repairs it (`syncd sync --full-verify` on a device that has it), and the damaged pack can stay where it is"
    )]
    Corrupt {
        pack: PathBuf,
        id: ObjectId,
        actual: ObjectId,
    },
    #[error("object {id} is not in the store at `{dir}`; upload it from a device that has it")]
    NotFound { dir: PathBuf, id: ObjectId },
    #[error(
        "pack `{pack}`, which held object {id}, has disappeared since the store was opened; call refresh and retry"
    )]
    PackGone { pack: PathBuf, id: ObjectId },
    #[error(
        "cannot write {count} objects to one pack in `{dir}` (at most {max}); write them in several packs"
    )]
    TooManyObjects {
        dir: PathBuf,
        count: usize,
        max: u32,
    },
}

/// Where the index finds an object: its pack's slot and its entry in that pack's header, which
/// holds the rest, the id included. The index holds only these eight bytes per object, not the
/// id again beside them (40 bytes a bucket): a hub of 130,000 objects indexed in 10.7 MB of
/// buckets, now in 2.4.
#[derive(Debug, Clone, Copy)]
struct Slot {
    pack: u32,
    entry: u32,
}

/// Where one object lives.
#[derive(Debug, Clone, Copy)]
struct Location {
    /// Index into `PackStore::packs`.
    pack: usize,
    kind: Kind,
    offset: u64,
    len: u64,
}

/// One header entry, as parsed from (or about to be written to) a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    id: ObjectId,
    offset: u64,
    len: u64,
}

/// A loaded pack: its file and its header.
#[derive(Debug)]
struct Pack {
    path: PathBuf,
    entries: Vec<Entry>,
}

/// A folder of packs with an in-memory index `id -> (pack, offset, length)`.
///
/// Not synchronised: one `PackStore` belongs to one thread at a time (wrap it in a `Mutex` to
/// share it). Several stores, in one or many processes, may use the same folder at once:
/// packs appear atomically by rename and never change, so readers need no lock.
#[derive(Debug)]
pub struct PackStore {
    dir: PathBuf,
    /// Loaded packs; `None` marks a slot whose pack file disappeared (slots are never reused
    /// while the index may point at them).
    packs: Vec<Option<Pack>>,
    /// File name -> slot in `packs`.
    by_name: HashMap<String, usize>,
    index: Index,
    /// How many packs [`PackStore::refresh`] found gone since open (they never come back under
    /// the same name with other content, so callers can tell whether what they checked before
    /// may have lost objects since).
    vanished: u64,
}

impl PackStore {
    /// Open (creating it if missing) the pack folder `dir` and load the header of every pack.
    pub fn open(dir: &Path) -> Result<PackStore, StoreError> {
        let mut store = PackStore::open_unloaded(dir)?;
        store.refresh()?;
        Ok(store)
    }

    /// Open (creating it if missing) the pack folder `dir` without reading any pack yet: the
    /// store looks empty until the first [`PackStore::refresh`]. For callers that refresh
    /// before every use anyway (the folder hub), so that a round that only reads the head
    /// never loads the index of a large hub.
    pub fn open_unloaded(dir: &Path) -> Result<PackStore, StoreError> {
        fs::create_dir_all(dir).map_err(io_at("creating pack folder", dir))?;
        Ok(PackStore {
            dir: dir.to_path_buf(),
            packs: Vec::new(),
            by_name: HashMap::new(),
            index: Index::default(),
            vanished: 0,
        })
    }

    /// How many packs have disappeared from the folder since the store was opened, not
    /// counting those a hub's compaction or gc retired (`retired/<hash>.<secs>.pack`).
    pub fn vanished_packs(&self) -> u64 {
        self.vanished
    }

    /// Pick up packs written (or removed) by other processes since open or the last refresh.
    /// Costs one folder listing plus the headers of new packs.
    pub fn refresh(&mut self) -> Result<(), StoreError> {
        self.refresh_with(None)
    }

    /// [`PackStore::refresh`], except that a pack whose header cannot be read is left out of
    /// the index and returned instead of failing the whole refresh: `fsck` reports every
    /// damaged pack and still checks the objects of the others.
    pub fn refresh_skipping_damaged(&mut self) -> Result<Vec<StoreError>, StoreError> {
        let mut skipped = Vec::new();
        self.refresh_with(Some(&mut skipped))?;
        Ok(skipped)
    }

    fn refresh_with(
        &mut self,
        mut skipped: Option<&mut Vec<StoreError>>,
    ) -> Result<(), StoreError> {
        let names = list_packs(&self.dir)?;
        let gone: Vec<String> = self
            .by_name
            .keys()
            .filter(|n| !names.contains(*n))
            .cloned()
            .collect();
        // A pack a hub's compaction or gc retired (moved to `retired/`) only moved its
        // objects, or dropped ones no head reaches: it does not count as lost.
        let retired = if gone.is_empty() {
            HashSet::new()
        } else {
            pack_io::retired_hashes(&self.dir)
        };
        for name in &gone {
            if let Some(slot) = self.by_name.remove(name) {
                self.packs[slot] = None;
                let hash = name.strip_suffix(".pack").unwrap_or(name);
                if !retired.contains(hash) {
                    self.vanished += 1;
                }
            }
        }
        if !gone.is_empty() {
            // An object may also live in a surviving pack (two writers raced); re-point it.
            self.rebuild_index();
        }
        let mut new: Vec<&String> = names
            .iter()
            .filter(|n| !self.by_name.contains_key(*n))
            .collect();
        new.sort();
        for name in new {
            let path = self.dir.join(name);
            let entries = match read_header(&path) {
                Ok(e) => e,
                // Removed between listing and reading (by gc, or a repair): not an error.
                Err(StoreError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => continue,
                Err(e @ StoreError::BadPack { .. }) if skipped.is_some() => {
                    if let Some(s) = skipped.as_deref_mut() {
                        s.push(e);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.add_pack(path, name.clone(), entries);
        }
        Ok(())
    }

    fn add_pack(&mut self, path: PathBuf, name: String, entries: Vec<Entry>) {
        let slot = self.packs.len();
        self.packs.push(Some(Pack { path, entries }));
        self.index.add_pack(&self.packs, slot);
        self.by_name.insert(name, slot);
    }

    fn rebuild_index(&mut self) {
        let mut index = std::mem::take(&mut self.index);
        index.clear();
        for slot in 0..self.packs.len() {
            index.add_pack(&self.packs, slot);
        }
        self.index = index;
    }

    /// The pack folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `id` lives, if the store has it.
    fn locate(&self, id: ObjectId) -> Option<Location> {
        let slot = self.index.get(&self.packs, id)?;
        let e = entry_at(&self.packs, slot);
        Some(Location {
            pack: slot.pack as usize,
            kind: e.kind,
            offset: e.offset,
            len: e.len,
        })
    }

    pub fn contains(&self, id: ObjectId) -> bool {
        self.index.get(&self.packs, id).is_some()
    }

    /// The kind an object was stored with, if present.
    pub fn kind_of(&self, id: ObjectId) -> Option<Kind> {
        self.locate(id).map(|l| l.kind)
    }

    /// The pack file holding `id` (for diagnostics and repair tools).
    pub fn pack_of(&self, id: ObjectId) -> Option<&Path> {
        let slot = self.index.get(&self.packs, id)?;
        self.packs
            .get(slot.pack as usize)?
            .as_ref()
            .map(|p| p.path.as_path())
    }

    /// Number of distinct objects.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every object id, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.index
            .slots()
            .map(|slot| entry_at(&self.packs, slot).id)
    }

    /// Number of pack files loaded.
    pub fn pack_count(&self) -> usize {
        self.by_name.len()
    }

    /// Paths of the loaded packs, sorted.
    pub fn pack_paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .packs
            .iter()
            .flatten()
            .map(|p| p.path.clone())
            .collect();
        v.sort();
        v
    }

    /// Read one object, verifying its bytes against its id.
    pub fn read(&self, id: ObjectId) -> Result<Object, StoreError> {
        self.reader().read(id)
    }

    /// Put `ids` in the order their copies lie on disk (by pack, then offset; ids the store
    /// lacks last): reading in that order reads each pack front to back, and the same set of
    /// ids is read in the same order whatever order it came in (the index's hash order
    /// differs from one process to the next).
    pub fn sort_by_location(&self, ids: &mut [ObjectId]) {
        ids.sort_by_cached_key(|id| {
            self.locate(*id)
                .map_or((usize::MAX, u64::MAX, *id), |l| (l.pack, l.offset, *id))
        });
    }

    /// Read many objects (in the order asked), opening each pack once.
    pub fn read_many(&self, ids: &[ObjectId]) -> Result<Vec<Object>, StoreError> {
        let mut reader = self.reader();
        ids.iter().map(|id| reader.read(*id)).collect()
    }

    /// A reader that keeps pack files open between reads (for walks over many objects).
    pub fn reader(&self) -> PackReader<'_> {
        PackReader {
            store: self,
            open: HashMap::new(),
        }
    }

    /// Write the objects not yet stored as one new pack; returns its id, or `None` if every
    /// object was already present. Duplicates within `objects` are written once.
    pub fn write_pack(&mut self, objects: &[Object]) -> Result<Option<ObjectId>, StoreError> {
        let mut seen = HashSet::new();
        let fresh: Vec<(ObjectId, &Object)> = objects
            .iter()
            .map(|o| (o.id(), o))
            .filter(|(id, _)| !self.contains(*id) && seen.insert(*id))
            .collect();
        if fresh.is_empty() {
            return Ok(None);
        }
        self.write_new_pack(&fresh).map(Some)
    }

    /// [`PackStore::write_pack`], but the ids in `replace` are written even though the store
    /// holds them (its copies are damaged), and the index then points at the new copies.
    /// `ids` are the objects' ids, in order (the caller computed them already).
    pub fn write_pack_over(
        &mut self,
        objects: &[Object],
        ids: &[ObjectId],
        replace: &HashSet<ObjectId>,
    ) -> Result<Option<ObjectId>, StoreError> {
        debug_assert_eq!(objects.len(), ids.len());
        let mut seen = HashSet::new();
        let fresh: Vec<(ObjectId, &Object)> = ids
            .iter()
            .copied()
            .zip(objects)
            .filter(|(id, _)| (replace.contains(id) || !self.contains(*id)) && seen.insert(*id))
            .collect();
        if fresh.is_empty() {
            return Ok(None);
        }
        let pack = self.write_new_pack(&fresh)?;
        let name = format!("{}.{PACK_EXTENSION}", pack.to_hex());
        let slot = self.by_name.get(&name).copied();
        if let Some(slot) = slot
            && let Some(p) = &self.packs[slot]
        {
            let replaced: Vec<usize> = (p.entries.iter().enumerate())
                .filter(|(_, e)| replace.contains(&e.id))
                .map(|(i, _)| i)
                .collect();
            for i in replaced {
                self.index.point_at(&self.packs, slot_of(slot, i));
            }
        }
        Ok(Some(pack))
    }

    /// Whether some stored copy of `id` is intact (see [`PackReader::check`]).
    pub fn check(&self, id: ObjectId) -> Result<(), StoreError> {
        self.reader().check(id)
    }

    /// Write `objects` (distinct ids) as one pack, whatever the store holds already, and add
    /// it to the index; returns the pack's id.
    fn write_new_pack(&mut self, fresh: &[(ObjectId, &Object)]) -> Result<ObjectId, StoreError> {
        let mut writer = PackWriter::new(&self.dir)?;
        for (id, obj) in fresh {
            writer.append(obj.kind, *id, &obj.bytes)?;
        }
        Ok(self.adopt(writer.finish()?)?.0)
    }

    /// Put a finished pack in place and add it to the index; returns its id and path.
    pub fn adopt(&mut self, pack: ReadyPack) -> Result<(ObjectId, PathBuf), StoreError> {
        let (id, path, entries) = pack.commit_with_entries()?;
        let name = format!("{}.{PACK_EXTENSION}", id.to_hex());
        if !self.by_name.contains_key(&name) {
            self.add_pack(path.clone(), name, entries);
        }
        Ok((id, path))
    }
}

fn encode_header(entries: &[Entry]) -> Vec<u8> {
    let mut h = Vec::with_capacity(entries.len() * ENTRY_LEN);
    for e in entries {
        h.push(e.kind as u8);
        h.push(ENCODING_RAW);
        h.extend_from_slice(e.id.as_bytes());
        h.extend_from_slice(&e.offset.to_le_bytes());
        h.extend_from_slice(&e.len.to_le_bytes());
    }
    h
}

/// File names in `dir` that are packs: `<hex>.pack`, skipping crash-left temp files and
/// anything else (editors' or file managers' droppings).
/// The pack names in `dir`, from two listings in a row that agree. One `readdir` is not a
/// snapshot: while a compaction in another process renames its new pack in and the packs it
/// replaced out, a single listing can pass the new name's place before it appears and the old
/// name's place after it left, and so see neither copy of some objects. Listing until two
/// passes agree (a few at most: a compaction renames a handful of files) closes that window.
fn list_packs(dir: &Path) -> Result<HashSet<String>, StoreError> {
    let mut names = list_packs_once(dir)?;
    for _ in 0..8 {
        let again = list_packs_once(dir)?;
        if again == names {
            break;
        }
        names = again;
    }
    Ok(names)
}

fn list_packs_once(dir: &Path) -> Result<HashSet<String>, StoreError> {
    let mut out = HashSet::new();
    for entry in fs::read_dir(dir).map_err(io_at("listing pack folder", dir))? {
        let entry = entry.map_err(io_at("listing pack folder", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(TEMP_PREFIX) {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".pack") {
            if stem.parse::<ObjectId>().is_err() {
                return Err(StoreError::BadPack {
                    path: dir.join(name),
                    reason: "its name is not `<64 lowercase hex digits>.pack`".into(),
                });
            }
            out.insert(name.to_string());
        }
    }
    Ok(out)
}

/// Read and check a pack's trailer and header (not its objects).
fn read_header(path: &Path) -> Result<Vec<Entry>, StoreError> {
    let bad = |reason: String| StoreError::BadPack {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(io_at("opening pack", path))?;
    let size = file
        .metadata()
        .map_err(io_at("reading size of pack", path))?
        .len();
    let min = (PACK_MAGIC.len() + TRAILER_LEN) as u64;
    if size < min {
        return Err(bad(format!(
            "only {size} bytes long, a pack has at least {min}"
        )));
    }
    let read_at = |buf: &mut [u8], at: u64| {
        file.read_exact_at(buf, at)
            .map_err(io_at("reading pack", path))
    };
    let mut magic = [0u8; 8];
    read_at(&mut magic, 0)?;
    if &magic != PACK_MAGIC {
        return Err(bad("does not start with `VPACK001`".into()));
    }
    let mut trailer = [0u8; TRAILER_LEN];
    read_at(&mut trailer, size - TRAILER_LEN as u64)?;
    let (count, rest) = trailer.split_at(4);
    let (header_hash, end_magic) = rest.split_at(32);
    if end_magic != PACK_END_MAGIC {
        return Err(bad(
            "does not end with `VPACKEND` (cut short while copying?)".into(),
        ));
    }
    let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]) as u64;
    let header_len = count * ENTRY_LEN as u64;
    if header_len > size - min {
        return Err(bad(format!(
            "trailer claims {count} objects, more than the file can hold"
        )));
    }
    let header_start = size - TRAILER_LEN as u64 - header_len;
    let mut header = vec![0u8; header_len as usize];
    read_at(&mut header, header_start)?;
    if blake3::hash(&header).as_bytes() != header_hash {
        return Err(bad("header checksum does not match".into()));
    }
    parse_header(&header, header_start).map_err(bad)
}

/// A header entry's place in the index. Slots are far fewer than 2^32 and a pack holds at
/// most `u32::MAX` entries (its count is a u32), so both fit.
fn slot_of(pack: usize, entry: usize) -> Slot {
    Slot {
        pack: pack as u32,
        entry: entry as u32,
    }
}

/// Parse header entries; every object must lie between the magic and the header.
fn parse_header(header: &[u8], header_start: u64) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::with_capacity(header.len() / ENTRY_LEN);
    for (i, raw) in header.chunks_exact(ENTRY_LEN).enumerate() {
        let kind = Kind::from_byte(raw[0])
            .ok_or_else(|| format!("entry {i} has unknown kind {}", raw[0]))?;
        if raw[1] != ENCODING_RAW {
            return Err(format!(
                "entry {i} uses encoding {}, which this version cannot read; upgrade",
                raw[1]
            ));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&raw[2..34]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let (offset, len) = (u64_at(34), u64_at(42));
        let in_bounds = offset >= PACK_MAGIC.len() as u64
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= header_start);
        if !in_bounds {
            return Err(format!(
                "entry {i} points outside the object area ({offset}+{len})"
            ));
        }
        entries.push(Entry {
            kind,
            id: ObjectId(id),
            offset,
            len,
        });
    }
    Ok(entries)
}

mod index;
pub mod pack_io;
mod reader;
mod repack;
pub use reader::PackReader;
pub use repack::{REPACK_ABOVE, packs_to_merge};

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
