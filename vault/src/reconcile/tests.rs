//! Table tests: every combination of unchanged / touched / modified / deleted / added on each
//! side, plus renames, name clashes and a property test of the merge invariants.

use std::collections::BTreeSet;

use super::*;
use crate::id::ObjectId;
use proptest::prelude::*;

pub(super) const T0: i64 = 1_700_000_000_000_000_000;

pub(super) fn v(content: &str, t: i64) -> FileMeta {
    FileMeta {
        id: ObjectId::of(content.as_bytes()),
        size: content.len() as u64,
        mtime_ns: T0 + t,
        executable: false,
    }
}

pub(super) fn p(s: &str) -> VaultPath {
    VaultPath::new(s).unwrap()
}

fn tree(items: &[(&str, FileMeta)]) -> FlatTree {
    items.iter().map(|(k, m)| (p(k), *m)).collect()
}

fn devices() -> Devices {
    Devices {
        local_id: "aaaa".into(),
        local_name: "laptop".into(),
        remote_id: "bbbb".into(),
        remote_name: "phone".into(),
        remote_authors: Default::default(),
    }
}

/// The plan, which must also be exactly the reference merge's plan.
fn run(base: &FlatTree, local: &FlatTree, remote: &FlatTree) -> Plan {
    run_with(base, local, remote, &Evidence::default())
}

/// The same, with evidence from the history.
fn run_with(base: &FlatTree, local: &FlatTree, remote: &FlatTree, evidence: &Evidence) -> Plan {
    let plan = reconcile_with(base, local, remote, &devices(), evidence, &|_| false);
    let reference =
        super::reference::reconcile(base, local, remote, &devices(), evidence, &|_| false);
    assert_eq!(plan, reference, "differs from the reference merge");
    plan
}

/// What one side did to `note.md` relative to base (`base` = "b" at time 1).
#[derive(Clone, Copy, Debug)]
enum Did {
    Nothing,
    Touched,
    Modified(&'static str, i64),
    Deleted,
}

fn side(base: Option<FileMeta>, did: Did) -> Option<FileMeta> {
    match did {
        Did::Nothing => base,
        Did::Touched => base.map(|b| FileMeta {
            mtime_ns: b.mtime_ns + 50,
            ..b
        }),
        Did::Modified(c, t) => Some(v(c, t)),
        Did::Deleted => None,
    }
}

/// Expected result at `note.md`: which version, and whether a revision keeps the other.
#[derive(Debug, PartialEq, Clone, Copy)]
enum Want {
    Absent,
    Base,
    Local,
    Remote,
    LocalWithRevisionOfRemote,
    RemoteWithRevisionOfLocal,
}

fn check(name: &str, base: Option<FileMeta>, l: Did, r: Did, want: Want) {
    let b = base.map(|m| tree(&[("note.md", m)])).unwrap_or_default();
    let lm = side(base, l);
    let rm = side(base, r);
    let lt: FlatTree = lm.map(|m| tree(&[("note.md", m)])).unwrap_or_default();
    let rt: FlatTree = rm.map(|m| tree(&[("note.md", m)])).unwrap_or_default();
    let plan = run(&b, &lt, &rt);
    let got = plan.merged.get(&p("note.md")).copied();
    let revisions: Vec<FileMeta> = plan
        .merged
        .iter()
        .filter(|(k, _)| k.is_revision())
        .map(|(_, m)| *m)
        .collect();
    let expected_at_path = match want {
        Want::Absent => None,
        Want::Base => base,
        Want::Local | Want::LocalWithRevisionOfRemote => lm,
        Want::Remote | Want::RemoteWithRevisionOfLocal => rm,
    };
    assert_eq!(
        got, expected_at_path,
        "{name}: wrong version kept at the path"
    );
    match want {
        Want::LocalWithRevisionOfRemote => {
            assert_eq!(
                revisions,
                vec![rm.unwrap()],
                "{name}: remote not kept as revision"
            );
            assert_eq!(plan.conflicts.len(), 1, "{name}");
            assert_eq!(plan.conflicts[0].winner, Side::Local, "{name}");
        }
        Want::RemoteWithRevisionOfLocal => {
            assert_eq!(
                revisions,
                vec![lm.unwrap()],
                "{name}: local not kept as revision"
            );
            assert_eq!(plan.conflicts.len(), 1, "{name}");
            assert_eq!(plan.conflicts[0].winner, Side::Remote, "{name}");
        }
        _ => {
            assert!(
                revisions.is_empty(),
                "{name}: unexpected revision {revisions:?}"
            );
            assert!(plan.conflicts.is_empty(), "{name}: unexpected conflict");
        }
    }
    // The actions must turn the local tree into the merged tree.
    assert_eq!(
        simulate(&lt, &plan.actions),
        plan.merged,
        "{name}: actions disagree with merged"
    );
}

/// Apply actions to a tree in memory, checking every `expect` like `apply` does on disk.
pub(crate) fn simulate(local: &FlatTree, actions: &[Action]) -> FlatTree {
    let mut t = local.clone();
    for a in actions {
        match a {
            Action::Move { from, to, expect } => {
                assert_eq!(
                    t.get(from),
                    Some(expect),
                    "move source {from} not as expected"
                );
                assert!(!t.contains_key(to), "move target {to} exists");
                let m = t.remove(from).unwrap();
                t.insert(to.clone(), m);
            }
            Action::Delete { path, expect } => {
                assert_eq!(t.remove(path).as_ref(), Some(expect), "delete {path}");
            }
            Action::Write { path, meta, expect } => {
                assert_eq!(t.get(path), expect.as_ref(), "write {path} expectation");
                t.insert(path.clone(), *meta);
            }
            Action::Touch { path, meta, expect } => {
                assert_eq!(t.get(path), Some(expect), "touch {path}");
                assert!(meta.same_content(expect));
                t.insert(path.clone(), *meta);
            }
        }
    }
    t
}

#[test]
fn every_combination_of_changes_on_one_path() {
    use Did::*;
    use Want::*;
    let b = Some(v("b", 1));
    #[rustfmt::skip]
    let table: &[(&str, Option<FileMeta>, Did, Did, Want)] = &[
        ("unchanged both",                    b, Nothing, Nothing, Base),
        ("modified here only",                b, Modified("L", 10), Nothing, Local),
        ("modified there only",               b, Nothing, Modified("R", 10), Remote),
        ("deleted here only",                 b, Deleted, Nothing, Absent),
        ("deleted there only",                b, Nothing, Deleted, Absent),
        ("deleted both",                      b, Deleted, Deleted, Absent),
        ("touched here only",                 b, Touched, Nothing, Local),
        ("touched there only",                b, Nothing, Touched, Remote),
        ("touched both",                      b, Touched, Touched, Local),
        ("modified both, same bytes",         b, Modified("S", 10), Modified("S", 20), Remote),
        ("modified both, here newer",         b, Modified("L", 20), Modified("R", 10), LocalWithRevisionOfRemote),
        ("modified both, there newer",        b, Modified("L", 10), Modified("R", 20), RemoteWithRevisionOfLocal),
        ("modified both, same time: id wins", b, Modified("L", 10), Modified("R", 10), RemoteWithRevisionOfLocal),
        ("modified here, deleted there",      b, Modified("L", 10), Deleted, Local),
        ("deleted here, modified there",      b, Deleted, Modified("R", 10), Remote),
        ("touched here, modified there",      b, Touched, Modified("R", 10), Remote),
        ("modified here, touched there",      b, Modified("L", 10), Touched, Local),
        ("touched here, deleted there",       b, Touched, Deleted, Absent),
        ("deleted here, touched there",       b, Deleted, Touched, Absent),
        ("absent everywhere",                 None, Nothing, Nothing, Absent),
        ("added here",                        None, Modified("L", 1), Nothing, Local),
        ("added there",                       None, Nothing, Modified("R", 1), Remote),
        ("added both, same bytes",            None, Modified("S", 5), Modified("S", 1), Local),
        ("added both, here newer",            None, Modified("L", 5), Modified("R", 1), LocalWithRevisionOfRemote),
        ("added both, there newer",           None, Modified("L", 1), Modified("R", 5), RemoteWithRevisionOfLocal),
    ];
    for (name, base, l, r, want) in table {
        check(name, *base, *l, *r, *want);
    }
}

#[test]
fn one_sided_changes_publish_deletes_and_download_edits() {
    let b = tree(&[("a.md", v("a", 1)), ("b.md", v("b", 1))]);
    let l = tree(&[("b.md", v("b", 1))]);
    let r = tree(&[("a.md", v("a", 1)), ("b.md", v("B", 2))]);
    let plan = run(&b, &l, &r);
    assert_eq!(plan.local_deletes, 1);
    assert_eq!(
        plan.actions,
        vec![Action::Write {
            path: p("b.md"),
            meta: v("B", 2),
            expect: Some(v("b", 1))
        }]
    );
}

#[test]
fn losing_local_version_moves_into_revisions_before_the_winner_is_written() {
    let b = tree(&[("n.md", v("b", 1))]);
    let l = tree(&[("n.md", v("L", 2))]);
    let r = tree(&[("n.md", v("R", 3))]);
    let plan = run(&b, &l, &r);
    let Action::Move { from, to, .. } = &plan.actions[0] else {
        panic!("first action should move the loser: {:?}", plan.actions)
    };
    assert_eq!(from, &p("n.md"));
    assert!(to.is_revision(), "{to}");
    assert!(
        to.as_str().contains("laptop"),
        "revision names the losing device: {to}"
    );
    assert!(
        matches!(&plan.actions[1], Action::Write { path, expect: None, .. } if path == &p("n.md"))
    );
}

#[test]
fn rename_here_and_edit_there_keeps_the_edit_at_the_new_name() {
    let b = tree(&[("old.md", v("text", 1))]);
    let l = tree(&[("new.md", v("text", 1))]);
    let r = tree(&[("old.md", v("text edited", 2))]);
    let plan = run(&b, &l, &r);
    assert_eq!(plan.merged, tree(&[("new.md", v("text edited", 2))]));
    assert!(plan.conflicts.is_empty());
    assert_eq!(simulate(&l, &plan.actions), plan.merged);
}

#[test]
fn rename_there_and_edit_here_keeps_the_edit_at_the_new_name() {
    let b = tree(&[("old.md", v("text", 1))]);
    let l = tree(&[("old.md", v("text edited", 2))]);
    let r = tree(&[("new.md", v("text", 1))]);
    let plan = run(&b, &l, &r);
    assert_eq!(plan.merged, tree(&[("new.md", v("text edited", 2))]));
    assert_eq!(
        plan.actions,
        vec![Action::Move {
            from: p("old.md"),
            to: p("new.md"),
            expect: v("text edited", 2)
        }]
    );
}

#[test]
fn plain_remote_rename_is_a_local_move_not_a_download() {
    let b = tree(&[("old.md", v("text", 1))]);
    let r = tree(&[("new.md", v("text", 1))]);
    let plan = run(&b, &b, &r);
    assert_eq!(plan.merged, r);
    assert!(matches!(plan.actions.as_slice(), [Action::Move { .. }]));
}

#[test]
fn case_only_rename_deletes_before_it_writes() {
    let b = tree(&[("note.md", v("x", 1))]);
    let r = tree(&[("Note.md", v("x", 2))]);
    let plan = run(&b, &b, &r);
    assert_eq!(plan.merged, r);
    let kinds: Vec<&str> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::Delete { .. } => "delete",
            Action::Write { .. } => "write",
            Action::Move { .. } => "move",
            Action::Touch { .. } => "touch",
        })
        .collect();
    assert_eq!(kinds, ["delete", "write"]);
}

#[test]
fn names_that_differ_only_in_case_do_not_both_keep_their_name() {
    let b = tree(&[("note.md", v("mine", 1))]);
    let r = tree(&[("note.md", v("mine", 1)), ("Note.md", v("theirs", 2))]);
    let plan = run(&b, &b, &r);
    assert_eq!(plan.merged.get(&p("note.md")), Some(&v("mine", 1)));
    assert!(!plan.merged.contains_key(&p("Note.md")));
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.conflicts[0].kind, ConflictKind::NameClash);
    assert_eq!(
        plan.merged.get(&plan.conflicts[0].revision),
        Some(&v("theirs", 2))
    );
}

#[test]
fn a_local_newcomer_clashing_with_a_name_on_the_hub_moves_aside() {
    let e = tree(&[]);
    let r = tree(&[("D/b.md", v("hub's", 1))]);
    let l = tree(&[("d/b.md", v("mine", 2))]);
    let plan = run(&e, &l, &r);
    assert_eq!(plan.merged.get(&p("D/b.md")), Some(&v("hub's", 1)));
    assert!(!plan.merged.contains_key(&p("d/b.md")));
    let c = &plan.conflicts[0];
    assert_eq!((c.kind, c.winner), (ConflictKind::NameClash, Side::Remote));
    assert_eq!(plan.merged.get(&c.revision), Some(&v("mine", 2)));
    assert_eq!(simulate(&l, &plan.actions), plan.merged);
}

#[test]
fn a_clashing_pair_made_here_publishes_only_the_smaller_name() {
    let e = tree(&[]);
    let l = tree(&[("D/b.md", v("one", 1)), ("d/b.md", v("two", 2))]);
    let plan = run(&e, &l, &e);
    assert!(plan.merged.contains_key(&p("D/b.md")));
    assert!(!plan.merged.contains_key(&p("d/b.md")));
    assert_eq!(
        plan.merged.get(&plan.conflicts[0].revision),
        Some(&v("two", 2))
    );
    assert_eq!(simulate(&l, &plan.actions), plan.merged);
    // A second device holding the same pair decides the same way, so both converge.
    let again = run(&e, &l, &plan.merged);
    assert!(!again.merged.contains_key(&p("d/b.md")));
}

#[test]
fn nfc_and_nfd_names_clash() {
    let b = tree(&[("caf\u{e9}.md", v("nfc", 1))]);
    let r = tree(&[
        ("caf\u{e9}.md", v("nfc", 1)),
        ("cafe\u{301}.md", v("nfd", 2)),
    ]);
    let l = b.clone();
    let plan = run(&b, &l, &r);
    assert_eq!(plan.merged.len(), 2);
    assert!(plan.merged.contains_key(&p("caf\u{e9}.md")));
    assert_eq!(plan.conflicts[0].kind, ConflictKind::NameClash);
    assert_eq!(simulate(&l, &plan.actions), plan.merged);
}

#[test]
fn ignored_paths_keep_the_remote_version_and_are_not_touched() {
    let b = tree(&[("x.tmp", v("1", 1))]);
    let r = tree(&[("x.tmp", v("2", 2))]);
    let plan = reconcile(&b, &FlatTree::new(), &r, &devices(), &|p| {
        p.as_str().ends_with(".tmp")
    });
    assert_eq!(plan.merged, r);
    assert!(plan.actions.is_empty());
    assert_eq!(plan.local_deletes, 0);
}

/// A round that resolved a conflict and started over (another device published first) finds
/// the revision it wrote in its next scan: the same conflict reuses it, writes nothing again.
#[test]
fn a_conflict_met_again_reuses_the_revision_already_written() {
    let b = tree(&[("note.md", v("b", 1))]);
    let r = tree(&[("note.md", v("R", 2))]);
    let l = tree(&[("note.md", v("L", 3))]);
    let first = run(&b, &l, &r);
    let rev = first.conflicts[0].revision.clone();
    assert_eq!(first.actions.len(), 1, "{:?}", first.actions);

    // The folder after the first attempt: the revision was written (with the hub's time).
    let after = simulate(&l, &first.actions);
    let again = run(&b, &after, &r);
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert_eq!(again.conflicts.len(), 1);
    assert_eq!(again.conflicts[0].revision, rev);
    assert_eq!(again.merged, first.merged);

    // A file at that name with other bytes is never taken for it: a new name is used.
    let other = tree(&[("note.md", v("L", 3)), (rev.as_str(), v("other", 4))]);
    let third = run(&b, &other, &r);
    assert_ne!(third.conflicts[0].revision, rev);
    assert_eq!(third.actions.len(), 1, "{:?}", third.actions);
}

/// The hub's version wins, and this device's is at its revision already (a move that copied
/// it there but could not remove it here): no second copy; the file here goes as a move would
/// take it.
#[test]
fn a_losing_version_already_at_its_revision_is_not_copied_again() {
    let b = tree(&[("note.md", v("b", 1))]);
    let l = tree(&[("note.md", v("L", 2))]);
    let r = tree(&[("note.md", v("R", 3))]);
    let first = run(&b, &l, &r);
    let rev = first.conflicts[0].revision.clone();
    assert_eq!(first.conflicts[0].winner, Side::Remote);

    let mut both = l.clone();
    both.insert(rev.clone(), v("L", 2));
    let again = run(&b, &both, &r);
    assert_eq!(again.conflicts[0].revision, rev);
    assert!(
        !again
            .actions
            .iter()
            .any(|a| matches!(a, Action::Move { .. })),
        "{:?}",
        again.actions
    );
    assert_eq!(again.merged, first.merged);
    assert_eq!(simulate(&both, &again.actions), again.merged);
}

/// A name clash met again after its revision was written keeps that one revision.
#[test]
fn a_name_clash_met_again_reuses_the_revision_already_written() {
    let b = tree(&[("note.md", v("n", 1))]);
    let l = b.clone();
    let r = tree(&[("note.md", v("n", 1)), ("Note.md", v("N", 2))]);
    let first = run(&b, &l, &r);
    assert_eq!(first.conflicts.len(), 1);
    let rev = first.conflicts[0].revision.clone();
    let after = simulate(&l, &first.actions);
    let again = run(&b, &after, &r);
    assert_eq!(again.conflicts.len(), 1);
    assert_eq!(again.conflicts[0].revision, rev);
    assert_eq!(again.merged, first.merged);
    assert_eq!(simulate(&after, &again.actions), again.merged);
}

#[test]
fn conflicts_inside_revisions_do_not_nest() {
    let b = tree(&[(".revisions/a.md", v("b", 1))]);
    let l = tree(&[(".revisions/a.md", v("L", 2))]);
    let r = tree(&[(".revisions/a.md", v("R", 3))]);
    let plan = run(&b, &l, &r);
    assert_eq!(plan.conflicts.len(), 1);
    let rev = &plan.conflicts[0].revision;
    assert!(!rev.as_str().starts_with(".revisions/.revisions/"), "{rev}");
}

#[test]
fn a_fresh_device_never_deletes() {
    let l = tree(&[("a.md", v("A", 1)), ("same.md", v("S", 1))]);
    let r = tree(&[("b.md", v("B", 1)), ("same.md", v("S", 1))]);
    let plan = run(&FlatTree::new(), &l, &r);
    assert_eq!(plan.merged.len(), 3);
    assert_eq!(plan.local_deletes, 0);
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Delete { .. }))
    );
}

fn arb_tree() -> impl Strategy<Value = FlatTree> {
    let names = prop::sample::select(vec!["a.md", "b.md", "c.md", "d/a.md", "D/A.md", "e.txt"]);
    let contents = prop::sample::select(vec!["x", "y", "z", "w"]);
    prop::collection::btree_map(names, (contents, 0i64..4), 0..6)
        .prop_map(|m| m.into_iter().map(|(k, (c, t))| (p(k), v(c, t))).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No loss: every version either side made (differing from base) survives somewhere;
    /// the actions turn local into merged; merging again changes nothing.
    #[test]
    fn merge_invariants(base in arb_tree(), local in arb_tree(), remote in arb_tree()) {
        let plan = run(&base, &local, &remote);
        let kept: BTreeSet<ObjectId> = plan.merged.values().map(|m| m.id).collect();
        // Bytes already in base are in history; anything newer must survive.
        let in_base: BTreeSet<ObjectId> = base.values().map(|m| m.id).collect();
        for (side, t) in [("local", &local), ("remote", &remote)] {
            for (path, m) in t {
                if !in_base.contains(&m.id) {
                    prop_assert!(kept.contains(&m.id), "{side} version of {path} lost: {plan:?}");
                }
            }
        }
        prop_assert_eq!(&simulate(&local, &plan.actions), &plan.merged);
        let again = run(&plan.merged, &plan.merged, &plan.merged);
        prop_assert!(again.actions.is_empty() && again.conflicts.is_empty());
        // The side that pushed first sees its own tree come back: nothing to do.
        let echo = run(&base, &local, &local);
        prop_assert!(echo.actions.is_empty());
        prop_assert_eq!(echo.merged, local.clone());
    }
}

/// The same bytes as a deleted note at a new path, but written now (a note made from a
/// template): no rename, so the other side's edit stays at its own path.
#[test]
fn a_new_note_with_a_deleted_notes_bytes_is_no_rename_without_its_time() {
    let b = tree(&[("old.md", v("template", 1))]);
    let l = tree(&[("new.md", v("template", 90))]);
    let r = tree(&[("old.md", v("template edited", 2))]);
    let plan = run(&b, &l, &r);
    assert_eq!(
        plan.merged,
        tree(&[
            ("new.md", v("template", 90)),
            ("old.md", v("template edited", 2))
        ])
    );
    assert!(plan.conflicts.is_empty());
    assert_eq!(simulate(&l, &plan.actions), plan.merged);
    // The same on the other side: the remote's new note is not where the local edit goes.
    let plan = run(&b, &r, &l);
    assert_eq!(
        plan.merged,
        tree(&[
            ("new.md", v("template", 90)),
            ("old.md", v("template edited", 2))
        ])
    );
    assert_eq!(simulate(&r, &plan.actions), plan.merged);
}

#[test]
fn a_rename_keeps_its_evidence_on_a_filesystem_that_truncates_times() {
    let b = tree(&[("old.md", v("text", 1_234_567))]);
    // The renamer's filesystem keeps whole seconds only.
    let truncated = FileMeta {
        mtime_ns: (T0 + 1_234_567) / 1_000_000_000 * 1_000_000_000,
        ..v("text", 0)
    };
    let l = tree(&[("new.md", truncated)]);
    let r = tree(&[("old.md", v("text edited", 2_000_000_000))]);
    let plan = run(&b, &l, &r);
    assert_eq!(
        plan.merged,
        tree(&[("new.md", v("text edited", 2_000_000_000))])
    );
}

#[test]
fn an_empty_file_or_bytes_shared_by_several_notes_are_never_renames() {
    // Empty: moved with its time kept, still a delete plus an add.
    let b = tree(&[("old.md", v("", 1))]);
    let l = tree(&[("new.md", v("", 1))]);
    let r = tree(&[("old.md", v("words", 2))]);
    let plan = run(&b, &l, &r);
    assert_eq!(
        plan.merged,
        tree(&[("new.md", v("", 1)), ("old.md", v("words", 2))])
    );
    // Two notes with the same bytes and time deleted, one added: which one moved is unknown.
    let b = tree(&[("one.md", v("same", 1)), ("two.md", v("same", 1))]);
    let l = tree(&[("new.md", v("same", 1))]);
    let r = tree(&[("one.md", v("same edited", 2)), ("two.md", v("same", 1))]);
    let plan = run(&b, &l, &r);
    assert_eq!(plan.merged.get(&p("one.md")), Some(&v("same edited", 2)));
    assert_eq!(plan.merged.get(&p("new.md")), Some(&v("same", 1)));
    // One deleted, two added with its bytes and time: which is the rename is unknown.
    let b = tree(&[("old.md", v("same", 1))]);
    let l = tree(&[("a.md", v("same", 1)), ("b.md", v("same", 1))]);
    let r = tree(&[("old.md", v("same edited", 2))]);
    let plan = run(&b, &l, &r);
    assert_eq!(plan.merged.get(&p("old.md")), Some(&v("same edited", 2)));
    assert_eq!(plan.merged.len(), 3);
}

/// Well before base's version: a backup's time.
const BACKUP: i64 = -3600 * 1_000_000_000;

fn only_revision(plan: &Plan) -> FileMeta {
    let revisions: Vec<FileMeta> = plan
        .merged
        .iter()
        .filter(|(k, _)| k.is_revision())
        .map(|(_, m)| *m)
        .collect();
    assert_eq!(revisions.len(), 1, "{plan:?}");
    revisions[0]
}

#[test]
fn an_older_version_put_back_never_simply_wins() {
    let b = tree(&[("n.md", v("newest", 10))]);
    let old = tree(&[("n.md", v("backup", BACKUP))]);
    // Put back here: the hub's version keeps the path, the backup is a revision.
    let plan = run(&b, &old, &b);
    assert_eq!(plan.merged.get(&p("n.md")), Some(&v("newest", 10)));
    assert_eq!(only_revision(&plan), v("backup", BACKUP));
    let c = &plan.conflicts[0];
    assert_eq!(
        (c.kind, c.winner),
        (ConflictKind::OlderVersion, Side::Remote)
    );
    assert_eq!(simulate(&old, &plan.actions), plan.merged);
    // Put back there: this device's version keeps it.
    let plan = run(&b, &b, &old);
    assert_eq!(plan.merged.get(&p("n.md")), Some(&v("newest", 10)));
    assert_eq!(only_revision(&plan), v("backup", BACKUP));
    let c = &plan.conflicts[0];
    assert_eq!(
        (c.kind, c.winner),
        (ConflictKind::OlderVersion, Side::Local)
    );
    assert_eq!(simulate(&b, &plan.actions), plan.merged);
    // Against a deletion: the deletion stands, the backup is a revision.
    let gone = FlatTree::new();
    for (l, r) in [(&old, &gone), (&gone, &old)] {
        let plan = run(&b, l, r);
        assert!(!plan.merged.contains_key(&p("n.md")), "{plan:?}");
        assert_eq!(only_revision(&plan), v("backup", BACKUP));
        assert_eq!(simulate(l, &plan.actions), plan.merged);
    }
}

#[test]
fn a_step_back_within_the_clock_slack_is_an_ordinary_edit() {
    let b = tree(&[("n.md", v("theirs", 10))]);
    let behind = tree(&[("n.md", v("mine", 10 - BACKWARD_SLACK_NS / 2))]);
    let plan = run(&b, &behind, &b);
    assert_eq!(plan.merged, behind);
    assert!(plan.conflicts.is_empty());
}

#[test]
fn an_old_copy_of_a_note_deleted_since_stays_aside() {
    let e = FlatTree::new();
    let back = tree(&[("n.md", v("backup", BACKUP))]);
    let deleted = |last: FileMeta| Evidence {
        deleted: [(
            p("n.md"),
            Deletion {
                last,
                at_ns: T0 + 10,
            },
        )]
        .into(),
    };
    // An old copy (the deleted version's time or older): kept under `.revisions/`.
    for last in [v("backup", BACKUP), v("later", 5)] {
        let plan = run_with(&e, &back, &e, &deleted(last));
        assert!(!plan.merged.contains_key(&p("n.md")), "{plan:?}");
        assert_eq!(only_revision(&plan), v("backup", BACKUP));
        assert_eq!(plan.conflicts[0].kind, ConflictKind::OlderVersion);
        assert_eq!(simulate(&back, &plan.actions), plan.merged);
    }
    // Newer than the version that was deleted, or a path never deleted: a new note.
    let plan = run_with(&e, &back, &e, &deleted(v("older", BACKUP - 1)));
    assert_eq!(plan.merged, back);
    let plan = run(&e, &back, &e);
    assert_eq!(plan.merged, back);
}

/// Found by `devices_converge_with_case_clashing_names_on_one_device` (two devices syncing at
/// once): a round's first attempt deleted `x.md` (the hub had renamed it to `y.md`) and, its
/// own new `y.md` winning, kept the hub's `y.md` (the bytes and time of `x.md`) under
/// `.revisions/`. Its CAS lost to a device that put `x.md` back with new bytes. The retry saw a
/// local "rename" `x.md` -> the revision and an edit of `x.md` there, and carried the edit to
/// the revision: the only copy of "beta 2" was overwritten (while the plan's tree still
/// claimed it), and the other device's `x.md` was dropped. A revision is never a rename's
/// new name: both paths follow the per-path rules.
#[test]
fn an_edit_never_follows_a_rename_into_revisions() {
    let beta = v("beta 2", 2);
    let rev = ".revisions/y.2023-11-14T22-13-20.000Z.phone.md";
    let base = tree(&[("x.md", beta)]);
    let local = tree(&[("y.md", v("alpha 8", 8)), (rev, beta)]);
    let remote = tree(&[("x.md", v("alpha", 11)), ("y.md", beta)]);
    let plan = run(&base, &local, &remote);
    assert_eq!(
        plan.merged,
        tree(&[
            ("x.md", v("alpha", 11)),
            ("y.md", v("alpha 8", 8)),
            (rev, beta)
        ])
    );
    assert_eq!(
        plan.actions,
        vec![Action::Write {
            path: p("x.md"),
            meta: v("alpha", 11),
            expect: None,
        }]
    );

    // The other way round: the hub's side moved a note into `.revisions/` and this side
    // edited it. The edit stays at the note, the hub's revision is downloaded beside it.
    let base = tree(&[("x.md", beta)]);
    let local = tree(&[("x.md", v("edited", 9))]);
    let remote = tree(&[(rev, beta)]);
    let plan = run(&base, &local, &remote);
    assert_eq!(plan.merged, tree(&[("x.md", v("edited", 9)), (rev, beta)]));
    assert!(
        plan.actions
            .iter()
            .all(|a| !matches!(a, Action::Move { .. })),
        "{:?}",
        plan.actions
    );
}
