//! `copy_history` between two real folder hubs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::*;
use crate::folder_hub::FolderHub;
use crate::folder_hub::conformance::TestSnapshot;
use crate::hub::CasOutcome;
use crate::paths::VaultPath;
use crate::progress::NoProgress;
use crate::store::PackStore;

/// Every file under `dir` with its bytes: a hub folder's whole state.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A hub holding three snapshots in a line (the last one's parent the one before), each
/// published as a device would: its objects as one pack, then the head moved.
fn history(hub: &FolderHub) -> Vec<TestSnapshot> {
    let mut snaps: Vec<TestSnapshot> = Vec::new();
    let versions: [&[(&str, &[u8])]; 3] = [
        &[("a.md", b"one"), ("notes/b.md", b"beta")],
        &[("a.md", b"two"), ("notes/b.md", b"beta")],
        &[("a.md", b"three"), ("notes/deep/c.md", b"gamma")],
    ];
    for files in versions {
        let parent = snaps.last().map(|s| s.id);
        let snap = TestSnapshot::new(files, parent.into_iter().collect());
        hub.put(&snap.all()).unwrap();
        assert_eq!(hub.cas_head(parent, snap.id).unwrap(), CasOutcome::Updated);
        snaps.push(snap);
    }
    snaps
}

fn all_ids(snaps: &[TestSnapshot]) -> Vec<ObjectId> {
    snaps.iter().flat_map(|s| s.all()).map(|o| o.id()).collect()
}

#[test]
fn every_snapshot_reaches_an_empty_hub_and_the_old_hub_is_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let snaps = history(&old);
    let head = snaps.last().unwrap().id;
    let before = contents(&dir.path().join("old"));

    let report = copy_history(&old, &new, head, &LocalCopies::none(), &NoProgress).unwrap();

    assert_eq!(report.snapshots, 3);
    assert_eq!(report.from_this_device, 0);
    assert!(new.missing(&all_ids(&snaps)).unwrap().is_empty());
    // Complete: the new hub takes the old head as its own.
    assert_eq!(new.cas_head(None, head).unwrap(), CasOutcome::Updated);
    assert_eq!(contents(&dir.path().join("old")), before);

    assert!(history_contains(&new, head, snaps[0].id).unwrap());
    assert!(!history_contains(&new, snaps[0].id, head).unwrap());
    // A second device following: nothing left to copy.
    let again = copy_history(&old, &new, head, &LocalCopies::none(), &NoProgress).unwrap();
    assert_eq!(again, CopyReport::default());
}

#[test]
fn only_what_the_new_hub_lacks_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let snaps = history(&old);
    // The new hub already has the first snapshot (another device copied it).
    new.put(&snaps[0].all()).unwrap();
    let head = snaps[2].id;
    let report = copy_history(&old, &new, head, &LocalCopies::none(), &NoProgress).unwrap();
    assert_eq!(report.snapshots, 2);
    // What the first snapshot shares with the later ones ("beta", its folder) is not sent.
    let had: std::collections::HashSet<ObjectId> = all_ids(&snaps[..1]).into_iter().collect();
    let lacked: std::collections::HashSet<ObjectId> = all_ids(&snaps[1..])
        .into_iter()
        .filter(|id| !had.contains(id))
        .collect();
    assert_eq!(report.objects, lacked.len() as u64);
    assert!(new.missing(&all_ids(&snaps)).unwrap().is_empty());
}

#[test]
fn an_object_the_old_hub_lost_comes_from_this_device() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let snaps = history(&old);
    // A blob in a pack of its own, then lost from the old hub; the vault's file has it.
    let lost = Object {
        kind: Kind::Blob,
        bytes: b"three".to_vec(),
    };
    let packs = dir.path().join("old/packs");
    let before: Vec<_> = fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let store = PackStore::open(&packs).unwrap();
    let pack = store.pack_of(lost.id()).unwrap().to_path_buf();
    drop(store);
    fs::remove_file(&pack).unwrap();
    // The rest of that pack is put back, so only "three" is missing.
    let rest: Vec<Object> = snaps[2]
        .all()
        .into_iter()
        .filter(|o| o.id() != lost.id())
        .collect();
    old.put(&rest).unwrap();
    assert!(before.len() >= 3);
    assert_eq!(old.missing(&[lost.id()]).unwrap(), vec![lost.id()]);

    let vault = dir.path().join("vault");
    fs::create_dir_all(&vault).unwrap();
    fs::write(vault.join("a.md"), b"three").unwrap();
    let meta = crate::object::FileMeta {
        id: lost.id(),
        size: 5,
        mtime_ns: 0,
        executable: false,
    };
    let local = LocalCopies::new(None, &vault, [(VaultPath::new("a.md").unwrap(), meta)]);
    let head = snaps[2].id;
    let report = copy_history(&old, &new, head, &local, &NoProgress).unwrap();
    assert_eq!(report.from_this_device, 1);
    assert_eq!(new.cas_head(None, head).unwrap(), CasOutcome::Updated);

    // Without that copy the history cannot be completed: said by path, and the new hub
    // gets no tree or snapshot that would name what it lacks.
    let other = FolderHub::open(&dir.path().join("other")).unwrap();
    let err = copy_history(&old, &other, head, &LocalCopies::none(), &NoProgress).unwrap_err();
    let CopyError::Incomplete { missing, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].id, lost.id());
    assert_eq!(missing[0].path.as_deref(), Some("a.md"));
    assert!(err.to_string().contains("`a.md`"), "{err}");
    let trees_and_snaps: Vec<ObjectId> = snaps
        .iter()
        .flat_map(|s| s.trees.iter().chain([&s.snapshot]))
        .map(Object::id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        other.missing(&trees_and_snaps).unwrap().len(),
        trees_and_snaps.len()
    );
}

#[test]
fn a_damaged_copy_on_the_old_hub_is_never_copied() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let snaps = history(&old);
    let head = snaps[2].id;
    let faulty = crate::test_hub::FaultyHub {
        damage: crate::test_hub::Damage::One(ObjectId::of(b"gamma")),
        ..crate::test_hub::FaultyHub::new(&old)
    };
    let err = copy_history(&faulty, &new, head, &LocalCopies::none(), &NoProgress).unwrap_err();
    let CopyError::Incomplete { missing, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(missing[0].path.as_deref(), Some("notes/deep/c.md"));
    assert_eq!(new.missing(&[ObjectId::of(b"gamma")]).unwrap().len(), 1);
    assert_eq!(new.missing(&[head]).unwrap(), vec![head]);
}

/// Counts what a copy reports, per call.
#[derive(Debug, Default)]
struct Counted {
    total: std::sync::Mutex<Option<Amount>>,
    done: std::sync::Mutex<Amount>,
    ended: std::sync::atomic::AtomicBool,
}

impl Progress for Counted {
    fn begin(&self, phase: Phase, total: Option<Amount>) {
        assert_eq!(phase, Phase::Uploading);
        *self.total.lock().unwrap() = total;
    }
    fn advance(&self, _: Phase, done: Amount) {
        let mut d = self.done.lock().unwrap();
        d.items += done.items;
        d.bytes += done.bytes;
    }
    fn end(&self, _: Phase) {
        self.ended.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn progress_ends_exactly_at_the_total_it_announced() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let snaps = history(&old);
    let seen = Counted::default();
    let report = copy_history(&old, &new, snaps[2].id, &LocalCopies::none(), &seen).unwrap();
    let total = seen.total.lock().unwrap().expect("a total up front");
    assert_eq!(total, *seen.done.lock().unwrap());
    assert_eq!(total, Amount::new(report.objects, report.bytes));
    assert!(seen.ended.load(std::sync::atomic::Ordering::SeqCst));
}
