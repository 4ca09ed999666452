use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use vault::vfs::{self, Attached, OpenOptions, RenameHow};

use super::*;

const SECOND: i64 = 1_000_000_000;

/// A fresh machine attached under a root of its own.
fn machine(config: FsConfig) -> (SimFs, Attached, PathBuf) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let root = PathBuf::from(format!(
        "/vault-sim-fs-test/{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let fs = SimFs::new(
        config,
        WorldClock::new(1_700_000_000 * SECOND + 123_456_789),
        0,
    );
    let attached = vfs::attach(root.clone(), Arc::new(fs.clone()));
    (fs, attached, root)
}

fn durable_write(path: &Path, bytes: &[u8]) {
    let mut f = vfs::File::create(path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
    vfs::sync_dir(path.parent().unwrap()).unwrap();
}

#[test]
fn files_folders_and_links_behave_as_on_linux() {
    let (_fs, _a, root) = machine(FsConfig::default());
    vfs::create_dir_all(root.join("notes/sub")).unwrap();
    vfs::write(root.join("notes/a.md"), b"alpha").unwrap();
    assert_eq!(vfs::read(root.join("notes/a.md")).unwrap(), b"alpha");
    let ino = vfs::metadata(root.join("notes/a.md")).unwrap().ino;
    vfs::rename(root.join("notes/a.md"), root.join("notes/sub/b.md")).unwrap();
    assert_eq!(
        vfs::metadata(root.join("notes/sub/b.md")).unwrap().ino,
        ino,
        "renames keep the inode"
    );
    assert!(!vfs::exists(root.join("notes/a.md")));
    vfs::write(root.join("notes/c.md"), b"c").unwrap();
    let e = vfs::hard_link(root.join("notes/c.md"), root.join("notes/sub/b.md")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    vfs::symlink("sub/b.md", root.join("notes/link")).unwrap();
    assert!(
        vfs::symlink_metadata(root.join("notes/link"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(vfs::read(root.join("notes/link")).unwrap(), b"alpha");
    let e = OpenOptions::new()
        .read(true)
        .no_follow(true)
        .open(root.join("notes/link"))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    let mut names: Vec<_> = vfs::read_dir(root.join("notes"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), e.kind())
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("c.md".into(), Kind::File),
            ("link".into(), Kind::Symlink),
            ("sub".into(), Kind::Dir)
        ]
    );
    assert_eq!(
        vfs::remove_dir(root.join("notes/sub"))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENOTEMPTY)
    );
}

#[test]
fn an_exchange_swaps_two_names_and_no_replace_refuses() {
    let (fs, _a, root) = machine(FsConfig::default());
    vfs::write(root.join("a"), b"A").unwrap();
    vfs::write(root.join("b"), b"B").unwrap();
    let dir = fs.open_dir(Path::new("")).unwrap();
    dir.rename(
        OsStr::new("a"),
        dir.as_ref(),
        OsStr::new("b"),
        RenameHow::Exchange,
    )
    .unwrap();
    assert_eq!(vfs::read(root.join("a")).unwrap(), b"B");
    assert_eq!(vfs::read(root.join("b")).unwrap(), b"A");
    let e = dir
        .rename(
            OsStr::new("a"),
            dir.as_ref(),
            OsStr::new("b"),
            RenameHow::NoReplace,
        )
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
}

#[test]
fn timestamps_have_the_filesystems_granularity() {
    for granularity in [1, SECOND, 2 * SECOND] {
        let (_fs, _a, root) = machine(FsConfig {
            granularity_ns: granularity,
            ..FsConfig::default()
        });
        vfs::write(root.join("n.md"), b"x").unwrap();
        let m = vfs::metadata(root.join("n.md")).unwrap();
        assert_eq!(m.mtime_ns % granularity, 0);
        assert!(
            granularity > 1 || m.mtime_ns % SECOND != 0,
            "ns stamps keep their ns"
        );
        vfs::set_modified_ns(root.join("n.md"), 5 * SECOND + 7).unwrap();
        let m = vfs::metadata(root.join("n.md")).unwrap();
        assert_eq!(m.mtime_ns, 5 * SECOND + 7 - (5 * SECOND + 7) % granularity);
    }
}

#[test]
fn a_case_insensitive_filesystem_finds_a_name_in_any_case_and_keeps_the_first() {
    let (_fs, _a, root) = machine(FsConfig {
        names: Names::CaseInsensitive,
        ..FsConfig::default()
    });
    vfs::write(root.join("Note.md"), b"one").unwrap();
    vfs::write(root.join("NOTE.md"), b"two").unwrap();
    let listed: Vec<_> = vfs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listed, ["Note.md"]);
    assert_eq!(vfs::read(root.join("note.md")).unwrap(), b"two");
    vfs::rename(root.join("Note.md"), root.join("note.md")).unwrap();
    let listed: Vec<_> = vfs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listed, ["note.md"], "a case-only rename changes the name");
}

#[test]
fn permissions_are_enforced_for_an_ordinary_user() {
    let (_fs, _a, root) = machine(FsConfig::default());
    vfs::write(root.join("secret.md"), b"s").unwrap();
    vfs::set_mode(root.join("secret.md"), 0o000).unwrap();
    let e = vfs::read(root.join("secret.md")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    vfs::create_dir(root.join("ro")).unwrap();
    vfs::set_mode(root.join("ro"), 0o555).unwrap();
    let e = vfs::write(root.join("ro/new.md"), b"n").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn an_unmounted_drive_leaves_an_empty_folder_and_comes_back() {
    let (fs, _a, root) = machine(FsConfig::default());
    vfs::create_dir_all(root.join("v/usb")).unwrap();
    fs.mount(Path::new("v/usb")).unwrap();
    vfs::write(root.join("v/usb/a.md"), b"on the drive").unwrap();
    let outer = vfs::metadata(root.join("v")).unwrap().dev;
    assert_ne!(vfs::metadata(root.join("v/usb")).unwrap().dev, outer);
    fs.unmount(Path::new("v/usb")).unwrap();
    assert_eq!(vfs::read_dir(root.join("v/usb")).unwrap().count(), 0);
    assert_eq!(vfs::metadata(root.join("v/usb")).unwrap().dev, outer);
    fs.remount(Path::new("v/usb")).unwrap();
    assert_eq!(vfs::read(root.join("v/usb/a.md")).unwrap(), b"on the drive");
}

#[test]
fn a_full_disk_refuses_the_write_that_does_not_fit() {
    let (_fs, _a, root) = machine(FsConfig {
        capacity: 10,
        ..FsConfig::default()
    });
    vfs::write(root.join("a"), b"12345678").unwrap();
    let e = vfs::write(root.join("b"), b"123").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
}

#[test]
fn a_file_read_while_another_program_appends_grows() {
    let (fs, _a, root) = machine(FsConfig::default());
    vfs::write(root.join("log.md"), b"start").unwrap();
    fs.grow_when_read(Path::new("log.md"), 1).unwrap();
    let mut f = vfs::File::open(root.join("log.md")).unwrap();
    let mut first = [0u8; 5];
    f.read_exact(&mut first).unwrap();
    assert!(vfs::metadata(root.join("log.md")).unwrap().len > 5);
}

#[test]
fn a_crash_keeps_what_was_fsynced_and_loses_what_was_not() {
    let (fs, _a, root) = machine(FsConfig::default());
    durable_write(&root.join("kept.md"), b"durable");
    // Written, never fsynced; its name made durable by the folder's fsync: empty after a crash.
    let mut f = vfs::File::create(root.join("unsynced.md")).unwrap();
    f.write_all(b"words").unwrap();
    drop(f);
    vfs::sync_dir(&root).unwrap();
    // Neither fsynced: gone.
    vfs::write(root.join("gone.md"), b"never synced").unwrap();
    fs.restart(0);
    assert_eq!(vfs::read(root.join("kept.md")).unwrap(), b"durable");
    assert_eq!(vfs::read(root.join("unsynced.md")).unwrap(), b"");
    assert!(!vfs::exists(root.join("gone.md")));
}

#[test]
fn a_crash_keeps_a_prefix_of_the_changes_in_order() {
    let (fs, _a, root) = machine(FsConfig::default());
    durable_write(&root.join("n.md"), b"old");
    // The atomic save: temp, fsync, rename, no fsync of the folder.
    let mut t = vfs::File::create(root.join(".tmp")).unwrap();
    t.write_all(b"new").unwrap();
    t.sync_all().unwrap();
    vfs::rename(root.join(".tmp"), root.join("n.md")).unwrap();
    let pending = fs.pending();
    assert!(pending > 0);
    let mut seen = std::collections::BTreeSet::new();
    for keep in 0..=pending {
        let (fs2, _a2, root2) = machine(FsConfig::default());
        // Replay the same story on a fresh machine and crash it keeping `keep` changes.
        durable_write(&root2.join("n.md"), b"old");
        let mut t = vfs::File::create(root2.join(".tmp")).unwrap();
        t.write_all(b"new").unwrap();
        t.sync_all().unwrap();
        vfs::rename(root2.join(".tmp"), root2.join("n.md")).unwrap();
        fs2.restart(keep);
        let content = vfs::read(root2.join("n.md")).unwrap();
        assert!(
            content == b"old" || content == b"new",
            "never a mix: {content:?}"
        );
        seen.insert(content);
    }
    assert_eq!(seen.len(), 2, "both outcomes are reachable");
}

#[test]
fn a_machine_dies_at_its_crash_point_and_nothing_after_reaches_the_disk() {
    let (fs, _a, root) = machine(FsConfig::default());
    durable_write(&root.join("a.md"), b"before");
    fs.crash_after(1);
    let outcome = std::panic::catch_unwind(|| {
        vfs::write(root.join("b.md"), b"x").unwrap();
        vfs::write(root.join("c.md"), b"y").unwrap();
    });
    let payload = outcome.unwrap_err();
    assert!(payload.downcast_ref::<Crashed>().is_some());
    assert!(fs.is_dead());
    assert_eq!(
        vfs::read(root.join("a.md")).unwrap_err().raw_os_error(),
        Some(libc::EIO)
    );
    fs.restart(usize::MAX);
    assert_eq!(vfs::read(root.join("a.md")).unwrap(), b"before");
    assert!(!vfs::exists(root.join("c.md")));
}

#[test]
fn a_flipped_bit_is_on_the_disk_even_after_a_crash() {
    let (fs, _a, root) = machine(FsConfig::default());
    durable_write(&root.join("pack"), b"\x00\x00\x00");
    fs.flip_bit(Path::new("pack"), 9).unwrap();
    fs.restart(0);
    assert_eq!(vfs::read(root.join("pack")).unwrap(), b"\x00\x02\x00");
}

#[test]
fn a_waiting_lock_held_by_another_handle_fails_at_once_and_is_free_once_closed() {
    // `vfs::File::lock` (vault-server's accounts lock): a simulated machine runs one thing at
    // a time, so waiting for another handle to let go would wait forever.
    let (_fs, _a, root) = machine(FsConfig::default());
    let path = root.join("accounts.lock");
    let open = || {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap()
    };
    let (first, second) = (open(), open());
    first.lock().unwrap();
    let refused = second.lock().unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock);
    drop(first);
    second.lock().unwrap();
}
