//! The checker on real hub folders and vault folders: each kind of problem is found and named,
//! what the software cleans or thins by itself is not an error, and hubs and devices after
//! real syncs are clean.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::folder_hub::FolderHub;
use crate::hub::Hub;
use crate::local::LocalVault;
use crate::object::{EntryKind, FileMeta, Kind as ObjKind, Object, Snapshot, Tree};
use crate::refs::RefFile;
use crate::retention::{Policy, Thinning};
use crate::store::pack_io;
use crate::sync::{SyncOptions, sync};

const DAY_NS: i64 = 86_400 * 1_000_000_000;

fn blob(bytes: &[u8]) -> Object {
    Object {
        kind: ObjKind::Blob,
        bytes: bytes.to_vec(),
    }
}

/// Put a snapshot of `files` (name -> bytes, all under `notes/`) on `hub`, leaving out the
/// blobs of the names in `lose`; returns the snapshot's id and each file's blob id.
fn put_snapshot(
    hub: &FolderHub,
    files: &[(&str, &[u8])],
    parent: Option<ObjectId>,
    time_ns: i64,
    lose: &[&str],
) -> (ObjectId, BTreeMap<String, ObjectId>) {
    let mut objects = Vec::new();
    let mut sub = Tree::default();
    let mut ids = BTreeMap::new();
    for (name, bytes) in files {
        let b = blob(bytes);
        let meta = FileMeta {
            id: b.id(),
            size: bytes.len() as u64,
            mtime_ns: 1,
            executable: false,
        };
        ids.insert(name.to_string(), b.id());
        if !lose.contains(name) {
            objects.push(b);
        }
        sub.entries.insert(name.to_string(), EntryKind::File(meta));
    }
    let sub = sub.to_object();
    let mut root = Tree::default();
    root.entries
        .insert("notes".into(), EntryKind::Dir(sub.id()));
    let root = root.to_object();
    let snap = Snapshot {
        tree: root.id(),
        parents: parent.into_iter().collect(),
        device_id: "d".into(),
        device_name: "dev".into(),
        time_ns,
    }
    .to_object();
    let id = snap.id();
    objects.extend([sub, root, snap]);
    hub.put(&objects).unwrap();
    (id, ids)
}

fn set_head(root: &Path, id: ObjectId) {
    RefFile::new(root.join("refs").join("head"))
        .write(id)
        .unwrap();
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn check_hub(root: &Path) -> Report {
    hub::check(root, &Options::default(), &Quiet).unwrap()
}

fn kinds(r: &Report) -> Vec<(Severity, Kind)> {
    r.problems.iter().map(|p| (p.severity, p.kind)).collect()
}

fn set_age(path: &Path, by: Duration) {
    let t = SystemTime::now() - by;
    filetime::set_file_mtime(path, filetime::FileTime::from_system_time(t)).unwrap();
}

const TEMP: &str = ".vault-tmp-0123456789abcdef";

#[test]
fn a_healthy_hub_and_devices_after_real_syncs_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let devices: Vec<LocalVault> = (0..2)
        .map(|i| {
            LocalVault::init(
                &dir.path().join(format!("dev{i}")),
                &hub_path.display().to_string(),
                &format!("dev{i}"),
            )
            .unwrap()
        })
        .collect();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    fs::write(devices[0].root().join("big.bin"), &big).unwrap();
    fs::create_dir_all(devices[0].root().join("d")).unwrap();
    fs::write(devices[0].root().join("d/a.md"), "alpha").unwrap();
    for round in 0..3 {
        for d in &devices {
            fs::write(d.root().join(format!("{}-{round}.md", d.name())), "x").unwrap();
            sync(d, &hub, &SyncOptions::default()).unwrap();
        }
    }
    let r = check_hub(&hub_path);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert!(r.clean());
    assert!(r.snapshots >= 6 && r.snapshots_kept == r.snapshots, "{r:?}");
    assert!(r.objects > 10, "chunks of the large file counted: {r:?}");
    for d in &devices {
        let r = device::check(d, Some(&hub), &Options::default(), &Quiet).unwrap();
        assert!(r.problems.is_empty(), "{:#?}", r.problems);
    }
}

#[test]
fn a_missing_blob_is_found_and_its_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    let (s, ids) = put_snapshot(&hub, &[("a.md", b"a"), ("b.md", b"b")], None, 1, &["b.md"]);
    set_head(&root, s);
    let r = check_hub(&root);
    assert_eq!(kinds(&r), [(Severity::Damage, Kind::MissingObject)]);
    assert_eq!(r.problems[0].id, Some(ids["b.md"]));
    assert_eq!(r.problems[0].files, ["notes/b.md"]);
    assert!(
        r.problems[0].line().contains("`notes/b.md`"),
        "{}",
        r.problems[0].line()
    );
    assert!(r.problems[0].fix.contains("syncd sync --full-verify"));
    assert!(!r.clean());
}

/// The offset of `id`'s bytes in the pack of `root/packs` that holds it.
fn locate(root: &Path, id: ObjectId) -> (std::path::PathBuf, u64) {
    for name in pack_io::pack_names(&root.join("packs")).unwrap() {
        let path = root.join("packs").join(&name);
        if let Some(e) = pack_io::read_entries(&path)
            .unwrap()
            .into_iter()
            .find(|e| e.id == id)
        {
            return (path, e.offset);
        }
    }
    panic!("{id} in no pack");
}

fn flip_byte(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
}

#[test]
fn a_flipped_byte_in_a_pack_is_found_and_its_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    let (s, ids) = put_snapshot(&hub, &[("a.md", b"alpha"), ("b.md", b"beta")], None, 1, &[]);
    set_head(&root, s);
    assert!(check_hub(&root).problems.is_empty());
    let (pack, offset) = locate(&root, ids["a.md"]);
    flip_byte(&pack, offset + 1);
    let r = check_hub(&root);
    assert_eq!(kinds(&r), [(Severity::Damage, Kind::DamagedObject)]);
    assert_eq!(r.problems[0].path, pack);
    assert_eq!(r.problems[0].files, ["notes/a.md"]);
}

#[test]
fn a_damaged_pack_header_is_named_and_the_other_packs_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    let (s1, _) = put_snapshot(&hub, &[("a.md", b"alpha")], None, 1, &[]);
    let (s2, _) = put_snapshot(&hub, &[("b.md", b"beta")], Some(s1), 2, &[]);
    set_head(&root, s2);
    // The pack holding b.md's blob loses its end (cut short while copying).
    let (pack, _) = locate(&root, blob(b"beta").id());
    let len = fs::metadata(&pack).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&pack)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let r = check_hub(&root);
    let k = kinds(&r);
    assert!(k.contains(&(Severity::Damage, Kind::DamagedPack)), "{k:?}");
    assert!(r.problems.iter().any(|p| p.path == pack));
    // Its objects (the head snapshot with them) are missing; the first pack was read.
    assert!(k.contains(&(Severity::Damage, Kind::DanglingHead)), "{k:?}");
    assert!(r.objects >= 4, "{r:?}");
}

#[test]
fn a_dangling_parent_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    let lost = ObjectId::of(b"a snapshot nobody has");
    let (s, _) = put_snapshot(&hub, &[("a.md", b"a")], Some(lost), 1, &[]);
    set_head(&root, s);
    let r = check_hub(&root);
    assert_eq!(kinds(&r), [(Severity::Damage, Kind::DanglingParent)]);
    assert_eq!(r.problems[0].id, Some(lost));
    assert!(r.problems[0].what.contains(&s.short()));
}

#[test]
fn a_head_pointing_at_nothing_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    FolderHub::open(&root).unwrap();
    let nothing = ObjectId::of(b"nothing");
    set_head(&root, nothing);
    let r = check_hub(&root);
    assert_eq!(kinds(&r), [(Severity::Damage, Kind::DanglingHead)]);
    assert_eq!(r.problems[0].path, root.join("refs/head"));
    fs::write(root.join("refs/head"), "garbage\n").unwrap();
    assert_eq!(kinds(&check_hub(&root)), [(Severity::Damage, Kind::BadRef)]);
}

#[test]
fn a_snapshot_thinned_by_retention_is_not_an_error_but_a_kept_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    // Ten days ago, twice on one day: retention keeps that day's last only.
    let day = (now_ns() - 10 * DAY_NS) / DAY_NS * DAY_NS;
    let (s1, _) = put_snapshot(&hub, &[("old.md", b"first")], None, day + 3600, &["old.md"]);
    let (s2, _) = put_snapshot(&hub, &[("old.md", b"second")], Some(s1), day + 7200, &[]);
    let (s3, _) = put_snapshot(&hub, &[("new.md", b"now")], Some(s2), now_ns(), &[]);
    set_head(&root, s3);
    let thin = Policy::Thin(Thinning {
        recent_days: 1,
        daily_days: 365,
        monthly_months: None,
    });
    crate::retention::save(&root, &thin).unwrap();
    let r = check_hub(&root);
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!((r.snapshots, r.snapshots_kept), (3, 2));
    // Keeping everything, the thinned snapshot's lost blob is damage.
    crate::retention::save(&root, &Policy::All).unwrap();
    assert_eq!(
        kinds(&check_hub(&root)),
        [(Severity::Damage, Kind::MissingObject)]
    );
}

#[test]
fn hub_temp_files_old_are_cleanup_young_are_not_reported_and_repair_removes_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    let (s, _) = put_snapshot(&hub, &[("a.md", b"a")], None, 1, &[]);
    set_head(&root, s);
    let young = root.join("packs/.vault-tmp-00000000000000aa");
    let old = root.join("packs").join(TEMP);
    let theirs = root.join("packs/.vault-tmp-not-ours");
    for p in [&young, &old, &theirs] {
        fs::write(p, "partial upload").unwrap();
    }
    set_age(&old, Duration::from_secs(2 * 3600));
    set_age(&theirs, Duration::from_secs(2 * 3600));
    let r = check_hub(&root);
    assert_eq!(kinds(&r), [(Severity::Cleanup, Kind::TempFile)]);
    assert_eq!(r.problems[0].path, old);
    assert!(r.clean(), "the hub's gc removes it: not a failure");
    let repaired = hub::check(
        &root,
        &Options {
            repair: true,
            ..Options::default()
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(repaired.repaired, std::slice::from_ref(&old));
    assert!(!old.exists() && young.exists() && theirs.exists());
}

#[test]
fn a_lock_whose_writer_is_gone_is_a_warning_and_repair_breaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    FolderHub::open(&root).unwrap();
    let lock = root.join("refs/head.lock");
    // A pid that cannot exist on this machine (above pid_max), this host.
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    fs::write(
        &lock,
        format!("tok\npid 2147483646\nhost {}\n", host.trim()),
    )
    .unwrap();
    let r = check_hub(&root);
    assert_eq!(kinds(&r), [(Severity::Warning, Kind::StaleLock)]);
    assert!(r.clean());
    let r = hub::check(
        &root,
        &Options {
            repair: true,
            ..Options::default()
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(r.repaired, std::slice::from_ref(&lock));
    assert!(!lock.exists());
    // A live writer's lock (this process) is never touched.
    fs::write(
        &lock,
        format!("tok\npid {}\nhost {}\n", std::process::id(), host.trim()),
    )
    .unwrap();
    assert!(check_hub(&root).problems.is_empty());
}

fn synced_device(dir: &Path) -> (FolderHub, LocalVault) {
    let hub_path = dir.join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let v = LocalVault::init(&dir.join("dev"), &hub_path.display().to_string(), "dev").unwrap();
    fs::write(v.root().join("a.md"), "alpha").unwrap();
    sync(&v, &hub, &SyncOptions::default()).unwrap();
    (hub, v)
}

#[test]
fn device_temp_files_old_and_young_and_a_damaged_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, v) = synced_device(dir.path());
    let state = v.state_dir();
    let in_folder = v.root().join(TEMP);
    let in_objects = state.join("objects").join(TEMP);
    let young = state.join("objects/.vault-tmp-00000000000000aa");
    for p in [&in_folder, &in_objects, &young] {
        fs::write(p, "half").unwrap();
    }
    set_age(&in_folder, Duration::from_secs(7200));
    set_age(&in_objects, Duration::from_secs(7200));
    let mut index = fs::read(v.index_path()).unwrap();
    let n = index.len();
    index[n / 2] ^= 1;
    fs::write(v.index_path(), index).unwrap();

    let r = device::check(&v, Some(&hub), &Options::default(), &Quiet).unwrap();
    let mut k = kinds(&r);
    k.sort_by_key(|(s, _)| *s);
    assert_eq!(
        k,
        [
            (Severity::Cleanup, Kind::TempFile),
            (Severity::Warning, Kind::DamagedCache),
            (Severity::Leftover, Kind::TempFile),
        ]
    );
    let leftover = r.problems.iter().find(|p| p.severity == Severity::Leftover);
    assert_eq!(leftover.unwrap().path, in_objects);
    assert!(!r.clean(), "a temp file nothing removes fails fsck");
    let cache = r.problems.iter().find(|p| p.kind == Kind::DamagedCache);
    assert!(cache.unwrap().fix.contains("only a cache"));

    let r = device::check(
        &v,
        None,
        &Options {
            repair: true,
            ..Options::default()
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(r.repaired.len(), 2, "{:?}", r.repaired);
    assert!(!in_folder.exists() && !in_objects.exists() && young.exists());
    assert!(r.clean(), "{:#?}", r.problems);
}

#[test]
fn device_bad_base_and_damaged_local_pack() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, v) = synced_device(dir.path());
    let state = v.state_dir();
    let base = v.base().unwrap().unwrap();
    // A base neither the device nor the hub holds.
    let stranger = ObjectId::of(b"elsewhere");
    RefFile::new(state.join("base")).write(stranger).unwrap();
    let r = device::check(&v, Some(&hub), &Options::default(), &Quiet).unwrap();
    assert_eq!(kinds(&r), [(Severity::Warning, Kind::UnknownBase)]);
    fs::write(state.join("base"), "not an id\n").unwrap();
    let r = device::check(&v, Some(&hub), &Options::default(), &Quiet).unwrap();
    assert_eq!(kinds(&r), [(Severity::Damage, Kind::BadRef)]);
    RefFile::new(state.join("base")).write(base).unwrap();
    // A flipped byte in the device's own copy of its snapshot.
    let pack = pack_io::pack_names(&state.join("objects")).unwrap();
    let path = state.join("objects").join(&pack[0]);
    let entry = pack_io::read_entries(&path).unwrap()[0];
    flip_byte(&path, entry.offset);
    let r = device::check(&v, Some(&hub), &Options::default(), &Quiet).unwrap();
    assert!(
        kinds(&r).contains(&(Severity::Damage, Kind::DamagedObject)),
        "{:#?}",
        r.problems
    );
}
