//! A real history (three devices syncing through a folder hub: edits, a conflict, a rename,
//! a deletion, an attachment, a non-ASCII name) exported, with the real `git` binary as the
//! judge.

mod common;

use std::path::Path;

use common::{World, assert_exported, git, noise, text, world};
use vault_git::{ExportOptions, export};

/// A history with what users do: notes, a binary attachment, a large file, a non-ASCII name, an edit on
/// two devices at once (a conflict: the older version kept in `.revisions/`), a rename, a
/// deletion.
fn history() -> World {
    let w = world();
    w.write(0, "notes/a.md", b"# A\n\n- [ ] task\n", 1);
    w.write(0, "caf\u{e9}/menu.md", b"soup\n", 2);
    w.write(0, "media/pic.png", &[0, 159, 146, 150, 255, 0, 1, 2], 3);
    // Above the chunking threshold: on the hub as chunks, in git as one blob.
    w.write(0, "media/talk.mp4", &noise(3 << 20, 7), 4);
    w.sync(0);
    w.sync(1);
    w.sync(2);
    w.write(1, "notes/a.md", b"# A\n\n- [x] task\n", 10);
    w.write(2, "notes/a.md", b"# A\n\n- [ ] task\n- [ ] more\n", 11);
    w.write(2, "notes/b.md", b"b\n", 12);
    w.sync(1);
    w.sync(2);
    w.sync(1);
    std::fs::rename(
        w.devices[0].root().join("caf\u{e9}/menu.md"),
        w.devices[0].root().join("caf\u{e9}/lunch.md"),
    )
    .unwrap();
    w.sync(0);
    std::fs::remove_file(w.devices[0].root().join("notes/b.md")).unwrap();
    w.sync(0);
    for dev in 0..3 {
        w.sync(dev);
    }
    w
}

#[test]
fn an_exported_history_is_a_git_history_of_the_same_files() {
    let w = history();
    let repo = w.path("export.git");
    let report = export(&w.hub, Some(w.head()), &repo, ExportOptions::default()).unwrap();
    assert!(report.moved && report.written >= 5, "{report:?}");

    assert_exported(&repo, &w.hub, w.head());
    let log = text(git(&repo, &["log", "--format=%s", "main"]));
    assert!(log.contains("1 renamed: caf\u{e9}/lunch.md"), "{log}");
    assert!(log.contains("1 deleted: notes/b.md"), "{log}");
}

#[test]
fn a_second_export_writes_nothing_and_two_exports_agree() {
    let w = history();
    let first = w.path("one.git");
    export(&w.hub, Some(w.head()), &first, ExportOptions::default()).unwrap();
    let refs = git(&first, &["show-ref"]);
    let again = export(&w.hub, Some(w.head()), &first, ExportOptions::default()).unwrap();
    assert_eq!((again.written, again.moved), (0, false), "{again:?}");
    assert_eq!(git(&first, &["show-ref"]), refs);

    // Another export elsewhere (another device's, another run) makes the very same commits.
    let second = w.path("two.git");
    export(&w.hub, Some(w.head()), &second, ExportOptions::default()).unwrap();
    assert_eq!(git(&second, &["show-ref"]), refs);

    // New snapshots: only they are written.
    w.write(1, "notes/c.md", b"c\n", 40);
    w.sync(1);
    let more = export(&w.hub, Some(w.head()), &first, ExportOptions::default()).unwrap();
    assert_eq!((more.written, more.moved), (1, true), "{more:?}");
    git(&first, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn revisions_are_left_out_unless_asked_for() {
    let w = history();
    let plain = w.path("plain.git");
    let with = w.path("with.git");
    export(&w.hub, Some(w.head()), &plain, ExportOptions::default()).unwrap();
    let options = ExportOptions {
        include_revisions: true,
        ..ExportOptions::default()
    };
    export(&w.hub, Some(w.head()), &with, options).unwrap();
    let tree = |repo: &Path| text(git(repo, &["ls-tree", "-r", "--name-only", "main"]));
    assert!(!tree(&plain).contains(".revisions/"));
    assert!(tree(&with).contains(".revisions/notes/"), "{}", tree(&with));
}

#[test]
fn a_folder_that_is_not_an_export_is_refused() {
    let w = history();
    let dir = w.path("mine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine\n").unwrap();
    let err = export(&w.hub, Some(w.head()), &dir, ExportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not an empty folder"), "{err}");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine\n");
}

/// What a file server hands git's dumb HTTP client: `info/refs` and `objects/info/packs` as
/// the real `git update-server-info` writes them.
#[test]
fn the_files_for_a_dumb_http_clone_are_what_git_writes() {
    let w = history();
    let repo = w.path("served.git");
    let packing = ExportOptions {
        pack_loose_at: 1,
        ..ExportOptions::default()
    };
    export(&w.hub, Some(w.head()), &repo, packing).unwrap();
    let ours = |p: &str| std::fs::read(repo.join(p)).unwrap();
    let (refs, packs) = (ours("info/refs"), ours("objects/info/packs"));
    git(&repo, &["update-server-info"]);
    assert_eq!(text(refs), text(ours("info/refs")));
    assert_eq!(text(packs), text(ours("objects/info/packs")));
}

/// `git count-objects -v` as (name, number) pairs.
fn count_objects(repo: &Path) -> std::collections::HashMap<String, u64> {
    text(git(repo, &["count-objects", "-v"]))
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Past the threshold the loose objects become a pack (and only then leave), which git reads
/// as it reads its own: the same files at every commit, nothing loose left, a later export's
/// objects packed on their own.
#[test]
fn loose_objects_past_the_threshold_are_packed_and_git_reads_the_pack() {
    let w = history();
    let repo = w.path("packed.git");
    let packing = ExportOptions {
        pack_loose_at: 1,
        ..ExportOptions::default()
    };
    let report = export(&w.hub, Some(w.head()), &repo, packing).unwrap();
    assert!(report.packed > 10, "{report:?}");
    assert_exported(&repo, &w.hub, w.head());
    let counts = count_objects(&repo);
    assert_eq!(counts["count"], 0, "loose objects left: {counts:?}");
    assert_eq!(counts["packs"], 1, "{counts:?}");
    assert_eq!(counts["in-pack"] as usize, report.packed);
    let pack_dir = repo.join("objects/pack");
    let names = |dir: &Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    };
    let files = names(&pack_dir);
    assert_eq!(
        files.len(),
        2,
        "a pack and its index, nothing else: {files:?}"
    );
    let idx = pack_dir.join(files.iter().find(|f| f.ends_with(".idx")).unwrap());
    git(&repo, &["verify-pack", idx.to_str().unwrap()]);

    // Below the threshold, new objects stay loose; past it, they make a pack of their own.
    // Temporary files of an export that died go.
    let dead = [
        repo.join(".tmp-blob-999999999"),
        pack_dir.join(".tmp-stream-999999999"),
    ];
    for leftover in &dead {
        std::fs::write(leftover, b"half").unwrap();
    }
    w.write(1, "notes/c.md", b"c\n", 40);
    w.sync(1);
    let loose = export(&w.hub, Some(w.head()), &repo, ExportOptions::default()).unwrap();
    assert_eq!((loose.written, loose.packed), (1, 0), "{loose:?}");
    assert!(count_objects(&repo)["count"] > 0);
    assert!(dead.iter().all(|p| !p.exists()), "leftovers stayed");
    w.write(2, "notes/d.md", b"d\n", 41);
    w.sync(2);
    let more = export(&w.hub, Some(w.head()), &repo, packing).unwrap();
    assert!(more.packed > 0, "{more:?}");
    assert_eq!(count_objects(&repo)["packs"], 2);
    assert_exported(&repo, &w.hub, w.head());
}

/// Packs do not pile up: once there are `MAX_PACKS`, the next packing merges them all.
#[test]
fn packs_past_the_limit_are_merged_into_one() {
    let w = history();
    let repo = w.path("merged.git");
    let packing = ExportOptions {
        pack_loose_at: 1,
        ..ExportOptions::default()
    };
    export(&w.hub, Some(w.head()), &repo, packing).unwrap();
    for i in 1..vault_git::pack::MAX_PACKS {
        w.write(
            1,
            &format!("notes/n{i}.md"),
            format!("{i}\n").as_bytes(),
            50 + i as i64,
        );
        w.sync(1);
        export(&w.hub, Some(w.head()), &repo, packing).unwrap();
        assert_eq!(count_objects(&repo)["packs"] as usize, i + 1);
    }
    let before = count_objects(&repo)["in-pack"];
    w.write(1, "notes/last.md", b"last\n", 99);
    w.sync(1);
    let merged = export(&w.hub, Some(w.head()), &repo, packing).unwrap();
    let counts = count_objects(&repo);
    assert_eq!((counts["packs"], counts["count"]), (1, 0), "{counts:?}");
    assert!(counts["in-pack"] > before, "{counts:?}");
    assert_eq!(merged.packed as u64, counts["in-pack"]);
    assert_exported(&repo, &w.hub, w.head());
    let info = std::fs::read_to_string(repo.join("objects/info/packs")).unwrap();
    assert_eq!(
        info.lines().filter(|l| l.starts_with("P ")).count(),
        1,
        "{info}"
    );
    git(&repo, &["fsck", "--strict", "--no-dangling"]);
}
