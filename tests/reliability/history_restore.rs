//! Issue 15, point 5: every replaced or deleted version in the hub's history can be found and
//! brought back through the real `syncd`: `restore PATH --at SNAPSHOT|TIME` (a file, a deleted
//! file, a whole folder; the current versions kept as revisions), `show PATH --at` (the exact
//! bytes on stdout) and `log --deleted` (what went, when, on which device).

use std::fs;

use serde_json::Value;

use crate::common::server::{Server, add_user};
use crate::common::{Device, World, assert_converged, folder_state};

/// `syncd log --json` of `d`: the snapshots, newest first.
fn snapshots(d: &Device) -> Vec<Value> {
    d.run("log", &["--json"])
        .ok()
        .json()
        .as_array()
        .expect("a list of snapshots")
        .clone()
}

/// The hub's head snapshot (hex) as `d` sees it.
fn head(d: &Device) -> String {
    snapshots(d)[0]["snapshot"]
        .as_str()
        .expect("a snapshot id")
        .to_string()
}

/// `ns` since the epoch as an RFC 3339 time in UTC, to the nanosecond.
fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .expect("a time in range")
        .to_string()
}

#[test]
fn history_restore_deleted_note_at_time() {
    let w = World::new();
    let laptop = w.device("laptop");
    let phone = w.device("phone");
    laptop.init();
    phone.init();
    laptop.write("journal/ideas.md", "the idea worth keeping\n", 10);
    laptop.write("journal/today.md", "today\n", 10);
    laptop.write("other.md", "stays\n", 10);
    laptop.sync();
    phone.sync();
    let written = snapshots(&laptop)[0]["time_ns"].as_i64().expect("a time");

    // Deleted on another device, and the deletion reaches every device.
    phone.remove("journal/ideas.md");
    phone.sync();
    laptop.sync();
    assert_eq!(laptop.read("journal/ideas.md"), None);

    // Back by time: the newest snapshot at or before the moment it was written.
    let report = laptop
        .run(
            "restore",
            &["journal/ideas.md", "--at", &rfc3339(written), "--json"],
        )
        .ok()
        .json();
    assert_eq!(report["restored"], 1, "{report}");
    assert_eq!(report["files"][0]["path"], "journal/ideas.md", "{report}");
    assert_eq!(report["files"][0]["kept_current"], Value::Null, "{report}");
    assert_eq!(
        laptop.read("journal/ideas.md").as_deref(),
        Some("the idea worth keeping\n")
    );

    // A restored file syncs like any edit.
    laptop.sync();
    phone.sync();
    assert_eq!(
        phone.read("journal/ideas.md").as_deref(),
        Some("the idea worth keeping\n")
    );
    assert_converged(&[&laptop, &phone]);

    // A time before the first snapshot names no version: a clear error, nothing changed.
    let before = laptop
        .run("restore", &["other.md", "--at", "2001-01-01"])
        .failed();
    assert!(before.stderr.contains("no snapshot"), "{}", before.stderr);
}

#[test]
fn history_restore_folder_at_snapshot() {
    let w = World::new();
    let laptop = w.device("laptop");
    let phone = w.device("phone");
    laptop.init();
    phone.init();
    laptop.write("projects/plan.md", "plan v1\n", 10);
    laptop.write("projects/sub/notes.md", "notes v1\n", 10);
    laptop.write("elsewhere.md", "untouched\n", 10);
    laptop.sync();
    let first = head(&laptop);
    phone.sync();

    phone.write("projects/plan.md", "plan v2\n", 20);
    phone.remove("projects/sub/notes.md");
    phone.write("projects/new.md", "added since\n", 20);
    phone.write("elsewhere.md", "changed elsewhere\n", 20);
    phone.sync();
    laptop.sync();

    // The prefix `syncd log` prints names the snapshot.
    let report = laptop
        .run("restore", &["projects", "--at", &first[..12], "--json"])
        .ok()
        .json();
    assert_eq!(report["snapshot"], first.as_str(), "{report}");
    assert_eq!(report["restored"], 2, "{report}");
    assert_eq!(
        laptop.read("projects/plan.md").as_deref(),
        Some("plan v1\n")
    );
    assert_eq!(
        laptop.read("projects/sub/notes.md").as_deref(),
        Some("notes v1\n")
    );
    // The version it replaced is kept as a revision, as `restore REVISION` does.
    let kept = laptop.revisions_holding("plan v2\n");
    assert_eq!(kept.len(), 1, "{:?}", laptop.files().keys());
    // Restoring never deletes: a file added since stays; outside the folder nothing moves.
    assert_eq!(
        laptop.read("projects/new.md").as_deref(),
        Some("added since\n")
    );
    assert_eq!(
        laptop.read("elsewhere.md").as_deref(),
        Some("changed elsewhere\n")
    );

    // Again: everything is already as it was, nothing changes and no revision is added.
    let again = laptop
        .run("restore", &["projects", "--at", &first[..12], "--json"])
        .ok()
        .json();
    assert_eq!(again["restored"], 0, "{again}");
    assert_eq!(again["unchanged"], 2, "{again}");
    assert_eq!(laptop.revisions_holding("plan v2\n").len(), 1);

    laptop.sync();
    phone.sync();
    assert_eq!(phone.read("projects/plan.md").as_deref(), Some("plan v1\n"));
    assert_eq!(phone.revisions_holding("plan v2\n"), kept);
    assert_converged(&[&laptop, &phone]);
}

#[test]
fn history_show_prints_old_version() {
    let w = World::new();
    let laptop = w.device("laptop");
    laptop.init();
    // Every byte value, a NUL, CRLF and invalid UTF-8: stdout must carry them unchanged.
    let mut old: Vec<u8> = (0..=255u8).collect();
    old.extend_from_slice(b"\r\n\xff\xfe end\r\n");
    fs::write(laptop.path("scan.bin"), &old).unwrap();
    laptop.sync();
    let first = head(&laptop);
    let written = snapshots(&laptop)[0]["time_ns"].as_i64().unwrap();
    fs::write(laptop.path("scan.bin"), b"replaced\n").unwrap();
    laptop.write("later.md", "later\n", 10);
    laptop.sync();

    for at in [first[..12].to_string(), rfc3339(written)] {
        let out = laptop
            .command("show", &["scan.bin", "--at", &at])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, old, "show --at {at}");
    }
    let now = laptop
        .command("show", &["scan.bin", "--at", &head(&laptop)])
        .output()
        .unwrap();
    assert_eq!(now.stdout, b"replaced\n");

    // A path that did not exist then: the error names it and where it does exist.
    let absent = laptop
        .run("show", &["later.md", "--at", &first[..12]])
        .failed();
    assert!(
        absent.stderr.contains("later.md")
            && absent.stderr.contains(&head(&laptop)[..12])
            && absent.stderr.contains("syncd log"),
        "{}",
        absent.stderr
    );
    assert!(absent.stdout.is_empty());
}

#[test]
fn history_log_deleted_lists_device_and_time() {
    let w = World::new();
    let laptop = w.device("laptop");
    let phone = w.device("phone");
    laptop.init();
    phone.init();
    laptop.write("keep.md", "keep\n", 10);
    laptop.write("gone.md", "gone\n", 10);
    laptop.write("old/a.md", "a\n", 10);
    laptop.write("old/deep/b.md", "b\n", 10);
    laptop.write("moved.md", "moved content\n", 10);
    laptop.sync();
    phone.sync();

    phone.remove("gone.md");
    fs::remove_dir_all(phone.path("old")).unwrap();
    fs::rename(phone.path("moved.md"), phone.path("renamed.md")).unwrap();
    // Deleted on purpose: confirmed, should a guard take a whole folder for a lost mount.
    phone.run("sync", &["--allow-mass-delete"]).ok();
    let deleting = snapshots(&phone)[0].clone();

    let listed = laptop.run("log", &["--deleted", "--json"]).ok().json();
    let listed = listed.as_array().expect("a list of deletions");
    let paths: Vec<&str> = listed.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["gone.md", "moved.md", "old/a.md", "old/deep/b.md"],
        "{listed:?}"
    );
    for d in listed {
        assert_eq!(d["device_name"], "phone", "{d}");
        assert_eq!(d["snapshot"], deleting["snapshot"], "{d}");
        assert_eq!(d["time_ns"], deleting["time_ns"], "{d}");
    }
    assert_eq!(listed[1]["renamed_to"], "renamed.md");
    assert_eq!(listed[0]["renamed_to"], Value::Null);

    // Only under a folder; and the human form names device and snapshot.
    let old = laptop
        .run("log", &["--deleted", "old", "--json"])
        .ok()
        .json();
    assert_eq!(old.as_array().unwrap().len(), 2, "{old}");
    let human = laptop.run("log", &["--deleted"]).ok().stdout;
    let short = &deleting["snapshot"].as_str().unwrap()[..12];
    assert!(
        human.contains("gone.md") && human.contains("phone") && human.contains(short),
        "{human}"
    );

    // What the list names can be brought back.
    laptop
        .run(
            "restore",
            &[
                "old",
                "--at",
                &snapshots(&laptop)[1]["snapshot"].as_str().unwrap()[..12],
            ],
        )
        .ok();
    assert_eq!(laptop.read("old/deep/b.md").as_deref(), Some("b\n"));
}

#[test]
fn history_restore_hostile_path_refused() {
    let w = World::new();
    let laptop = w.device("laptop");
    laptop.init();
    laptop.write("note.md", "note\n", 10);
    laptop.sync();
    let at = head(&laptop);
    let before = folder_state(&laptop.root);
    let config = fs::read(laptop.path(".vault/config.toml")).unwrap();
    let outside = w.path().join("x");
    fs::write(&outside, "outside\n").unwrap();

    for path in ["../x", ".vault/config.toml", ".vault/x", "/etc/passwd"] {
        for command in ["restore", "show"] {
            let run = laptop.run(command, &[path, "--at", &at[..12]]).failed();
            assert_eq!(run.code, Some(1), "{command} {path}: {}", run.stderr);
            assert!(
                run.stderr.contains(path.trim_start_matches("../"))
                    && !run.stderr.contains("panicked"),
                "{command} {path}: {}",
                run.stderr
            );
            assert!(run.stdout.is_empty(), "{command} {path}: {}", run.stdout);
        }
    }
    assert_eq!(folder_state(&laptop.root), before);
    assert_eq!(fs::read(laptop.path(".vault/config.toml")).unwrap(), config);
    assert_eq!(fs::read(&outside).unwrap(), b"outside\n");
}

#[test]
fn history_restore_revision_form_still_works() {
    let w = World::new();
    let laptop = w.device("laptop");
    let phone = w.device("phone");
    laptop.init();
    phone.init();
    laptop.write("note.md", "base\n", 10);
    laptop.sync();
    phone.sync();
    laptop.write("note.md", "laptop edit\n", 20);
    phone.write("note.md", "phone edit\n", 30);
    laptop.sync();
    phone.sync();
    let revision = phone.revisions_holding("laptop edit\n").remove(0);

    let report = phone.run("restore", &[&revision, "--json"]).ok().json();
    assert_eq!(report["original"], "note.md", "{report}");
    assert_eq!(phone.read("note.md").as_deref(), Some("laptop edit\n"));
    assert_eq!(phone.revisions_holding("phone edit\n").len(), 1);
    // Without --at a path that is not a revision says how to reach the history.
    let err = phone.run("restore", &["note.md"]).failed().stderr;
    assert!(
        err.contains("not a revision") && err.contains("--at"),
        "{err}"
    );
}

#[test]
fn history_restore_through_server_hub() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", "correct horse battery");
    let server = Server::start(&data, &[]);
    let laptop = w.device("laptop");
    let phone = w.device("phone");
    laptop.write("a/note.md", "first\n", 10);
    laptop.write("a/keep.md", "kept\n", 10);
    laptop.write("other.md", "other\n", 10);
    for d in [&laptop, &phone] {
        d.join_server(
            &server.url,
            "alice",
            "correct horse battery",
            &["--vault-name", "notes"],
        )
        .ok();
        d.sync();
    }
    let first = head(&phone);
    laptop.remove("a/note.md");
    laptop.sync();
    phone.sync();
    assert_eq!(phone.read("a/note.md"), None);

    // The blob comes from the server: the phone never had it in its store.
    let deleted = phone.run("log", &["--deleted", "--json"]).ok().json();
    assert_eq!(deleted[0]["path"], "a/note.md", "{deleted}");
    assert_eq!(deleted[0]["device_name"], "laptop", "{deleted}");
    let shown = phone.run("show", &["a/note.md", "--at", &first]).ok();
    assert_eq!(shown.stdout, "first\n");
    phone.run("restore", &["a", "--at", &first[..12]]).ok();
    assert_eq!(phone.read("a/note.md").as_deref(), Some("first\n"));
    phone.sync();
    laptop.sync();
    assert_eq!(laptop.read("a/note.md").as_deref(), Some("first\n"));
}
