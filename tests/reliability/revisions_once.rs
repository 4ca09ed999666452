//! Point 7 of issue 15: a round that resolved a conflict (writing the losing version to
//! `.revisions/`) and then starts over, because another device published before its
//! compare-and-swap, must not write the same revision again: one lost version, one revision.

use std::fs;
use std::time::Duration;

use crate::common::agent::eventually;
use crate::common::server::{Server, add_user};
use crate::common::stuck::Gate;
use crate::common::{World, noise};

const PASSWORD: &str = "correct horse battery";

#[test]
fn revisions_once_conflict_retried_writes_one_revision() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &[]);
    // The laptop reaches the server through a gate that can hold its upload.
    let gate = Gate::start(&server.addr());
    let a = w.device("laptop");
    let c = w.device("desktop");
    a.join_server(&gate.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    c.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    a.write("note.md", "the first version", 1);
    fs::write(a.path("big.bin"), noise(1024 * 1024, 6)).unwrap();
    a.sync();
    c.sync();

    // Both edit the note; the laptop's edit is newer, so the desktop's version loses and the
    // laptop keeps it as a revision. The laptop also has a large attachment to upload again
    // (changed, not new: a new one's chunks would go while the scan cuts it, before the
    // conflict is resolved; a changed one's go after apply).
    c.write("note.md", "the desktop's version", 10);
    c.sync();
    a.write("note.md", "the laptop's version", 20);
    fs::write(a.path("big.bin"), noise(1024 * 1024, 7)).unwrap();

    // Hold the laptop's upload (its conflict is resolved in the folder by then) while the
    // desktop publishes something else: the laptop's compare-and-swap fails, it starts over.
    gate.hold_at(gate.sent() + 256 * 1024);
    let child = a.command("sync", &["--json"]).spawn().unwrap();
    eventually(Duration::from_secs(60), || gate.holding())
        .expect("the laptop's upload never started");
    assert_eq!(
        a.revisions_holding("the desktop's version").len(),
        1,
        "the first attempt resolved the conflict"
    );
    c.write("other.md", "published while the laptop uploads", 30);
    c.sync();
    gate.release();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["stats"]["attempts"].as_u64().unwrap() >= 2,
        "the round did not start over: {stdout}"
    );

    // One lost version, one revision, on both devices.
    c.sync();
    assert_eq!(
        a.revisions_holding("the desktop's version").len(),
        1,
        "{:?}",
        a.files().keys().collect::<Vec<_>>()
    );
    assert_eq!(
        c.revisions_holding("the desktop's version").len(),
        1,
        "{:?}",
        c.files().keys().collect::<Vec<_>>()
    );
    assert_eq!(a.read("note.md").as_deref(), Some("the laptop's version"));
    assert_eq!(c.read("note.md").as_deref(), Some("the laptop's version"));
    assert_eq!(
        a.read("other.md").as_deref(),
        Some("published while the laptop uploads")
    );
    crate::common::assert_converged(&[&a, &c]);
}
