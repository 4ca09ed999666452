//! `syncd history export`: the real binary on real devices, and the real `git` as the judge
//! (its clone, its view of `main`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{World, assert_converged, noise, synced_pair};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn history_export_on_two_devices_gives_one_history_that_git_clones() {
    let w = World::new();
    let (laptop, desktop) = synced_pair(
        &w,
        &[("notes/a.md", "# A\n", 1), ("caf\u{e9}.md", "menu\n", 2)],
    );
    desktop.write("notes/a.md", "# A\n\nmore\n", 10);
    desktop.sync();
    laptop.sync();

    let one = w.path().join("laptop.git");
    let two = w.path().join("desktop.git");
    let to = |dir: &Path| dir.display().to_string();
    let first = laptop
        .run("history", &["export", "--to", &to(&one), "--json"])
        .ok()
        .json();
    assert_eq!(first["moved"], true, "{first}");
    let other = desktop
        .run("history", &["export", "--to", &to(&two), "--json"])
        .ok()
        .json();
    assert_eq!(
        first["head"], other["head"],
        "the same commits on both devices"
    );

    // Off a terminal, a long export says how far it got on stderr (here: at every snapshot);
    // with --json, nothing but the JSON.
    let third = w.path().join("third.git");
    let out = desktop
        .command("history", &["export", "--to", &to(&third)])
        .env("VAULT_SYNC_PROGRESS_INTERVAL_MS", "0")
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("exporting: 2 of 2 snapshots"), "{said}");
    let out = desktop
        .command(
            "history",
            &[
                "export",
                "--to",
                &to(&w.path().join("fourth.git")),
                "--json",
            ],
        )
        .env("VAULT_SYNC_PROGRESS_INTERVAL_MS", "0")
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Run again: nothing new, no ref moved.
    let again = laptop
        .run("history", &["export", "--to", &to(&one), "--json"])
        .ok()
        .json();
    assert_eq!(
        (&again["written"], &again["moved"]),
        (&0.into(), &false.into())
    );

    // A clone's `main` holds the vault's files.
    git(w.path(), &["clone", "-q", &to(&one), "cloned"]);
    let cloned = w.path().join("cloned");
    assert_eq!(
        std::fs::read_to_string(cloned.join("notes/a.md")).unwrap(),
        "# A\n\nmore\n"
    );
    assert_eq!(
        std::fs::read_to_string(cloned.join("caf\u{e9}.md")).unwrap(),
        "menu\n"
    );
    let head = git(&cloned, &["rev-parse", "HEAD"]);
    assert_eq!(head.trim(), first["head"].as_str().unwrap());
    let authors = git(&cloned, &["log", "--format=%an"]);
    assert!(authors.lines().any(|a| a == "desktop"), "{authors}");
    assert!(authors.lines().any(|a| a == "laptop"), "{authors}");
}

#[test]
fn history_export_refuses_a_folder_that_holds_something_else() {
    let w = World::new();
    let (laptop, _) = synced_pair(&w, &[("a.md", "a\n", 1)]);
    let dir = w.path().join("mine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine\n").unwrap();
    let run = laptop
        .run("history", &["export", "--to", &dir.display().to_string()])
        .failed();
    assert!(run.stderr.contains("not an empty folder"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "mine\n"
    );
}

/// `syncd ARGS` output bytes (the command must succeed).
fn syncd_bytes(device: &common::Device, command: &str, args: &[&str]) -> Vec<u8> {
    let out = device.command(command, args).output().expect("syncd runs");
    assert!(
        out.status.success(),
        "syncd {command} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Three devices, a conflict and its merge, a rename, a deletion, a binary attachment and a
/// non-ASCII name: `git log` tells the history `syncd log` tells (authors, dates, parents),
/// and `git show COMMIT:PATH` is `syncd show --at SNAPSHOT PATH` for every file of every
/// commit.
#[test]
fn git_log_and_git_show_tell_what_syncd_log_and_syncd_show_tell() {
    let w = World::new();
    let laptop = w.device("laptop");
    laptop.write("notes/a.md", "# A\n\n- [ ] task\n", 1);
    laptop.write("caf\u{e9}/menu.md", "soup\n", 2);
    std::fs::create_dir_all(laptop.path("media")).unwrap();
    std::fs::write(laptop.path("media/pic.png"), noise(5000, 3)).unwrap();
    laptop.init().sync();
    let desktop = w.device("desktop");
    desktop.init().sync();
    let phone = w.device("phone");
    phone.init().sync();
    desktop.write("notes/a.md", "# A\n\n- [x] task\n", 10);
    phone.write("notes/a.md", "# A\n\n- [ ] task\n- [ ] more\n", 11);
    phone.write("notes/b.md", "b\n", 12);
    desktop.sync();
    phone.sync();
    desktop.sync();
    laptop.sync();
    std::fs::rename(
        laptop.path("caf\u{e9}/menu.md"),
        laptop.path("caf\u{e9}/lunch.md"),
    )
    .unwrap();
    laptop.sync();
    std::fs::remove_file(laptop.path("notes/b.md")).unwrap();
    laptop.sync();
    for d in [&desktop, &phone] {
        d.sync();
    }
    assert_converged(&[&laptop, &desktop, &phone]);
    // A tablet kept notes through a hub folder of its own; the phone moves the vault there:
    // the two histories are merged (a snapshot with two parents).
    let tablet = w.device("tablet");
    tablet.write("tablet.md", "from the tablet\n", 20);
    let other_hub = w.path().join("tablet-hub");
    let (root, hub) = (
        tablet.root.display().to_string(),
        other_hub.display().to_string(),
    );
    std::fs::create_dir_all(&tablet.root).unwrap();
    w.syncd(&[
        "init", "--vault", &root, "--hub", &hub, "--device", "tablet",
    ])
    .ok();
    tablet.sync();
    let phone_root = phone.root.display().to_string();
    w.syncd(&["hub", "set", &hub, "--vault", &phone_root]).ok();
    phone.sync();
    assert_eq!(
        phone.read("tablet.md").as_deref(),
        Some("from the tablet\n")
    );

    let repo = w.path().join("history.git");
    phone
        .run("history", &["export", "--to", &repo.display().to_string()])
        .ok();
    git(&repo, &["fsck", "--strict", "--no-dangling"]);

    let log: serde_json::Value =
        serde_json::from_slice(&syncd_bytes(&phone, "log", &["--json"])).unwrap();
    let snapshots = log.as_array().unwrap();
    let commits = git(
        &repo,
        &[
            "log",
            "--format=%H|%an|%ae|%at|%ct|%P|%(trailers:key=Vault-Snapshot,valueonly,separator=)",
            "main",
        ],
    );
    let commits: Vec<Vec<&str>> = commits.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(commits.len(), snapshots.len(), "one commit per snapshot");
    let snapshot_of: std::collections::HashMap<&str, &str> =
        commits.iter().map(|c| (c[0], c[6])).collect();
    let mut merges = 0;
    for (c, s) in commits.iter().zip(snapshots) {
        assert_eq!(
            c[6],
            s["snapshot"].as_str().unwrap(),
            "the same order as syncd log"
        );
        assert_eq!(c[1], s["device_name"].as_str().unwrap());
        assert_eq!(
            c[2],
            format!("{}@vault-sync", s["device_id"].as_str().unwrap())
        );
        let secs = s["time_ns"].as_i64().unwrap().div_euclid(1_000_000_000);
        assert_eq!(
            (c[3], c[4]),
            (secs.to_string().as_str(), secs.to_string().as_str())
        );
        let parents: Vec<&str> = c[5].split_whitespace().map(|p| snapshot_of[p]).collect();
        let expected: Vec<&str> = s["parents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(parents, expected, "parents of {}", c[6]);
        assert_eq!(
            git(&repo, &["notes", "show", c[0]]).trim(),
            c[6],
            "the note"
        );
        merges += usize::from(parents.len() > 1);

        for path in git(&repo, &["ls-tree", "-r", "--name-only", "-z", c[0]]).split('\0') {
            if path.is_empty() {
                continue;
            }
            let in_git = Command::new("git")
                .args(["show", &format!("{}:{path}", c[0])])
                .current_dir(&repo)
                .output()
                .unwrap()
                .stdout;
            let in_vault = syncd_bytes(&phone, "show", &["--at", c[6], path]);
            assert!(in_git == in_vault, "{path} at {}", c[6]);
        }
    }
    assert!(merges > 0, "the conflict was merged: {commits:?}");
    // main is the vault as it is now.
    let head_files = git(&repo, &["ls-tree", "-r", "--name-only", "-z", "main"]);
    let head_files: Vec<&str> = head_files.split_terminator('\0').collect();
    assert_eq!(
        head_files,
        vec![
            "caf\u{e9}/lunch.md",
            "media/pic.png",
            "notes/a.md",
            "tablet.md"
        ],
        "{head_files:?}"
    );
}
