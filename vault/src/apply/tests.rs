//! Tests of `apply` on real temp folders.

use super::*;
use crate::statcache::{PathMap, now_ns};

use std::fs::{self, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

use crate::filestat::{self, Found};
use crate::fsutil;

/// A blob source backed by a map; records each fetch call's ids. `lie` returns wrong bytes,
/// `fail_after` fails the n-th call.
#[derive(Default)]
pub(super) struct MapSource {
    pub(super) blobs: HashMap<ObjectId, Vec<u8>>,
    pub(super) calls: Vec<Vec<ObjectId>>,
    pub(super) lie: bool,
    /// Lie from the n-th call on (counting from 0).
    pub(super) lie_from: Option<usize>,
    pub(super) fail_after: Option<usize>,
}

impl MapSource {
    pub(super) fn with(contents: &[&[u8]]) -> MapSource {
        MapSource {
            blobs: contents
                .iter()
                .map(|c| (ObjectId::of(c), c.to_vec()))
                .collect(),
            ..MapSource::default()
        }
    }
}

impl BlobSource for MapSource {
    fn fetch(&mut self, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>, FetchError> {
        if self.fail_after == Some(self.calls.len()) {
            return Err("connection reset".into());
        }
        let lie = self.lie || self.lie_from.is_some_and(|n| self.calls.len() >= n);
        self.calls.push(ids.to_vec());
        ids.iter()
            .map(|id| match self.blobs.get(id) {
                Some(_) if lie => Ok(b"forged".to_vec()),
                Some(b) => Ok(b.clone()),
                None => Err(format!("no blob {id}").into()),
            })
            .collect()
    }
}

pub(super) const MTIME: i64 = 1_700_000_000_123_456_789;

pub(super) fn vp(s: &str) -> VaultPath {
    VaultPath::new(s).unwrap()
}

pub(super) fn meta(content: &[u8], mtime_ns: i64, executable: bool) -> FileMeta {
    FileMeta {
        id: ObjectId::of(content),
        size: content.len() as u64,
        mtime_ns,
        executable,
    }
}

/// Create a file on disk and return the meta a scan would have recorded for it.
pub(super) fn put(root: &Path, rel: &str, content: &[u8]) -> FileMeta {
    let full = vp(rel).to_fs_path(root);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(&full, content).unwrap();
    filetime::set_file_mtime(&full, filetime_of(MTIME - 1_000_000_000)).unwrap();
    meta(content, MTIME - 1_000_000_000, false)
}

/// The stats a scan of `root` would have recorded, for the given paths.
pub(super) fn scan(root: &Path, paths: &[&str]) -> PathMap<FileStat> {
    paths
        .iter()
        .filter_map(
            |p| match filestat::probe(&vp(p).to_fs_path(root)).unwrap() {
                Found::File(st) => Some((vp(p), st)),
                _ => None,
            },
        )
        .collect()
}

/// Every file under `dir` (recursively, not following links), as relative strings.
pub(super) fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

pub(super) fn assert_no_temp_files(root: &Path) {
    let temps: Vec<String> = files_under(root)
        .into_iter()
        .filter(|f| f.contains(fsutil::TEMP_PREFIX))
        .collect();
    assert!(temps.is_empty(), "temp files left behind: {temps:?}");
}

pub(super) fn read(root: &Path, rel: &str) -> Vec<u8> {
    fs::read(vp(rel).to_fs_path(root)).unwrap()
}

#[test]
fn writes_a_new_file_with_exact_content_mtime_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let content = b"#!/bin/sh\necho hi\n";
    let m = meta(content, MTIME, true);
    let actions = vec![Action::Write {
        path: vp("bin/deep/run.sh"),
        meta: m,
        expect: None,
    }];
    let mut src = MapSource::with(&[content]);
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut src,
    )
    .unwrap();

    assert_eq!(read(root, "bin/deep/run.sh"), content);
    let md = fs::metadata(root.join("bin/deep/run.sh")).unwrap();
    assert_eq!(FileStat::from_metadata(&md).mtime_ns, MTIME);
    assert_eq!(md.mode() & 0o100, 0o100, "owner executable bit");
    assert_eq!(report.files_written, 1);
    assert_eq!(report.bytes_written, content.len() as u64);
    let done = &report.done[0];
    assert_eq!(done.id, Some(m.id));
    assert_eq!(
        done.stat,
        Some(FileStat::from_metadata(&md)),
        "stat for the cache"
    );
    assert!(report.skipped.is_empty());
    assert_no_temp_files(root);
}

#[test]
fn clears_the_executable_bit_and_writes_empty_files_without_fetching() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let actions = vec![Action::Write {
        path: vp("empty.md"),
        meta: meta(b"", MTIME, false),
        expect: None,
    }];
    let mut src = MapSource::default();
    apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut src,
    )
    .unwrap();
    assert!(src.calls.is_empty(), "an empty file needs no fetch");
    assert_eq!(read(root, "empty.md"), b"");
    let mode = fs::metadata(root.join("empty.md")).unwrap().mode();
    assert_eq!(mode & 0o111, 0);
}

#[test]
fn overwrites_a_file_that_is_unchanged_since_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = put(root, "a.md", b"old");
    fs::set_permissions(root.join("a.md"), Permissions::from_mode(0o600)).unwrap();
    let scanned = scan(root, &["a.md"]);
    let actions = vec![Action::Write {
        path: vp("a.md"),
        meta: meta(b"new", MTIME, false),
        expect: Some(old),
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::with(&[b"new"]),
    )
    .unwrap();
    assert_eq!(read(root, "a.md"), b"new");
    assert_eq!(report.files_written, 1);
    let mode = fs::metadata(root.join("a.md")).unwrap().mode();
    assert_eq!(mode & 0o777, 0o600, "the user's permissions are kept");
    assert_no_temp_files(root);
}

#[test]
fn skips_a_write_when_the_file_changed_after_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let old = put(root, "a.md", b"old");
    let scanned = scan(root, &["a.md"]);
    // The user edits the note after the scan, before apply.
    std::thread::sleep(std::time::Duration::from_millis(10));
    fs::write(root.join("a.md"), b"the user's edit").unwrap();
    let actions = vec![Action::Write {
        path: vp("a.md"),
        meta: meta(b"remote", MTIME, false),
        expect: Some(old),
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::with(&[b"remote"]),
    )
    .unwrap();
    assert_eq!(read(root, "a.md"), b"the user's edit");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].reason, CHANGED);
    assert_eq!(report.skipped[0].kind, SkipKind::Changed);
    assert_eq!(report.files_written, 0);
    assert!(report.done.is_empty());
    assert_no_temp_files(root);
}

#[test]
fn skips_a_new_file_when_one_appeared_at_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "a.md", b"made meanwhile");
    let actions = vec![Action::Write {
        path: vp("a.md"),
        meta: meta(b"remote", MTIME, false),
        expect: None,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut MapSource::with(&[b"remote"]),
    )
    .unwrap();
    assert_eq!(read(root, "a.md"), b"made meanwhile");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].kind, SkipKind::Changed);
    assert_no_temp_files(root);
}

#[test]
fn deletes_an_unchanged_file_and_cleans_empty_folders_but_not_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a/b/c.md", b"bye");
    put(root, "a/keep.md", b"stay");
    let scanned = scan(root, &["a/b/c.md"]);
    let actions = vec![Action::Delete {
        path: vp("a/b/c.md"),
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert!(!root.join("a/b").exists(), "empty folder removed");
    assert!(root.join("a/keep.md").exists());
    assert_eq!(report.files_deleted, 1);
    assert_eq!(report.done[0].stat, None);

    // The last file at the top: the vault root itself stays.
    let m = put(root, "top.md", b"x");
    fs::remove_dir_all(root.join("a")).unwrap();
    let scanned = scan(root, &["top.md"]);
    let del = vec![Action::Delete {
        path: vp("top.md"),
        expect: m,
    }];
    apply_actions(
        root,
        &del,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert!(root.is_dir());
    assert_no_temp_files(root);
}

#[test]
fn delete_refuses_a_file_changed_after_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.md", b"old");
    let scanned = scan(root, &["a.md"]);
    std::thread::sleep(std::time::Duration::from_millis(10));
    fs::write(root.join("a.md"), b"new words").unwrap();
    let actions = vec![Action::Delete {
        path: vp("a.md"),
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert_eq!(read(root, "a.md"), b"new words");
    assert_eq!(report.files_deleted, 0);
    assert_eq!(report.skipped.len(), 1);
    assert_no_temp_files(root);
}

#[test]
fn moves_keep_bytes_and_times_and_clean_the_old_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "old/a.md", b"text");
    let scanned = scan(root, &["old/a.md"]);
    let to = ".revisions/old/a.2023-11-14T22-13-19.123Z.pc.md";
    let actions = vec![Action::Move {
        from: vp("old/a.md"),
        to: vp(to),
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert_eq!(read(root, to), b"text");
    assert!(!root.join("old").exists());
    assert_eq!(report.files_moved, 1);
    assert_eq!(report.done.len(), 2);
    assert_eq!(
        report.done[0],
        Done {
            path: vp("old/a.md"),
            stat: None,
            id: None
        }
    );
    let st = report.done[1].stat.expect("moved file is confirmed");
    assert_eq!(st.mtime_ns, m.mtime_ns);
    assert_no_temp_files(root);
}

#[test]
fn a_move_into_revisions_never_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.md", b"loser");
    let to = ".revisions/a.2023-11-14T22-13-19.123Z.pc.md";
    put(root, to, b"an earlier revision");
    let scanned = scan(root, &["a.md", to]);
    let actions = vec![Action::Move {
        from: vp("a.md"),
        to: vp(to),
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert_eq!(read(root, to), b"an earlier revision");
    assert_eq!(read(root, "a.md"), b"loser");
    assert_eq!(report.files_moved, 0);
    assert_eq!(report.skipped.len(), 1);
    assert_no_temp_files(root);
}

#[test]
fn a_symlinked_folder_pointing_outside_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    symlink(outside.path(), root.join("linked")).unwrap();
    let victim = outside.path().join("victim.md");
    fs::write(&victim, b"outside").unwrap();
    let st = match filestat::probe(&victim).unwrap() {
        Found::File(st) => st,
        other => panic!("{other:?}"),
    };
    let vm = meta(
        b"outside",
        FileStat::from_metadata(&fs::metadata(&victim).unwrap()).mtime_ns,
        false,
    );
    // Even a scan that (wrongly) reported the file is not enough to reach through the link.
    let scanned: PathMap<FileStat> = [(vp("linked/victim.md"), st)].into_iter().collect();
    let actions = vec![
        Action::Write {
            path: vp("linked/new.md"),
            meta: meta(b"evil", MTIME, false),
            expect: None,
        },
        Action::Write {
            path: vp("linked/sub/new.md"),
            meta: meta(b"evil", MTIME, false),
            expect: None,
        },
        Action::Delete {
            path: vp("linked/victim.md"),
            expect: vm,
        },
        Action::Move {
            from: vp("linked/victim.md"),
            to: vp("stolen.md"),
            expect: vm,
        },
    ];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::with(&[b"evil"]),
    )
    .unwrap();
    assert_eq!(files_under(outside.path()), vec!["victim.md".to_string()]);
    assert_eq!(fs::read(&victim).unwrap(), b"outside");
    assert_eq!(report.skipped.len(), 4);
    assert!(
        report.skipped[0].reason.contains("symbolic link"),
        "{}",
        report.skipped[0].reason
    );
    for skipped in &report.skipped[..3] {
        assert_eq!(skipped.kind, SkipKind::LinkInTheWay, "{skipped:?}");
        assert_eq!(skipped.at, vp("linked"));
    }
    assert!(report.done.is_empty());
    assert_no_temp_files(root);
}

#[test]
fn a_file_where_a_folder_is_needed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "notes", b"a file");
    let actions = vec![Action::Write {
        path: vp("notes/a.md"),
        meta: meta(b"x", MTIME, false),
        expect: None,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut MapSource::with(&[b"x"]),
    )
    .unwrap();
    assert!(report.skipped[0].reason.contains("is a file"));
    assert_eq!(report.skipped[0].kind, SkipKind::FileInTheWay);
    assert_eq!(report.skipped[0].at, vp("notes"));
    assert_eq!(read(root, "notes"), b"a file");
}

/// Obstacles that starting over cannot remove are told apart from edits made since the scan.
#[test]
fn a_folder_or_an_unscanned_file_in_the_way_is_an_obstacle_not_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "a.md/inside.md", b"a folder's note");
    let unread = put(root, "b.md", b"never read by the scan");
    let actions = vec![
        Action::Write {
            path: vp("a.md"),
            meta: meta(b"x", MTIME, false),
            expect: None,
        },
        Action::Write {
            path: vp("b.md"),
            meta: meta(b"x", MTIME, false),
            expect: Some(unread),
        },
    ];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut MapSource::with(&[b"x"]),
    )
    .unwrap();
    let kinds: Vec<SkipKind> = report.skipped.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SkipKind::FolderInTheWay, SkipKind::Unreadable]);
    assert!(kinds.iter().all(|k| k.is_permanent()));
    assert_eq!(read(root, "b.md"), b"never read by the scan");
    assert_no_temp_files(root);
}

#[test]
fn bytes_that_do_not_match_the_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let actions = vec![Action::Write {
        path: vp("a.md"),
        meta: meta(b"real", MTIME, false),
        expect: None,
    }];
    let mut src = MapSource::with(&[b"real"]);
    src.lie = true;
    let err = apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut src,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::WrongBytes { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(files_under(root), Vec::<String>::new(), "nothing written");
}

#[test]
fn fetches_in_batches_and_a_source_error_reports_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let contents: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i; 10]).collect();
    let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let actions: Vec<Action> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| Action::Write {
            path: vp(&format!("f{i}.md")),
            meta: meta(c, MTIME, false),
            expect: None,
        })
        .collect();
    let mut src = MapSource::with(&refs);
    let report = apply_batched(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut src,
        20,
    )
    .unwrap();
    let sizes: Vec<usize> = src.calls.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(report.files_written, 5);

    let dir2 = tempfile::tempdir().unwrap();
    let mut failing = MapSource::with(&refs);
    failing.fail_after = Some(1);
    let err = apply_batched(
        dir2.path(),
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut failing,
        20,
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Fetch { .. }));
    assert!(err.to_string().contains("f2.md"), "{err}");
    assert_eq!(err.partial().files_written, 2);
    assert_eq!(files_under(dir2.path()), vec!["f0.md", "f1.md"]);
}

#[test]
fn touch_adopts_time_and_mode_only_if_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.sh", b"echo");
    let scanned = scan(root, &["a.sh"]);
    let target = meta(b"echo", MTIME, true);
    let actions = vec![Action::Touch {
        path: vp("a.sh"),
        meta: target,
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    let st = report.done[0].stat.expect("confirmed");
    assert_eq!((st.mtime_ns, st.executable), (MTIME, true));

    // Now changed since that (stale) scan: refused.
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert_eq!(report.skipped.len(), 1);
}

#[test]
fn a_missing_scan_record_is_treated_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.md", b"x");
    let actions = vec![Action::Delete {
        path: vp("a.md"),
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&PathMap::default(), now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert!(root.join("a.md").exists());
    assert_eq!(report.skipped.len(), 1);
}

#[test]
fn a_file_replaced_in_the_last_instant_is_put_back_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.md", b"old");
    let scanned = scan(root, &["a.md"]);
    // An editor's atomic save (new inode) lands after the re-check, before the removal.
    fsutil::write_atomic(&root.join("a.md"), b"saved by the editor").unwrap();
    let ap = applier::Applier {
        root,
        scanned: Scanned::new(&scanned, now_ns()),
        hook: &|_, _| Ok(()),
        report: ApplyReport::default(),
    };
    let reason = ap
        .remove_if_unchanged(&vp("a.md"), &root.join("a.md"), &m)
        .unwrap();
    assert_eq!(reason.map(|s| s.reason).as_deref(), Some(CHANGED));
    assert_eq!(read(root, "a.md"), b"saved by the editor");
    assert_no_temp_files(root);
}

#[test]
fn a_move_whose_source_changed_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.md", b"old");
    let scanned = scan(root, &["a.md"]);
    fsutil::write_atomic(&root.join("a.md"), b"edited").unwrap();
    let actions = vec![Action::Move {
        from: vp("a.md"),
        to: vp("b.md"),
        expect: m,
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
    )
    .unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(files_under(root), vec!["a.md"]);
    assert_eq!(read(root, "a.md"), b"edited");
}

/// `a.md` holding "two" with a whole-second mtime, and what a scan of it recorded when it
/// still held "one": the same stat (as a second same-size save within the same second keeps
/// it on a filesystem with one-second timestamps) with the id of "one".
fn saved_twice_within_a_tick(root: &Path) -> (PathMap<FileStat>, FileMeta) {
    let full = root.join("a.md");
    fs::write(&full, b"two").unwrap();
    let second = now_ns() / 1_000_000_000 * 1_000_000_000;
    filetime::set_file_mtime(&full, filetime_of(second)).unwrap();
    let scanned = scan(root, &["a.md"]);
    let expect = FileMeta {
        mtime_ns: second,
        ..meta(b"one", second, false)
    };
    (scanned, expect)
}

#[test]
fn a_stat_that_could_hide_a_same_tick_save_is_checked_by_its_bytes() {
    let actions = |expect: FileMeta| {
        vec![
            (
                "write",
                Action::Write {
                    path: vp("a.md"),
                    meta: meta(b"new", MTIME, false),
                    expect: Some(expect),
                },
            ),
            (
                "delete",
                Action::Delete {
                    path: vp("a.md"),
                    expect,
                },
            ),
            (
                "move",
                Action::Move {
                    from: vp("a.md"),
                    to: vp("b.md"),
                    expect,
                },
            ),
            (
                "touch",
                Action::Touch {
                    path: vp("a.md"),
                    meta: FileMeta {
                        mtime_ns: MTIME,
                        ..expect
                    },
                    expect,
                },
            ),
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (scanned, expect) = saved_twice_within_a_tick(root);
    for (what, action) in actions(expect) {
        // The scan started just now, within the file's tick: its stat proves nothing.
        let since = now_ns();
        let report = apply_actions(
            root,
            &[action],
            Scanned::new(&scanned, since),
            &mut MapSource::with(&[b"new"]),
        )
        .unwrap();
        assert_eq!(report.skipped.len(), 1, "{what}: not skipped");
        assert_eq!(report.skipped[0].reason, CHANGED, "{what}");
        assert_eq!(files_under(root), ["a.md"], "{what}");
        assert_eq!(read(root, "a.md"), b"two", "{what}: the save was lost");
        assert_no_temp_files(root);
    }
}

#[test]
fn a_stat_past_its_tick_is_trusted_without_reading_the_file() {
    // The same lying stat, but the scan started long after the file's tick: an equal stat is
    // then proof enough (a later write would have moved the timestamps), and the file is not
    // read. (That the bytes differ here shows that it was not read.)
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (scanned, expect) = saved_twice_within_a_tick(root);
    let later = now_ns() + 10_000_000_000;
    let actions = [Action::Write {
        path: vp("a.md"),
        meta: meta(b"new", MTIME, false),
        expect: Some(expect),
    }];
    let report = apply_actions(
        root,
        &actions,
        Scanned::new(&scanned, later),
        &mut MapSource::with(&[b"new"]),
    )
    .unwrap();
    assert_eq!(report.files_written, 1);
    assert_eq!(read(root, "a.md"), b"new");
}

/// A touch (same bytes on both sides, only the time or mode adopted) checks the open file,
/// then sets its times. A same-size save in place in between got the old modification time
/// stamped over it, and its stat was confirmed as the touched file's: the stat cache then
/// trusted it as holding the old bytes, no later scan looked at it again, and the next
/// download of that note replaced the save unseen. The stat must not be vouched for.
#[test]
fn a_same_size_save_while_a_touch_sets_the_times_is_never_vouched_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = put(root, "a.md", b"alpha 1");
    let scanned = scan(root, &["a.md"]);
    let actions = [Action::Touch {
        path: vp("a.md"),
        meta: meta(b"alpha 1", MTIME, false),
        expect: m,
    }];
    let hook = |point: writes::Point, path: &VaultPath| {
        if point == writes::Point::Touching {
            fs::write(path.to_fs_path(root), b"beta 2e")?;
        }
        Ok(())
    };
    let report = apply_with(
        root,
        &actions,
        Scanned::new(&scanned, now_ns()),
        &mut MapSource::default(),
        FETCH_BYTES,
        &hook,
    )
    .unwrap();
    assert_eq!(read(root, "a.md"), b"beta 2e");
    assert_eq!(report.done.len(), 1, "{report:?}");
    assert_eq!(
        report.done[0].stat, None,
        "the save's stat was recorded as the touched file's"
    );
}
