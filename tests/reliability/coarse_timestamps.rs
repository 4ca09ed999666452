//! Coarse timestamps (issue 15, point 1): on a filesystem whose timestamps tick once a second
//! (ext3, ext4 with 128-byte inodes, many SMB/NFS mounts) or every two seconds (FAT), a second
//! same-size save within the second of a synced save keeps the file's stat exactly. Sync must
//! still see it: publish it, let `verify` find it, and never overwrite it with another device's
//! change.
//!
//! The tests run on a real coarse filesystem: a loop-mounted ext4 image with 128-byte inodes
//! (whole-second timestamps). Mounting needs root, which CI has; elsewhere the tests say they
//! are skipped. As root, a mount that fails fails the test: CI must never skip them silently.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::agent::{Agent, eventually};
use crate::common::{Device, World};

/// A loop-mounted ext4 image with 128-byte inodes, so every timestamp is a whole second;
/// unmounted (and the image removed) on drop, also when the test panics.
struct CoarseFs {
    /// Holds the image and the mount point; removed after the unmount.
    dir: tempfile::TempDir,
    mounted: bool,
}

impl CoarseFs {
    /// `None` (with a line saying so) when not root: only root may mount. As root, every
    /// failure panics.
    fn mount(test: &str) -> Option<CoarseFs> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            println!(
                "SKIPPED {test}: needs root to loop-mount an ext4 image with whole-second \
                 timestamps (CI runs the suite as root)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir for the coarse filesystem");
        let img = dir.path().join("coarse.img");
        let mut fs = CoarseFs {
            dir,
            mounted: false,
        };
        fs::create_dir(fs.mnt()).expect("creating the mount point");
        fs::File::create(&img)
            .and_then(|f| f.set_len(64 << 20))
            .expect("creating the image file");
        run(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-I", "128"])
                .arg(&img),
            "mkfs.ext4 (package e2fsprogs)",
        );
        run(
            Command::new("mount")
                .args(["-o", "loop"])
                .arg(&img)
                .arg(fs.mnt()),
            "mount -o loop",
        );
        fs.mounted = true;
        // The premise of every test here: timestamps are whole seconds.
        let probe = fs.mnt().join("probe");
        fs::write(&probe, b"x").expect("writing on the coarse filesystem");
        let m = fs::metadata(&probe).expect("stat on the coarse filesystem");
        assert_eq!(
            (m.mtime_nsec(), m.ctime_nsec()),
            (0, 0),
            "the ext4 image with 128-byte inodes should keep whole-second timestamps"
        );
        fs::remove_file(&probe).expect("removing the probe");
        Some(fs)
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
}

impl Drop for CoarseFs {
    fn drop(&mut self) {
        if !self.mounted {
            return;
        }
        let mnt = self.mnt();
        let ok = Command::new("umount")
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process of a failed test): detach it now, freed when unused.
            let _ = Command::new("umount").arg("-l").arg(&mnt).status();
        }
    }
}

/// Run `cmd`, panicking with its output unless it succeeds.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A world whose device `a` has its vault on the coarse filesystem and device `b` on an
/// ordinary one; both initialised, `note.md` synced to both.
fn two_devices<'w>(world: &'w World, coarse: &CoarseFs) -> (Device<'w>, Device<'w>) {
    let mut a = world.device("a");
    a.root = coarse.mnt().join("a");
    let b = world.device("b");
    a.init();
    b.init();
    fs::write(a.path(NOTE), "the note as it starts\n").expect("writing the note");
    a.sync();
    b.sync();
    assert_eq!(b.read(NOTE).as_deref(), Some("the note as it starts\n"));
    (a, b)
}

const NOTE: &str = "note.md";

/// The stat fields a cache compares.
fn stat_of(path: &Path) -> (u64, i64, i64, i64, i64, u64) {
    let m = fs::metadata(path).expect("stat of the note");
    (
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.ino(),
    )
}

/// Wait until the clock is 150 to 450 ms into a second: a save then lands in a second whose
/// first 100 ms (the racy margin) are over, and a sync and another save fit before it ends.
fn into_second_window() {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let (from, to) = (150_000_000, 450_000_000);
    if ns < from {
        std::thread::sleep(Duration::from_nanos(u64::from(from - ns)));
    } else if ns > to {
        std::thread::sleep(Duration::from_nanos(u64::from(1_000_000_000 - ns + from)));
    }
}

/// On `a`: save the note, `syncd sync` it, and save it again with other bytes of the same
/// length within the same second, so the second save has exactly the stat the sync saw.
/// Retried (with fresh texts) when a second boundary came in between. Returns the two texts.
fn second_save_in_the_same_second(a: &Device) -> (String, String) {
    let path = a.path(NOTE);
    for attempt in 0..20 {
        let first = format!("save one, attempt {attempt:02}\n");
        let second = format!("SAVE TWO, ATTEMPT {attempt:02}\n");
        assert_eq!(first.len(), second.len());
        into_second_window();
        fs::write(&path, &first).expect("first save");
        let saved = stat_of(&path);
        let report = a.sync();
        assert!(
            report.snapshot_created,
            "the first save was published: {report:?}"
        );
        // Written in place, as many editors do: same inode, same size.
        fs::write(&path, &second).expect("second save");
        if stat_of(&path) == saved {
            return (first, second);
        }
        // A second boundary came in between: the stat shows the change. Settle and retry.
        a.sync();
    }
    panic!("20 attempts could not save twice within one second around a sync");
}

#[test]
fn coarse_timestamps_second_save_syncs() {
    let Some(coarse) = CoarseFs::mount("coarse_timestamps_second_save_syncs") else {
        return;
    };
    let world = World::new();
    let (a, b) = two_devices(&world, &coarse);
    let (_, second) = second_save_in_the_same_second(&a);
    a.sync();
    b.sync();
    assert_eq!(
        b.read(NOTE).as_deref(),
        Some(second.as_str()),
        "the second save within the second never reached the other device"
    );
    a.assert_verified();
    b.assert_verified();
}

#[test]
fn coarse_timestamps_verify_hashes_racy_file() {
    let Some(coarse) = CoarseFs::mount("coarse_timestamps_verify_hashes_racy_file") else {
        return;
    };
    let world = World::new();
    let (a, _b) = two_devices(&world, &coarse);
    second_save_in_the_same_second(&a);
    let (code, report) = a.verify(false);
    assert_ne!(
        code,
        Some(0),
        "verify said in sync, but the second save was never published: {report}"
    );
    assert_eq!(report["equal"], false, "{report}");
    let paths: Vec<&str> = report["differences"]
        .as_array()
        .expect("a list of differences")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(paths, [NOTE], "{report}");
}

#[test]
fn coarse_timestamps_unsynced_save_survives_remote_change() {
    let Some(coarse) = CoarseFs::mount("coarse_timestamps_unsynced_save_survives_remote_change")
    else {
        return;
    };
    let world = World::new();
    let (a, b) = two_devices(&world, &coarse);
    let (first, second) = second_save_in_the_same_second(&a);
    // The other device takes the first save and changes the note before `a` syncs again.
    b.sync();
    assert_eq!(b.read(NOTE).as_deref(), Some(first.as_str()));
    let third = "the other device's edit, of another length\n";
    fs::write(b.path(NOTE), third).expect("the other device's edit");
    b.sync();
    a.sync();
    let holding = |text: &str| -> Vec<String> {
        a.files()
            .into_iter()
            .filter(|(_, bytes)| bytes == text.as_bytes())
            .map(|(p, _)| p)
            .collect()
    };
    assert!(
        !holding(&second).is_empty(),
        "the unsynced second save was overwritten with no revision; the folder holds {:?}",
        a.files().keys().collect::<Vec<_>>()
    );
    assert!(
        !holding(third).is_empty(),
        "the other device's edit is kept too: {:?}",
        a.files().keys().collect::<Vec<_>>()
    );
    // And it converges: both devices end with the same files, both versions among them.
    b.sync();
    assert_eq!(a.files(), b.files());
}

/// The agent (`syncd watch`) must not take the watcher's event of a second save within the
/// second of its round for the echo of what that round saw: the stat is the same.
#[test]
fn coarse_timestamps_agent_syncs_second_save() {
    let Some(coarse) = CoarseFs::mount("coarse_timestamps_agent_syncs_second_save") else {
        return;
    };
    let world = World::new();
    let (a, b) = two_devices(&world, &coarse);
    let agent = Agent::start(&a);
    let path = a.path(NOTE);
    let published = |since: Option<vault::ObjectId>| {
        eventually(Duration::from_secs(20), || world.hub_head() != since).unwrap_or_else(|()| {
            panic!(
                "the agent never published the save:\n{}",
                agent.log().join("\n")
            )
        });
    };
    let mut second = None;
    for attempt in 0..20 {
        let first = format!("save one, attempt {attempt:02}\n");
        let again = format!("SAVE TWO, ATTEMPT {attempt:02}\n");
        into_second_window();
        let head = world.hub_head();
        fs::write(&path, &first).expect("first save");
        let saved = stat_of(&path);
        published(head);
        let head = world.hub_head();
        fs::write(&path, &again).expect("second save");
        if stat_of(&path) == saved {
            second = Some(again);
            break;
        }
        // A second boundary came in between: the agent publishes this one; retry.
        published(head);
    }
    let second = second.expect("20 attempts could not save twice within one second");
    eventually(Duration::from_secs(20), || {
        b.sync();
        b.read(NOTE).as_deref() == Some(second.as_str())
    })
    .unwrap_or_else(|()| {
        panic!(
            "the agent never synced the second save within the second (the other device has \
             {:?}):\n{}",
            b.read(NOTE),
            agent.log().join("\n")
        )
    });
}
