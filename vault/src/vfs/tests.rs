use super::*;

#[test]
fn times_convert_both_ways_around_the_epoch() {
    for ns in [0, 1, 1_700_000_000_123_456_789, -1, -1_500_000_000] {
        assert_eq!(to_ns(from_ns(ns)), ns);
    }
}

#[test]
fn the_operating_system_serves_paths_no_machine_is_attached_at() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.md");
    write(&a, b"one").unwrap();
    assert_eq!(read(&a).unwrap(), b"one");
    create_dir_all(dir.path().join("x/y")).unwrap();
    std::os::unix::fs::symlink("a.md", dir.path().join("link")).unwrap();
    let mut kinds: Vec<(String, Kind)> = read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.kind())
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("a.md".to_string(), Kind::File),
            ("link".to_string(), Kind::Symlink),
            ("x".to_string(), Kind::Dir)
        ]
    );
    assert!(
        symlink_metadata(dir.path().join("link"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(metadata(dir.path().join("link")).unwrap().len, 3);
    let err = hard_link(&a, dir.path().join("link")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    set_modified_ns(&a, 1_000_000_000_000_000_007).unwrap();
    assert_eq!(metadata(&a).unwrap().mtime_ns, 1_000_000_000_000_000_007);
    assert!(!is_simulated(&a));
    assert_eq!(
        now_at(&a)
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 1000,
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 1000
    );
}

#[test]
fn a_file_reads_and_writes_through_its_cursor_and_at_offsets() {
    use std::io::{Read, Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    f.write_all(b"hello world").unwrap();
    f.write_all_at(b"W", 6).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello World");
    let mut two = [0u8; 2];
    f.read_exact_at(&mut two, 9).unwrap();
    assert_eq!(&two, b"ld");
    assert!(f.try_lock_exclusive().unwrap());
    let other = File::open(&path).unwrap();
    assert!(!other.try_lock_exclusive().unwrap());
    assert!(
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .is_err()
    );
}
