//! `restore` and `prune` on real temp folders.

use std::os::unix::fs::symlink;

use filetime::FileTime;

use super::*;
use crate::statcache::now_ns;

const HOUR_NS: i64 = 3_600_000_000_000;

struct World {
    _dir: tempfile::TempDir,
    vault: LocalVault,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let vault = LocalVault::init(&dir.path().join("vault"), "unused", "laptop").unwrap();
    World { _dir: dir, vault }
}

fn p(s: &str) -> VaultPath {
    VaultPath::new(s).unwrap()
}

impl World {
    fn write(&self, path: &str, text: &str, mtime_ns: i64) {
        let full = self.vault.root().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, text).unwrap();
        let t = FileTime::from_unix_time(mtime_ns / 1_000_000_000, 0);
        filetime::set_file_mtime(&full, t).unwrap();
    }

    fn read(&self, path: &VaultPath) -> Option<String> {
        fs::read_to_string(path.to_fs_path(self.vault.root())).ok()
    }

    /// Keep `text` as a revision of `original` from `device`, `hours_ago` hours back.
    fn revision(&self, original: &str, text: &str, device: &str, hours_ago: i64) -> VaultPath {
        let time = now_ns() - hours_ago * HOUR_NS;
        let root = self.vault.root();
        let taken = |q: &VaultPath| q.to_fs_path(root).exists();
        let path = revisions::revision_path(&p(original), time, device, &taken);
        self.write(path.as_str(), text, time);
        path
    }
}

#[test]
fn restore_keeps_the_current_version_as_a_new_revision() {
    let w = world();
    let old_time = now_ns() - 2 * HOUR_NS;
    w.write("notes/a.md", "current", old_time);
    let rev = w.revision("notes/a.md", "older", "phone", 5);
    let before = now_ns();

    let report = restore(&w.vault, None, &rev).unwrap();
    assert_eq!(report.original, p("notes/a.md"));
    assert!(!report.already_current);
    assert_eq!(w.read(&p("notes/a.md")).as_deref(), Some("older"));
    assert_eq!(w.read(&rev).as_deref(), Some("older"), "the revision stays");
    let kept = report.kept_current.expect("the current version is kept");
    assert_eq!(w.read(&kept).as_deref(), Some("current"));
    let info = revisions::parse_revision(&kept).unwrap();
    assert_eq!(info.original, p("notes/a.md"));
    assert_eq!(info.device, "laptop");
    // `write` sets whole seconds.
    assert_eq!(info.time_ns, old_time / 1_000_000_000 * 1_000_000_000);
    let Found::File(st) = filestat::probe(&w.vault.root().join("notes/a.md")).unwrap() else {
        panic!("restored file missing");
    };
    assert!(
        st.mtime_ns >= before - 1_000_000_000,
        "restored file must be the newest edit"
    );
}

#[test]
fn restore_to_a_missing_path_creates_its_folders() {
    let w = world();
    let rev = w.revision("deep/er/gone.md", "back", "phone", 1);
    let report = restore(&w.vault, None, &rev).unwrap();
    assert_eq!(report.kept_current, None);
    assert_eq!(w.read(&p("deep/er/gone.md")).as_deref(), Some("back"));
}

#[test]
fn restoring_what_is_already_there_changes_nothing() {
    let w = world();
    w.write("a.md", "same", now_ns() - HOUR_NS);
    let rev = w.revision("a.md", "same", "phone", 3);
    let report = restore(&w.vault, None, &rev).unwrap();
    assert!(report.already_current);
    assert_eq!(report.kept_current, None);
    assert_eq!(list(&w.vault, None).unwrap().revisions.len(), 1);
}

#[test]
fn restore_refuses_what_is_not_a_revision() {
    let w = world();
    w.write("a.md", "x", now_ns());
    w.write(".revisions/handmade.md", "x", now_ns());
    for (path, want) in [
        ("a.md", "not a revision"),
        (".revisions/handmade.md", "not a revision"),
    ] {
        let err = restore(&w.vault, None, &p(path)).unwrap_err().to_string();
        assert!(err.contains(want), "{path}: {err}");
    }
    let missing = p(".revisions/a.2026-01-01T00-00-00.000Z.phone.md");
    let err = restore(&w.vault, None, &missing).unwrap_err();
    assert!(matches!(err, RestoreError::NoRevision(_)), "{err}");
    assert!(err.to_string().contains("syncd revisions"), "{err}");
}

#[test]
fn restore_never_writes_through_links_or_over_folders() {
    let w = world();
    let outside = tempfile::tempdir().unwrap();
    let rev = w.revision("linked/a.md", "older", "phone", 1);
    symlink(outside.path(), w.vault.root().join("linked")).unwrap();
    let err = restore(&w.vault, None, &rev).unwrap_err();
    assert!(matches!(err, RestoreError::Blocked { .. }), "{err}");
    assert!(err.to_string().contains("`linked`"), "{err}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);

    let rev = w.revision("folder.md", "older", "phone", 1);
    fs::create_dir(w.vault.root().join("folder.md")).unwrap();
    let err = restore(&w.vault, None, &rev).unwrap_err();
    assert!(err.to_string().contains("a folder"), "{err}");
    assert!(w.vault.root().join("folder.md").is_dir());
}

#[test]
fn a_revision_reached_through_a_link_is_not_read() {
    let w = world();
    let rev = w.revision("n/a.md", "older", "phone", 1);
    let real = w.vault.root().join(".revisions/n");
    let moved = w.vault.root().join("elsewhere");
    fs::rename(&real, &moved).unwrap();
    symlink(&moved, &real).unwrap();
    let err = restore(&w.vault, None, &rev).unwrap_err();
    assert!(matches!(err, RestoreError::Blocked { .. }), "{err}");
    assert!(!w.vault.root().join("n/a.md").exists());
}

#[test]
fn prune_keeps_the_newest_per_file_and_only_touches_revisions() {
    let w = world();
    let a_new = w.revision("notes/a.md", "a3", "phone", 1);
    let a_mid = w.revision("notes/a.md", "a2", "phone", 24);
    let a_old = w.revision("notes/a.md", "a1", "laptop", 24 * 40);
    let b = w.revision("b.md", "b1", "phone", 24 * 40);
    w.write(
        ".revisions/handmade.md",
        "keep me",
        now_ns() - 1000 * HOUR_NS,
    );
    w.write("notes/a.md", "current", now_ns());

    let listed = list(&w.vault, None).unwrap();
    assert_eq!(listed.revisions.len(), 4);
    assert_eq!(listed.revisions[0].path, a_new, "newest first");
    assert_eq!(listed.unknown, vec![p(".revisions/handmade.md")]);
    let of_a = list(&w.vault, Some(&p("notes/a.md"))).unwrap();
    assert_eq!(of_a.revisions.len(), 3);

    let dry = prune(&w.vault, PrunePolicy::KeepNewest(1), None, true).unwrap();
    let mut want = vec![a_mid.clone(), a_old.clone()];
    want.sort();
    assert_eq!(dry, want);
    assert!(
        w.read(&a_mid).is_some() && w.read(&a_old).is_some(),
        "dry run deleted"
    );

    let gone = prune(&w.vault, PrunePolicy::KeepNewest(1), None, false).unwrap();
    assert_eq!(gone, want);
    assert!(w.read(&a_mid).is_none() && w.read(&a_old).is_none());
    assert!(w.read(&a_new).is_some() && w.read(&b).is_some());
    assert!(w.read(&p(".revisions/handmade.md")).is_some());
    assert!(w.read(&p("notes/a.md")).is_some());

    let month = 30 * 24 * HOUR_NS;
    let old = prune(&w.vault, PrunePolicy::OlderThan(month), None, false).unwrap();
    assert_eq!(old, vec![b]);
    let all_a = prune(
        &w.vault,
        PrunePolicy::KeepNewest(0),
        Some(&p("notes/a.md")),
        false,
    )
    .unwrap();
    assert_eq!(all_a, vec![a_new]);
    // Emptied folders inside `.revisions/` go too; `.revisions/` itself stays.
    assert!(!w.vault.root().join(".revisions/notes").exists());
    assert!(w.vault.root().join(".revisions").is_dir());
}
