//! The simulation as part of the test suite: a bounded number of seeds must keep every
//! invariant, a run must replay exactly, and scenarios written out by hand hold too.

use vault_sim::ops::{HubKind, Step, generate};
use vault_sim::run::run;
use vault_sim::scenario::{sync, two_devices, two_plain_devices, write};

/// How many seeds the suite runs (a soak runs as many as its time allows: `vault-sim
/// --seconds N`).
const SEEDS: u64 = 60;
const STEPS: usize = 40;

#[test]
fn every_invariant_holds_over_a_bounded_number_of_seeds() {
    let mut failures = Vec::new();
    let mut rounds = 0;
    let mut crashes = 0;
    for seed in 1..=SEEDS {
        let (setup, steps) = generate(seed, STEPS);
        let report = run(seed, &setup, &steps);
        rounds += report.counts.rounds;
        crashes += report.counts.device_crashes + report.counts.hub_crashes;
        if let Some(f) = report.failure {
            failures.push(format!(
                "seed {seed} after step {}: {} (replay: cargo run --release -p vault-sim -- --seed {seed} --steps {STEPS})",
                f.at, f.violation
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The runs did what they are for: many rounds, crashes among them.
    assert!(rounds > SEEDS * 10, "{rounds} rounds");
    assert!(crashes > SEEDS / 2, "{crashes} crashes");
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [7, 8, 9] {
        let (setup, steps) = generate(seed, STEPS);
        assert_eq!(generate(seed, STEPS), (setup.clone(), steps.clone()));
        let (a, b) = (run(seed, &setup, &steps), run(seed, &setup, &steps));
        assert_eq!(a.calls, b.calls, "seed {seed}: the same filesystem calls");
        assert_eq!(a.counts, b.counts, "seed {seed}");
        assert_eq!(a.failure, b.failure, "seed {seed}");
    }
}

/// Seed 6424: a user deleted the vault's only note; the round refuses an emptied folder (a
/// drive not mounted looks the same) and says to run `syncd sync --allow-mass-delete`. The
/// settling user did not, so the run never converged; now, with every drive back, the user
/// does as told, and the deletion reaches the hub and the other device.
#[test]
fn a_user_who_deleted_every_note_runs_the_sync_the_refusal_names() {
    let steps = [
        write(0, "n.md", "the only note\n"),
        sync(0),
        sync(1),
        Step::Delete {
            dev: 0,
            path: "n.md".into(),
        },
    ];
    let report = run(6424, &two_plain_devices(HubKind::Folder), &steps);
    assert_eq!(report.failure, None);
}

#[test]
fn a_concurrent_edit_on_two_devices_keeps_both_versions() {
    let steps = [
        write(0, "n.md", "first\n"),
        sync(0),
        sync(1),
        write(0, "n.md", "from zero\n"),
        write(1, "n.md", "from one\n"),
        sync(0),
        sync(1),
    ];
    let report = run(1, &two_devices(HubKind::Folder), &steps);
    assert_eq!(report.failure, None);
    // Four rounds, then the settling passes of both devices, all finished.
    let settling = vault_sim::run::SETTLE_ROUNDS as u64 * 2;
    assert_eq!(report.counts.rounds_ok, 4 + settling);
}

#[test]
fn crashes_at_every_call_of_a_download_leave_whole_files() {
    // The second device downloads, dying at one call after another, keeping nothing that was
    // not made durable.
    let mut crashed = 0;
    for at in (0..300).step_by(7) {
        let steps = [
            write(0, "a/n.md", "one\n"),
            write(0, "b.md", "two\n"),
            sync(0),
            Step::Sync {
                dev: 1,
                crash: Some((at, 0)),
                hub_crash: None,
                net: None,
                compact_at: None,
            },
        ];
        let report = run(at, &two_devices(HubKind::Folder), &steps);
        assert_eq!(report.failure, None, "crash at call {at}");
        crashed += report.counts.device_crashes;
    }
    assert!(
        crashed > 10,
        "the crash points fell inside the round {crashed} times"
    );
}

#[test]
fn server_hub_seeds_pass_and_replay_exactly() {
    let mut server_seeds = 0;
    for seed in 1..=12 {
        let (setup, steps) = generate(seed, STEPS);
        if setup.hub != HubKind::Server {
            continue;
        }
        server_seeds += 1;
        let (a, b) = (run(seed, &setup, &steps), run(seed, &setup, &steps));
        assert_eq!(a.failure, None, "seed {seed}");
        assert_eq!(a.calls, b.calls, "seed {seed}: the same filesystem calls");
        assert_eq!(a.counts, b.counts, "seed {seed}");
    }
    assert!(server_seeds >= 3, "{server_seeds} server seeds in 12");
}
