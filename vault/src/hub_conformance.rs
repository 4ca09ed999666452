//! One conformance suite for every [`Hub`] implementation (the folder hub here, the HTTP hub
//! in `syncd`), so they all keep the rules stated in `crate::hub`. Modelled on TaskChampion's
//! `storage_tests!`.
//!
//! Implement [`HubFactory`] for your hub, then expand [`hub_conformance_tests!`] in a test
//! module:
//!
//! ```ignore
//! vault::hub_conformance_tests!(MyFactory::new());
//! ```
//!
//! Outside this crate, enable the `test-support` feature of `vault` in `[dev-dependencies]`.

use std::collections::HashSet;

use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use crate::paths::VaultPath;

/// Makes hubs for the suite.
pub trait HubFactory: Send + Sync + 'static {
    type Hub: Hub + Send + 'static;
    /// A new, empty hub.
    fn create(&self) -> Self::Hub;
    /// A second handle on the same hub as `hub`, as another device or process would open it.
    fn reopen(&self, hub: &Self::Hub) -> Self::Hub;
    /// Destroy the stored data holding object `id` behind the hub's back (for a folder hub:
    /// delete the pack file holding it). Return `false` if this hub cannot be damaged from a
    /// test; the damage test is then skipped.
    fn lose_object(&self, hub: &Self::Hub, id: ObjectId) -> bool;
}

/// Expand to one `#[test]` per conformance check, each using the factory `$factory`.
#[macro_export]
macro_rules! hub_conformance_tests {
    ($factory:expr) => {
        $crate::hub_conformance_tests!(@tests $factory;
            empty_hub_has_no_head,
            put_get_round_trip,
            missing_lists_only_absent_ids,
            get_of_absent_id_is_missing,
            cas_from_none_then_forward,
            cas_with_stale_old_conflicts_with_actual_head,
            cas_to_incomplete_snapshot_is_refused,
            cas_forward_checks_what_the_new_head_adds,
            tree_hash_of_good_head,
            tree_hash_after_losing_data_fails_and_repair_works,
            second_handle_sees_first_handles_writes,
            concurrent_writers_lose_no_update,
            clock_is_close,
        );
    };
    (@tests $factory:expr; $($name:ident,)*) => {$(
        #[test]
        fn $name() {
            $crate::folder_hub::conformance::$name(&$factory);
        }
    )*};
}

fn blob(bytes: &[u8]) -> Object {
    Object {
        kind: Kind::Blob,
        bytes: bytes.to_vec(),
    }
}

/// A snapshot of `files`: its id, its root tree, and every object it needs (blobs, trees,
/// snapshot; in that order).
pub struct TestSnapshot {
    pub id: ObjectId,
    pub root: ObjectId,
    pub blobs: Vec<Object>,
    pub trees: Vec<Object>,
    pub snapshot: Object,
}

impl TestSnapshot {
    pub fn new(files: &[(&str, &[u8])], parents: Vec<ObjectId>) -> TestSnapshot {
        let flat: FlatTree = files
            .iter()
            .map(|(p, c)| {
                let meta = FileMeta {
                    id: ObjectId::of(c),
                    size: c.len() as u64,
                    mtime_ns: 1_700_000_000_000_000_000,
                    executable: false,
                };
                (VaultPath::new(p).expect("test path is valid"), meta)
            })
            .collect();
        let (root, trees) = build_trees(&flat);
        let snapshot = Snapshot {
            tree: root,
            parents,
            device_id: "conformance".into(),
            device_name: "conformance test".into(),
            time_ns: 1_700_000_000_000_000_000,
        }
        .to_object();
        TestSnapshot {
            id: snapshot.id(),
            root,
            blobs: files.iter().map(|(_, c)| blob(c)).collect(),
            trees,
            snapshot,
        }
    }

    pub fn all(&self) -> Vec<Object> {
        let mut v = self.blobs.clone();
        v.extend(self.trees.iter().cloned());
        v.push(self.snapshot.clone());
        v
    }
}

fn sample() -> TestSnapshot {
    TestSnapshot::new(
        &[
            ("a.md", b"alpha"),
            ("notes/b.md", b"beta"),
            ("notes/deep/c.md", b"gamma"),
        ],
        vec![],
    )
}

pub fn empty_hub_has_no_head<F: HubFactory>(f: &F) {
    let hub = f.create();
    assert_eq!(hub.head().unwrap(), None);
    assert_eq!(hub.tree_hash().unwrap(), None);
    assert!(!hub.describe().is_empty());
}

pub fn put_get_round_trip<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s = sample();
    hub.put(&s.all()).unwrap();
    hub.put(&s.all()).unwrap(); // again: a no-op, not an error
    let ids: Vec<ObjectId> = s.all().iter().rev().map(Object::id).collect();
    let got = hub.get(&ids).unwrap();
    let want: Vec<Object> = s.all().into_iter().rev().collect();
    assert_eq!(
        got, want,
        "get must return the objects asked for, in order, with their kinds"
    );
    hub.put(&[]).unwrap();
}

pub fn missing_lists_only_absent_ids<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s = sample();
    hub.put(&s.blobs).unwrap();
    let absent = ObjectId::of(b"never stored");
    let mut asked: Vec<ObjectId> = s.blobs.iter().map(Object::id).collect();
    asked.push(absent);
    asked.push(s.root);
    let mut got = hub.missing(&asked).unwrap();
    got.sort();
    let mut want = vec![absent, s.root];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(hub.missing(&[]).unwrap(), Vec::<ObjectId>::new());
}

pub fn get_of_absent_id_is_missing<F: HubFactory>(f: &F) {
    let hub = f.create();
    hub.put(&[blob(b"here")]).unwrap();
    let absent = ObjectId::of(b"not here");
    match hub.get(&[ObjectId::of(b"here"), absent]) {
        Err(HubError::Missing { ids, .. }) => assert_eq!(ids, vec![absent]),
        other => panic!("expected Missing, got {other:?}"),
    }
}

pub fn cas_from_none_then_forward<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s1 = sample();
    hub.put(&s1.all()).unwrap();
    assert_eq!(hub.cas_head(None, s1.id).unwrap(), CasOutcome::Updated);
    assert_eq!(hub.head().unwrap(), Some(s1.id));
    let s2 = TestSnapshot::new(&[("a.md", b"alpha 2")], vec![s1.id]);
    hub.put(&s2.all()).unwrap();
    assert_eq!(
        hub.cas_head(Some(s1.id), s2.id).unwrap(),
        CasOutcome::Updated
    );
    assert_eq!(hub.head().unwrap(), Some(s2.id));
}

pub fn cas_with_stale_old_conflicts_with_actual_head<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s1 = sample();
    let s2 = TestSnapshot::new(&[("x.md", b"x")], vec![s1.id]);
    hub.put(&s1.all()).unwrap();
    hub.put(&s2.all()).unwrap();
    assert_eq!(hub.cas_head(None, s1.id).unwrap(), CasOutcome::Updated);
    let actual = Some(s1.id);
    assert_eq!(
        hub.cas_head(None, s2.id).unwrap(),
        CasOutcome::Conflict { actual }
    );
    let stale = Some(ObjectId::of(b"some old head"));
    assert_eq!(
        hub.cas_head(stale, s2.id).unwrap(),
        CasOutcome::Conflict { actual }
    );
    assert_eq!(hub.head().unwrap(), Some(s1.id));
}

pub fn cas_to_incomplete_snapshot_is_refused<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s = sample();
    let refused = |hub: &F::Hub, why: &str| match hub.cas_head(None, s.id) {
        Err(HubError::Refused { .. }) => assert_eq!(hub.head().unwrap(), None, "{why}"),
        other => panic!("{why}: expected Refused, got {other:?}"),
    };
    refused(&hub, "snapshot itself absent");
    hub.put(std::slice::from_ref(&s.snapshot)).unwrap();
    refused(&hub, "no trees, no blobs");
    hub.put(&s.trees[1..]).unwrap(); // the deepest tree is still absent
    refused(&hub, "a subtree absent");
    hub.put(&s.trees).unwrap();
    refused(&hub, "no blobs");
    hub.put(&s.blobs[..2]).unwrap();
    refused(&hub, "one blob absent");
    hub.put(&s.blobs).unwrap();
    assert_eq!(hub.cas_head(None, s.id).unwrap(), CasOutcome::Updated);
}

/// A hub may check only what a new head adds to the old one, but it must check all of that.
pub fn cas_forward_checks_what_the_new_head_adds<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s1 = sample();
    hub.put(&s1.all()).unwrap();
    hub.cas_head(None, s1.id).unwrap();
    let refused = |hub: &F::Hub, old: ObjectId, new: ObjectId, why: &str| match hub
        .cas_head(Some(old), new)
    {
        Err(HubError::Refused { .. }) => {
            assert_eq!(hub.head().unwrap(), Some(old), "{why}: head moved")
        }
        other => panic!("{why}: expected Refused, got {other:?}"),
    };
    // A new file deep down: its blob is the only thing missing.
    let s2 = TestSnapshot::new(
        &[
            ("a.md", b"alpha"),
            ("notes/b.md", b"beta"),
            ("notes/deep/c.md", b"gamma"),
            ("notes/deep/new.md", b"new words"),
        ],
        vec![s1.id],
    );
    let mut without_blob = s2.trees.clone();
    without_blob.push(s2.snapshot.clone());
    hub.put(&without_blob).unwrap();
    refused(&hub, s1.id, s2.id, "the added blob is absent");
    hub.put(&[blob(b"new words")]).unwrap();
    assert_eq!(
        hub.cas_head(Some(s1.id), s2.id).unwrap(),
        CasOutcome::Updated
    );
    // An edit one level down: the changed folder's new tree is missing.
    let s3 = TestSnapshot::new(
        &[
            ("a.md", b"alpha"),
            ("notes/b.md", b"beta, edited"),
            ("notes/deep/c.md", b"gamma"),
            ("notes/deep/new.md", b"new words"),
        ],
        vec![s2.id],
    );
    let new_trees: Vec<Object> = s3
        .trees
        .iter()
        .filter(|t| !s2.trees.contains(t))
        .cloned()
        .collect();
    assert_eq!(new_trees.len(), 2, "the root and `notes` changed");
    hub.put(&[blob(b"beta, edited"), s3.snapshot.clone()])
        .unwrap();
    hub.put(&new_trees[new_trees.len() - 1..]).unwrap(); // the root only
    refused(&hub, s2.id, s3.id, "the changed folder's tree is absent");
    hub.put(&new_trees).unwrap();
    assert_eq!(
        hub.cas_head(Some(s2.id), s3.id).unwrap(),
        CasOutcome::Updated
    );
    assert_eq!(hub.tree_hash().unwrap(), Some(s3.root));
    assert_eq!(hub.verify_tree().unwrap(), Some(s3.root));
}

pub fn tree_hash_of_good_head<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s = sample();
    hub.put(&s.all()).unwrap();
    hub.cas_head(None, s.id).unwrap();
    assert_eq!(hub.tree_hash().unwrap(), Some(s.root));
    assert_eq!(f.reopen(&hub).tree_hash().unwrap(), Some(s.root));
}

pub fn tree_hash_after_losing_data_fails_and_repair_works<F: HubFactory>(f: &F) {
    let hub = f.create();
    let s = sample();
    // Blobs in one upload, trees and snapshot in another, as a sync may do.
    hub.put(&s.blobs).unwrap();
    let rest: Vec<Object> = s.all().split_off(s.blobs.len());
    hub.put(&rest).unwrap();
    hub.cas_head(None, s.id).unwrap();
    let lost = s.blobs[1].id();
    if !f.lose_object(&hub, lost) {
        return;
    }
    match hub.tree_hash() {
        Err(HubError::Missing { .. } | HubError::Corrupt { .. }) => {}
        other => panic!("tree_hash of a damaged hub must fail, got {other:?}"),
    }
    match hub.verify_tree() {
        Err(HubError::Missing { .. } | HubError::Corrupt { .. }) => {}
        other => panic!("verify_tree of a damaged hub must fail, got {other:?}"),
    }
    // What a device needs to repair it: the hub says which ids it lacks...
    let ids: Vec<ObjectId> = s.blobs.iter().map(Object::id).collect();
    assert!(hub.missing(&ids).unwrap().contains(&lost));
    assert!(matches!(hub.get(&[lost]), Err(HubError::Missing { .. })));
    // ...and re-uploading them makes the head whole again.
    let lacking = hub
        .missing(&s.all().iter().map(Object::id).collect::<Vec<_>>())
        .unwrap();
    let again: Vec<Object> = s
        .all()
        .into_iter()
        .filter(|o| lacking.contains(&o.id()))
        .collect();
    hub.put(&again).unwrap();
    assert_eq!(hub.tree_hash().unwrap(), Some(s.root));
}

pub fn second_handle_sees_first_handles_writes<F: HubFactory>(f: &F) {
    let a = f.create();
    let b = f.reopen(&a);
    let s = sample();
    assert_eq!(b.missing(&[s.id]).unwrap(), vec![s.id]);
    a.put(&s.all()).unwrap();
    assert_eq!(b.get(&[s.id]).unwrap(), vec![s.snapshot.clone()]);
    assert_eq!(b.missing(&[s.id]).unwrap(), Vec::<ObjectId>::new());
    a.cas_head(None, s.id).unwrap();
    assert_eq!(b.head().unwrap(), Some(s.id));
    assert_eq!(b.tree_hash().unwrap(), Some(s.root));
}

/// N writers, each with its own handle, loop read-head / put / CAS. Every win must end up in
/// one parent chain from the final head: no update is lost, none is applied twice.
pub fn concurrent_writers_lose_no_update<F: HubFactory>(f: &F) {
    const WRITERS: usize = 4;
    const WINS_EACH: usize = 6;
    let hub = f.create();
    let handles: Vec<F::Hub> = (0..WRITERS).map(|_| f.reopen(&hub)).collect();
    let threads: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(w, h)| {
            std::thread::spawn(move || {
                let mut wins = Vec::new();
                let mut old = h.head().unwrap();
                for i in 0..WINS_EACH {
                    loop {
                        let content = format!("writer {w}, change {i}, on {old:?}");
                        let name = format!("w{w}/n{i}.md");
                        let s = TestSnapshot::new(
                            &[(&name, content.as_bytes())],
                            old.into_iter().collect(),
                        );
                        h.put(&s.all()).unwrap();
                        match h.cas_head(old, s.id).unwrap() {
                            CasOutcome::Updated => {
                                wins.push(s.id);
                                old = Some(s.id);
                                break;
                            }
                            CasOutcome::Conflict { actual } => old = actual,
                        }
                    }
                }
                wins
            })
        })
        .collect();
    let wins: Vec<ObjectId> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(wins.len(), WRITERS * WINS_EACH);
    let mut chain = HashSet::new();
    let mut at = hub.head().unwrap();
    while let Some(id) = at {
        assert!(chain.insert(id), "the history has a cycle");
        let obj = hub.get(&[id]).unwrap().remove(0);
        let snap = Snapshot::decode(&obj.bytes).unwrap();
        assert!(snap.parents.len() <= 1);
        at = snap.parents.first().copied();
    }
    let wins: HashSet<ObjectId> = wins.into_iter().collect();
    assert_eq!(
        chain, wins,
        "the head's ancestry is not exactly the set of successful CASes"
    );
    assert!(f.reopen(&hub).tree_hash().unwrap().is_some());
}

pub fn clock_is_close<F: HubFactory>(f: &F) {
    let hub = f.create();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let t = hub.time_ns().unwrap();
    assert!(
        (t - now).abs() < 300_000_000_000,
        "hub clock {t} is far from {now}"
    );
}
