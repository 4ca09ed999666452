//! Compaction and gc on real hub folders: the unit cases, and a property test of random
//! histories (rounds, head moves, killed uploads, time passing) with compaction and gc
//! interleaved, checked against a reader that listed the packs before.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::*;
use crate::content::{ChunkList, Level, Piece};
use crate::folder_hub::FolderHub;
use crate::hub::{CasOutcome, Hub};
use crate::object::{EntryKind, FileMeta, Kind, Object, Snapshot, Tree};

const HOUR: Duration = Duration::from_secs(3600);

fn blob(bytes: &[u8]) -> Object {
    Object {
        kind: Kind::Blob,
        bytes: bytes.to_vec(),
    }
}

/// A snapshot over `files` (name -> bytes; a name starting with `big` is stored as a chunk
/// list of two-byte chunks, with a group level when it starts with `bigg`), child of
/// `parent`; returns every object and the snapshot's id.
fn build(
    files: &BTreeMap<String, Vec<u8>>,
    parent: Option<ObjectId>,
    n: i64,
) -> (Vec<Object>, ObjectId) {
    let mut objects = Vec::new();
    let mut tree = Tree::default();
    let mut sub = Tree::default();
    for (name, bytes) in files {
        let id = if name.starts_with("big") {
            let chunks: Vec<Object> = bytes.chunks(2).map(blob).collect();
            let pieces: Vec<Piece> = chunks
                .iter()
                .map(|c| Piece {
                    id: c.id(),
                    len: c.bytes.len() as u64,
                })
                .collect();
            objects.extend(chunks);
            let list = if name.starts_with("bigg") {
                let group = ChunkList {
                    level: Level::Chunks,
                    pieces,
                };
                let g = group.to_object();
                let top = ChunkList {
                    level: Level::Groups,
                    pieces: vec![Piece {
                        id: g.id(),
                        len: group.len(),
                    }],
                };
                objects.push(g);
                top.to_object()
            } else {
                ChunkList {
                    level: Level::Chunks,
                    pieces,
                }
                .to_object()
            };
            let id = list.id();
            objects.push(list);
            id
        } else {
            let b = blob(bytes);
            let id = b.id();
            objects.push(b);
            id
        };
        let meta = FileMeta {
            id,
            size: bytes.len() as u64,
            mtime_ns: 1,
            executable: false,
        };
        sub.entries.insert(name.clone(), EntryKind::File(meta));
    }
    let sub_obj = sub.to_object();
    tree.entries
        .insert("notes".into(), EntryKind::Dir(sub_obj.id()));
    objects.push(sub_obj);
    let root = tree.to_object();
    let snap = Snapshot {
        tree: root.id(),
        parents: parent.into_iter().collect(),
        device_id: "d".into(),
        device_name: "dev".into(),
        time_ns: n,
    };
    objects.push(root);
    let s = snap.to_object();
    let id = s.id();
    objects.push(s);
    (objects, id)
}

/// Set every pack's and temp file's mtime `by` into the past (time passing).
fn age(hub: &Path, by: Duration) {
    for dir in [hub.join("packs"), hub.to_path_buf()] {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_file() {
                let t = m.modified().unwrap() - by;
                filetime::set_file_mtime(e.path(), filetime::FileTime::from_system_time(t))
                    .unwrap();
            }
        }
    }
}

fn pack_count(hub: &Path) -> usize {
    pack_io::pack_names(&hub.join("packs")).unwrap().len()
}

fn listing(hub: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        hub.join("packs"),
        hub.join("packs").join(RETIRED_DIR),
        hub.to_path_buf(),
    ] {
        if let Ok(rd) = fs::read_dir(&dir) {
            out.extend(rd.flatten().map(|e| e.path().display().to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn many_rounds_compact_to_few_packs_and_keep_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
    let mut files = BTreeMap::new();
    let mut head = None;
    let mut all = Vec::new();
    for n in 0..40 {
        files.insert(format!("n{}", n % 7), format!("v{n}").into_bytes());
        let (objects, id) = build(&files, head, n);
        hub.put(&objects).unwrap();
        assert_eq!(hub.cas_head(head, id).unwrap(), CasOutcome::Updated);
        head = Some(id);
        all.extend(objects.iter().map(Object::id));
    }
    assert_eq!(pack_count(hub.path()), 40);
    let r = compact_if_worthwhile(hub.path())
        .unwrap()
        .expect("40 packs is worth it");
    assert!(r.packs_after < 10, "{r:?}");
    assert_eq!(r.objects_dropped, 0);
    assert!(!worth_compacting(hub.path()));
    assert_eq!(hub.get(&all).unwrap().len(), all.len());
    hub.verify_tree().unwrap();
    // Nothing old enough to delete yet: retired packs stay for the grace period.
    let retired = fs::read_dir(hub.path().join("packs/retired"))
        .unwrap()
        .count();
    assert_eq!(retired, r.packs_retired);
    let r = run(hub.path(), &Options::gc(Duration::ZERO, false), &Quiet).unwrap();
    assert_eq!(r.retired_deleted, retired);
    assert_eq!(r.objects_dropped, 0, "every snapshot is kept by default");
    assert_eq!(hub.get(&all).unwrap().len(), all.len());
}

#[test]
fn gc_drops_killed_uploads_and_temps_after_the_grace_only() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
    let files: BTreeMap<String, Vec<u8>> = [
        ("a".to_string(), b"aa".to_vec()),
        ("bigg".into(), b"0123456789".to_vec()),
    ]
    .into();
    let (objects, head) = build(&files, None, 1);
    hub.put(&objects).unwrap();
    hub.cas_head(None, head).unwrap();
    // A killed upload: its pack is written, head never moved; and a half-written temp pack.
    let killed: BTreeMap<String, Vec<u8>> = [("k".to_string(), vec![7u8; 5000])].into();
    let (junk, _) = build(&killed, Some(head), 2);
    hub.put(&junk).unwrap();
    fs::write(
        hub.path().join("packs/.vault-tmp-0123456789abcdef"),
        [0u8; 999],
    )
    .unwrap();
    let before = listing(hub.path());

    let young = run(hub.path(), &Options::gc(HOUR, false), &Quiet).unwrap();
    assert_eq!(
        (young.objects_dropped, young.temps_removed),
        (0, 0),
        "{young:?}"
    );
    assert_eq!(
        listing(hub.path()),
        before,
        "nothing to do inside the grace"
    );

    age(hub.path(), 2 * HOUR);
    let dry = run(hub.path(), &Options::gc(HOUR, true), &Quiet).unwrap();
    assert!(
        dry.objects_dropped >= 2 && dry.temps_removed == 1,
        "{dry:?}"
    );
    assert!(dry.bytes_dropped >= 5000);
    assert_eq!(listing(hub.path()), before, "a dry run changes nothing");

    let done = run(hub.path(), &Options::gc(HOUR, false), &Quiet).unwrap();
    assert_eq!(done.objects_dropped, dry.objects_dropped);
    assert_eq!(done.temps_removed, 1);
    assert_eq!(done.packs_after, dry.packs_after);
    let gone: Vec<ObjectId> = junk.iter().map(Object::id).collect();
    assert!(
        !hub.missing(&gone).unwrap().is_empty(),
        "the killed upload's objects are gone"
    );
    let kept: Vec<ObjectId> = objects.iter().map(Object::id).collect();
    assert_eq!(hub.get(&kept).unwrap().len(), kept.len());
    hub.verify_tree().unwrap();
}

#[test]
fn a_reader_that_listed_the_packs_before_a_compaction_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root).unwrap();
    let mut head = None;
    let mut files = BTreeMap::new();
    let mut ids = Vec::new();
    for n in 0..20 {
        files.insert(format!("big{n}"), vec![n as u8; 9]);
        let (objects, id) = build(&files, head, n);
        hub.put(&objects).unwrap();
        hub.cas_head(head, id).unwrap();
        head = Some(id);
        ids.extend(objects.iter().map(Object::id));
    }
    let reader = FolderHub::open(&root).unwrap();
    reader.tree_hash().unwrap(); // lists the packs now
    run(&root, &Options::gc(HOUR, false), &Quiet).unwrap();
    assert!(pack_count(&root) < 20);
    assert_eq!(reader.get(&ids).unwrap().len(), ids.len());
    reader.verify_tree().unwrap();
    // A new head is checked and accepted through the stale handle too.
    files.insert("x".into(), b"x".to_vec());
    let (objects, id) = build(&files, head, 99);
    reader.put(&objects).unwrap();
    assert_eq!(reader.cas_head(head, id).unwrap(), CasOutcome::Updated);
}

/// A new hub at `root` with an empty `packs/retired/`, which it returns.
fn hub_with_retired_dir(root: &Path) -> std::path::PathBuf {
    FolderHub::open(root).unwrap();
    let retired = root.join("packs").join(RETIRED_DIR);
    fs::create_dir_all(&retired).unwrap();
    retired
}

#[test]
fn retired_packs_are_deleted_once_past_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let retired = hub_with_retired_dir(&root);
    let (hash, now) = (ObjectId::of(b"p").to_hex(), unix_secs(SystemTime::now()));
    fs::write(
        retired.join(pack_io::retired_name(&hash, now - 7200)),
        b"old",
    )
    .unwrap();
    fs::write(retired.join(pack_io::retired_name(&hash, now - 60)), b"new").unwrap();
    let r = run(&root, &Options::gc(HOUR, false), &Quiet).unwrap();
    assert_eq!((r.retired_deleted, r.bytes_freed), (1, 3));
    assert_eq!(fs::read_dir(&retired).unwrap().count(), 1);
}

/// A hub that stopped growing still loses its retired packs once they are past the grace:
/// the check after a publish finds them, without waiting for 16 new packs.
#[test]
fn the_check_after_a_publish_finds_expired_retired_packs_on_a_quiet_hub() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let retired = hub_with_retired_dir(&root);
    let (hash, now) = (ObjectId::of(b"p").to_hex(), unix_secs(SystemTime::now()));
    let young = retired.join(pack_io::retired_name(&hash, now - 60));
    fs::write(&young, b"young").unwrap();
    assert!(!worth_compacting(&root), "within the grace: nothing to do");
    fs::write(
        retired.join(pack_io::retired_name(&hash, now - 7200)),
        b"old",
    )
    .unwrap();
    assert!(worth_compacting(&root));
    let r = compact_if_worthwhile(&root)
        .unwrap()
        .expect("it was worth it");
    assert_eq!(r.retired_deleted, 1);
    assert!(young.exists());
    assert!(!worth_compacting(&root));
}

#[test]
fn not_a_hub_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = run(dir.path(), &Options::gc(HOUR, false), &Quiet).unwrap_err();
    assert!(matches!(e, GcError::NotAHub(_)), "{e}");
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// A round: edit file `n % 5` (big when `big`), publish, move head.
    Round {
        n: u8,
        big: bool,
    },
    /// Objects put, head not moved (a killed upload, or one still to move head: `Finish`).
    Upload {
        n: u8,
    },
    /// Move head to the last upload, if the hub accepts it.
    Finish,
    /// A half-written temp pack.
    Temp,
    /// Time passes (every file in the hub gets older).
    Age,
    Compact,
    Gc {
        dry: bool,
    },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (any::<u8>(), any::<bool>()).prop_map(|(n, big)| Step::Round { n, big }),
        2 => any::<u8>().prop_map(|n| Step::Upload { n }),
        1 => Just(Step::Finish),
        1 => Just(Step::Temp),
        2 => Just(Step::Age),
        2 => Just(Step::Compact),
        2 => any::<bool>().prop_map(|dry| Step::Gc { dry }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Every object reachable from head (every snapshot, by the default policy) survives any
    /// mix of rounds, killed uploads, time passing, compactions and gcs; a reader that listed
    /// the packs at the start reads them all; head always verifies.
    #[test]
    fn random_histories_keep_every_reachable_object(
        steps in proptest::collection::vec(step(), 1..30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("hub");
        let hub = FolderHub::open(&root).unwrap();
        let reader = FolderHub::open(&root).unwrap();
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut head: Option<ObjectId> = None;
        let mut reachable: Vec<ObjectId> = Vec::new();
        let mut pending: Option<(Vec<Object>, ObjectId, Option<ObjectId>)> = None;
        let mut t = 0i64;
        for s in steps {
            t += 1;
            match s {
                Step::Round { n, big } => {
                    let name = format!("{}{}", if big { "bigg" } else { "f" }, n % 5);
                    files.insert(name, vec![n, n / 2, 3, 4, n]);
                    let (objects, id) = build(&files, head, t);
                    hub.put(&objects).unwrap();
                    proptest::prop_assert_eq!(hub.cas_head(head, id).unwrap(), CasOutcome::Updated);
                    head = Some(id);
                    reachable.extend(objects.iter().map(Object::id));
                }
                Step::Upload { n } => {
                    let mut f = files.clone();
                    f.insert(format!("big-up{n}"), vec![n; 6]);
                    let (objects, id) = build(&f, head, t);
                    hub.put(&objects).unwrap();
                    pending = Some((objects, id, head));
                }
                Step::Finish => {
                    if let Some((objects, id, base)) = pending.take() {
                        // Accepted only if the gc left it whole; refused otherwise, head kept.
                        match hub.cas_head(base, id) {
                            Ok(CasOutcome::Updated) => {
                                proptest::prop_assert_eq!(base, head);
                                head = Some(id);
                                reachable.extend(objects.iter().map(Object::id));
                            }
                            Ok(CasOutcome::Conflict { .. }) => proptest::prop_assert!(base != head),
                            Err(crate::hub::HubError::Refused { .. }) => {}
                            Err(e) => proptest::prop_assert!(false, "{e}"),
                        }
                    }
                }
                Step::Temp => {
                    let name = format!(".vault-tmp-{}", crate::fsutil::random_hex(8));
                    fs::write(root.join("packs").join(name), b"half a pack").unwrap();
                }
                Step::Age => age(&root, HOUR + Duration::from_secs(1)),
                Step::Compact => {
                    let opts = Options { merge_above: 2, ..Options::auto() };
                    run(&root, &opts, &Quiet).unwrap();
                }
                Step::Gc { dry } => {
                    let before = listing(&root);
                    let r = run(&root, &Options::gc(HOUR, dry), &Quiet).unwrap();
                    if dry {
                        proptest::prop_assert_eq!(listing(&root), before);
                    }
                    proptest::prop_assert_eq!(r.missing, 0);
                }
            }
            if head.is_some() {
                hub.verify_tree().unwrap();
            }
            let got = reader.get(&reachable).unwrap();
            proptest::prop_assert_eq!(got.len(), reachable.len());
        }
    }
}
