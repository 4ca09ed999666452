//! The history read from a hub alone (the server's web view) agrees with a device's.

use super::super::tests::{p, publish, world};
use super::*;
use crate::history::{FileChange, Known, log};

#[test]
fn a_hub_only_log_is_the_devices_log_and_pages_after_a_snapshot() {
    let w = world();
    let s1 = publish(&w.hub, &[("a.md", "a"), ("b/c.md", "c1")], &[], 1);
    let s2 = publish(&w.hub, &[("a.md", "a"), ("b/c.md", "c2")], &[s1], 2);
    let s3 = publish(&w.hub, &[("b/e.md", "c2"), ("d.md", "d")], &[s2], 3);
    for path in [None, Some(p("b/c.md")), Some(p("a.md"))] {
        assert_eq!(
            log_hub(&w.hub, path.as_ref(), usize::MAX).unwrap(),
            log(&w.vault, &w.hub, path.as_ref(), usize::MAX).unwrap()
        );
    }
    let mut h = HubHistory::new(&w.hub, Known::default());
    let page: Vec<_> = h
        .log(Some(s3), None, Some(s3), 1)
        .unwrap()
        .into_iter()
        .map(|e| e.snapshot)
        .collect();
    assert_eq!(page, [s2]);
    assert!(h.log(Some(s3), None, Some(s1), 5).unwrap().is_empty());
    let unknown = crate::id::ObjectId::of(b"nothing");
    assert!(matches!(
        h.log(Some(s3), None, Some(unknown), 5),
        Err(HistoryError::UnknownSnapshot(_))
    ));
    // Snapshots decoded once are handed on.
    let known = h.into_known();
    assert!(known.snapshots.contains_key(&s1) && known.snapshots.contains_key(&s3));
    assert!(
        known.tree_entries() == 0,
        "a log of everything reads no tree"
    );
}

#[test]
fn changes_of_a_snapshot_against_its_first_parent() {
    let w = world();
    let s1 = publish(&w.hub, &[("a.md", "a"), ("b/c.md", "c1")], &[], 1);
    let s2 = publish(
        &w.hub,
        &[("a.md", "a2"), ("b/e.md", "c1"), ("d.md", "d")],
        &[s1],
        2,
    );
    let mut h = HubHistory::new(&w.hub, Known::default());
    let first = h.snapshot(s1).unwrap();
    let (base, all) = h.changes(&first).unwrap().unwrap();
    assert_eq!(base, None);
    let all: Vec<String> = all.into_iter().map(|c| c.path.to_string()).collect();
    assert_eq!(all, ["a.md", "b/c.md"]);
    let second = h.snapshot(s2).unwrap();
    let (base, changes) = h.changes(&second).unwrap().unwrap();
    assert_eq!(base, Some(s1));
    let summary: Vec<(String, &'static str)> = changes
        .iter()
        .map(|c| {
            let kind = match &c.change {
                FileChange::Added {
                    renamed_from: Some(_),
                    ..
                } => "renamed-in",
                FileChange::Added { .. } => "added",
                FileChange::Modified { .. } => "modified",
                FileChange::Deleted {
                    renamed_to: Some(_),
                    ..
                } => "renamed-out",
                FileChange::Deleted { .. } => "deleted",
            };
            (c.path.to_string(), kind)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a.md".to_string(), "modified"),
            ("b/c.md".to_string(), "renamed-out"),
            ("b/e.md".to_string(), "renamed-in"),
            ("d.md".to_string(), "added"),
        ]
    );
    assert_eq!(h.file_at(s2, &p("d.md")).unwrap().unwrap().size, 1);
    assert!(h.file_at(s2, &p("a.md/x")).unwrap().is_none());
    assert!(h.file_at(s2, &p("b")).unwrap().is_none());
}

#[test]
fn the_author_is_the_device_that_introduced_the_content() {
    let w = world();
    let s1 = publish(&w.hub, &[("a.md", "a")], &[], 1);
    let s2 = publish(&w.hub, &[("a.md", "a"), ("z.md", "z")], &[s1], 2);
    let s3 = publish(&w.hub, &[("a.md", "a3"), ("z.md", "z")], &[s2], 3);
    let mut h = HubHistory::new(&w.hub, Known::default());
    let a = crate::id::ObjectId::of(b"a");
    assert_eq!(
        h.author(Some(s2), &p("a.md"), a).unwrap().as_deref(),
        Some("dev1")
    );
    assert_eq!(h.author(Some(s3), &p("a.md"), a).unwrap(), None);
    let a3 = crate::id::ObjectId::of(b"a3");
    assert_eq!(
        h.author(Some(s3), &p("a.md"), a3).unwrap().as_deref(),
        Some("dev3")
    );
}
