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

/// [`scan_scoped`] reporting to no one.
fn run_scoped(root: &Path, rules: &IgnoreRules, cache: &StatCache, scope: &ScanScope) -> Scan {
    scan_scoped(root, rules, cache, scope, &NoProgress, &NoSink).expect("scan succeeds")
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
        path: walk::CandidatePath::Own(vp("gone.md")),
        stat: Ok(Some(stat)),
        cached: None,
    };
    let out = examine(&c, dir.path(), &NoSink);
    assert!(matches!(out.result, Found::Gone));
    assert_eq!((out.reads, out.bytes), (0, 0));
}

#[test]
fn stat_error_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let c = walk::Candidate {
        path: walk::CandidatePath::Own(vp("a.md")),
        stat: Err(io::Error::from_raw_os_error(libc::EIO)),
        cached: None,
    };
    let out = examine(&c, dir.path(), &NoSink);
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
fn hash_file_matches_content_ids_and_refuses_links() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let small = &big[..(crate::content::CHUNKED_FROM - 1) as usize];
    write(dir.path(), "big.bin", &big);
    write(dir.path(), "small.bin", small);
    write(dir.path(), "empty", b"");
    assert_eq!(
        hash_file(&dir.path().join("big.bin")).unwrap(),
        (
            crate::content::plan_reader(&big[..], 0).unwrap().id,
            big.len() as u64
        )
    );
    assert_ne!(
        hash_file(&dir.path().join("big.bin")).unwrap().0,
        ObjectId::of(&big)
    );
    assert_eq!(
        hash_file(&dir.path().join("small.bin")).unwrap(),
        (ObjectId::of(small), small.len() as u64)
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

mod scoped {
    use super::*;

    /// A settled vault scanned once, its cache made from that scan (as a round leaves it).
    fn cached_vault(root: &Path) -> (IgnoreRules, StatCache) {
        small_vault(root);
        write(root, "projects/2026/plan.md", b"plan");
        write(root, "projects/2025/old.md", b"old");
        write(root, ".syncignore", b"build/\n");
        let_files_settle();
        let rules = IgnoreRules::load(root).unwrap();
        let mut cache = StatCache::new();
        cache.update_from_scan(&run(root, &rules, &cache, true));
        let_files_settle();
        (rules, cache)
    }

    fn scope_of(root: &Path, changed: &[&str]) -> ScanScope {
        let abs: Vec<PathBuf> = changed.iter().map(|p| root.join(p)).collect();
        ScanScope::from_paths(root, abs.iter().map(PathBuf::as_path)).unwrap()
    }

    #[test]
    fn finds_what_a_full_scan_finds_when_told_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (rules, cache) = cached_vault(root);
        // Every kind of change a watcher reports: an edit, a new file, a deletion, a folder
        // renamed (both names), a new folder with files, a file in an ignored folder.
        write(root, "notes/b.md", b"bravo edited");
        write(root, "notes/new.md", b"new");
        fs::remove_file(root.join("a.md")).unwrap();
        fs::rename(root.join("projects/2026"), root.join("projects/current")).unwrap();
        write(root, "fresh/inner/x.md", b"x");
        write(root, "build/out.md", b"ignored");
        let scope = scope_of(
            root,
            &[
                "notes/b.md",
                "notes/new.md",
                "a.md",
                "projects/2026",
                "projects/current",
                "fresh",
                "build/out.md",
            ],
        );
        let scoped = run_scoped(root, &rules, &cache, &scope);
        let full = run(root, &rules, &cache, true);
        assert_eq!(scoped.files(), full.files());
        assert!(scoped.files().contains_key(&vp("projects/current/plan.md")));
        assert!(!scoped.files().contains_key(&vp("a.md")));
        assert!(!scoped.files().contains_key(&vp("build/out.md")));
        // Only the changed files were read.
        assert_eq!(scoped.counters.files_hashed, 4, "{:?}", scoped.counters);
    }

    #[test]
    fn trusts_the_cache_outside_the_scope() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (rules, cache) = cached_vault(root);
        // A change nobody reported (a watcher that missed it): the scoped scan does not
        // look, which is why the agent still scans everything now and then.
        write(
            root,
            "notes/deep/c.md",
            b"changed behind the watcher's back",
        );
        let scoped = run_scoped(root, &rules, &cache, &ScanScope::new());
        assert_eq!(scoped.files(), &cache.flat());
        assert_eq!(scoped.counters.files_hashed, 0);
        let full = run(root, &rules, &cache, true);
        assert_ne!(full.files(), &cache.flat());
    }

    #[test]
    fn still_hashes_files_the_cache_cannot_vouch_for_yet() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (rules, _) = cached_vault(root);
        // A cache made right after the files were written: every entry is racy.
        let mut cache = StatCache::new();
        write(root, "a.md", b"alpha, just now");
        cache.update_from_scan(&run(root, &rules, &cache, true));
        write(root, "a.md", b"alpha, again");
        let scoped = run_scoped(root, &rules, &cache, &ScanScope::new());
        let full = run(root, &rules, &StatCache::new(), false);
        assert_eq!(scoped.files(), full.files());
    }

    #[test]
    fn a_listed_folder_swapped_for_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (rules, cache) = cached_vault(root);
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "b.md", b"not part of the vault");
        fs::rename(root.join("notes/deep"), root.join("moved-away")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("notes/deep")).unwrap();
        let scope = scope_of(root, &["notes/deep", "moved-away", "notes/deep/c.md"]);
        let scoped = run_scoped(root, &rules, &cache, &scope);
        let full = run(root, &rules, &cache, true);
        assert_eq!(scoped.files(), full.files());
        assert!(
            !scoped
                .files()
                .keys()
                .any(|p| p.as_str().starts_with("notes/deep/"))
        );
        assert!(scoped.files().contains_key(&vp("moved-away/c.md")));
    }

    /// One change a person makes, and the paths a watcher reports for it.
    #[derive(Debug, Clone)]
    enum Op {
        Write(usize, usize, u8),
        Remove(usize, usize),
        RenameFolder(usize, usize),
        RemoveFolder(usize),
    }

    const FOLDERS: [&str; 4] = ["a", "b", "a/deep", "c"];

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..4usize, 0..3usize, any::<u8>()).prop_map(|(f, n, b)| Op::Write(f, n, b)),
            2 => (0..4usize, 0..3usize).prop_map(|(f, n)| Op::Remove(f, n)),
            1 => (0..4usize, 0..4usize).prop_map(|(f, t)| Op::RenameFolder(f, t)),
            1 => (0..4usize).prop_map(Op::RemoveFolder),
        ]
    }

    /// Apply `op` under `root`; the paths (relative) an inotify watch would name.
    fn apply(root: &Path, op: &Op) -> Vec<String> {
        match *op {
            Op::Write(f, n, b) => {
                let rel = format!("{}/n{n}.md", FOLDERS[f]);
                let mut created = Vec::new();
                let mut dir = root.to_path_buf();
                for comp in FOLDERS[f].split('/') {
                    dir.push(comp);
                    if !dir.exists() {
                        created.push(dir.strip_prefix(root).unwrap().display().to_string());
                    }
                }
                write(root, &rel, &[b; 3]);
                created.push(rel);
                created
            }
            Op::Remove(f, n) => {
                let rel = format!("{}/n{n}.md", FOLDERS[f]);
                match fs::remove_file(root.join(&rel)) {
                    Ok(()) => vec![rel],
                    Err(_) => vec![],
                }
            }
            Op::RenameFolder(f, t) => {
                let (from, to) = (FOLDERS[f], format!("moved-{t}"));
                if root.join(from).is_dir() && !root.join(&to).exists() {
                    fs::rename(root.join(from), root.join(&to)).unwrap();
                    vec![from.to_string(), to]
                } else {
                    vec![]
                }
            }
            Op::RemoveFolder(f) => match fs::remove_dir_all(root.join(FOLDERS[f])) {
                Ok(()) => vec![FOLDERS[f].to_string()],
                Err(_) => vec![],
            },
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Told every path a watcher reports, the scoped scan sees exactly what a full scan
        /// sees, whatever the changes.
        #[test]
        fn scoped_equals_full_for_any_changes(
            before in proptest::collection::vec(op(), 0..12),
            after in proptest::collection::vec(op(), 1..12),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            for o in &before {
                apply(root, o);
            }
            // Settled files, so the cache vouches for them and the scope decides.
            let_files_settle();
            let rules = defaults();
            let mut cache = StatCache::new();
            cache.update_from_scan(&run(root, &rules, &cache, true));
            let mut changed = Vec::new();
            for o in &after {
                changed.extend(apply(root, o));
            }
            let scope = scope_of(root, &changed.iter().map(String::as_str).collect::<Vec<_>>());
            let scoped = run_scoped(root, &rules, &cache, &scope);
            let full = run(root, &rules, &StatCache::new(), false);
            proptest::prop_assert_eq!(scoped.files(), full.files());
        }
    }
}

#[test]
fn a_written_file_examined_only_because_it_is_racy_stays_written() {
    // Sync wrote `w.md` with another device's recent modification time: racy, so the
    // verification scan reads it. Found with the very stat and bytes sync recorded, it is
    // still sync's file, whose recent ctime (the rename) must not make later rounds read it.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "w.md", b"from the other device");
    let p = dir.path().join("w.md");
    let soon = std::time::SystemTime::now() + Duration::from_secs(60);
    filetime::set_file_mtime(&p, filetime::FileTime::from_system_time(soon)).unwrap();
    let stat = lstat_file(&p).unwrap().unwrap();
    let mut cache = StatCache::new();
    cache.insert_written(vp("w.md"), stat, ObjectId::of(b"from the other device"));
    let s = run(dir.path(), &defaults(), &cache, true);
    assert_eq!(s.counters.files_hashed, 1, "a racy entry was trusted");
    cache.update_from_scan(&s);
    assert!(
        cache.entry("w.md").unwrap().written(),
        "the written flag was lost"
    );

    // Same stat, other bytes (a save within the same timestamp tick): no longer sync's file.
    cache.insert_written(vp("w.md"), stat, ObjectId::of(b"what sync wrote"));
    let s = run(dir.path(), &defaults(), &cache, true);
    cache.update_from_scan(&s);
    let entry = cache.entry("w.md").unwrap();
    assert_eq!(entry.stat(), &stat);
    assert!(!entry.written(), "changed bytes kept the written flag");
}

#[test]
fn stats_of_gives_the_scanned_stats_of_those_paths_only() {
    let dir = tempfile::tempdir().unwrap();
    small_vault(dir.path());
    let s = run(dir.path(), &defaults(), &StatCache::new(), true);
    let wanted = [vp("notes/b.md"), vp("a.md"), vp("not/there.md")];
    let check = |got: PathMap<FileStat>| {
        assert_eq!(got.len(), 2, "the path the scan did not find has no stat");
        for p in &wanted[..2] {
            assert_eq!(got.get(p), s.stats().get(p));
        }
    };
    // Before the whole map is built, and from it once it is.
    let before = s.stats_of(&wanted);
    assert!(s.stats.get().is_none(), "no map of every file was built");
    check(before);
    assert_eq!(s.stats().len(), 4);
    check(s.stats_of(&wanted));
}

#[test]
fn a_full_scan_lists_files_in_path_order() {
    // Names that sort differently alone and as folders: `a-b.md` < `a/` < `a0.md`, and the
    // folder `b` (`b/`) after the folder `b-c` (`b-c/`), though `b` < `b-c`.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for rel in [
        "a-b.md", "a/x.md", "a/y/z.md", "a0.md", "b/q.md", "b-c/p.md", "b.md", "c", "a/y.md",
        "a/y-1.md", "A.md",
    ] {
        write(root, rel, rel.as_bytes());
    }
    let rules = defaults();
    let check = |scan: &mut Scan| {
        let walked: Vec<String> = scan.entries().map(|(p, _, _)| p.to_string()).collect();
        let mut sorted = walked.clone();
        sorted.sort();
        if scan.is_sorted() {
            assert_eq!(walked, sorted, "a scan that says it is sorted is");
        }
        scan.sort_by_path();
        let now: Vec<String> = scan.entries().map(|(p, _, _)| p.to_string()).collect();
        assert_eq!(now, sorted);
    };
    // Every file hashed: one run, in walk order, sorted.
    let mut first = run(root, &rules, &StatCache::new(), true);
    assert!(first.is_sorted());
    check(&mut first);
    // Every file a cache hit: sorted too.
    let mut cache = StatCache::new();
    let_files_settle();
    cache.update_from_scan(&run(root, &rules, &cache, true));
    let mut hits = run(root, &rules, &cache, true);
    assert_eq!(hits.hits(), hits.len());
    assert!(hits.is_sorted());
    check(&mut hits);
    // One file changed: hits and examined files are two runs, merged by sort_by_path.
    write(root, "a/y-1.md", b"changed, and longer");
    let mut mixed = run(root, &rules, &cache, true);
    assert!(mixed.hits() < mixed.len());
    check(&mut mixed);
}

#[test]
fn a_folder_too_large_for_the_kept_scratch_lists_whole_and_so_do_the_folders_after_it() {
    // 6,000 names of 60 bytes: more than a thread keeps between folders, so its scratch is
    // let go after this folder and made again for the next ones.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("big")).unwrap();
    let mut want: Vec<String> = (0..6000)
        .map(|i| format!("big/{i:06}-{}.md", "n".repeat(50)))
        .collect();
    for rel in &want {
        fs::write(root.join(rel), b"x").unwrap();
    }
    for rel in ["c/one.md", "c/two.md", "d.md"] {
        write(root, rel, rel.as_bytes());
        want.push(rel.to_string());
    }
    want.sort();
    let mut scan = run(root, &defaults(), &StatCache::new(), true);
    scan.sort_by_path();
    let got: Vec<String> = scan.entries().map(|(p, _, _)| p.to_string()).collect();
    assert_eq!(got, want);
}

#[test]
fn a_small_vault_walked_on_one_thread_is_found_as_on_all_cores() {
    // 2,400 files: a cache of all of them walks the sub-folders on all cores, a cache of a few
    // (a small vault, as far as it knows) on the calling thread; both find the same files.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in 0..40 {
        for n in 0..60 {
            write(
                root,
                &format!("f{f:02}/s{}/n{n:02}.md", n % 3),
                format!("{f} {n}").as_bytes(),
            );
        }
    }
    let_files_settle();
    let first = run(root, &defaults(), &StatCache::new(), true);
    assert_eq!(first.len(), 2400);
    let mut whole = StatCache::new();
    whole.update_from_scan(&first);
    let mut few = whole.clone();
    let gone: Vec<VaultPath> = first
        .entries()
        .skip(100)
        .map(|(p, _, _)| p.clone())
        .collect();
    for path in &gone {
        few.remove(path);
    }
    assert_eq!(few.len(), 100);
    let listed = |mut s: Scan| {
        s.sort_by_path();
        s.entries()
            .map(|(p, st, id)| (p.to_string(), st.size, *id))
            .collect::<Vec<_>>()
    };
    let parallel = run(root, &defaults(), &whole, true);
    assert_eq!(parallel.hits(), 2400);
    let serial = run(root, &defaults(), &few, true);
    assert_eq!(serial.hits(), 100);
    let want = listed(first);
    assert_eq!(listed(parallel), want);
    assert_eq!(listed(serial), want);
}
