//! `syncd history export`: the real binary on real devices, and the real `git` as the judge
//! (its clone, its view of `main`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{World, synced_pair};

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
