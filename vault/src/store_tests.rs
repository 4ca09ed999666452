//! Tests of [`super::PackStore`] (kept apart so `store.rs` stays readable).

use super::*;

fn blob(bytes: &[u8]) -> Object {
    Object {
        kind: Kind::Blob,
        bytes: bytes.to_vec(),
    }
}

fn only_pack(dir: &Path) -> PathBuf {
    let packs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect();
    assert_eq!(packs.len(), 1, "expected exactly one pack in {dir:?}");
    packs[0].clone()
}

#[test]
fn write_read_round_trip_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    assert!(store.is_empty());
    let objs = vec![
        blob(b"one"),
        blob(b""),
        Object {
            kind: Kind::Tree,
            bytes: b"vault-tree 1\n".to_vec(),
        },
    ];
    let pack = store
        .write_pack(&objs)
        .unwrap()
        .expect("new objects give a pack");
    assert_eq!(store.len(), 3);
    assert_eq!(store.pack_count(), 1);
    // The pack is named by the hash of its header (the entries before the 44-byte trailer).
    let path = only_pack(dir.path());
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{pack}.pack")
    );
    let bytes = fs::read(&path).unwrap();
    let header = &bytes[bytes.len() - TRAILER_LEN - 3 * ENTRY_LEN..bytes.len() - TRAILER_LEN];
    assert_eq!(ObjectId::of(header), pack);
    for o in &objs {
        assert_eq!(store.read(o.id()).unwrap(), *o);
    }
    let reopened = PackStore::open(dir.path()).unwrap();
    assert_eq!(reopened.len(), 3);
    let mut ids: Vec<_> = reopened.ids().collect();
    ids.sort();
    let mut want: Vec<_> = objs.iter().map(Object::id).collect();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(
        reopened.read_many(&[objs[2].id(), objs[0].id()]).unwrap(),
        vec![objs[2].clone(), objs[0].clone()]
    );
    assert_eq!(reopened.kind_of(objs[2].id()), Some(Kind::Tree));
}

#[test]
fn skips_present_objects_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    assert_eq!(store.write_pack(&[]).unwrap(), None);
    store
        .write_pack(&[blob(b"a"), blob(b"a"), blob(b"b")])
        .unwrap()
        .unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(
        read_header(&only_pack(dir.path())).unwrap().len(),
        2,
        "duplicate written twice"
    );
    assert_eq!(
        store.write_pack(&[blob(b"b"), blob(b"a")]).unwrap(),
        None,
        "nothing new, no pack"
    );
    assert_eq!(store.pack_count(), 1);
    store
        .write_pack(&[blob(b"a"), blob(b"c")])
        .unwrap()
        .unwrap();
    assert_eq!(store.pack_count(), 2);
    assert_eq!(store.len(), 3);
}

#[test]
fn read_of_absent_object_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackStore::open(dir.path()).unwrap();
    let r = store.read(ObjectId::of(b"nope"));
    assert!(matches!(r, Err(StoreError::NotFound { .. })), "{r:?}");
}

#[test]
fn damaged_object_bytes_give_corrupt_never_wrong_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    store.write_pack(&[blob(b"hello world")]).unwrap();
    let path = only_pack(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[8] ^= 0x20; // first byte of the object
    fs::write(&path, &bytes).unwrap();
    let store = PackStore::open(dir.path()).expect("the header is intact");
    let err = store.read(ObjectId::of(b"hello world")).unwrap_err();
    let StoreError::Corrupt { pack, id, .. } = &err else {
        panic!("expected Corrupt, got {err:?}")
    };
    assert_eq!(pack, &path);
    assert_eq!(*id, ObjectId::of(b"hello world"));
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("damaged"),
        "{msg}"
    );
}

/// A way to break a pack's bytes.
type Damage = Box<dyn Fn(&mut Vec<u8>)>;

/// Each way of breaking a pack's frame must be an error naming the file, never a panic.
#[test]
fn bad_packs_are_reported_with_their_name() {
    let cases: Vec<(&str, Damage)> = vec![
        (
            "truncated by one byte",
            Box::new(|b| {
                b.pop();
            }),
        ),
        ("cut to 10 bytes", Box::new(|b| b.truncate(10))),
        ("empty file", Box::new(|b| b.clear())),
        ("wrong leading magic", Box::new(|b| b[0] = b'X')),
        (
            "header byte flipped",
            Box::new(|b| {
                let i = b.len() - TRAILER_LEN - 1;
                b[i] ^= 1;
            }),
        ),
        (
            "count too large",
            Box::new(|b| {
                let i = b.len() - TRAILER_LEN;
                b[i..i + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            }),
        ),
        (
            "count one too small",
            Box::new(|b| {
                let i = b.len() - TRAILER_LEN;
                b[i] -= 1;
            }),
        ),
    ];
    for (why, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PackStore::open(dir.path()).unwrap();
        store.write_pack(&[blob(b"x"), blob(b"y")]).unwrap();
        let path = only_pack(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        damage(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        match PackStore::open(dir.path()) {
            Err(e @ StoreError::BadPack { .. }) => {
                assert!(
                    e.to_string().contains(&path.display().to_string()),
                    "{why}: {e}"
                )
            }
            other => panic!("{why}: expected BadPack, got {other:?}"),
        }
    }
}

#[test]
fn header_with_unknown_kind_or_encoding_or_bad_offsets_is_refused() {
    let id = ObjectId::of(b"x");
    let entry = |kind: u8, enc: u8, off: u64, len: u64| {
        let mut e = vec![kind, enc];
        e.extend_from_slice(id.as_bytes());
        e.extend_from_slice(&off.to_le_bytes());
        e.extend_from_slice(&len.to_le_bytes());
        e
    };
    assert!(parse_header(&entry(1, 0, 8, 1), 9).is_ok());
    for (why, raw) in [
        ("unknown kind", entry(9, 0, 8, 1)),
        ("compressed encoding", entry(1, 1, 8, 1)),
        ("offset inside magic", entry(1, 0, 0, 1)),
        ("runs into header", entry(1, 0, 8, 2)),
        ("offset overflow", entry(1, 0, u64::MAX, 2)),
    ] {
        assert!(parse_header(&raw, 9).is_err(), "accepted {why}");
    }
}

#[test]
fn temp_files_and_foreign_files_are_ignored_but_misnamed_packs_are_not() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(format!("{TEMP_PREFIX}0123abcd")),
        b"half a pack",
    )
    .unwrap();
    fs::write(dir.path().join(".DS_Store"), b"junk").unwrap();
    let store = PackStore::open(dir.path()).unwrap();
    assert_eq!(store.pack_count(), 0);
    fs::write(dir.path().join("copy of something.pack"), b"junk").unwrap();
    let err = PackStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("copy of something.pack"), "{err}");
}

#[test]
fn refresh_sees_packs_of_other_writers_and_forgets_removed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = PackStore::open(dir.path()).unwrap();
    let mut b = PackStore::open(dir.path()).unwrap();
    let pack_b = b
        .write_pack(&[blob(b"from b"), blob(b"shared")])
        .unwrap()
        .unwrap();
    a.write_pack(&[blob(b"shared")]).unwrap();
    assert!(!a.contains(ObjectId::of(b"from b")));
    a.refresh().unwrap();
    assert!(a.contains(ObjectId::of(b"from b")));
    assert_eq!(a.pack_count(), 2);
    fs::remove_file(dir.path().join(format!("{pack_b}.pack"))).unwrap();
    // Before refresh the index still points into the vanished pack.
    assert!(matches!(
        a.read(ObjectId::of(b"from b")),
        Err(StoreError::PackGone { .. })
    ));
    a.refresh().unwrap();
    assert!(!a.contains(ObjectId::of(b"from b")));
    // `shared` also lives in a's own pack and must stay readable.
    assert_eq!(a.read(ObjectId::of(b"shared")).unwrap(), blob(b"shared"));
    assert_eq!(a.pack_count(), 1);
}

#[test]
fn open_creates_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/packs");
    PackStore::open(&nested).unwrap();
    assert!(nested.is_dir());
}

#[test]
fn large_object_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    let big: Vec<u8> = (0..50u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let obj = blob(&big);
    let id = obj.id();
    store.write_pack(&[obj, blob(b"small")]).unwrap().unwrap();
    drop(big);
    let store = PackStore::open(dir.path()).unwrap();
    let back = store.read(id).unwrap();
    assert_eq!(back.bytes.len(), 50 << 20);
    assert_eq!(back.id(), id);
}

/// The pack format is frozen: this is the exact byte layout, built by hand, and the golden file
/// in `fixtures/format/` must still load. A change here means a new format version.
#[test]
fn pack_format_is_frozen() {
    let objs = [
        blob(b"hello"),
        Object {
            kind: Kind::Tree,
            bytes: b"vault-tree 1\n".to_vec(),
        },
    ];
    let mut want = b"VPACK001hellovault-tree 1\n".to_vec();
    let mut header = Vec::new();
    for (o, off) in objs.iter().zip([8u64, 13]) {
        header.push(o.kind as u8);
        header.push(0);
        header.extend_from_slice(o.id().as_bytes());
        header.extend_from_slice(&off.to_le_bytes());
        header.extend_from_slice(&(o.bytes.len() as u64).to_le_bytes());
    }
    want.extend_from_slice(&header);
    want.extend_from_slice(&2u32.to_le_bytes());
    want.extend_from_slice(blake3::hash(&header).as_bytes());
    want.extend_from_slice(b"VPACKEND");

    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    let id = store.write_pack(&objs).unwrap().unwrap();
    assert_eq!(
        fs::read(only_pack(dir.path())).unwrap(),
        want,
        "pack bytes changed"
    );
    // Named by its header's hash (packs written before were named by the whole content's:
    // readers take any `<hex>.pack`, so the golden file below loads either way).
    assert_eq!(id, ObjectId::of(&header));

    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/format/pack-v1.pack");
    if std::env::var_os("VAULT_UPDATE_GOLDEN").is_some() {
        fs::write(&golden_path, &want).unwrap();
    }
    let golden = &fs::read(&golden_path).unwrap()[..];
    assert_eq!(
        golden.to_vec(),
        want,
        "golden pack differs from the writer's output"
    );
    let gdir = tempfile::tempdir().unwrap();
    fs::write(
        gdir.path().join(format!("{}.pack", ObjectId::of(golden))),
        golden,
    )
    .unwrap();
    let g = PackStore::open(gdir.path()).unwrap();
    assert_eq!(g.read(objs[0].id()).unwrap(), objs[0]);
    assert_eq!(g.read(objs[1].id()).unwrap(), objs[1]);
}

#[test]
fn many_small_packs_are_merged_and_every_object_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    let mut all = Vec::new();
    // 40 rounds, each a pack of a few objects, one of them shared with the round before.
    for round in 0..40u32 {
        let objs = vec![
            blob(format!("round {round}").as_bytes()),
            blob(format!("tree of round {round}").as_bytes()),
            blob(format!("round {}", round.saturating_sub(1)).as_bytes()),
        ];
        store.write_pack(&objs).unwrap();
        all.extend(objs);
        let merged = store.repack_geometric().unwrap();
        assert!(
            store.pack_count() <= REPACK_ABOVE,
            "round {round}: {} packs after merging {merged}",
            store.pack_count()
        );
    }
    let files = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, store.pack_count(), "merged packs' files are gone");
    // A fresh store sees every object, each read checked against its id.
    let reopened = PackStore::open(dir.path()).unwrap();
    assert_eq!(reopened.pack_count(), store.pack_count());
    for o in &all {
        assert_eq!(&reopened.read(o.id()).unwrap(), o);
    }
    assert_eq!(reopened.len(), 80, "40 rounds, 40 trees");
}

/// A store of [`REPACK_ABOVE`] + 1 packs of one object each, `object 0` to `object N`.
fn store_with_one_pack_too_many() -> (tempfile::TempDir, PackStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    for i in 0..=REPACK_ABOVE {
        store
            .write_pack(&[blob(format!("object {i}").as_bytes())])
            .unwrap();
    }
    (dir, store)
}

#[test]
fn a_reader_that_listed_a_merged_pack_finds_its_objects_after_refresh() {
    let (dir, mut writer) = store_with_one_pack_too_many();
    let mut reader = PackStore::open(dir.path()).unwrap();
    assert!(writer.repack_geometric().unwrap() >= 2);
    let id = ObjectId::of(b"object 0");
    assert!(matches!(reader.read(id), Err(StoreError::PackGone { .. })));
    reader.refresh().unwrap();
    assert_eq!(reader.read(id).unwrap(), blob(b"object 0"));
}

#[test]
fn a_damaged_pack_stops_the_merge_and_nothing_is_deleted() {
    let (dir, mut store) = store_with_one_pack_too_many();
    let victim = store
        .pack_of(ObjectId::of(b"object 3"))
        .unwrap()
        .to_path_buf();
    let mut bytes = fs::read(&victim).unwrap();
    bytes[PACK_MAGIC.len()] ^= 1;
    fs::write(&victim, &bytes).unwrap();
    let before = fs::read_dir(dir.path()).unwrap().count();
    assert!(matches!(
        store.repack_geometric(),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), before);
}

#[test]
fn a_good_copy_written_over_a_damaged_one_is_read_and_checked_from_any_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    let good = blob(b"the note as it was written");
    let id = good.id();
    store
        .write_pack(&[good.clone(), blob(b"a neighbour")])
        .unwrap();
    let damaged_pack = only_pack(dir.path());
    let mut bytes = fs::read(&damaged_pack).unwrap();
    bytes[12] ^= 0x01;
    fs::write(&damaged_pack, &bytes).unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    assert!(matches!(store.check(id), Err(StoreError::Corrupt { .. })));

    // Written again only when asked to replace it: the store "has" it.
    assert_eq!(store.write_pack(std::slice::from_ref(&good)).unwrap(), None);
    let replace = HashSet::from([id]);
    store
        .write_pack_over(std::slice::from_ref(&good), &[id], &replace)
        .unwrap()
        .expect("a new pack");
    assert_eq!(store.read(id).unwrap().bytes, good.bytes);
    store.check(id).unwrap();

    // Another store lists both packs, whichever its index picks: the good copy is found.
    let other = PackStore::open(dir.path()).unwrap();
    assert_eq!(other.pack_count(), 2);
    assert_eq!(other.read(id).unwrap().bytes, good.bytes);
    other.check(id).unwrap();
    assert_eq!(
        other.read(ObjectId::of(b"a neighbour")).unwrap().bytes,
        b"a neighbour",
        "the damaged pack still serves its other objects"
    );
}

#[test]
fn check_hashes_a_large_object_in_slices_and_finds_one_flipped_bit() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let id = ObjectId::of(&big);
    store.write_pack(&[blob(&big)]).unwrap();
    store.check(id).unwrap();
    let path = only_pack(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[8 + 2_500_000] ^= 0x80;
    fs::write(&path, &bytes).unwrap();
    let store = PackStore::open(dir.path()).unwrap();
    assert!(matches!(store.check(id), Err(StoreError::Corrupt { .. })));
}
