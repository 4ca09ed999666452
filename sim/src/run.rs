//! A run: the steps of a seed on a fresh world, the invariants checked after every step,
//! convergence at the end; and shrinking a failing run to a shortest list of steps that still
//! fails the same way.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::check::{self, Knowledge, Violation};
use crate::ops::{Setup, Step};
use crate::world::{Counts, RoundOutcome, World};

/// A failing run: which step, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The step after which an invariant failed (`steps.len()`: at the end).
    pub at: usize,
    pub violation: Violation,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub counts: Counts,
    pub failure: Option<Failure>,
    /// Filesystem calls made by every machine (a run's fingerprint: the same each replay).
    pub calls: u64,
    /// Simulated time the devices lived through, summed over devices, in seconds.
    pub device_seconds: u64,
}

/// One world at a time per process: the random source and the thread pool are the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long the world waits before each settling pass: more than a stale lock's age.
const SETTLE_WAIT_NS: i64 = (vault::refs::STALE_LOCK_AGE.as_secs() as i64 + 30) * 1_000_000_000;

/// How many rounds each device runs at the end to converge.
pub const SETTLE_ROUNDS: usize = 4;

/// Run `steps` on a fresh world of `setup`, the seeded random source installed.
pub fn run(seed: u64, setup: &Setup, steps: &[Step]) -> Report {
    exclusive(seed, || run_world(setup, steps))
}

/// Run `f` (which makes and drives worlds) as [`run`] runs a world: alone in the process, the
/// random source seeded from `seed`; for tests that look inside a world between steps.
pub fn exclusive<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    prepare_process();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f11e);
    vault::vfs::set_random_source(Some(Box::new(move |buf| rng.fill_bytes(buf))));
    let out = f();
    vault::vfs::set_random_source(None);
    out
}

/// Once per process: rayon on one thread (a simulated round does one thing at a time), and a
/// panic hook that keeps a simulated crash quiet.
fn prepare_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Before any seeded random source goes in: it installs a fixed one of its own.
        crate::server_hub::prepare();
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .payload()
                .downcast_ref::<crate::fs::Crashed>()
                .is_none()
            {
                previous(info);
            }
        }));
    });
}

fn run_world(setup: &Setup, steps: &[Step]) -> Report {
    let mut world = World::new(setup);
    let mut known = Knowledge::default();
    let fail = |world: &World, at: usize, violation: Violation| Report {
        counts: world.counts,
        failure: Some(Failure { at, violation }),
        calls: calls(world),
        device_seconds: device_seconds(world),
    };
    for (at, step) in steps.iter().enumerate() {
        let held = match step {
            Step::Sync { dev, .. } => Some(world.files(*dev)),
            _ => None,
        };
        let before_rot = matches!(step, Step::BitRot { .. })
            .then(|| check::hub_history(&world).unwrap_or_default());
        let outcome = world.step(step);
        if let Some(before) = before_rot {
            world.counts.lost_to_rot += check::rot(&world, &mut known, &before);
        }
        if let Some(o) = &outcome
            && std::env::var_os("VAULT_SIM_TRACE").is_some()
        {
            eprintln!("{at:4} {step:?} -> {o:?}");
        }
        match check_after(&world, &mut known, outcome.as_ref(), held.as_ref(), step) {
            Ok(lost) => world.counts.lost_to_rot += lost,
            Err(v) => return fail(&world, at, v),
        }
    }
    // Quiescence: faults healed, every device syncs in turn until all agree.
    world.heal();
    world.settling = true;
    for pass in 0..SETTLE_ROUNDS {
        // After bit rot the users run `syncd sync --full-verify` as soon as a round told them
        // to, and in the second pass at the latest (a periodic `syncd verify --full`, which
        // docs/sync.md asks for, finds damage no round read: a round does not re-hash the
        // hub's copies of what every device already holds).
        world.full_verify = world.told_full_verify || (world.counts.bit_flips > 0 && pass >= 1);
        // Long enough for a lock left by a crashed round to count as stale (as devices
        // retrying in the background would wait).
        world.clock.advance(SETTLE_WAIT_NS);
        for dev in 0..world.devices.len() {
            let held = world.files(dev);
            let outcome = world.sync(dev);
            if std::env::var_os("VAULT_SIM_TRACE").is_some() {
                eprintln!("settle dev{dev} -> {outcome:?}");
            }
            // The user reads what the round could not do and puts it right.
            world.resolve_skipped(dev);
            let step = Step::Sync {
                dev,
                crash: None,
                hub_crash: None,
                net: None,
                compact_at: None,
            };
            match check_after(&world, &mut known, Some(&outcome), Some(&held), &step) {
                Ok(lost) => world.counts.lost_to_rot += lost,
                Err(v) => return fail(&world, steps.len(), v),
            }
        }
    }
    if let Err(v) = check::converged_except(&world, &known) {
        return fail(&world, steps.len(), v);
    }
    // A rotted disk keeps its damage where no device holds a good copy (old history): fsck
    // must say so then, and the checks above hold the hub to what can be repaired.
    if world.counts.bit_flips == 0
        && let Err(v) = check::fsck_clean(&world)
    {
        return fail(&world, steps.len(), v);
    }
    Report {
        counts: world.counts,
        failure: None,
        calls: calls(&world),
        device_seconds: device_seconds(&world),
    }
}

fn device_seconds(world: &World) -> u64 {
    let lived = (world.clock.now_ns() - world.started_ns).max(0) as u64 / 1_000_000_000;
    lived * world.devices.len() as u64
}

fn calls(world: &World) -> u64 {
    world.hub.fs.calls()
        + world
            .devices
            .iter()
            .map(|d| d.machine.fs.calls())
            .sum::<u64>()
}

/// The invariants after `step`; returns how many versions whose history copy had rotted
/// left the last device meanwhile (the disk's loss, see [`check::end_exemptions`]).
fn check_after(
    world: &World,
    known: &mut Knowledge,
    outcome: Option<&RoundOutcome>,
    held: Option<&BTreeMap<std::path::PathBuf, Vec<u8>>>,
    step: &Step,
) -> Result<u64, Violation> {
    check::no_torn_files(world)?;
    if let Some(RoundOutcome::Failed(message)) = outcome {
        check::damage_explained(message)?;
    }
    if let Some(outcome) = outcome {
        if *outcome == RoundOutcome::Synced {
            check::record_head(world, known)?;
        }
        let who = match step {
            Step::Sync { dev, .. } => world.devices[*dev].name.clone(),
            _ => String::new(),
        };
        let none = BTreeMap::new();
        let held = held.unwrap_or(&none);
        check::nothing_lost(world, known, held, &who)?;
        let lost = check::end_exemptions(world, known);
        if let (RoundOutcome::Crashed, Step::Sync { dev, .. }) = (outcome, step) {
            check::whole_after_crash(world, *dev, held)?;
        }
        return Ok(lost);
    }
    Ok(0)
}

/// The shortest list of steps found that still fails as `failure` did (the same invariant),
/// by removing runs of steps, then single steps, while the failure stays.
pub fn shrink(seed: u64, setup: &Setup, steps: &[Step], failure: &Failure) -> Vec<Step> {
    let kind = failure.violation.kind;
    let fails = |candidate: &[Step]| {
        run(seed, setup, candidate)
            .failure
            .is_some_and(|f| f.violation.kind == kind)
    };
    let mut current: Vec<Step> = steps[..(failure.at + 1).min(steps.len())].to_vec();
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < current.len() {
            let end = (start + chunk).min(current.len());
            let mut candidate = current[..start].to_vec();
            candidate.extend_from_slice(&current[end..]);
            if !candidate.is_empty() && fails(&candidate) {
                current = candidate;
                removed_any = true;
            } else {
                start = end;
            }
        }
        if chunk == 1 && !removed_any {
            return current;
        }
        chunk = (chunk / 2).max(1);
    }
}
