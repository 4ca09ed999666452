//! What the export tests share: a world of devices syncing through a folder hub, the real
//! `git` run on a repository, and the vault's own view of every snapshot's files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::hub_write;
use vault::id::ObjectId;
use vault::local::LocalVault;
use vault::sync::{SyncOptions, sync};

pub struct World {
    pub dir: tempfile::TempDir,
    pub hub: FolderHub,
    pub devices: Vec<LocalVault>,
}

pub fn world() -> World {
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
    pub fn write(&self, dev: usize, path: &str, bytes: &[u8], secs: i64) {
        let p = self.devices[dev].root().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let t = filetime::FileTime::from_unix_time(1_790_000_000 + secs, 0);
        filetime::set_file_mtime(&p, t).unwrap();
    }

    pub fn sync(&self, dev: usize) {
        // Every deletion in these histories is meant, however many files it takes.
        let options = SyncOptions {
            allow_mass_delete: true,
            ..SyncOptions::default()
        };
        sync(&self.devices[dev], &self.hub, &options)
            .unwrap_or_else(|e| panic!("sync of device {dev}: {e}"));
    }

    pub fn head(&self) -> ObjectId {
        self.hub.head().unwrap().unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn git(repo: &Path, args: &[&str]) -> Vec<u8> {
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

pub fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// Every snapshot from the head back: id -> (snapshot, its files with their bytes).
pub type Files = BTreeMap<String, Vec<u8>>;
pub fn snapshots(
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
pub fn commits(repo: &Path) -> BTreeMap<String, ObjectId> {
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

/// `repo` (an export of the history ending at `head`) is what git must make of it: `git fsck
/// --strict` clean, a commit for every snapshot with its device, time and parents, and the
/// snapshot's files byte for byte, no others; `main` at the head.
pub fn assert_exported(repo: &Path, hub: &FolderHub, head: ObjectId) {
    git(repo, &["fsck", "--strict", "--no-dangling"]);
    let snaps = snapshots(hub, head);
    let commits = commits(repo);
    assert_eq!(commits.len(), snaps.len(), "a commit for every snapshot");
    let commit_of: BTreeMap<ObjectId, String> =
        commits.iter().map(|(c, s)| (*s, c.clone())).collect();
    for (commit, snap_id) in &commits {
        let (snap, files) = &snaps[snap_id];
        // Author, dates and parents as the snapshot says.
        let line = text(git(
            repo,
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
        // Its note names its snapshot.
        let note = text(git(repo, &["notes", "show", commit]));
        assert_eq!(note.trim_end(), snap_id.to_string());
        // The same files, byte for byte, and no others.
        let listed = text(git(repo, &["ls-tree", "-r", "-z", "--name-only", commit]));
        let mut listed: Vec<&str> = listed.split('\0').filter(|p| !p.is_empty()).collect();
        listed.sort();
        assert_eq!(listed, files.keys().map(String::as_str).collect::<Vec<_>>());
        for (path, bytes) in files {
            assert_eq!(
                &git(repo, &["show", &format!("{commit}:{path}")]),
                bytes,
                "{path}"
            );
        }
    }
    let main = text(git(repo, &["rev-parse", "main"]));
    assert_eq!(main.trim(), commit_of[&head]);
}

/// `len` bytes that do not compress (xorshift64*), different for every `seed`: a large file
/// (above the chunking threshold) travels as chunks.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}
