//! Scenarios on the server hub written out by hand: vault-server's handlers in-process, a
//! network between them and the devices that loses, cuts off and delays requests
//! (`sim/src/server_hub.rs`, `sim/src/server_client.rs`). Each runs with every invariant
//! checked after every step and convergence at the end ([`run`]).

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::id::ObjectId;
use vault_sim::check;
use vault_sim::ops::{HubKind, NetFault, Step};
use vault_sim::run::{SETTLE_ROUNDS, exclusive, run};
use vault_sim::scenario::{sync, sync_with, two_devices, write};
use vault_sim::world::{Faults, RoundOutcome, World};

/// How many requests the last step of `steps` (a round) sends: the first `n` at which a lost
/// request no longer strikes.
fn requests_of_last_round(steps: &[Step]) -> u64 {
    let Step::Sync { dev, .. } = steps[steps.len() - 1] else {
        panic!("the last step is a round")
    };
    let mut probe = steps.to_vec();
    let last = probe.len() - 1;
    (0..)
        .find(|n| {
            probe[last] = sync_with(dev, None, Some((*n, NetFault::Lost)));
            run(1, &two_devices(HubKind::Server), &probe)
                .counts
                .net_faults
                == 0
        })
        .expect("a round sends finitely many requests")
}

fn head(world: &World) -> Option<ObjectId> {
    FolderHub::open(&world.hub_dir)
        .and_then(|h| h.head())
        .expect("the server's vault folder reads")
}

#[test]
fn a_lost_answer_to_any_request_of_a_push_loses_nothing_and_converges() {
    let base = [
        write(0, "n.md", "one\n"),
        sync(0),
        sync(1),
        write(0, "n.md", "two\n"),
    ];
    let n = requests_of_last_round(&[base.as_slice(), &[sync(0)]].concat());
    assert!(n > 4, "a push sends more than 4 requests ({n})");
    for at in 0..n {
        let steps = [
            base.as_slice(),
            &[
                sync_with(0, None, Some((at, NetFault::AnswerLost))),
                sync(0),
                sync(1),
            ],
        ]
        .concat();
        let report = run(1, &two_devices(HubKind::Server), &steps);
        assert_eq!(report.failure, None, "answer {at} of {n} lost");
        assert_eq!(report.counts.net_faults, 1);
        // Every other round finished: 2 before, 2 after, then the settling passes of 2.
        assert_eq!(
            report.counts.rounds_ok,
            4 + SETTLE_ROUNDS as u64 * 2,
            "answer {at} of {n} lost: {:?}",
            report.counts
        );
    }
}

#[test]
fn a_head_move_whose_answer_was_lost_is_found_published_by_the_next_round() {
    // The device believes its push failed, though the server moved the head to its snapshot.
    // The next round must take that head as its own (nothing to merge, nothing lost), and the
    // other device must get the note.
    let probe = [
        write(0, "n.md", "one\n"),
        sync(0),
        sync(1),
        write(0, "n.md", "two\n"),
        sync(0),
    ];
    let n = requests_of_last_round(&probe);
    exclusive(1, || {
        let mut landed = 0;
        for at in 0..n {
            let mut world = World::new(&two_devices(HubKind::Server));
            for step in &probe[..4] {
                world.step(step);
            }
            let before = head(&world);
            let faults = Faults {
                net: Some((at, NetFault::AnswerLost)),
                ..Faults::default()
            };
            let outcome = world.sync_with(0, &faults);
            assert!(
                matches!(outcome, RoundOutcome::Failed(ref e) if e.contains("answer lost")),
                "answer {at}: {outcome:?}"
            );
            let after = head(&world);
            if after == before {
                continue;
            }
            landed += 1;
            assert_eq!(world.sync(0), RoundOutcome::Synced);
            assert_eq!(head(&world), after, "the landed head is the device's own");
            assert_eq!(world.sync(1), RoundOutcome::Synced);
            let on_one = world.files(1);
            assert_eq!(
                on_one.get(std::path::Path::new("n.md")).map(Vec::as_slice),
                Some(&b"two\n"[..])
            );
            check::converged(&world).unwrap();
        }
        // The head move, and any request after it in the round (answers lost after the
        // head moved).
        assert!(
            landed >= 1,
            "a lost answer left the head moved in {landed} of {n} cases"
        );
    });
}

#[test]
fn a_delayed_upload_or_head_move_arriving_after_another_devices_round_is_harmless() {
    // Device 0's request is held by the network; device 1 edits the same note and pushes;
    // the late request reaches the server after that (a late put stores objects again, a late
    // head move finds the head moved and changes nothing).
    let base = [
        write(0, "n.md", "one\n"),
        sync(0),
        sync(1),
        write(0, "n.md", "zero's\n"),
    ];
    let n = requests_of_last_round(&[base.as_slice(), &[sync(0)]].concat());
    for at in 0..n {
        let steps = [
            base.as_slice(),
            &[
                sync_with(0, None, Some((at, NetFault::Delayed { steps: 3 }))),
                write(1, "n.md", "one's\n"),
                sync(1),
                // The held request arrives at the start of this step.
                Step::Wait { secs: 1 },
                sync(0),
                sync(1),
            ],
        ]
        .concat();
        let report = run(1, &two_devices(HubKind::Server), &steps);
        assert_eq!(report.failure, None, "request {at} of {n} delayed");
        assert_eq!(report.counts.net_faults, 1);
    }
}

#[test]
fn a_partition_from_any_request_then_a_server_restart_lose_nothing() {
    let base = [write(0, "a.md", "a\n"), write(0, "b/c.md", "c\n")];
    let n = requests_of_last_round(&[base.as_slice(), &[sync(0)]].concat());
    for at in 0..n {
        let steps = [
            base.as_slice(),
            &[
                sync_with(0, None, Some((at, NetFault::Partition))),
                Step::RestartServer,
                write(1, "d.md", "d\n"),
                sync(1),
                sync(0),
            ],
        ]
        .concat();
        let report = run(1, &two_devices(HubKind::Server), &steps);
        assert_eq!(report.failure, None, "partition from request {at} of {n}");
        assert_eq!(report.counts.net_faults, 1, "partition from request {at}");
        assert_eq!(report.counts.server_restarts, 1);
    }
}

#[test]
fn a_server_restart_between_rounds_is_invisible_to_devices() {
    let steps = [
        write(0, "n.md", "one\n"),
        sync(0),
        Step::RestartServer,
        sync(1),
        write(1, "n.md", "two\n"),
        sync(1),
        Step::RestartServer,
        sync(0),
    ];
    let report = run(1, &two_devices(HubKind::Server), &steps);
    assert_eq!(report.failure, None);
    assert_eq!(report.counts.server_restarts, 2);
    assert_eq!(report.counts.rounds_ok, 4 + SETTLE_ROUNDS as u64 * 2);
}
