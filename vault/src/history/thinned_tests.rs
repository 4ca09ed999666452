//! The history of a hub whose retention policy thinned some snapshots: their trees (and the
//! file versions only they reached) are gone, as gc leaves them; everything else reads.

use std::collections::HashSet;

use super::tests::{id, p, publish, world};
use crate::history::{At, FileChange, HistoryError, HubHistory, Known, deleted, log, show};
use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::object::Object;

/// A hub that no longer holds `gone` (what gc leaves after thinning).
struct Thinned<'a> {
    inner: &'a dyn Hub,
    gone: HashSet<ObjectId>,
}

impl Hub for Thinned<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        self.inner.head()
    }
    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        let mut out = self.inner.missing(ids)?;
        out.extend(ids.iter().filter(|i| self.gone.contains(i)));
        Ok(out)
    }
    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        self.inner.put(objects)
    }
    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        let gone: Vec<ObjectId> = ids
            .iter()
            .copied()
            .filter(|i| self.gone.contains(i))
            .collect();
        if !gone.is_empty() {
            return Err(HubError::Missing {
                hub: self.describe(),
                ids: gone,
            });
        }
        self.inner.get(ids)
    }
    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        self.inner.cas_head(old, new)
    }
    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        self.inner.tree_of(snapshot, full)
    }
    fn time_ns(&self) -> Result<i64, HubError> {
        self.inner.time_ns()
    }
}

struct Story {
    w: super::tests::World,
    s: [ObjectId; 5],
    gone: HashSet<ObjectId>,
}

/// s1 a1 b; s2 a2 b (thinned); s3 a3, b deleted; s4 a3 c (thinned); s5 a4 c (head).
fn story() -> Story {
    let w = world();
    let s1 = publish(&w.hub, &[("a.md", "a1"), ("b.md", "b")], &[], 1);
    let s2 = publish(&w.hub, &[("a.md", "a2"), ("b.md", "b")], &[s1], 2);
    let s3 = publish(&w.hub, &[("a.md", "a3")], &[s2], 3);
    let s4 = publish(&w.hub, &[("a.md", "a3"), ("c.md", "c")], &[s3], 4);
    let s5 = publish(&w.hub, &[("a.md", "a4"), ("c.md", "c")], &[s4], 5);
    let mut h = HubHistory::new(&w.hub, Known::default());
    let tree = |h: &mut HubHistory, s| h.snapshot(s).unwrap().tree;
    // gc's result: the thinned snapshots' root trees, and "a2" (reached by s2 only).
    let gone = HashSet::from([tree(&mut h, s2), tree(&mut h, s4), id("a2")]);
    Story {
        w,
        s: [s1, s2, s3, s4, s5],
        gone,
    }
}

#[test]
fn the_log_lists_every_snapshot_and_marks_the_thinned() {
    let st = story();
    let hub = Thinned {
        inner: &st.w.hub,
        gone: st.gone.clone(),
    };
    let entries = log(&st.w.vault, &hub, None, usize::MAX).unwrap();
    let got: Vec<(ObjectId, bool)> = entries.iter().map(|e| (e.snapshot, e.kept)).collect();
    let [s1, s2, s3, s4, s5] = st.s;
    assert_eq!(
        got,
        [(s5, true), (s4, false), (s3, true), (s2, false), (s1, true)]
    );
    // On the hub that kept everything, every entry is kept.
    let all = log(&st.w.vault, &st.w.hub, None, usize::MAX).unwrap();
    assert!(all.iter().all(|e| e.kept));
    let json = serde_json::to_value(&entries[1]).unwrap();
    assert_eq!(json["kept"], false);
}

#[test]
fn a_paths_history_skips_thinned_snapshots_and_compares_with_the_nearest_kept() {
    let st = story();
    let hub = Thinned {
        inner: &st.w.hub,
        gone: st.gone.clone(),
    };
    let [s1, _, s3, _, s5] = st.s;
    let entries = log(&st.w.vault, &hub, Some(&p("a.md")), usize::MAX).unwrap();
    let got: Vec<(ObjectId, Option<ObjectId>, Option<FileChange>)> = entries
        .iter()
        .map(|e| (e.snapshot, e.compared_with, e.change.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                s5,
                Some(s3),
                Some(FileChange::Modified {
                    from: id("a3"),
                    to: id("a4")
                })
            ),
            (
                s3,
                Some(s1),
                Some(FileChange::Modified {
                    from: id("a1"),
                    to: id("a3")
                })
            ),
            (
                s1,
                None,
                Some(FileChange::Added {
                    id: id("a1"),
                    renamed_from: None
                })
            ),
        ]
    );
    assert!(entries.iter().all(|e| e.kept));
    // The web view's reader agrees.
    let mut h = HubHistory::new(&hub, Known::default());
    assert_eq!(
        h.log(Some(s5), Some(&p("a.md")), None, usize::MAX).unwrap(),
        entries
    );
}

#[test]
fn deletions_are_found_against_the_nearest_kept_snapshot() {
    let st = story();
    let hub = Thinned {
        inner: &st.w.hub,
        gone: st.gone.clone(),
    };
    let [s1, _, s3, _, _] = st.s;
    let d = deleted(&st.w.vault, &hub, None, usize::MAX).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].path.as_str(), d[0].snapshot, d[0].before),
        ("b.md", s3, s1)
    );
}

#[test]
fn show_of_a_thinned_snapshot_names_the_nearest_kept_ones() {
    let st = story();
    let hub = Thinned {
        inner: &st.w.hub,
        gone: st.gone.clone(),
    };
    let [s1, s2, s3, _, _] = st.s;
    let at = At::snapshot(&s2.to_hex()[..8]).unwrap();
    let e = show(&st.w.vault, &hub, &p("a.md"), &at).unwrap_err();
    assert!(matches!(e, HistoryError::Thinned { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("retention policy"), "{text}");
    assert!(text.contains(&format!("{} (", s1.short())), "{text}");
    assert!(text.contains(&format!("{} (", s3.short())), "{text}");
    // By time too: 2.5 s names s2.
    let e = show(&st.w.vault, &hub, &p("a.md"), &At::Time(2_500_000_000)).unwrap_err();
    assert!(matches!(e, HistoryError::Thinned { .. }), "{e}");
    // A kept snapshot still shows.
    let at = At::snapshot(&s3.to_hex()[..8]).unwrap();
    assert_eq!(
        show(&st.w.vault, &hub, &p("a.md"), &at).unwrap().bytes,
        b"a3"
    );
}

#[test]
fn the_hub_only_reader_says_which_snapshots_kept_their_files() {
    let st = story();
    let hub = Thinned {
        inner: &st.w.hub,
        gone: st.gone.clone(),
    };
    let [_, s2, s3, s4, s5] = st.s;
    let mut h = HubHistory::new(&hub, Known::default());
    let snap4 = h.snapshot(s4).unwrap();
    assert!(!h.kept(&snap4).unwrap());
    assert!(h.changes(&snap4).unwrap().is_none());
    let snap5 = h.snapshot(s5).unwrap();
    let (base, changes) = h.changes(&snap5).unwrap().unwrap();
    assert_eq!(base, Some(s3));
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["a.md", "c.md"]);
    let e = h.file_at(s2, &p("a.md")).unwrap_err();
    assert!(matches!(e, HistoryError::Thinned { .. }), "{e}");
    assert_eq!(h.file_at(s3, &p("a.md")).unwrap().unwrap().id, id("a3"));
}
