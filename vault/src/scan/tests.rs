//! Scans of real temporary folders.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::*;

fn vp(p: &str) -> VaultPath {
    VaultPath::new(p).unwrap()
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn defaults() -> IgnoreRules {
    IgnoreRules::new(None).unwrap()
}

fn run(root: &Path, rules: &IgnoreRules, cache: &StatCache, use_cache: bool) -> Scan {
    scan(root, rules, cache, ScanOptions { use_cache }).expect("scan succeeds")
}

/// Make every file's last change older than the racy margin of a scan that starts now.
fn let_files_settle() {
    std::thread::sleep(Duration::from_millis(150));
}

/// A vault of a few files, already settled; returns the total bytes.
fn small_vault(root: &Path) -> u64 {
    let files: [(&str, &[u8]); 4] = [
        ("a.md", b"alpha"),
        ("notes/b.md", b"bravo bravo"),
        ("notes/deep/c.md", b"charlie"),
        ("img/d.png", &[0u8; 70_000]),
    ];
    for (rel, bytes) in files {
        write(root, rel, bytes);
    }
    let_files_settle();
    files.iter().map(|(_, b)| b.len() as u64).sum()
}

#[test]
fn records_files_with_ids_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let total = small_vault(dir.path());
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    let paths: Vec<&str> = s.files().keys().map(|p| p.as_str()).collect();
    assert_eq!(
        paths,
        ["a.md", "img/d.png", "notes/b.md", "notes/deep/c.md"]
    );
    assert_eq!(
        s.files()[&vp("notes/b.md")].id,
        ObjectId::of(b"bravo bravo")
    );
    assert_eq!(s.files()[&vp("notes/b.md")].size, 11);
    assert_eq!(s.stats().len(), 4);
    let expected = ScanCounters {
        files_scanned: 4,
        files_hashed: 4,
        bytes_hashed: total,
        cache_hits: 0,
    };
    assert_eq!(s.counters, expected);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn unchanged_vault_hashes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    small_vault(dir.path());
    let rules = defaults();
    let first = run(dir.path(), &rules, &StatCache::new(), true);
    assert_eq!(first.counters.files_hashed, 4);

    // In memory, as the agent's loop keeps it...
    let mut cache = StatCache::new();
    cache.update_from_scan(&first);
    let second = run(dir.path(), &rules, &cache, true);
    assert_eq!(second.counters.files_scanned, 4);
    assert_eq!(
        (second.counters.files_hashed, second.counters.bytes_hashed),
        (0, 0)
    );
    assert_eq!(second.counters.cache_hits, 4);
    assert_eq!(second.files(), first.files());

    // ...and through the file, as after a restart.
    let index = dir.path().join("index-copy");
    cache.save(&index).unwrap();
    let (loaded, warning) = StatCache::load(&index);
    assert_eq!(warning, None);
    fs::remove_file(&index).unwrap();
    let third = run(dir.path(), &rules, &loaded, true);
    assert_eq!(
        (third.counters.files_hashed, third.counters.bytes_hashed),
        (0, 0)
    );
    assert_eq!(third.files(), first.files());
}

#[test]
fn changed_file_is_rehashed_even_with_same_size_and_mtime() {
    let dir = tempfile::tempdir().unwrap();
    small_vault(dir.path());
    let rules = defaults();
    let first = run(dir.path(), &rules, &StatCache::new(), true);
    let mut cache = StatCache::new();
    cache.update_from_scan(&first);

    // Same size, and the old mtime put back: only ctime (and the bytes) tell.
    let p = dir.path().join("a.md");
    let old_mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&p).unwrap());
    fs::write(&p, b"ALPHA").unwrap();
    filetime::set_file_mtime(&p, old_mtime).unwrap();

    let second = run(dir.path(), &rules, &cache, true);
    assert_eq!(second.counters.files_hashed, 1);
    assert_eq!(second.counters.bytes_hashed, 5);
    assert_eq!(second.files()[&vp("a.md")].id, ObjectId::of(b"ALPHA"));
    assert_eq!(
        second.files()[&vp("a.md")].mtime_ns,
        first.files()[&vp("a.md")].mtime_ns
    );
}

#[test]
fn fresh_files_are_not_trusted_from_the_cache() {
    // The cache (its horizon) exists before the file is written, so the file's ctime is at or
    // after the horizon however slow the machine is: the entry is racy by construction.
    let mut cache = StatCache::new();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fresh.md", b"just written");
    // The cache claims the file holds other bytes, with exactly its current stat.
    let stat = lstat_file(&dir.path().join("fresh.md")).unwrap().unwrap();
    let stale = ObjectId::of(b"something else");
    cache.insert(vp("fresh.md"), stat, stale);
    let s = run(dir.path(), &defaults(), &cache, true);
    assert_eq!(s.counters.files_hashed, 1, "a racy entry was trusted");
    assert_eq!(s.files()[&vp("fresh.md")].id, ObjectId::of(b"just written"));
}

#[test]
fn without_cache_everything_is_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    let total = small_vault(dir.path());
    let rules = defaults();
    let first = run(dir.path(), &rules, &StatCache::new(), true);
    let mut cache = StatCache::new();
    cache.update_from_scan(&first);
    let again = run(dir.path(), &rules, &cache, false);
    assert_eq!(
        (again.counters.files_hashed, again.counters.bytes_hashed),
        (4, total)
    );
    assert_eq!(again.files(), first.files());
}

#[test]
fn ignored_folder_is_not_entered() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "keep.md", b"k");
    write(dir.path(), "build/out.md", b"o");
    // Anything in here would warn if the walk went in.
    let bad = dir
        .path()
        .join("build")
        .join(OsStr::from_bytes(b"bad\xffname"));
    fs::write(bad, b"x").unwrap();
    std::os::unix::fs::symlink("/etc", dir.path().join("build/link")).unwrap();
    write(dir.path(), ".vault/index", b"state");
    write(dir.path(), ".VAULT/other-case", b"state");
    write(dir.path(), "notes/.vault-tmp-0011", b"temp");
    write(dir.path(), "notes/.DS_Store", b"junk");
    let rules = IgnoreRules::new(Some("build/\n")).unwrap();
    let s = run(dir.path(), &rules, &StatCache::new(), true);
    let paths: Vec<&str> = s.files().keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, ["keep.md"]);
    assert!(
        s.warnings.is_empty(),
        "walked into an ignored folder: {:?}",
        s.warnings
    );
    assert_eq!(s.counters.files_hashed, 1);
}

#[test]
fn symlinks_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.md", b"outside");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "real.md", b"real");
    std::os::unix::fs::symlink(dir.path().join("real.md"), dir.path().join("file-link.md"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("dir-link")).unwrap();
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    let paths: Vec<&str> = s.files().keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, ["real.md"]);
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("`dir-link`") && s.warnings[0].contains("symbolic link"));
    assert!(s.warnings[1].contains("`file-link.md`"));
    assert_eq!(s.counters.files_hashed, 1);
}

#[test]
fn names_that_cannot_sync_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.md", b"ok");
    fs::write(dir.path().join(OsStr::from_bytes(b"bad\xffname.md")), b"x").unwrap();
    fs::create_dir(dir.path().join(OsStr::from_bytes(b"bad\xffdir"))).unwrap();
    write(dir.path(), "bad\u{fffd}dir-sibling.md", b"fine");
    fs::write(
        dir.path().join(OsStr::from_bytes(b"bad\xffdir/inner.md")),
        b"y",
    )
    .unwrap();
    write(dir.path(), "back\\slash.md", b"z");
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    let paths: Vec<&str> = s.files().keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, ["bad\u{fffd}dir-sibling.md", "ok.md"]);
    assert_eq!(s.warnings.len(), 3, "{:?}", s.warnings);
    let all = s.warnings.join("\n");
    assert!(
        all.contains("bad\u{fffd}name.md") && all.contains("not valid UTF-8"),
        "{all}"
    );
    assert!(all.contains("backslash"), "{all}");
    assert!(
        !all.contains("inner.md"),
        "entered a folder whose name cannot sync: {all}"
    );
    assert!(s.unreadable.is_empty());
}

#[test]
fn pipes_are_skipped_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.md", b"a");
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    assert_eq!(s.files().len(), 1);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert!(hash_file(&fifo).is_err(), "hash_file must not read a pipe");
}

#[test]
fn executable_bit_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "run.sh", b"#!/bin/sh\n");
    write(dir.path(), "plain.md", b"x");
    let p = dir.path().join("run.sh");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    assert!(s.files()[&vp("run.sh")].executable);
    assert!(s.stats()[&vp("run.sh")].executable);
    assert!(!s.files()[&vp("plain.md")].executable);
}

#[test]
fn vanished_file_is_simply_absent() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gone.md", b"here, then not");
    let gone = dir.path().join("gone.md");
    let stat = FileStat::from_metadata(&fs::symlink_metadata(&gone).unwrap());
    // Listed (with its stat), then deleted before it could be hashed.
    fs::remove_file(&gone).unwrap();
    let c = walk::Candidate {
        path: vp("gone.md"),
        stat: Ok(Some(stat)),
        cached: None,
    };
    let out = examine(&c, dir.path());
    assert!(matches!(out.result, Found::Gone));
    assert_eq!((out.reads, out.bytes), (0, 0));
}

#[test]
fn stat_error_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let c = walk::Candidate {
        path: vp("a.md"),
        stat: Err(io::Error::from_raw_os_error(libc::EIO)),
        cached: None,
    };
    let out = examine(&c, dir.path());
    match out.result {
        Found::Unreadable(w) => assert!(w.contains("`a.md`"), "{w}"),
        _ => panic!("expected a warning"),
    }
}

#[test]
fn unreadable_file_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "locked.md", b"secret");
    let p = dir.path().join("locked.md");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    if File::open(&p).is_ok() {
        return; // running as root: permissions cannot be tested here
    }
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    assert!(s.files().is_empty());
    assert_eq!(s.unreadable, [vp("locked.md")]);
    assert!(s.warnings[0].contains("`locked.md`") && s.warnings[0].contains("permission"));
}

#[test]
fn missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nope");
    let err = scan(
        &root,
        &defaults(),
        &StatCache::new(),
        ScanOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    write(dir.path(), "file", b"x");
    let err = scan(
        &dir.path().join("file"),
        &defaults(),
        &StatCache::new(),
        ScanOptions::default(),
    );
    assert!(matches!(err, Err(ScanError::NotAFolder { .. })));
}

#[test]
fn hash_file_matches_blob_ids_and_refuses_links() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    write(dir.path(), "big.bin", &big);
    write(dir.path(), "empty", b"");
    assert_eq!(
        hash_file(&dir.path().join("big.bin")).unwrap(),
        (ObjectId::of(&big), big.len() as u64)
    );
    assert_eq!(
        hash_file(&dir.path().join("empty")).unwrap(),
        (ObjectId::of(b""), 0)
    );
    std::os::unix::fs::symlink(dir.path().join("empty"), dir.path().join("link")).unwrap();
    assert!(hash_file(&dir.path().join("link")).is_err());
    assert!(hash_file(dir.path()).is_err());
}

#[test]
fn a_changed_syncignore_applies_to_cached_paths_too() {
    let dir = tempfile::tempdir().unwrap();
    small_vault(dir.path());
    let before = IgnoreRules::new(None).unwrap();
    let mut cache = StatCache::new();
    cache.update_from_scan(&run(dir.path(), &before, &StatCache::new(), true));
    assert_eq!(cache.rules(), Some(before.fingerprint()));
    // Same rules: the cached paths are trusted as kept, and all are still found.
    let same = run(dir.path(), &before, &cache, true);
    assert_eq!(same.len(), 4);
    // New rules: every cached path is matched again.
    let after = IgnoreRules::new(Some("notes/\n*.png\n")).unwrap();
    assert_ne!(after.fingerprint(), before.fingerprint());
    let s = run(dir.path(), &after, &cache, true);
    let paths: Vec<&str> = s.files().keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, ["a.md"]);
}

#[test]
fn updating_the_cache_in_place_equals_rebuilding_it() {
    let dir = tempfile::tempdir().unwrap();
    small_vault(dir.path());
    let rules = defaults();
    let mut cache = StatCache::new();
    cache.update_from_scan(&run(dir.path(), &rules, &StatCache::new(), true));
    // An edit, a deletion and a new file.
    write(dir.path(), "a.md", b"alpha, edited");
    fs::remove_file(dir.path().join("notes/b.md")).unwrap();
    write(dir.path(), "notes/new.md", b"new");
    let_files_settle();
    let second = run(dir.path(), &rules, &cache, true);
    assert_eq!(second.cache_generation, Some(cache.generation()));

    let index = dir.path().join("index-copy");
    cache.save(&index).unwrap();
    let (mut rebuilt, _) = StatCache::load(&index);
    fs::remove_file(&index).unwrap();
    assert_ne!(
        rebuilt.generation(),
        cache.generation(),
        "a loaded cache is another one"
    );

    cache.update_from_scan(&second);
    rebuilt.update_from_scan(&second);
    assert_eq!(cache, rebuilt);
    let mut paths: Vec<&str> = cache.iter().map(|(p, _, _)| p).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["a.md", "img/d.png", "notes/deep/c.md", "notes/new.md"]
    );
    assert_eq!(
        cache.get(&vp("a.md")).map(|(_, id)| id),
        Some(ObjectId::of(b"alpha, edited"))
    );
}
