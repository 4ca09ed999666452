//! A hostile hub folder: the test edits it on disk.

use std::fs;
use std::path::{Path, PathBuf};

use vault::ObjectId;
use vault::refs::RefFile;

use crate::common::{Device, World, assert_converged, folder_state, synced_pair};

/// Point the hub folder's head at `id`, past the hub's own checks (as a restore of an old
/// backup of `refs/head`, or a careless hand, would).
pub fn set_head(hub: &Path, id: ObjectId) {
    RefFile::new(hub.join("refs/head")).write(id).unwrap();
}

/// Every file of a folder (a hub, say), by path, with its bytes.
pub fn snapshot_of_folder(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// What must not change when a round refuses: the folder, base, and the hub's head.
struct Unchanged {
    folder: std::collections::BTreeMap<String, crate::common::Entry>,
    base: Option<String>,
    head: Option<ObjectId>,
}

impl Unchanged {
    fn take(w: &World, d: &Device) -> Unchanged {
        Unchanged {
            folder: folder_state(&d.root),
            base: d.base(),
            head: w.hub_head(),
        }
    }

    fn check(&self, w: &World, d: &Device, what: &str) {
        assert_eq!(
            folder_state(&d.root),
            self.folder,
            "{what}: the folder changed"
        );
        assert_eq!(d.base(), self.base, "{what}: base moved");
        assert_eq!(w.hub_head(), self.head, "{what}: the hub's head moved");
    }
}

/// Two devices in sync at a head that holds `old.md` and `gone.md`; then `a` adds `new.md`,
/// edits `old.md` and deletes `gone.md`, and both sync again. Returns the older head.
fn history_with_a_newer_head<'w>(w: &'w World) -> (Device<'w>, Device<'w>, ObjectId) {
    let (a, b) = synced_pair(
        w,
        &[("old.md", "old v1", 1), ("gone.md", "deleted later", 2)],
    );
    let older = w.hub_head().unwrap();
    a.write("new.md", "written after the backup", 10);
    a.write("old.md", "old v2", 11);
    a.remove("gone.md");
    a.sync();
    b.sync();
    (a, b, older)
}

#[test]
fn hostile_folder_hub_rolled_back_head_is_refused_then_republished() {
    let w = World::new();
    let (a, b, older) = history_with_a_newer_head(&w);
    // The hub folder is restored from a backup taken before the last sync (its packs stay).
    set_head(&w.hub, older);
    a.write("unsynced.md", "typed while the hub was old", 20);
    let kept = Unchanged::take(&w, &a);
    let hub_files = snapshot_of_folder(&w.hub.join("packs"));
    let run = a.run("sync", &[]).failed();
    for part in [
        "went back in time",
        &w.hub.display().to_string(),
        &older.short(),
        "syncd sync --republish",
        "Nothing was changed",
    ] {
        assert!(run.stderr.contains(part), "`{part}` not said: {run:?}");
    }
    kept.check(&w, &a, "refused round");
    assert_eq!(
        snapshot_of_folder(&w.hub.join("packs")),
        hub_files,
        "the refused round changed the hub's packs"
    );
    // `syncd status` and the agent's next round still refuse; b refuses too.
    b.run("sync", &[]).failed();
    // The way forward: this device's copy goes back on the hub.
    a.run("sync", &["--republish"]).ok();
    b.sync();
    assert_converged(&[&a, &b]);
    for d in [&a, &b] {
        assert_eq!(
            d.read("new.md").as_deref(),
            Some("written after the backup")
        );
        assert_eq!(d.read("old.md").as_deref(), Some("old v2"));
        assert_eq!(
            d.read("unsynced.md").as_deref(),
            Some("typed while the hub was old")
        );
        assert_eq!(d.read("gone.md"), None, "a deletion came back");
    }
}

#[test]
fn hostile_folder_hub_restored_and_written_since_is_refused_then_merged_without_loss() {
    let w = World::new();
    let (a, b, older) = history_with_a_newer_head(&w);
    // Restored from a backup, then a third device that never saw the newer head writes to it.
    set_head(&w.hub, older);
    let c = w.device("c");
    c.write("from-c.md", "c's note", 30);
    c.init();
    c.sync();
    let kept = Unchanged::take(&w, &a);
    let run = a.run("sync", &[]).failed();
    for part in ["no longer holds the snapshot", "syncd sync --republish"] {
        assert!(run.stderr.contains(part), "`{part}` not said: {run:?}");
    }
    kept.check(&w, &a, "refused round");
    a.run("sync", &["--republish"]).ok();
    b.run("sync", &["--republish"]).ok();
    c.sync();
    a.sync();
    assert_converged(&[&a, &b, &c]);
    for d in [&a, &b, &c] {
        assert_eq!(
            d.read("new.md").as_deref(),
            Some("written after the backup")
        );
        assert_eq!(d.read("from-c.md").as_deref(), Some("c's note"));
        assert!(
            d.files().values().any(|b| b == b"old v2"),
            "the edit was lost"
        );
    }
}

#[test]
fn hostile_folder_hub_head_of_another_vault_is_refused() {
    let w = World::new();
    let (a, _b) = synced_pair(&w, &[("mine.md", "this vault", 1)]);
    let own = w.hub_head().unwrap();
    // Another vault, synced to its own hub; its packs copied into ours and head pointed there.
    let other = World::new();
    let o = other.device("other");
    o.write("theirs.md", "another vault", 2);
    o.init();
    o.sync();
    for pack in other.hub_packs() {
        fs::copy(&pack, w.hub.join("packs").join(pack.file_name().unwrap())).unwrap();
    }
    let foreign = other.hub_head().unwrap();
    set_head(&w.hub, foreign);
    a.write("local.md", "not synced yet", 3);
    let kept = Unchanged::take(&w, &a);
    let run = a.run("sync", &[]).failed();
    for part in ["holds another history", "shares nothing", &foreign.short()] {
        assert!(run.stderr.contains(part), "`{part}` not said: {run:?}");
    }
    kept.check(&w, &a, "refused round");
    assert!(a.read("theirs.md").is_none());
    // The hub set right again: everything syncs as before.
    set_head(&w.hub, own);
    a.sync();
    a.assert_verified();
    assert_eq!(a.read("local.md").as_deref(), Some("not synced yet"));
    // A device that never synced may still join a hub that has its own history (as today).
    let fresh = w.device("fresh");
    fresh.write("fresh.md", "new device", 4);
    fresh.init();
    fresh.sync();
    assert_eq!(fresh.read("mine.md").as_deref(), Some("this vault"));
}

/// The pack a round added to the hub (the newest by the list before and after).
fn added_pack(before: &[PathBuf], after: &[PathBuf]) -> PathBuf {
    let new: Vec<&PathBuf> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(!new.is_empty(), "no pack was added");
    new[0].clone()
}

#[test]
fn hostile_folder_hub_truncated_or_garbage_packs_change_nothing() {
    for damage in ["truncated", "garbage"] {
        let w = World::new();
        let (a, b) = synced_pair(&w, &[("a.md", "alpha", 1), ("b.md", "beta", 2)]);
        let before = w.hub_packs();
        b.write("b.md", "beta edited by b", 3);
        b.write("c.md", "gamma, new from b", 4);
        b.sync();
        let packs: Vec<PathBuf> = w.hub_packs();
        let pack = added_pack(&before, &packs);
        let good = fs::read(&pack).unwrap();
        let bad = match damage {
            "truncated" => good[..good.len() / 2].to_vec(),
            _ => {
                let mut g = good.clone();
                for (i, byte) in g.iter_mut().enumerate() {
                    *byte = (i as u8).wrapping_mul(31) ^ 0x5a;
                }
                g
            }
        };
        fs::write(&pack, &bad).unwrap();
        a.write("local.md", "a's unsynced note", 5);
        let folder = folder_state(&a.root);
        let base = a.base();
        let run = a.run("sync", &[]);
        assert!(
            run.code != Some(0),
            "{damage}: the round succeeded: {run:?}"
        );
        assert!(
            run.stderr.contains(&w.hub.display().to_string()) || run.stdout.contains("damaged"),
            "{damage}: the hub is not named: {run:?}"
        );
        assert_eq!(
            folder_state(&a.root),
            folder,
            "{damage}: the folder changed"
        );
        assert_eq!(a.base(), base, "{damage}: base moved");
        // Healthy again: the devices converge, nothing lost.
        fs::write(&pack, &good).unwrap();
        a.sync();
        b.sync();
        assert_converged(&[&a, &b]);
        assert_eq!(a.read("c.md").as_deref(), Some("gamma, new from b"));
        assert_eq!(b.read("local.md").as_deref(), Some("a's unsynced note"));
    }
}
