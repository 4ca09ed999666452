//! Rounds with large files (chunked, `vault::content`) on real folders and a real folder hub:
//! what travels, what a cut-off upload resends, a file changed during its upload, local copies
//! and staged downloads.

use std::fs;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::content::CHUNKED_FROM;
use crate::folder_hub::FolderHub;
use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::object::{Kind, Object};

use crate::test_bytes::noise;

type BeforePut = Box<dyn FnMut(usize) -> Result<(), HubError> + Send>;

/// A folder hub that counts what is put and can run a hook before each put.
struct Watched {
    inner: FolderHub,
    puts: AtomicUsize,
    bytes_put: AtomicU64,
    /// Called with the number of the put (from 1); an error fails that put.
    before_put: Mutex<BeforePut>,
    /// Upload streams are the folder hub's own (one pack per so many bytes) instead of one
    /// watched put per batch.
    folder_streams: bool,
    missing_calls: AtomicUsize,
    /// The `missing` call (from 1) from which every call fails, as after a dropped connection
    /// (0: none).
    cut_missing_at: usize,
}

impl Watched {
    fn new(inner: FolderHub) -> Watched {
        Watched {
            inner,
            puts: AtomicUsize::new(0),
            bytes_put: AtomicU64::new(0),
            before_put: Mutex::new(Box::new(|_| Ok(()))),
            folder_streams: false,
            missing_calls: AtomicUsize::new(0),
            cut_missing_at: 0,
        }
    }
}

impl Hub for Watched {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        self.inner.head()
    }
    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        let n = self.missing_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.cut_missing_at > 0 && n >= self.cut_missing_at {
            return Err(HubError::Unreachable {
                hub: "test".into(),
                detail: "cut off".into(),
            });
        }
        self.inner.missing(ids)
    }
    fn put_stream(&self) -> Box<dyn crate::hub::PutStream + '_> {
        if self.folder_streams {
            self.inner.put_stream()
        } else {
            Box::new(crate::hub::PutEach(self))
        }
    }
    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        let n = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
        (self.before_put.lock().unwrap())(n)?;
        let bytes: u64 = objects.iter().map(|o| o.bytes.len() as u64).sum();
        self.bytes_put.fetch_add(bytes, Ordering::SeqCst);
        self.inner.put(objects)
    }
    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        self.inner.get(ids)
    }
    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        self.inner.cas_head(old, new)
    }
    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        self.inner.tree_of(snapshot, full)
    }
    fn time_ns(&self) -> Result<i64, HubError> {
        self.inner.time_ns()
    }
}

struct World {
    dir: tempfile::TempDir,
    hub: FolderHub,
    devices: Vec<LocalVault>,
}

fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let devices = (0..n)
        .map(|i| {
            let root = dir.path().join(format!("dev{i}"));
            LocalVault::init(&root, &hub_path.display().to_string(), &format!("dev{i}")).unwrap()
        })
        .collect();
    World { dir, hub, devices }
}

impl World {
    fn sync(&self, i: usize) -> SyncReport {
        sync(&self.devices[i], &self.hub, &SyncOptions::default())
            .unwrap_or_else(|e| panic!("sync of dev{i} failed: {e}"))
    }
    fn write(&self, i: usize, path: &str, bytes: &[u8]) {
        let p = self.devices[i].root().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    fn read(&self, i: usize, path: &str) -> Vec<u8> {
        fs::read(self.devices[i].root().join(path)).unwrap()
    }
    fn hub_format(&self) -> u64 {
        let text = fs::read(self.dir.path().join("hub/vault-hub.json")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        v["format"].as_u64().unwrap()
    }
}

fn content_of(bytes: &[u8]) -> ObjectId {
    crate::content::content_id(bytes, bytes.len() as u64)
        .unwrap()
        .0
}

#[test]
fn a_large_file_travels_as_chunks_and_an_edit_sends_only_what_changed() {
    let w = world(2);
    w.write(0, "note.md", b"a note");
    w.sync(0);
    assert_eq!(
        w.hub_format(),
        1,
        "no chunk list yet: older syncd still read this hub"
    );

    let mut big = noise(6 << 20, 1);
    w.write(0, "media/big.bin", &big);
    let up = w.sync(0);
    assert!(up.stats.bytes_sent >= big.len() as u64, "{:?}", up.stats);
    assert!(up.stats.bytes_sent < big.len() as u64 + (64 << 10));
    let id = content_of(&big);
    assert_eq!(w.hub.get(&[id]).unwrap()[0].kind, Kind::Chunks);
    assert_eq!(w.hub_format(), 2, "the first chunk list raises the format");
    let down = w.sync(1);
    assert_eq!(w.read(1, "media/big.bin"), big);
    assert!(down.stats.bytes_received < big.len() as u64 + (64 << 10));

    // One byte in the middle, then the start, then an append: each sends a chunk or two.
    type Edit<'a> = &'a dyn Fn(&mut Vec<u8>);
    let edits: [Edit; 3] = [
        &|b| b[3 << 20] ^= 0xff,
        &|b| b.splice(0..0, *b"new start").for_each(drop),
        &|b| b.extend_from_slice(&noise(100_000, 2)),
    ];
    for edit in edits {
        edit(&mut big);
        w.write(0, "media/big.bin", &big);
        let up = w.sync(0);
        assert!(
            up.stats.bytes_sent < 2 * crate::content::MAX_CHUNK as u64 + (64 << 10),
            "{:?}",
            up.stats
        );
        let down = w.sync(1);
        assert!(down.stats.bytes_received < 2 * crate::content::MAX_CHUNK as u64 + (64 << 10));
        assert_eq!(w.read(1, "media/big.bin"), big);
    }

    // Below the chunking size it is one blob again; above, chunks again.
    big.truncate(CHUNKED_FROM as usize - 1);
    w.write(0, "media/big.bin", &big);
    w.sync(0);
    w.sync(1);
    assert_eq!(w.read(1, "media/big.bin"), big);
    big.extend_from_slice(&noise(3 << 20, 3));
    w.write(1, "media/big.bin", &big);
    w.sync(1);
    w.sync(0);
    assert_eq!(w.read(0, "media/big.bin"), big);
    let report = w.sync(0);
    assert_eq!(report.outcome, Outcome::UpToDate);
}

#[test]
fn an_upload_cut_off_midway_resumes_without_sending_again_what_arrived() {
    let w = world(2);
    let big = noise(30 << 20, 4);
    w.write(0, "big.bin", &big);
    let hub = Watched::new(FolderHub::open(&w.dir.path().join("hub")).unwrap());
    // The connection drops at the third put (while the scan hands the chunks on) and stays
    // down: two batches of chunks arrived.
    *hub.before_put.lock().unwrap() = Box::new(|n| {
        if n >= 3 {
            return Err(HubError::Unreachable {
                hub: "test".into(),
                detail: "cut off".into(),
            });
        }
        Ok(())
    });
    let cut = sync(&w.devices[0], &hub, &SyncOptions::default());
    assert!(cut.is_err(), "{cut:?}");
    let arrived = hub.bytes_put.load(Ordering::SeqCst);
    assert!(arrived >= 12 << 20, "two batches of 6-7 MiB: {arrived}");

    let again = w.sync(0);
    assert!(
        again.stats.bytes_sent <= big.len() as u64 - arrived + (64 << 10),
        "resent what had arrived: {:?}",
        again.stats
    );
    w.sync(1);
    assert_eq!(w.read(1, "big.bin"), big);
}

/// Through a folder hub's own upload stream (a pack committed every 8 MiB here, every 256 MiB
/// for real): a cut-off upload keeps the packs it committed, and the next round sends only
/// the rest.
#[test]
fn a_cut_off_upload_stream_resumes_from_its_last_committed_pack() {
    let w = world(2);
    let big = noise(30 << 20, 9);
    w.write(0, "big.bin", &big);
    let folder = FolderHub::open(&w.dir.path().join("hub"))
        .unwrap()
        .with_stream_pack_bytes(8 << 20);
    let mut hub = Watched::new(folder);
    hub.folder_streams = true;
    // Missing is asked once per batch of 6-7 MiB as the scan hands the chunks on: the fourth
    // call fails (and every one after it), after two batches (one committed pack) and the
    // third's put into a pack that is never committed.
    hub.cut_missing_at = 4;
    let cut = sync(&w.devices[0], &hub, &SyncOptions::default());
    assert!(cut.is_err(), "{cut:?}");
    let packs: Vec<u64> = fs::read_dir(w.dir.path().join("hub/packs"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert!(packs[0] >= 12 << 20, "two batches in one pack: {packs:?}");

    let again = w.sync(0);
    assert!(
        again.stats.bytes_sent <= big.len() as u64 - (12 << 20) + (64 << 10),
        "resent what had arrived: {:?}",
        again.stats
    );
    w.sync(1);
    assert_eq!(w.read(1, "big.bin"), big);
}

/// A large file rewritten while its upload reads it (the scan had hashed another version):
/// the round starts again and publishes the version the folder holds, never a mix.
#[test]
fn a_large_file_changed_during_its_upload_publishes_only_whole_versions() {
    let w = world(2);
    let first = noise(20 << 20, 5);
    let second = noise(20 << 20, 6);
    let third = noise(20 << 20, 10);
    w.write(0, "big.bin", &first);
    w.sync(0);
    // Known to the stat cache now: its next version is cut by the scan alone, and read
    // again by the upload.
    w.write(0, "big.bin", &second);
    let path = w.devices[0].root().join("big.bin");
    let hub = Watched::new(FolderHub::open(&w.dir.path().join("hub")).unwrap());
    let replacement = third.clone();
    // Before the first batch of chunks is put (a third of the file read), the file is
    // rewritten in place (same size).
    *hub.before_put.lock().unwrap() = Box::new(move |n| {
        if n == 1 {
            fs::write(&path, &replacement).unwrap();
        }
        Ok(())
    });
    let report = sync(&w.devices[0], &hub, &SyncOptions::default()).unwrap();
    assert!(report.stats.attempts >= 2, "{:?}", report.stats);
    w.sync(1);
    assert_eq!(
        w.read(1, "big.bin"),
        third,
        "the version the folder holds now"
    );
    assert!(
        w.hub.get(&[content_of(&second)]).is_err(),
        "no list names the mix"
    );
}

/// A new large file rewritten while the scan cuts it and hands its chunks to the hub: the
/// scan reads it again, and only the version the folder holds is published.
#[test]
fn a_new_large_file_changed_while_its_chunks_are_handed_on_publishes_only_whole_versions() {
    let w = world(2);
    let first = noise(20 << 20, 5);
    let second = noise(20 << 20, 6);
    w.write(0, "big.bin", &first);
    let path = w.devices[0].root().join("big.bin");
    let hub = Watched::new(FolderHub::open(&w.dir.path().join("hub")).unwrap());
    let replacement = second.clone();
    // The first put happens while the scan is still cutting the file.
    *hub.before_put.lock().unwrap() = Box::new(move |n| {
        if n == 1 {
            fs::write(&path, &replacement).unwrap();
        }
        Ok(())
    });
    let report = sync(&w.devices[0], &hub, &SyncOptions::default()).unwrap();
    assert_eq!(report.outcome, Outcome::Pushed, "{report:?}");
    w.sync(1);
    assert_eq!(w.read(1, "big.bin"), second);
    assert!(
        w.hub.get(&[content_of(&first)]).is_err(),
        "no list names the first version or a mix"
    );
}

/// Rewrites a file (in place, same size) the first time a scan ends.
#[derive(Debug)]
struct RewriteAfterScan {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    done: std::sync::atomic::AtomicBool,
}

impl crate::progress::Progress for RewriteAfterScan {
    fn begin(&self, _: crate::progress::Phase, _: Option<crate::progress::Amount>) {}
    fn advance(&self, _: crate::progress::Phase, _: crate::progress::Amount) {}
    fn end(&self, phase: crate::progress::Phase) {
        if phase == crate::progress::Phase::Scanning && !self.done.swap(true, Ordering::SeqCst) {
            fs::write(&self.path, &self.bytes).unwrap();
        }
    }
}

/// A new large file whose chunks went to the hub during the scan, rewritten right after it
/// (too recently for its stat to vouch for it): the upload reads the pieces the hub holds
/// again, finds them changed, and the round publishes the version the folder holds.
#[test]
fn a_new_large_file_rewritten_after_its_scan_is_checked_before_its_lists_go() {
    let w = world(2);
    let first = noise(20 << 20, 12);
    let second = noise(20 << 20, 13);
    w.write(0, "big.bin", &first);
    let rewrite = Arc::new(RewriteAfterScan {
        path: w.devices[0].root().join("big.bin"),
        bytes: second.clone(),
        done: std::sync::atomic::AtomicBool::new(false),
    });
    let opts = SyncOptions {
        progress: Some(rewrite),
        ..SyncOptions::default()
    };
    let report = sync(&w.devices[0], &w.hub, &opts).unwrap();
    assert!(report.stats.attempts >= 2, "{:?}", report.stats);
    w.sync(1);
    assert_eq!(w.read(1, "big.bin"), second);
    assert!(
        w.hub.get(&[content_of(&first)]).is_err(),
        "no list names the version the folder no longer holds"
    );
}

/// Knows whether the round's scan is over.
#[derive(Debug, Default)]
struct ScanOver(std::sync::atomic::AtomicBool);

impl crate::progress::Progress for ScanOver {
    fn begin(&self, _: crate::progress::Phase, _: Option<crate::progress::Amount>) {}
    fn advance(&self, _: crate::progress::Phase, _: crate::progress::Amount) {}
    fn end(&self, phase: crate::progress::Phase) {
        if phase == crate::progress::Phase::Scanning {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// The chunks of a new large file go to the hub while the scan cuts it (the file is read
/// once): the round's upload then sends none of them again, and a second device gets the file.
#[test]
fn a_new_large_file_is_uploaded_in_the_same_read_as_its_scan() {
    let w = world(2);
    let big = noise(24 << 20, 11);
    w.write(0, "media/big.bin", &big);
    let hub = Watched::new(FolderHub::open(&w.dir.path().join("hub")).unwrap());
    let scan_over = Arc::new(ScanOver::default());
    let during_scan = Arc::new(AtomicU64::new(0));
    let (over, during) = (Arc::clone(&scan_over), Arc::clone(&during_scan));
    *hub.before_put.lock().unwrap() = Box::new(move |_| {
        if !over.0.load(Ordering::SeqCst) {
            during.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    });
    let opts = SyncOptions {
        progress: Some(scan_over),
        ..SyncOptions::default()
    };
    let report = sync(&w.devices[0], &hub, &opts).unwrap();
    assert_eq!(report.outcome, Outcome::Pushed);
    let during = during_scan.load(Ordering::SeqCst);
    assert!(
        during >= 3,
        "24 MiB of chunks are 3-4 puts, all while the scan cut the file: {during}"
    );
    let put = hub.bytes_put.load(Ordering::SeqCst);
    assert!(put >= big.len() as u64, "{put}");
    assert!(
        put < big.len() as u64 + (64 << 10),
        "chunks sent twice: {put} bytes put for a file of {}",
        big.len()
    );
    assert_eq!(report.stats.bytes_sent, put, "{:?}", report.stats);
    w.sync(1);
    assert_eq!(w.read(1, "media/big.bin"), big);
}

#[test]
fn a_large_file_held_locally_is_copied_and_a_plan_that_deletes_stages_large_files() {
    let w = world(2);
    let big = noise(5 << 20, 7);
    w.write(0, "a/big.bin", &big);
    w.write(0, "old.md", b"to be deleted");
    w.sync(0);
    w.sync(1);

    // dev0 copies the file and deletes a note: dev1's plan deletes, so it stages, and the
    // copy comes from dev1's own file, not the hub.
    w.write(0, "b/copy.bin", &big);
    fs::remove_file(w.devices[0].root().join("old.md")).unwrap();
    let other = noise(3 << 20, 8);
    w.write(0, "c/other.bin", &other);
    w.sync(0);
    let down = w.sync(1);
    assert_eq!(down.stats.files_deleted, 1);
    assert_eq!(w.read(1, "b/copy.bin"), big);
    assert_eq!(w.read(1, "c/other.bin"), other);
    assert!(
        down.stats.bytes_received < other.len() as u64 + (256 << 10),
        "only the new file came from the hub: {:?}",
        down.stats
    );
    assert!(!w.devices[1].state_dir().join("staging").exists());
    // No spool file is left at the vault's top.
    let left: Vec<_> = fs::read_dir(w.devices[1].root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| crate::fsutil::is_own_temp_name(n))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
