//! The narrow steps, hit with the test hook `VAULT_SYNC_TEST_CRASH_AT` (vault::crash_hook):
//! a conflict's revision write, and a head move on a hub folder and on a server.

use crate::common::World;
use crate::common::server::Server;
use crate::server::server_pair;
use crate::{
    aborted_by_hook, assert_fsck_clean, assert_old_or_new, assert_server_fsck_clean, converge,
    folder_pair,
};
use vault::crash_hook::ENV;

#[test]
fn a_sync_killed_between_a_conflicts_revision_and_the_hubs_version_loses_nothing() {
    let w = World::new();
    let (a, b) = folder_pair(&w, 5);
    a.write("shared.md", "the laptop's words\n", 500);
    a.sync();
    // The desktop's edit is older: it goes to `.revisions/`, the laptop's takes the path.
    b.write("shared.md", "the desktop's words\n", 400);
    let old = b.files();
    let out = b
        .command("sync", &[])
        .env(ENV, "revision-kept")
        .output()
        .unwrap();
    assert!(
        aborted_by_hook(&out, "revision-kept"),
        "the hook did not fire: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = b.files();
    let kept = now
        .iter()
        .any(|(p, bytes)| p.starts_with(".revisions/") && bytes == b"the desktop's words\n");
    assert!(
        kept,
        "the desktop's version is in `.revisions/`: {:?}",
        now.keys()
    );
    // Every other file is as it was; `shared.md` waits for the hub's version.
    let mut others = old.clone();
    others.remove("shared.md");
    let mut now_others = now.clone();
    now_others.remove("shared.md");
    assert_old_or_new(
        &now_others,
        &others,
        &a.files(),
        "killed after the revision",
    );
    assert_fsck_clean(&b, "killed after the revision");

    converge(&[&a, &b]);
    assert_eq!(b.read("shared.md").as_deref(), Some("the laptop's words\n"));
    assert_eq!(b.revisions_holding("the desktop's words\n").len(), 1);
}

#[test]
fn a_sync_killed_holding_the_head_lock_of_a_hub_folder_leaves_a_hub_that_checks_clean() {
    let w = World::new();
    let (a, b) = folder_pair(&w, 5);
    let head = w.hub_head();
    a.write("new.md", "published after the crash\n", 600);
    let out = a
        .command("sync", &[])
        .env(ENV, "head-moving")
        .output()
        .unwrap();
    assert!(
        aborted_by_hook(&out, "head-moving"),
        "the hook did not fire: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.hub_head(), head, "the head did not move");
    assert!(w.hub.join("refs/head.lock").exists(), "the lock was left");
    let report = assert_fsck_clean(&a, "killed holding the head's lock");
    let stale = report["hub"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "stale-lock" && p["severity"] == "warning");
    assert!(stale, "fsck names the stale lock as a warning: {report}");
    // The next round breaks the lock (its process is gone) and publishes.
    converge(&[&a, &b]);
    assert_eq!(
        b.read("new.md").as_deref(),
        Some("published after the crash\n")
    );
    assert!(!w.hub.join("refs/head.lock").exists());
}

#[test]
fn a_server_killed_holding_a_vaults_head_lock_restarts_and_converges() {
    let w = World::new();
    let (server, data, a, b) = server_pair(&w);
    let addr = server.addr();
    server.stop();
    let mut server = Server::start_with_env(&data, &addr, &[], &[(ENV, "head-moving")]);
    a.write("new.md", "pushed while the server died\n", 700);
    let run = a.run("sync", &[]);
    assert_ne!(run.code, Some(0), "the round could not finish");
    server.wait_for("head-moving: aborting here");
    server.signal_and_wait(libc::SIGKILL);
    let lock = data.join("vaults/alice/notes/refs/head.lock");
    assert!(lock.exists(), "the server died holding the lock");
    assert_server_fsck_clean(&data, "server killed holding the head's lock");
    let _server = Server::start_at(&data, &addr, &[]);
    assert_fsck_clean(&a, "server restarted");
    converge(&[&a, &b]);
    assert_eq!(
        b.read("new.md").as_deref(),
        Some("pushed while the server died\n")
    );
}
