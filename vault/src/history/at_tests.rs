//! `deleted`, `snapshot_at`, `show` and `restore_at` against a real folder hub whose snapshots
//! are built by hand (helpers in history_tests.rs).

use super::tests::{id, p, publish, watched, world};
use super::*;
use crate::restore::{FileOutcome, RestoreError, restore_at};
use crate::test_hub::{Damage, FaultyHub};

const S: i64 = 1_000_000_000;

fn del(d: &Deletion) -> (&str, &str, Option<&str>) {
    (
        d.path.as_str(),
        d.device_name.as_str(),
        d.renamed_to.as_ref().map(|p| p.as_str()),
    )
}

#[test]
fn deleted_lists_each_file_by_snapshot_with_renames() {
    let w = world();
    let files = [
        ("a.md", "a"),
        ("d/x.md", "x"),
        ("d/y/z.md", "z"),
        ("m.md", "moved"),
    ];
    let s1 = publish(&w.hub, &files, &[], 1);
    let s2 = publish(
        &w.hub,
        &[("a.md", "a2"), ("n.md", "moved"), ("d", "a file now")],
        &[s1],
        2,
    );
    let s3 = publish(&w.hub, &[("n.md", "moved"), ("d", "a file now")], &[s2], 3);

    let all = deleted(&w.vault, &w.hub, None, usize::MAX).unwrap();
    let got: Vec<_> = all.iter().map(del).collect();
    assert_eq!(
        got,
        [
            ("a.md", "dev3", None),
            ("d/x.md", "dev2", None),
            ("d/y/z.md", "dev2", None),
            ("m.md", "dev2", Some("n.md")),
        ]
    );
    assert_eq!((all[0].snapshot, all[0].before), (s3, s2));
    assert_eq!((all[1].snapshot, all[1].before), (s2, s1));
    assert_eq!(all[0].time_ns, 3 * S);
    assert_eq!((all[1].id, all[1].size), (id("x"), 1));

    let under = |path: &str, limit| {
        deleted(&w.vault, &w.hub, Some(&p(path)), limit)
            .unwrap()
            .iter()
            .map(|d| d.path.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(under("d", usize::MAX), ["d/x.md", "d/y/z.md"]);
    assert_eq!(under("d/y", usize::MAX), ["d/y/z.md"]);
    assert_eq!(under("a.md", usize::MAX), ["a.md"]);
    assert!(
        under("a", usize::MAX).is_empty(),
        "`a` is not a folder of a.md"
    );
    assert_eq!(under("d", 1), ["d/x.md"]);
    assert_eq!(deleted(&w.vault, &w.hub, None, 2).unwrap().len(), 2);
}

#[test]
fn deleted_reads_only_the_subtrees_that_differ() {
    let w = world();
    let mut files: Vec<(String, String)> = (0..40)
        .map(|i| (format!("f{i:02}/note.md"), format!("v{i}")))
        .collect();
    let mut parent = None;
    for round in 0..5i64 {
        if round > 0 {
            files.remove(0); // each round deletes one folder's only note
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let parents: Vec<ObjectId> = parent.into_iter().collect();
        parent = Some(publish(&w.hub, &refs, &parents, round + 1));
    }
    let hub = watched(&w.hub, false);
    let found = deleted(&w.vault, &hub, None, usize::MAX).unwrap();
    assert_eq!(found.len(), 4);
    // 5 snapshots, 5 root trees and the 4 deleted folders: nothing of the 36 untouched ones
    // (flattening every snapshot would read 5 x 41 trees).
    assert!(
        hub.fetched.get() <= 14,
        "fetched {} objects",
        hub.fetched.get()
    );
}

#[test]
fn at_names_a_snapshot_by_prefix_or_by_time() {
    let w = world();
    assert!(matches!(
        snapshot_at(&w.vault, &w.hub, &At::Time(0)),
        Err(HistoryError::NoHistory)
    ));
    let s1 = publish(&w.hub, &[("a.md", "1")], &[], 10);
    let s2 = publish(&w.hub, &[("a.md", "2")], &[s1], 20);
    let at = |a: At| snapshot_at(&w.vault, &w.hub, &a).map(|e| e.snapshot);
    assert_eq!(at(At::Time(10 * S)).unwrap(), s1, "at its time exactly");
    assert_eq!(at(At::Time(20 * S - 1)).unwrap(), s1);
    assert_eq!(at(At::Time(25 * S)).unwrap(), s2);
    let early = at(At::Time(9 * S)).unwrap_err();
    assert!(
        matches!(early, HistoryError::TooEarly { .. }) && early.to_string().contains(&s1.short()),
        "{early}"
    );
    assert_eq!(at(At::snapshot(&s2.to_hex()[..6]).unwrap()).unwrap(), s2);
    assert_eq!(
        at(At::snapshot(&s1.to_hex().to_uppercase()).unwrap()).unwrap(),
        s1
    );
    let other = if s1.to_hex().starts_with("0000") {
        "ffff"
    } else {
        "0000"
    };
    let other = if s2.to_hex().starts_with(other) {
        "1234"
    } else {
        other
    };
    assert!(matches!(
        at(At::Snapshot(other.into())),
        Err(HistoryError::UnknownSnapshot(_))
    ));
    assert!(matches!(
        at(At::Snapshot("xyz".into())),
        Err(HistoryError::BadSnapshotName(_))
    ));
    assert!(At::snapshot("abc").is_none() && At::snapshot("2h").is_none());
}

#[test]
fn show_gives_exact_bytes_and_says_where_a_missing_path_is() {
    let w = world();
    let s1 = publish(&w.hub, &[("a.md", "one"), ("d/b.md", "b")], &[], 1);
    let s2 = publish(&w.hub, &[("d/b.md", "b")], &[s1], 2);
    let s3 = publish(&w.hub, &[("a.md", "three"), ("d/b.md", "b")], &[s2], 3);

    let v = show(&w.vault, &w.hub, &p("a.md"), &At::Time(2 * S - 1)).unwrap();
    assert_eq!((v.bytes.as_slice(), v.snapshot.snapshot), (&b"one"[..], s1));
    assert_eq!(v.meta.id, id("one"));
    let v = show(&w.vault, &w.hub, &p("a.md"), &At::Time(9 * S)).unwrap();
    assert_eq!(v.bytes, b"three");

    let err = show(&w.vault, &w.hub, &p("a.md"), &At::Time(2 * S)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, HistoryError::NotThere(_)), "{text}");
    for want in [
        s2.short(),
        s1.short(),
        s3.short(),
        "syncd log a.md".to_string(),
    ] {
        assert!(text.contains(&want), "{want} missing: {text}");
    }
    let never = show(&w.vault, &w.hub, &p("never.md"), &At::Time(9 * S)).unwrap_err();
    assert!(never.to_string().contains("any snapshot"), "{never}");
    let folder = show(&w.vault, &w.hub, &p("d"), &At::Time(9 * S)).unwrap_err();
    assert!(matches!(folder, HistoryError::IsAFolder { .. }), "{folder}");

    // A blob damaged on the hub is refused, never printed.
    let hub = FaultyHub {
        damage: Damage::One(id("one")),
        ..FaultyHub::new(&w.hub)
    };
    let bad = show(&w.vault, &hub, &p("a.md"), &At::Time(S)).unwrap_err();
    assert!(matches!(bad, HistoryError::Damaged { .. }), "{bad}");
}

#[test]
fn restore_at_brings_a_folder_back_and_one_blocked_file_stops_no_other() {
    let w = world();
    let s1 = publish(
        &w.hub,
        &[("d/a.md", "a1"), ("d/b.md", "b1"), ("d/c.md", "c1")],
        &[],
        1,
    );
    publish(&w.hub, &[("d/a.md", "a2")], &[s1], 2);
    let root = w.vault.root();
    std::fs::create_dir_all(root.join("d/b.md")).unwrap(); // a folder where a file was
    std::fs::write(root.join("d/a.md"), "a now").unwrap();
    std::fs::write(root.join("d/c.md"), "c1").unwrap();
    std::fs::write(root.join("d/new.md"), "added since").unwrap();

    let report = restore_at(&w.vault, &w.hub, &p("d"), &At::Time(S)).unwrap();
    assert_eq!(report.snapshot, s1);
    let outcomes: Vec<_> = report
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("d/a.md", FileOutcome::Restored),
            ("d/b.md", FileOutcome::Failed),
            ("d/c.md", FileOutcome::Unchanged),
        ]
    );
    assert_eq!(
        (report.restored, report.unchanged, report.failed),
        (1, 1, 1)
    );
    assert!(report.files[1].error.as_ref().unwrap().contains("folder"));
    assert_eq!(std::fs::read(root.join("d/a.md")).unwrap(), b"a1");
    let kept = report.files[0].kept_current.as_ref().unwrap();
    assert_eq!(std::fs::read(kept.to_fs_path(root)).unwrap(), b"a now");
    assert_eq!(
        std::fs::read(root.join("d/new.md")).unwrap(),
        b"added since"
    );

    // Damaged bytes from the hub: refused before anything is written.
    std::fs::write(root.join("d/a.md"), "a later").unwrap();
    let hub = FaultyHub {
        damage: Damage::One(id("a1")),
        ..FaultyHub::new(&w.hub)
    };
    let err = restore_at(&w.vault, &hub, &p("d/a.md"), &At::Time(S)).unwrap_err();
    assert!(
        matches!(err, RestoreError::History(HistoryError::Damaged { .. })),
        "{err}"
    );
    assert_eq!(std::fs::read(root.join("d/a.md")).unwrap(), b"a later");
}
