//! The merge that skips unchanged paths must plan exactly what the plain per-path merge
//! (`reference.rs`) plans: same merged tree, same actions in the same order, same conflicts and
//! revision names, same count of published deletes. Generated cases: a vault of many files that
//! nobody touched plus a few changes of every kind on each side (edits on one or both sides,
//! edits against deletes, renames against edits, executable flips, same bytes at different
//! times), over names that clash by case or Unicode normalisation with each other, with
//! untouched files and with the revision names the plan hands out, and with ignored paths.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::tests::{T0, p, v};
use super::*;
use crate::revisions::revision_path;

/// Names the changes pick from. Groups that fold to one key: `a`/`A`, `note`/`Note`/`NOTE`,
/// the `d/` folder, NFC and NFD `café` in both cases, KELVIN SIGN against `k`, `F/1.md` against
/// the untouched `f/1.md`, two files under `.revisions/`, and the upper-case twin of a revision
/// name a conflict on `note.md` would take.
fn pool() -> Vec<VaultPath> {
    let mut names: Vec<VaultPath> = [
        "a.md",
        "A.md",
        "b.md",
        "note.md",
        "Note.md",
        "NOTE.md",
        "d/a.md",
        "D/a.md",
        "d/A.md",
        "Caf\u{e9}.md",
        "caf\u{e9}.md",
        "cafe\u{301}.md",
        "CAFE\u{301}.md",
        "\u{212a}elvin.md",
        "kelvin.md",
        "F/1.md",
        "f/2.md",
        "x.tmp",
        "X.tmp",
        "ign/a.md",
        ".revisions/a.md",
        ".revisions/A.md",
        "moved/n.md",
        "new.md",
    ]
    .into_iter()
    .map(p)
    .collect();
    for (t, device) in [(1, "laptop"), (2, "phone"), (3, "laptop")] {
        let rev = revision_path(&p("note.md"), T0 + t, device, &|_| false);
        names.push(p(&rev.as_str().replacen(
            ".revisions/note",
            ".revisions/Note",
            1,
        )));
        names.push(rev);
    }
    names
}

const CONTENTS: [&str; 4] = ["x", "y", "z", "w"];
/// The time of an older version put back (a backup restored): well before every other time.
const OLD: i64 = -2 * BACKWARD_SLACK_NS;

/// A version's time: mostly near `T0`, sometimes a backup's.
fn arb_time() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![6 => 0i64..4, 1 => Just(OLD)]
}
/// How many names at the start of [`pool`] get half of the changes.
const HOT: usize = 6;

/// One thing a device did to its copy.
#[derive(Debug, Clone)]
enum Op {
    /// Write a version (an edit, or an add where nothing was).
    Put {
        at: usize,
        content: usize,
        time: i64,
    },
    /// Only a new modification time.
    Touch {
        at: usize,
    },
    /// Only the executable bit.
    Flip {
        at: usize,
    },
    Delete {
        at: usize,
    },
    /// Same bytes under a new name (maybe with a new time), if the new name is free.
    Rename {
        from: usize,
        to: usize,
        retime: bool,
    },
}

/// A name for a change: half the changes go to the first few names, so that both sides often
/// change one path.
fn arb_at(names: usize) -> impl Strategy<Value = usize> + Clone {
    prop_oneof![0..HOT, 0..names]
}

fn arb_op(names: usize) -> impl Strategy<Value = Op> {
    let at = arb_at(names);
    prop_oneof![
        3 => (at.clone(), 0..CONTENTS.len(), arb_time())
            .prop_map(|(at, content, time)| Op::Put { at, content, time }),
        1 => at.clone().prop_map(|at| Op::Touch { at }),
        1 => at.clone().prop_map(|at| Op::Flip { at }),
        2 => at.clone().prop_map(|at| Op::Delete { at }),
        3 => (at.clone(), at, any::<bool>())
            .prop_map(|(from, to, retime)| Op::Rename { from, to, retime }),
    ]
}

fn apply(tree: &mut FlatTree, names: &[VaultPath], op: &Op, shift: i64) {
    match *op {
        Op::Put { at, content, time } => {
            tree.insert(names[at].clone(), v(CONTENTS[content], time + shift));
        }
        Op::Touch { at } => {
            if let Some(m) = tree.get_mut(&names[at]) {
                m.mtime_ns += 7 + shift;
            }
        }
        Op::Flip { at } => {
            if let Some(m) = tree.get_mut(&names[at]) {
                m.executable = !m.executable;
            }
        }
        Op::Delete { at } => {
            tree.remove(&names[at]);
        }
        Op::Rename { from, to, retime } => {
            if !tree.contains_key(&names[to])
                && let Some(mut m) = tree.remove(&names[from])
            {
                if retime {
                    m.mtime_ns += 11 + shift;
                }
                tree.insert(names[to].clone(), m);
            }
        }
    }
}

/// Which paths a case ignores.
const IGNORES: [fn(&VaultPath) -> bool; 3] = [
    |_| false,
    |p| p.as_str().ends_with(".tmp"),
    |p| p.as_str().ends_with(".tmp") || p.as_str().starts_with("ign/") || p.is_revision(),
];

#[derive(Debug, Clone)]
struct Case {
    base: FlatTree,
    local: FlatTree,
    remote: FlatTree,
    devices: Devices,
    evidence: Evidence,
    ignore: usize,
}

fn arb_case() -> impl Strategy<Value = Case> {
    let names = pool();
    let n = names.len();
    let version = (0..CONTENTS.len(), 0i64..4, prop::bool::weighted(0.1));
    (
        prop::collection::vec(prop::option::weighted(0.4, version), n),
        0usize..60,
        prop::collection::vec(arb_op(n), 0..4),
        0i64..2,
        prop::collection::vec(arb_op(n), 0..5),
        prop::collection::vec(arb_op(n), 0..5),
        prop::collection::vec((arb_at(n), arb_at(n), any::<bool>()), 0..2),
        any::<bool>(),
        0..IGNORES.len(),
        // Some names were deleted before base: the last version (its time) and when.
        prop::collection::vec(
            prop::option::weighted(0.3, (0..CONTENTS.len(), arb_time(), 0i64..2)),
            n,
        ),
    )
        .prop_map(
            move |(in_base, untouched, both, shift, here, there, crossed, swap, ignore, gone)| {
                let mut base: FlatTree = (0..untouched)
                    .map(|i| (p(&format!("f/{i}.md")), v(CONTENTS[i % 4], i as i64)))
                    .collect();
                for (name, version) in names.iter().zip(in_base) {
                    if let Some((content, time, executable)) = version {
                        let meta = FileMeta {
                            executable,
                            ..v(CONTENTS[content], time)
                        };
                        base.insert(name.clone(), meta);
                    }
                }
                let (mut local, mut remote) = (base.clone(), base.clone());
                // Both sides did the same (the remote copy maybe at another time), then each
                // its own.
                for op in &both {
                    apply(&mut local, &names, op, 0);
                    apply(&mut remote, &names, op, shift);
                }
                for op in &here {
                    apply(&mut local, &names, op, 0);
                }
                for op in &there {
                    apply(&mut remote, &names, op, 0);
                }
                // A rename on one side, an edit of the old name on the other.
                for &(from, to, here_renamed) in &crossed {
                    let (renamer, editor) = match here_renamed {
                        true => (&mut local, &mut remote),
                        false => (&mut remote, &mut local),
                    };
                    let rename = Op::Rename {
                        from,
                        to,
                        retime: false,
                    };
                    apply(renamer, &names, &rename, 0);
                    let edit = Op::Put {
                        at: from,
                        content: from % CONTENTS.len(),
                        time: 3,
                    };
                    apply(editor, &names, &edit, 0);
                }
                let (local_id, remote_id) = if swap {
                    ("bbbb", "aaaa")
                } else {
                    ("aaaa", "bbbb")
                };
                let devices = Devices {
                    local_id: local_id.into(),
                    local_name: "laptop".into(),
                    remote_id: remote_id.into(),
                    remote_name: "phone".into(),
                    remote_authors: Default::default(),
                };
                let deleted = names
                    .iter()
                    .zip(gone)
                    .filter_map(|(name, gone)| {
                        let (content, time, late) = gone?;
                        let last = v(CONTENTS[content], time);
                        let at_ns = T0 + late * 3 * BACKWARD_SLACK_NS;
                        Some((name.clone(), Deletion { last, at_ns }))
                    })
                    .collect();
                Case {
                    base,
                    local,
                    remote,
                    devices,
                    evidence: Evidence { deleted },
                    ignore,
                }
            },
        )
}

fn both_plans(case: &Case) -> (Plan, Plan) {
    let ignored = IGNORES[case.ignore];
    let fast = reconcile_with(
        &case.base,
        &case.local,
        &case.remote,
        &case.devices,
        &case.evidence,
        &ignored,
    );
    let slow = reference::reconcile(
        &case.base,
        &case.local,
        &case.remote,
        &case.devices,
        &case.evidence,
        &ignored,
    );
    (fast, slow)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn plans_exactly_what_the_reference_plans(case in arb_case()) {
        let (fast, slow) = both_plans(&case);
        prop_assert_eq!(fast, slow, "{:#?}", case);
    }

    /// A device that never synced (or lost `.vault/`): everything differs from base.
    #[test]
    fn plans_exactly_what_the_reference_plans_without_a_base(case in arb_case()) {
        let case = Case { base: FlatTree::new(), ..case };
        let (fast, slow) = both_plans(&case);
        prop_assert_eq!(fast, slow, "{:#?}", case);
    }
}

/// The generated cases must reach every path of the merge, or the equivalence above proves
/// little: count what the reference plans over a fixed sample.
#[test]
fn generated_cases_reach_every_rule() {
    let mut runner = TestRunner::deterministic();
    let strategy = arb_case();
    let mut seen = BTreeMap::<&str, usize>::new();
    for _ in 0..3000 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            panic!("the strategy cannot fail");
        };
        let case = tree.current();
        let (_, plan) = both_plans(&case);
        let mut saw = |what| *seen.entry(what).or_default() += 1;
        for a in &plan.actions {
            saw(match a {
                Action::Move { to, .. } if to.is_revision() => "move aside",
                Action::Move { .. } => "rename move",
                Action::Delete { .. } => "delete",
                Action::Write { expect: None, .. } => "fresh write",
                Action::Write { path, .. } if !case.base.contains_key(path) => {
                    "edit follows a local rename"
                }
                Action::Write { .. } => "overwrite",
                Action::Touch { .. } => "touch",
            });
        }
        for c in &plan.conflicts {
            saw(match (c.kind, c.winner) {
                (ConflictKind::BothChanged, Side::Local) => "both changed, local wins",
                (ConflictKind::BothChanged, Side::Remote) => "both changed, remote wins",
                (ConflictKind::NameClash, Side::Local) => "name clash, local wins",
                (ConflictKind::NameClash, Side::Remote) => "name clash, remote wins",
                (ConflictKind::OlderVersion, Side::Local) => "older version there, kept aside",
                (ConflictKind::OlderVersion, Side::Remote) => "older version here, kept aside",
            });
        }
        let untouched = |q: &VaultPath| {
            let b = case.base.get(q);
            b.is_some() && case.local.get(q) == b && case.remote.get(q) == b
        };
        for c in plan
            .conflicts
            .iter()
            .filter(|c| c.kind == ConflictKind::NameClash)
        {
            let key = c.path.fold_key();
            if case
                .base
                .keys()
                .any(|q| untouched(q) && q.fold_key() == key)
            {
                saw("name clash with an untouched file");
            }
        }
        if plan
            .conflicts
            .iter()
            .any(|c| c.kind == ConflictKind::OlderVersion && !case.base.contains_key(&c.path))
        {
            saw("resurrected note kept aside");
        }
        if plan
            .conflicts
            .iter()
            .any(|c| c.revision.as_str().contains('~'))
        {
            saw("revision name already taken");
        }
        if plan.local_deletes > 0 {
            saw("published delete");
        }
        if plan.merged.keys().any(|k| !k.as_str().is_ascii()) {
            saw("non-ASCII name kept");
        }
    }
    for kind in [
        "move aside",
        "rename move",
        "delete",
        "fresh write",
        "overwrite",
        "edit follows a local rename",
        "touch",
        "both changed, local wins",
        "both changed, remote wins",
        "name clash, local wins",
        "name clash, remote wins",
        "name clash with an untouched file",
        "older version there, kept aside",
        "older version here, kept aside",
        "resurrected note kept aside",
        "revision name already taken",
        "published delete",
        "non-ASCII name kept",
    ] {
        assert!(
            seen.get(kind).is_some_and(|n| *n >= 10),
            "{kind}: {seen:#?}"
        );
    }
}
