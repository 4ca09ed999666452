//! Pack files one at a time, for a hub's compaction and gc (`crate::hub_gc`): the headers of
//! the packs in a folder, retired packs (`retired/<hash>.<unix secs>.pack`), and a pack
//! written by copying objects out of other packs in slices, each object re-hashed on the way
//! (so a large chunk or an old whole-file blob is never held in memory, and a damaged copy is
//! never carried into the new pack).

use crate::vfs::{self as fs, File};
use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{
    ENTRY_LEN, Entry, PACK_END_MAGIC, PACK_EXTENSION, PACK_MAGIC, StoreError, encode_header,
    list_packs, read_header,
};
use crate::fsutil::{TempFile, WriteBehind, io_at};
use crate::id::ObjectId;
use crate::object::Kind;

/// The folder, inside a pack folder, where a hub's compaction moves the packs it replaced;
/// readers never list it.
pub const RETIRED_DIR: &str = "retired";

/// One object as a pack's header lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub kind: Kind,
    pub id: ObjectId,
    pub offset: u64,
    pub len: u64,
}

/// The names (`<hash>.pack`) of the packs in `dir`, sorted; temp files and other files are
/// skipped, a `.pack` file with a bad name is an error (as for any reader).
pub fn pack_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = list_packs(dir)?.into_iter().collect();
    names.sort();
    Ok(names)
}

/// The checked header of the pack at `path` (its objects are not read).
pub fn read_entries(path: &Path) -> Result<Vec<PackEntry>, StoreError> {
    Ok(read_header(path)?
        .into_iter()
        .map(|e| PackEntry {
            kind: e.kind,
            id: e.id,
            offset: e.offset,
            len: e.len,
        })
        .collect())
}

/// The file name of a pack retired at `secs` (Unix seconds).
pub fn retired_name(hash: &str, secs: u64) -> String {
    format!("{hash}.{secs}.{PACK_EXTENSION}")
}

/// `(hash, retired at)` of a retired pack's file name; `None` for anything else.
pub fn parse_retired(name: &str) -> Option<(String, u64)> {
    let rest = name.strip_suffix(".pack")?;
    let (hash, secs) = rest.split_once('.')?;
    hash.parse::<ObjectId>().ok()?;
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((hash.to_string(), secs.parse().ok()?))
}

/// The hashes of the packs retired under `dir` (empty when there is no `retired/`).
pub fn retired_hashes(dir: &Path) -> HashSet<String> {
    let Ok(entries) = fs::read_dir(dir.join(RETIRED_DIR)) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| parse_retired(e.file_name().to_str()?).map(|(hash, _)| hash))
        .collect()
}

/// A new pack being written a piece at a time: objects appended with the ids their writer
/// computed ([`PackWriter::append`]), or copied out of other packs and re-hashed on the way
/// ([`PackWriter::copy`]). Memory stays at one buffer whatever the pack's size; the disk is
/// handed the bytes as they come ([`WriteBehind`]), so the final fsync finds little left.
pub struct PackWriter {
    dir: PathBuf,
    tmp: TempFile,
    out: BufWriter<WriteBehind<File>>,
    entries: Vec<Entry>,
    offset: u64,
    buf: Vec<u8>,
}

/// Objects are copied in slices of this many bytes.
const SLICE: u64 = 1 << 20;

/// Writes of at least this many bytes bypass the pack's buffer ([`PackWriter`]).
const DIRECT_FROM: usize = 64 << 10;

impl PackWriter {
    /// Start a pack in `dir` (a temp file `.vault-tmp-*` beside the packs).
    pub fn new(dir: &Path) -> Result<PackWriter, StoreError> {
        let placeholder = dir.join("pending.pack");
        let mut tmp = TempFile::beside(&placeholder).map_err(io_at("creating pack in", dir))?;
        let file = tmp
            .file()
            .try_clone()
            .map_err(io_at("creating pack in", dir))?;
        let mut writer = PackWriter {
            dir: dir.to_path_buf(),
            tmp,
            out: BufWriter::with_capacity(1 << 20, WriteBehind::new(file)),
            entries: Vec::new(),
            offset: 0,
            buf: Vec::new(),
        };
        writer.write(PACK_MAGIC)?;
        Ok(writer)
    }

    /// The temp file being written.
    pub fn tmp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// How many objects were written so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of objects written so far.
    pub fn object_bytes(&self) -> u64 {
        self.offset.saturating_sub(PACK_MAGIC.len() as u64)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        // A chunk of a large file (64 KiB and more) goes to the file as it is, after what
        // the buffer holds: copied into the buffer first, a 1 GiB upload made one more pass
        // over its bytes. Small objects (notes) still go out a buffer at a time.
        let written = if bytes.len() >= DIRECT_FROM {
            self.out
                .flush()
                .and_then(|()| self.out.get_mut().write_all(bytes))
        } else {
            self.out.write_all(bytes)
        };
        written.map_err(io_at("writing pack", self.tmp.path()))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Append one object whose id the caller computed from these very bytes (a pack names
    /// what it holds by those ids, and every read re-hashes, so a wrong id is found, never
    /// served).
    pub fn append(&mut self, kind: Kind, id: ObjectId, bytes: &[u8]) -> Result<(), StoreError> {
        let start = self.offset;
        self.write(bytes)?;
        self.entries.push(Entry {
            kind,
            id,
            offset: start,
            len: bytes.len() as u64,
        });
        Ok(())
    }

    /// Copy `entry` out of `src` (the open pack at `src_path`), re-hashing its bytes: a copy
    /// that does not hash to its id is [`StoreError::Corrupt`], and the new pack must then be
    /// abandoned (dropping the writer removes its temp file).
    pub fn copy(
        &mut self,
        src: &File,
        src_path: &Path,
        entry: &PackEntry,
    ) -> Result<(), StoreError> {
        let start = self.offset;
        let mut check = blake3::Hasher::new();
        let mut done = 0u64;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(SLICE as usize, 0);
        while done < entry.len {
            let n = (entry.len - done).min(SLICE) as usize;
            if let Err(e) = src.read_exact_at(&mut buf[..n], entry.offset + done) {
                self.buf = buf;
                return Err(if e.kind() == io::ErrorKind::NotFound {
                    StoreError::PackGone {
                        pack: src_path.to_path_buf(),
                        id: entry.id,
                    }
                } else {
                    io_at("reading pack", src_path)(e).into()
                });
            }
            check.update(&buf[..n]);
            let written = self.write(&buf[..n]);
            if let Err(e) = written {
                self.buf = buf;
                return Err(e);
            }
            done += n as u64;
        }
        self.buf = buf;
        let actual = ObjectId(*check.finalize().as_bytes());
        if actual != entry.id {
            return Err(StoreError::Corrupt {
                pack: src_path.to_path_buf(),
                id: entry.id,
                actual,
            });
        }
        self.entries.push(Entry {
            kind: entry.kind,
            id: entry.id,
            offset: start,
            len: entry.len,
        });
        Ok(())
    }

    /// Write the header and trailer and fsync the temp file; the pack is complete but not
    /// yet in place (see [`ReadyPack::commit`]). Its name is the hash of its header, which
    /// lists every object's id, offset and length, so one name still means one content.
    pub fn finish(mut self) -> Result<ReadyPack, StoreError> {
        if u32::try_from(self.entries.len()).is_err() {
            return Err(StoreError::TooManyObjects {
                dir: self.dir.clone(),
                count: self.entries.len(),
                max: u32::MAX,
            });
        }
        let header = encode_header(&self.entries);
        debug_assert_eq!(header.len(), self.entries.len() * ENTRY_LEN);
        let id = ObjectId(*blake3::hash(&header).as_bytes());
        self.write(&header)?;
        self.write(&(self.entries.len() as u32).to_le_bytes())?;
        self.write(id.as_bytes())?;
        self.write(PACK_END_MAGIC)?;
        let path = self.tmp.path().to_path_buf();
        self.out.flush().map_err(io_at("writing pack", &path))?;
        drop(self.out);
        self.tmp.sync().map_err(io_at("writing pack", &path))?;
        let target = self.dir.join(format!("{}.{PACK_EXTENSION}", id.to_hex()));
        Ok(ReadyPack {
            tmp: self.tmp,
            id,
            target,
            entries: self.entries,
        })
    }
}

/// A complete, durable pack in a temp file, not yet renamed to its name.
pub struct ReadyPack {
    tmp: TempFile,
    pub id: ObjectId,
    pub target: PathBuf,
    entries: Vec<Entry>,
}

impl ReadyPack {
    /// The temp file holding it.
    pub fn tmp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// How many objects it holds.
    pub fn objects(&self) -> usize {
        self.entries.len()
    }

    /// Rename it to `<hash>.pack` and fsync the folder. The same name may exist already (a
    /// concurrent compaction of the same packs wrote the very same bytes): harmless.
    pub fn commit(self) -> Result<(ObjectId, PathBuf), StoreError> {
        self.commit_with_entries().map(|(id, path, _)| (id, path))
    }

    /// [`ReadyPack::commit`], also handing back the header (for a store's index).
    pub(super) fn commit_with_entries(self) -> Result<(ObjectId, PathBuf, Vec<Entry>), StoreError> {
        let target = self.target;
        self.tmp
            .commit(&target)
            .map_err(io_at("saving pack", &target))?;
        Ok((self.id, target, self.entries))
    }
}
