//! A real history (three devices syncing through a folder hub: edits, a conflict, a rename,
//! a deletion, an attachment, a non-ASCII name) exported, with the real `git` binary as the
//! judge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::hub_write;
use vault::id::ObjectId;
use vault::local::LocalVault;
use vault::sync::{SyncOptions, sync};
use vault_git::{ExportOptions, export};

struct World {
    dir: tempfile::TempDir,
    hub: FolderHub,
    devices: Vec<LocalVault>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let devices = ["laptop", "phone", "desk"]
        .iter()
        .map(|name| {
            LocalVault::init(
                &dir.path().join(name),
                &hub_path.display().to_string(),
                name,
            )
            .unwrap()
        })
        .collect();
    World { dir, hub, devices }
}

impl World {
    fn write(&self, dev: usize, path: &str, bytes: &[u8], secs: i64) {
        let p = self.devices[dev].root().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let t = filetime::FileTime::from_unix_time(1_790_000_000 + secs, 0);
        filetime::set_file_mtime(&p, t).unwrap();
    }

    fn sync(&self, dev: usize) {
        sync(&self.devices[dev], &self.hub, &SyncOptions::default())
            .unwrap_or_else(|e| panic!("sync of device {dev}: {e}"));
    }

    fn head(&self) -> ObjectId {
        self.hub.head().unwrap().unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A history with what users do: notes, a binary attachment, a non-ASCII name, an edit on
/// two devices at once (a conflict: the older version kept in `.revisions/`), a rename, a
/// deletion.
fn history() -> World {
    let w = world();
    w.write(0, "notes/a.md", b"# A\n\n- [ ] task\n", 1);
    w.write(0, "caf\u{e9}/menu.md", b"soup\n", 2);
    w.write(0, "media/pic.png", &[0, 159, 146, 150, 255, 0, 1, 2], 3);
    w.sync(0);
    w.sync(1);
    w.sync(2);
    w.write(1, "notes/a.md", b"# A\n\n- [x] task\n", 10);
    w.write(2, "notes/a.md", b"# A\n\n- [ ] task\n- [ ] more\n", 11);
    w.write(2, "notes/b.md", b"b\n", 12);
    w.sync(1);
    w.sync(2);
    w.sync(1);
    std::fs::rename(
        w.devices[0].root().join("caf\u{e9}/menu.md"),
        w.devices[0].root().join("caf\u{e9}/lunch.md"),
    )
    .unwrap();
    w.sync(0);
    std::fs::remove_file(w.devices[0].root().join("notes/b.md")).unwrap();
    w.sync(0);
    for dev in 0..3 {
        w.sync(dev);
    }
    w
}

fn git(repo: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// Every snapshot from the head back: id -> (snapshot, its files with their bytes).
type Files = BTreeMap<String, Vec<u8>>;
fn snapshots(
    hub: &FolderHub,
    head: ObjectId,
) -> BTreeMap<ObjectId, (vault::object::Snapshot, Files)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![head];
    while let Some(id) = todo.pop() {
        if out.contains_key(&id) {
            continue;
        }
        let snap = hub_write::snapshot(hub, id).unwrap();
        todo.extend(snap.parents.iter().copied());
        let files = hub_write::files(hub, snap.tree)
            .unwrap()
            .iter()
            .map(|(p, m)| {
                (
                    p.to_string(),
                    hub_write::read_file(hub, m.id, u64::MAX).unwrap(),
                )
            })
            .filter(|(p, _)| !p.starts_with(".revisions/"))
            .collect();
        out.insert(id, (snap, files));
    }
    out
}

/// commit -> snapshot, by the trailer of each commit on `main`.
fn commits(repo: &Path) -> BTreeMap<String, ObjectId> {
    text(git(
        repo,
        &[
            "log",
            "--format=%H %(trailers:key=Vault-Snapshot,valueonly,separator=)",
            "main",
        ],
    ))
    .lines()
    .map(|l| {
        let (commit, snap) = l.split_once(' ').unwrap();
        (commit.to_string(), snap.trim().parse().unwrap())
    })
    .collect()
}

#[test]
fn an_exported_history_is_a_git_history_of_the_same_files() {
    let w = history();
    let repo = w.path("export.git");
    let report = export(&w.hub, Some(w.head()), &repo, ExportOptions::default()).unwrap();
    assert!(report.moved && report.written >= 5, "{report:?}");

    git(&repo, &["fsck", "--strict", "--no-dangling"]);
    let snaps = snapshots(&w.hub, w.head());
    let commits = commits(&repo);
    assert_eq!(commits.len(), snaps.len(), "a commit for every snapshot");
    let commit_of: BTreeMap<ObjectId, String> =
        commits.iter().map(|(c, s)| (*s, c.clone())).collect();
    for (commit, snap_id) in &commits {
        let (snap, files) = &snaps[snap_id];
        // Author, dates and parents as the snapshot says.
        let line = text(git(
            &repo,
            &["show", "-s", "--format=%an|%ae|%at|%ct|%P", commit],
        ));
        let parents: Vec<&str> = snap.parents.iter().map(|p| commit_of[p].as_str()).collect();
        let secs = snap.time_ns.div_euclid(1_000_000_000);
        assert_eq!(
            line.trim_end(),
            format!(
                "{}|{}@vault-sync|{secs}|{secs}|{}",
                snap.device_name,
                snap.device_id,
                parents.join(" ")
            )
        );
        // The same files, byte for byte, and no others.
        let listed = text(git(&repo, &["ls-tree", "-r", "-z", "--name-only", commit]));
        let listed: Vec<&str> = listed.split('\0').filter(|p| !p.is_empty()).collect();
        assert_eq!(listed, files.keys().map(String::as_str).collect::<Vec<_>>());
        for (path, bytes) in files {
            assert_eq!(
                &git(&repo, &["show", &format!("{commit}:{path}")]),
                bytes,
                "{path}"
            );
        }
    }
    let head = text(git(&repo, &["rev-parse", "main"]));
    assert_eq!(head.trim(), commit_of[&w.head()]);
    let log = text(git(&repo, &["log", "--format=%s", "main"]));
    assert!(log.contains("1 renamed: caf\u{e9}/lunch.md"), "{log}");
    assert!(log.contains("1 deleted: notes/b.md"), "{log}");
}

#[test]
fn a_second_export_writes_nothing_and_two_exports_agree() {
    let w = history();
    let first = w.path("one.git");
    export(&w.hub, Some(w.head()), &first, ExportOptions::default()).unwrap();
    let refs = git(&first, &["show-ref"]);
    let again = export(&w.hub, Some(w.head()), &first, ExportOptions::default()).unwrap();
    assert_eq!((again.written, again.moved), (0, false), "{again:?}");
    assert_eq!(git(&first, &["show-ref"]), refs);

    // Another export elsewhere (another device's, another run) makes the very same commits.
    let second = w.path("two.git");
    export(&w.hub, Some(w.head()), &second, ExportOptions::default()).unwrap();
    assert_eq!(git(&second, &["show-ref"]), refs);

    // New snapshots: only they are written.
    w.write(1, "notes/c.md", b"c\n", 40);
    w.sync(1);
    let more = export(&w.hub, Some(w.head()), &first, ExportOptions::default()).unwrap();
    assert_eq!((more.written, more.moved), (1, true), "{more:?}");
    git(&first, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn revisions_are_left_out_unless_asked_for() {
    let w = history();
    let plain = w.path("plain.git");
    let with = w.path("with.git");
    export(&w.hub, Some(w.head()), &plain, ExportOptions::default()).unwrap();
    let options = ExportOptions {
        include_revisions: true,
    };
    export(&w.hub, Some(w.head()), &with, options).unwrap();
    let tree = |repo: &Path| text(git(repo, &["ls-tree", "-r", "--name-only", "main"]));
    assert!(!tree(&plain).contains(".revisions/"));
    assert!(tree(&with).contains(".revisions/notes/"), "{}", tree(&with));
}

#[test]
fn a_folder_that_is_not_an_export_is_refused() {
    let w = history();
    let dir = w.path("mine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine\n").unwrap();
    let err = export(&w.hub, Some(w.head()), &dir, ExportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not an empty folder"), "{err}");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine\n");
}
