//! Files another process, a crash or a person may have left damaged: packs (a hub's and
//! `.vault/objects/`), the stat cache (`.vault/index`), the task index (`.vault/tasks`) and the
//! small state files (`.vault/mounts`, refs, `vault-hub.json`, `.vault/config.toml`).
//!
//! Checksummed formats are fuzzed past their checksum: the harness recomputes it, as a writer
//! with a bug would, so the decoder's own checks are what is exercised.

use std::path::Path;

use vault::ObjectId;
use vault::refs::RefFile;
use vault::statcache::StatCache;
use vault::store::PackStore;
use vault::tasks::index::TaskIndex;
use vault::{VaultPath, local::LocalVault};

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vault-fuzz-")
        .tempdir()
        .expect("a scratch folder")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a scratch file");
}

const PACK_END_MAGIC: &[u8] = b"VPACKEND";
const PACK_ENTRY_LEN: usize = 50;
const PACK_TRAILER_LEN: usize = 44;

/// `data` with its trailer's header hash made right, when it ends like a pack.
pub fn fix_pack_checksum(data: &[u8]) -> Vec<u8> {
    let mut bytes = data.to_vec();
    let n = bytes.len();
    if n >= 8 + PACK_TRAILER_LEN && bytes.ends_with(PACK_END_MAGIC) {
        let count = u32::from_le_bytes(bytes[n - 44..n - 40].try_into().unwrap()) as usize;
        if let Some(start) = count
            .checked_mul(PACK_ENTRY_LEN)
            .and_then(|len| (n - PACK_TRAILER_LEN).checked_sub(len))
            .filter(|&start| start >= 8)
        {
            let hash = blake3::hash(&bytes[start..n - PACK_TRAILER_LEN]);
            bytes[n - 40..n - 8].copy_from_slice(hash.as_bytes());
        }
    }
    bytes
}

/// A pack file (`PackStore::open`, `pack_io::read_entries`): a pack is refused or opened, and
/// every object read from it hashes to its id; an object whose bytes do not is an error, never
/// returned.
pub fn pack(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    let bytes = fix_pack_checksum(data);
    let dir = scratch();
    let path = dir
        .path()
        .join(format!("{}.pack", blake3::hash(&bytes).to_hex()));
    write(&path, &bytes);
    let entries = vault::store::pack_io::read_entries(&path);
    let Ok(store) = PackStore::open(dir.path()) else {
        assert!(
            entries.is_err(),
            "read_entries accepts a pack the store refuses"
        );
        return;
    };
    let entries = entries.expect("the store opened a pack read_entries refuses");
    for e in &entries {
        assert!(e.offset >= 8 && e.offset + e.len <= bytes.len() as u64);
        assert!(store.contains(e.id));
    }
    let ids: Vec<ObjectId> = store.ids().collect();
    for id in ids {
        if let Ok(object) = store.read(id) {
            assert_eq!(
                object.id(),
                id,
                "the store returned an object under another id"
            );
            assert_eq!(Some(object.kind), store.kind_of(id));
            assert!(
                store.check(id).is_ok(),
                "check refuses an object read returned"
            );
        }
    }
}

const STATCACHE_MAGIC: &[u8] = b"VSYNCIDX";

/// `data` with its last 32 bytes the checksum of the rest, when it starts like a stat cache.
pub fn fix_statcache_checksum(data: &[u8]) -> Vec<u8> {
    let mut bytes = data.to_vec();
    if bytes.starts_with(STATCACHE_MAGIC) && bytes.len() >= 28 + 32 {
        let body = bytes.len() - 32;
        let sum = blake3::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(sum.as_bytes());
    }
    bytes
}

/// The stat cache (`.vault/index`): a damaged file is an empty cache and a warning, never a
/// panic; every path a loaded cache holds is a valid vault path, in strictly increasing
/// order; a loaded cache saved and loaded again holds the same entries, tree and rules.
pub fn statcache(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    let bytes = fix_statcache_checksum(data);
    let dir = scratch();
    let path = dir.path().join("index");
    write(&path, &bytes);
    let (mut cache, warning) = StatCache::load(&path);
    if warning.is_some() {
        assert!(cache.is_empty(), "a refused cache still holds entries");
        return;
    }
    let entries: Vec<(String, _, ObjectId)> = cache
        .iter()
        .map(|(p, stat, id)| (p.to_string(), *stat, *id))
        .collect();
    for pair in entries.windows(2) {
        assert!(pair[0].0 < pair[1].0, "stat cache paths out of order");
    }
    for (p, _, _) in &entries {
        VaultPath::check(p).expect("the stat cache loaded an invalid path");
    }
    let again_path = dir.path().join("index-again");
    cache.save(&again_path).expect("saving the cache");
    let (again, warning) = StatCache::load(&again_path);
    assert!(
        warning.is_none(),
        "a saved cache does not load: {warning:?}"
    );
    let again_entries: Vec<(String, _, ObjectId)> = again
        .iter()
        .map(|(p, stat, id)| (p.to_string(), *stat, *id))
        .collect();
    assert_eq!(entries, again_entries);
    assert_eq!(cache.tree(), again.tree());
    assert_eq!(cache.rules(), again.rules());
}

const TASKS_MAGIC: &[u8] = b"VSTASKS\0";
const TASKS_HEADER_LEN: usize = 52;
const TASKS_ENTRY_LEN: usize = 41;

/// `data` with its checksum (bytes 16..48) made right, when it starts like a task index.
pub fn fix_task_index_checksum(data: &[u8]) -> Vec<u8> {
    let mut bytes = data.to_vec();
    if bytes.starts_with(TASKS_MAGIC) && bytes.len() >= TASKS_HEADER_LEN {
        let sum = blake3::hash(&bytes[48..]);
        bytes[16..48].copy_from_slice(sum.as_bytes());
    }
    bytes
}

/// The task index (`.vault/tasks`): a damaged file is an empty index, never a panic; every
/// entry its directory names decodes lazily without a panic (or is treated as unknown); a
/// loaded index saved and loaded again names the same notes with the same flags and tasks.
pub fn task_index(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    let bytes = fix_task_index_checksum(data);
    let dir = scratch();
    let path = dir.path().join("tasks");
    write(&path, &bytes);
    let (index, warning) = TaskIndex::load(&path);
    if warning.is_some() {
        assert!(index.is_empty(), "a refused index still holds entries");
        return;
    }
    // The directory as the format describes it (tasks/index.rs): id, start, length, flags.
    let count = index.len();
    let note = VaultPath::new("notes/fuzz.md").unwrap();
    let ids: Vec<ObjectId> = (0..count)
        .map(|i| {
            let at = TASKS_HEADER_LEN + i * TASKS_ENTRY_LEN;
            ObjectId(bytes[at..at + 32].try_into().unwrap())
        })
        .collect();
    let read: Vec<_> = ids
        .iter()
        .map(|id| {
            assert!(index.contains(id));
            (index.flags(id), index.get(id, &note))
        })
        .collect();
    let again_path = dir.path().join("tasks-again");
    index.save(&again_path).expect("saving the index");
    let (again, warning) = TaskIndex::load(&again_path);
    assert!(
        warning.is_none(),
        "a saved index does not load: {warning:?}"
    );
    assert_eq!(again.len(), count);
    for (id, (flags, got)) in ids.iter().zip(read) {
        assert_eq!(again.flags(id), flags);
        assert_eq!(again.get(id, &note), got);
    }
}

/// The small state files, chosen by the first byte: `.vault/mounts` (only valid paths,
/// saved and loaded back the same), a ref file (only one canonical id and a newline), a hub's
/// `vault-hub.json` retention policy (saved and loaded back the same, other fields kept) and
/// `.vault/config.toml` (a vault opens or gives an error, never a panic).
pub fn state_files(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if rest.len() > crate::MAX_INPUT {
        return;
    }
    let dir = scratch();
    match which % 4 {
        0 => {
            let path = dir.path().join("mounts");
            write(&path, rest);
            let mounts = vault::sync::mounts::load(&path);
            for m in &mounts {
                VaultPath::check(m.as_str()).expect("a remembered mount point is not a path");
            }
            vault::sync::mounts::save(&path, &mounts).expect("saving mounts");
            assert_eq!(vault::sync::mounts::load(&path), mounts);
        }
        1 => {
            let path = dir.path().join("head");
            write(&path, rest);
            if let Ok(Some(id)) = RefFile::new(&path).read() {
                assert_eq!(
                    format!("{id}\n").as_bytes(),
                    rest,
                    "a ref read from other bytes"
                );
            }
        }
        2 => {
            write(&dir.path().join("vault-hub.json"), rest);
            if let Ok(policy) = vault::retention::load(dir.path()) {
                vault::retention::save(dir.path(), &policy).expect("saving the policy");
                assert_eq!(vault::retention::load(dir.path()).ok(), Some(policy));
            }
        }
        _ => {
            let state = dir.path().join(".vault");
            std::fs::create_dir(&state).expect("a scratch .vault");
            write(&state.join("config.toml"), rest);
            if let Ok(vault) = LocalVault::open(dir.path()) {
                assert!(!vault.config().device_id.is_empty());
            }
        }
    }
}
