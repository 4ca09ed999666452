//! Round-level tests on real folders and a real folder hub. The binary-level and multi-device
//! property tests live in `tests/` and `vault/tests/`.

use std::fs;
use std::path::{Path, PathBuf};

use filetime::FileTime;

use super::*;
use crate::folder_hub::FolderHub;
use crate::hub::Hub;
use crate::object::{EntryKind, FileMeta, Snapshot, Tree};
use crate::reconcile::{ConflictKind, Side};
use crate::test_hub::{Damage, FaultyHub};

struct World {
    _dir: tempfile::TempDir,
    hub_path: PathBuf,
    hub: FolderHub,
    devices: Vec<LocalVault>,
}

fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let devices = (0..n)
        .map(|i| {
            LocalVault::init(
                &dir.path().join(format!("dev{i}")),
                &hub_path.display().to_string(),
                &format!("dev{i}"),
            )
            .unwrap()
        })
        .collect();
    World {
        _dir: dir,
        hub_path,
        hub,
        devices,
    }
}

/// A fixed time (September 2026) plus `secs`, so mtimes are distinct, ordered and repeatable.
fn at(secs: i64) -> FileTime {
    FileTime::from_unix_time(1_790_000_000 + secs, 0)
}

fn write(v: &LocalVault, path: &str, text: &str, secs: i64) {
    let p = v.root().join(path);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    filetime::set_file_mtime(&p, at(secs)).unwrap();
}

fn read(v: &LocalVault, path: &str) -> Option<String> {
    fs::read_to_string(v.root().join(path)).ok()
}

/// Every file under `root` except `.vault/`, with its bytes.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".vault")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            (rel, fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn sync_ok(w: &World, i: usize) -> SyncReport {
    sync(&w.devices[i], &w.hub, &SyncOptions::default())
        .unwrap_or_else(|e| panic!("sync of dev{i} failed: {e}"))
}

#[test]
fn upload_download_and_quiet_round() {
    let w = world(2);
    write(&w.devices[0], "a.md", "alpha", 1);
    write(&w.devices[0], "d/e/b.md", "beta", 2);
    let up = sync_ok(&w, 0);
    assert_eq!(up.outcome, Outcome::Pushed);
    assert!(up.snapshot_created);
    assert_eq!(
        up.stats.objects_sent,
        2 + 3 + 1,
        "2 blobs, 3 trees, 1 snapshot"
    );
    assert_eq!(up.tree, w.hub.tree_hash().unwrap());
    assert_eq!(w.devices[0].base().unwrap(), w.hub.head().unwrap());

    let down = sync_ok(&w, 1);
    assert_eq!(down.outcome, Outcome::Pulled);
    assert_eq!(down.stats.objects_received, 2 + 3 + 1);
    assert_eq!(files(w.devices[0].root()), files(w.devices[1].root()));
    let m = fs::metadata(w.devices[1].root().join("d/e/b.md")).unwrap();
    assert_eq!(FileTime::from_last_modification_time(&m), at(2));

    // Files changed within RACY_MARGIN_NS of a scan are never trusted from the cache (the racy
    // rule, as in git); past it, a round with nothing changed must read nothing.
    std::thread::sleep(std::time::Duration::from_nanos(
        crate::statcache::RACY_MARGIN_NS as u64 + 20_000_000,
    ));
    for i in 0..2 {
        sync_ok(&w, i);
        let quiet = sync_ok(&w, i);
        assert_eq!(quiet.outcome, Outcome::UpToDate);
        assert_eq!(quiet.stats.files_read, 0, "dev{i}: {:?}", quiet.stats);
        assert_eq!(quiet.stats.bytes_hashed, 0);
        assert_eq!(quiet.stats.objects_sent + quiet.stats.objects_received, 0);
    }
}

#[test]
fn both_sides_edit_the_newer_wins_and_the_older_is_kept() {
    let w = world(2);
    write(&w.devices[0], "n.md", "base", 1);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    write(&w.devices[0], "n.md", "older edit", 10);
    write(&w.devices[1], "n.md", "newer edit", 20);
    sync_ok(&w, 0);
    let r = sync_ok(&w, 1);
    assert_eq!(r.conflicts.len(), 1);
    let c = &r.conflicts[0];
    assert_eq!(c.kind, ConflictKind::BothChanged);
    assert_eq!(c.winner, Side::Local);
    assert!(c.revision.as_str().starts_with(".revisions/n."), "{c:?}");
    assert!(c.revision.as_str().ends_with(".dev0.md"), "{c:?}");
    sync_ok(&w, 0);
    for v in &w.devices {
        assert_eq!(read(v, "n.md").as_deref(), Some("newer edit"));
        assert_eq!(read(v, c.revision.as_str()).as_deref(), Some("older edit"));
    }
    assert_eq!(files(w.devices[0].root()), files(w.devices[1].root()));
}

#[test]
fn an_emptied_folder_is_not_published_as_mass_deletion() {
    let w = world(1);
    for i in 0..3 {
        write(&w.devices[0], &format!("n{i}.md"), "x", i);
    }
    sync_ok(&w, 0);
    let head = w.hub.head().unwrap();
    for i in 0..3 {
        fs::remove_file(w.devices[0].root().join(format!("n{i}.md"))).unwrap();
    }
    let err = sync(&w.devices[0], &w.hub, &SyncOptions::default()).unwrap_err();
    assert!(
        matches!(err, SyncError::MassDelete { deletes: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-mass-delete"), "{err}");
    assert_eq!(w.hub.head().unwrap(), head, "the hub must not move");
    let opts = SyncOptions {
        allow_mass_delete: true,
        ..SyncOptions::default()
    };
    let r = sync(&w.devices[0], &w.hub, &opts).unwrap();
    let empty = crate::object::build_trees(&crate::object::FlatTree::new()).0;
    assert_eq!(w.hub.tree_hash().unwrap(), Some(empty));
    assert_eq!(r.tree, Some(empty));
}

#[test]
fn lost_hub_packs_are_uploaded_again() {
    let w = world(1);
    write(&w.devices[0], "a.md", "alpha", 1);
    sync_ok(&w, 0);
    write(&w.devices[0], "b.md", "beta", 2);
    sync_ok(&w, 0);
    for pack in fs::read_dir(w.hub_path.join("packs")).unwrap() {
        fs::remove_file(pack.unwrap().path()).unwrap();
    }
    let hub = FolderHub::open(&w.hub_path).unwrap();
    assert!(hub.tree_hash().is_err());
    write(&w.devices[0], "c.md", "gamma", 3);
    let r = sync(&w.devices[0], &hub, &SyncOptions::default()).unwrap();
    assert!(!r.repairs.is_empty(), "{r:?}");
    assert!(hub.tree_hash().unwrap().is_some());
    assert!(verify(&w.devices[0], &hub, true).unwrap().equal);
}

#[test]
fn a_hostile_tree_changes_nothing() {
    let w = world(1);
    write(&w.devices[0], "keep.md", "mine", 1);
    let before = files(w.devices[0].root());
    // A tree naming `.vault`, written past the hub's own checks.
    let blob = b"evil".to_vec();
    let meta = FileMeta {
        id: ObjectId::of(&blob),
        size: 4,
        mtime_ns: 0,
        executable: false,
    };
    let mut inner = Tree::default();
    inner
        .entries
        .insert("config.toml".into(), EntryKind::File(meta));
    let mut root = Tree::default();
    root.entries
        .insert(".vault".into(), EntryKind::Dir(inner.to_object().id()));
    let snap = crate::object::Snapshot {
        tree: root.to_object().id(),
        parents: vec![],
        device_id: "x".into(),
        device_name: "x".into(),
        time_ns: 0,
    }
    .to_object();
    w.hub
        .put(&[
            crate::object::Object {
                kind: crate::object::Kind::Blob,
                bytes: blob,
            },
            inner.to_object(),
            root.to_object(),
            snap.clone(),
        ])
        .unwrap();
    crate::refs::RefFile::new(w.hub_path.join("refs/head"))
        .write(snap.id())
        .unwrap();
    let err = sync(&w.devices[0], &w.hub, &SyncOptions::default()).unwrap_err();
    assert!(matches!(err, SyncError::BadRemote { .. }), "{err}");
    assert_eq!(files(w.devices[0].root()), before);
    assert!(
        !w.devices[0].root().join(".vault/config.toml").exists() || {
            let t = fs::read_to_string(w.devices[0].root().join(".vault/config.toml")).unwrap();
            !t.contains("evil")
        }
    );
}

#[test]
fn clock_skew_is_refused() {
    let w = world(1);
    write(&w.devices[0], "a.md", "alpha", 1);
    let skewed = FaultyHub {
        skew_ns: 6 * 60 * 1_000_000_000,
        ..FaultyHub::new(&w.hub)
    };
    let err = sync(&w.devices[0], &skewed, &SyncOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::ClockSkew {
                skew_secs: -360,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("behind"), "{err}");
    assert!(err.to_string().contains("6 min 0 s"), "{err}");
    assert_eq!(w.hub.head().unwrap(), None);
}

#[test]
fn clocks_within_five_minutes_are_accepted_either_way() {
    let min = 60 * 1_000_000_000_i64;
    let now = 1_800_000_000 * 1_000_000_000_i64;
    for (ours, theirs, ok) in [
        (now, now, true),
        (now + 5 * min, now, true),
        (now - 5 * min, now, true),
        (now + 5 * min + 2_000_000_000, now, false),
        (now, now + 5 * min + 2_000_000_000, false),
        (now + 3 * 60 * min, now, false),
    ] {
        let result = super::compare_clocks("hub", ours, theirs);
        assert_eq!(result.is_ok(), ok, "{ours} vs {theirs}: {result:?}");
        if let Err(e) = result {
            let ahead = ours > theirs;
            assert!(
                e.to_string()
                    .contains(if ahead { "ahead" } else { "behind" }),
                "{e}"
            );
        }
    }
}

#[test]
fn a_pushed_edit_leaves_a_stat_cache_that_knows_the_new_tree() {
    let w = world(1);
    write(&w.devices[0], "a.md", "alpha", 1);
    write(&w.devices[0], "b/c.md", "gamma", 2);
    sync_ok(&w, 0);
    write(&w.devices[0], "a.md", "alpha, edited", 3);
    // Past the racy margin, so the cache written by the next round trusts every stat.
    std::thread::sleep(std::time::Duration::from_millis(150));
    let pushed = sync_ok(&w, 0);
    assert_eq!(pushed.outcome, Outcome::Pushed);
    assert_eq!(pushed.stats.attempts, 1, "{pushed:?}");
    let (cache, warning) = crate::statcache::StatCache::load(&w.devices[0].index_path());
    assert_eq!(warning, None);
    assert_eq!(
        cache.tree(),
        pushed.tree,
        "the cache records the tree just pushed"
    );
    assert_eq!(cache.tree(), w.hub.tree_hash().unwrap());
    let a = crate::paths::VaultPath::new("a.md").unwrap();
    assert_eq!(
        cache.get(&a).map(|(_, id)| id),
        Some(ObjectId::of(b"alpha, edited"))
    );
    assert_eq!(cache.len(), 2);
    let quiet = sync_ok(&w, 0);
    assert_eq!(quiet.outcome, Outcome::UpToDate);
    assert_eq!(quiet.stats.files_read, 0, "{:?}", quiet.stats);
}

#[test]
fn a_pulled_edit_is_recorded_as_written_and_not_read_again() {
    let w = world(2);
    write(&w.devices[0], "a.md", "alpha", 1);
    write(&w.devices[0], "b/c.md", "gamma", 2);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    // Past the racy margin, so the pull's own round trusts every stat it records.
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(sync_ok(&w, 1).outcome, Outcome::UpToDate);
    write(&w.devices[0], "a.md", "alpha, edited", 3);
    sync_ok(&w, 0);
    let pulled = sync_ok(&w, 1);
    assert_eq!(pulled.outcome, Outcome::Pulled);
    assert_eq!(
        read(&w.devices[1], "a.md").as_deref(),
        Some("alpha, edited")
    );
    assert_eq!(
        pulled.stats.files_read, 0,
        "the verification trusts what apply wrote: {:?}",
        pulled.stats
    );
    let (cache, warning) = crate::statcache::StatCache::load(&w.devices[1].index_path());
    assert_eq!(warning, None);
    let a = crate::paths::VaultPath::new("a.md").unwrap();
    let entry = cache.entry(a.as_str()).expect("a.md in the cache");
    assert!(entry.written(), "recorded as written by sync");
    assert_eq!(
        cache.get(&a).map(|(_, id)| id),
        Some(ObjectId::of(b"alpha, edited"))
    );
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.tree(), w.hub.tree_hash().unwrap());
    let quiet = sync_ok(&w, 1);
    assert_eq!(quiet.outcome, Outcome::UpToDate);
    assert_eq!(quiet.stats.files_read, 0, "{:?}", quiet.stats);
}

#[test]
fn a_cache_entry_with_a_wrong_id_is_caught_and_rehashed() {
    let w = world(1);
    write(&w.devices[0], "a.md", "alpha", 1);
    // Past the racy margin, so the cache written by this round trusts a.md's stat.
    std::thread::sleep(std::time::Duration::from_millis(150));
    sync_ok(&w, 0);
    let head = w.hub.head().unwrap();
    // A well-formed cache that lies: a.md's exact stat, someone else's id, an old horizon.
    let path = crate::paths::VaultPath::new("a.md").unwrap();
    let stat = match crate::filestat::probe(&w.devices[0].root().join("a.md")).unwrap() {
        crate::filestat::Found::File(s) => s,
        other => panic!("{other:?}"),
    };
    let (mut cache, _) = crate::statcache::StatCache::load(&w.devices[0].index_path());
    cache.remove(&path);
    cache.insert(path, stat, ObjectId::of(b"not alpha"));
    cache.save(&w.devices[0].index_path()).unwrap();
    let r = sync_ok(&w, 0);
    // The lie looks like a local edit; reading the file for upload exposes it, the entry is
    // dropped and the next attempt hashes the file and finds nothing to publish.
    assert_eq!(r.stats.attempts, 2, "{r:?}");
    assert_eq!(w.hub.head().unwrap(), head, "nothing new to publish: {r:?}");
    assert_eq!(read(&w.devices[0], "a.md").as_deref(), Some("alpha"));
    assert!(verify(&w.devices[0], &w.hub, true).unwrap().equal);
}

/// A device following a busy hub: another device publishes while this round checks the hub's
/// tree. The round settled on a snapshot the hub holds, so it is done in one attempt (it used
/// to retry until the hub was quiet, and gave up after 8 attempts behind a steady writer).
#[test]
fn a_round_overtaken_while_it_checks_the_hub_is_done_with_the_snapshot_it_settled_on() {
    let w = world(2);
    write(&w.devices[0], "a.md", "alpha", 1);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    write(&w.devices[1], "b.md", "from b", 2);
    for (n, publishes) in [(1, true), (2, false)] {
        if !publishes {
            // Something to download, so that the round checks the hub's tree at all.
            write(&w.devices[0], "c.md", "for b to fetch", 5);
            sync_ok(&w, 0);
        }
        let racing = FaultyHub::new(&w.hub);
        *racing.before_tree.borrow_mut() = Some(Box::new(|| {
            write(&w.devices[0], "a.md", &format!("alpha {n}"), 2 + n);
            sync(&w.devices[0], &w.hub, &SyncOptions::default()).unwrap();
        }));
        let before = w.hub.head().unwrap();
        let r = sync(&w.devices[1], &racing, &SyncOptions::default()).unwrap();
        assert_eq!(r.stats.attempts, 1, "{r:?}");
        assert!(r.head.is_some() && r.head != w.hub.head().unwrap(), "{r:?}");
        if publishes {
            assert_ne!(r.head, before, "b.md was published: {r:?}");
        } else {
            assert_eq!(r.head, before, "nothing to publish: {r:?}");
            assert_eq!(
                read(&w.devices[1], "c.md").as_deref(),
                Some("for b to fetch")
            );
        }
        // The folder is the snapshot the round reported, and the next round catches up.
        assert!(read(&w.devices[1], "a.md").unwrap() != format!("alpha {n}"));
        sync_ok(&w, 1);
        assert_eq!(read(&w.devices[1], "a.md"), Some(format!("alpha {n}")));
    }
    assert!(verify(&w.devices[1], &w.hub, true).unwrap().equal);
}

#[test]
fn losing_the_head_race_reconciles_and_retries_without_losing_either_update() {
    let w = world(2);
    write(&w.devices[0], "shared.md", "v1", 1);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    write(&w.devices[0], "from0.md", "zero", 2);
    write(&w.devices[1], "from1.md", "one", 3);
    write(&w.devices[1], "shared.md", "v2 by dev1", 4);
    let racing = FaultyHub::new(&w.hub);
    *racing.before_cas.borrow_mut() = Some(Box::new(|| {
        sync(&w.devices[1], &w.hub, &SyncOptions::default()).unwrap();
    }));
    let r = sync(&w.devices[0], &racing, &SyncOptions::default()).unwrap();
    assert_eq!(r.stats.attempts, 2, "{r:?}");
    assert_eq!(r.outcome, Outcome::Merged);
    sync_ok(&w, 1);
    for v in &w.devices {
        assert_eq!(read(v, "from0.md").as_deref(), Some("zero"));
        assert_eq!(read(v, "from1.md").as_deref(), Some("one"));
        assert_eq!(read(v, "shared.md").as_deref(), Some("v2 by dev1"));
    }
    assert_eq!(files(w.devices[0].root()), files(w.devices[1].root()));
}

#[test]
fn an_emptied_hub_gets_the_vault_again_and_deletes_nothing_here() {
    let w = world(1);
    write(&w.devices[0], "note.md", "keep me", 1);
    sync_ok(&w, 0);
    fs::remove_dir_all(&w.hub_path).unwrap();
    let hub = FolderHub::open(&w.hub_path).unwrap();
    let r = sync(&w.devices[0], &hub, &SyncOptions::default()).unwrap();
    assert_eq!(r.outcome, Outcome::Pushed, "{r:?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("hub is empty")),
        "{r:?}"
    );
    assert_eq!(read(&w.devices[0], "note.md").as_deref(), Some("keep me"));
    assert!(verify(&w.devices[0], &hub, true).unwrap().equal);
}

#[test]
fn a_hub_rolled_back_to_an_old_snapshot_is_refused_until_republished() {
    let w = world(2);
    write(&w.devices[0], "old.md", "old", 1);
    sync_ok(&w, 0);
    let old_head = w.hub.head().unwrap().unwrap();
    write(&w.devices[0], "new.md", "new", 2);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    let synced = w.hub.head().unwrap().unwrap();
    // The hub is restored from a backup taken before new.md was published.
    crate::refs::RefFile::new(w.hub_path.join("refs/head"))
        .write(old_head)
        .unwrap();
    let before = files(w.devices[0].root());
    let err = sync(&w.devices[0], &w.hub, &SyncOptions::default()).unwrap_err();
    assert!(
        matches!(err, SyncError::HubWentBack { behind: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--republish"), "{err}");
    assert_eq!(files(w.devices[0].root()), before);
    assert_eq!(w.devices[0].base().unwrap(), Some(synced));
    assert_eq!(w.hub.head().unwrap(), Some(old_head));
    // The way forward: this device's copy published on the old head, base's snapshot (still
    // on this hub) joined as a second parent.
    let republish = SyncOptions {
        republish: true,
        ..SyncOptions::default()
    };
    let r = sync(&w.devices[0], &w.hub, &republish).unwrap();
    assert!(r.snapshot_created, "{r:?}");
    assert_eq!(read(&w.devices[0], "new.md").as_deref(), Some("new"));
    // The other device, which synced the lost snapshot too, finds its base in the history
    // again and syncs as usual.
    sync_ok(&w, 1);
    assert_eq!(read(&w.devices[1], "new.md").as_deref(), Some("new"));
    assert_eq!(files(w.devices[0].root()), files(w.devices[1].root()));
}

#[test]
fn an_idle_device_repairs_a_lost_pack_when_asked_to_verify_fully() {
    let w = world(1);
    write(&w.devices[0], "a.md", "alpha", 1);
    sync_ok(&w, 0);
    for pack in fs::read_dir(w.hub_path.join("packs")).unwrap() {
        fs::remove_file(pack.unwrap().path()).unwrap();
    }
    let hub = FolderHub::open(&w.hub_path).unwrap();
    // The quiet path trusts equal snapshot ids and asks the hub nothing more.
    let quiet = sync(&w.devices[0], &hub, &SyncOptions::default()).unwrap();
    assert_eq!(quiet.outcome, Outcome::UpToDate);
    assert!(quiet.repairs.is_empty());
    let opts = SyncOptions {
        full_verify: true,
        ..SyncOptions::default()
    };
    let full = sync(&w.devices[0], &hub, &opts).unwrap();
    assert_eq!(
        full.repairs,
        ["the hub had lost 3 object(s); they were uploaded again"],
        "snapshot, tree and blob: {full:?}"
    );
    assert_eq!(full.stats.objects_sent, 3);
    assert!(hub.tree_hash().unwrap().is_some());
}

#[test]
fn a_download_that_fails_half_way_deletes_nothing() {
    let w = world(2);
    write(&w.devices[0], "keep.md", "keep", 1);
    write(&w.devices[0], "d/n.md", "note", 2);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    // dev0 replaces both notes by one new note; dev1's download of it arrives damaged.
    fs::remove_file(w.devices[0].root().join("keep.md")).unwrap();
    fs::remove_file(w.devices[0].root().join("d/n.md")).unwrap();
    write(&w.devices[0], "new.md", "new", 3);
    sync_ok(&w, 0);
    let before = files(w.devices[1].root());
    let lying = FaultyHub {
        damage: Damage::One(ObjectId::of(b"new")),
        ..FaultyHub::new(&w.hub)
    };
    let err = sync(&w.devices[1], &lying, &SyncOptions::default()).unwrap_err();
    assert!(matches!(err, SyncError::BadRemote { .. }), "{err}");
    assert_eq!(files(w.devices[1].root()), before, "nothing may change");
    // With honest bytes the same round goes through.
    sync_ok(&w, 1);
    assert_eq!(files(w.devices[0].root()), files(w.devices[1].root()));
}

#[test]
fn temp_files_left_by_an_interrupted_write_are_removed() {
    let w = world(1);
    write(&w.devices[0], "a.md", "alpha", 1);
    write(
        &w.devices[0],
        "d/.vault-tmp-0123456789abcdef",
        "half a note",
        1,
    );
    write(&w.devices[0], "d/.vault-tmp-mine.md", "a user's file", 1);
    let r = sync_ok(&w, 0);
    assert_eq!(
        r.repairs,
        ["removed 1 temp file(s) left by an interrupted write"]
    );
    assert!(
        !w.devices[0]
            .root()
            .join("d/.vault-tmp-0123456789abcdef")
            .exists()
    );
    assert!(w.devices[0].root().join("d/.vault-tmp-mine.md").exists());
}

/// `syncd hub set` to a hub with a history of its own: the history is copied there and a
/// graft recorded; the next round merges without deleting anything and publishes a snapshot
/// whose parents are both heads (even when the merged tree is the hub's), then forgets the
/// graft, so the log of the new hub holds both histories.
#[test]
fn a_graft_joins_two_histories_in_the_next_published_snapshot() {
    let w = world(2);
    // dev0 on hub "hub"; dev1 on another hub with other notes.
    let other_path = w._dir.path().join("other");
    let other = FolderHub::open(&other_path).unwrap();
    write(&w.devices[0], "mine.md", "mine", 1);
    write(&w.devices[0], "same.md", "same", 2);
    sync_ok(&w, 0);
    let old_head = w.hub.head().unwrap().unwrap();
    write(&w.devices[1], "theirs.md", "theirs", 3);
    write(&w.devices[1], "same.md", "same", 2);
    sync(&w.devices[1], &other, &SyncOptions::default()).unwrap();
    let their_head = other.head().unwrap().unwrap();

    crate::hub_copy::copy_history(
        &w.hub,
        &other,
        old_head,
        &crate::hub_copy::LocalCopies::none(),
        &crate::progress::NoProgress,
    )
    .unwrap();
    let dev0 = &w.devices[0];
    dev0.set_graft(old_head).unwrap();
    let report = sync(dev0, &other, &SyncOptions::default()).unwrap();
    assert!(report.snapshot_created);
    // No file is sent again (all came with the history, or were on the hub): only the
    // merged root tree and the snapshot.
    assert_eq!(report.stats.objects_sent, 2, "{:?}", report.stats);
    let head = other.head().unwrap().unwrap();
    let snap = Snapshot::decode(&other.get(&[head]).unwrap()[0].bytes).unwrap();
    assert_eq!(snap.parents, vec![their_head, old_head]);
    assert_eq!(dev0.graft().unwrap(), None);
    assert_eq!(read(dev0, "theirs.md").as_deref(), Some("theirs"));
    assert_eq!(read(dev0, "mine.md").as_deref(), Some("mine"));
    // The next round is an ordinary one.
    let again = sync(dev0, &other, &SyncOptions::default()).unwrap();
    assert!(!again.snapshot_created);

    // Trees equal already: the joining snapshot is still published.
    let w2 = world(1);
    let twin_path = w2._dir.path().join("twin");
    let twin = FolderHub::open(&twin_path).unwrap();
    write(&w2.devices[0], "a.md", "a", 1);
    sync_ok(&w2, 0);
    let first = w2.hub.head().unwrap().unwrap();
    let v = LocalVault::init(&w2._dir.path().join("twin-dev"), "x", "t").unwrap();
    write(&v, "a.md", "a", 1);
    sync(&v, &twin, &SyncOptions::default()).unwrap();
    let twin_head = twin.head().unwrap().unwrap();
    crate::hub_copy::copy_history(
        &w2.hub,
        &twin,
        first,
        &crate::hub_copy::LocalCopies::none(),
        &crate::progress::NoProgress,
    )
    .unwrap();
    w2.devices[0].set_graft(first).unwrap();
    let report = sync(&w2.devices[0], &twin, &SyncOptions::default()).unwrap();
    assert!(report.snapshot_created);
    let head = twin.head().unwrap().unwrap();
    let snap = Snapshot::decode(&twin.get(&[head]).unwrap()[0].bytes).unwrap();
    assert_eq!(snap.parents, vec![twin_head, first]);
    assert_eq!(w2.devices[0].graft().unwrap(), None);
}
