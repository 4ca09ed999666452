//! `vault-sim`: run seeded simulations of Vault Sync devices and a hub (docs/reliability.md,
//! "Simulation"). A soak runs seeds for `--seconds`; `--seed` replays one run exactly and
//! shrinks a failure to its shortest steps.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use vault_sim::ops::generate_with;
use vault_sim::run::{Report, run, shrink};

#[derive(Parser)]
#[command(
    name = "vault-sim",
    about = "Deterministic simulation of Vault Sync: devices and a hub on simulated disks and clocks, with crashes and faults, checked against the invariants of no loss, safety on disk and convergence"
)]
struct Args {
    /// Run seeds one after another for this long (a soak), then print the table.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Replay this one seed (and shrink it if it fails) instead of a soak.
    #[arg(long)]
    seed: Option<u64>,
    /// The first seed of a soak.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Steps per run.
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Print each step of a replayed run.
    #[arg(long)]
    verbose: bool,
    /// No bit rot in the hub's packs (otherwise one step in a hundred flips a bit); replaying
    /// a seed of such a soak needs it too.
    #[arg(long)]
    no_rot: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(seed) = args.seed {
        return replay(seed, args.steps, args.verbose, !args.no_rot);
    }
    soak(&args)
}

fn replay(seed: u64, steps: usize, verbose: bool, rot: bool) -> ExitCode {
    let (setup, steps) = generate_with(seed, steps, rot);
    if verbose {
        println!("setup: {setup:?}");
        for (i, s) in steps.iter().enumerate() {
            println!("{i:4} {s:?}");
        }
    }
    let report = run(seed, &setup, &steps);
    print_counts(1, &report, Duration::ZERO);
    match &report.failure {
        None => {
            println!("seed {seed}: every invariant held");
            ExitCode::SUCCESS
        }
        Some(f) => {
            println!("seed {seed} fails after step {}: {}", f.at, f.violation);
            let shortest = shrink(seed, &setup, &steps, f);
            println!("shortest failing steps ({}):", shortest.len());
            for s in &shortest {
                println!("  {s:?}");
            }
            ExitCode::FAILURE
        }
    }
}

fn soak(args: &Args) -> ExitCode {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut total = Report::default();
    let mut runs = 0u64;
    let mut failures = Vec::new();
    let mut seed = args.first_seed;
    let mut last_line = Instant::now();
    while Instant::now() < deadline {
        let (setup, steps) = generate_with(seed, args.steps, !args.no_rot);
        let report = run(seed, &setup, &steps);
        runs += 1;
        add(&mut total, &report);
        if let Some(f) = report.failure {
            failures.push((seed, f));
        }
        let secs = started.elapsed().as_secs_f64();
        if last_line.elapsed() < Duration::from_millis(500) {
            seed += 1;
            continue;
        }
        last_line = Instant::now();
        eprint!(
            "\r{runs} runs, {} rounds ({:.0}/s), {} crashes, {} failing seeds   ",
            total.counts.rounds,
            total.counts.rounds as f64 / secs.max(1e-9),
            total.counts.device_crashes + total.counts.hub_crashes,
            failures.len()
        );
        let _ = std::io::stderr().flush();
        seed += 1;
    }
    eprintln!();
    print_counts(runs, &total, started.elapsed());
    for (seed, f) in &failures {
        println!(
            "FAILED seed {seed} after step {}: {}\n  replay: cargo run --release -p vault-sim -- --seed {seed} --steps {}{}",
            f.at,
            f.violation,
            args.steps,
            if args.no_rot { " --no-rot" } else { "" }
        );
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn add(total: &mut Report, r: &Report) {
    let (t, c) = (&mut total.counts, &r.counts);
    t.rounds += c.rounds;
    t.rounds_ok += c.rounds_ok;
    t.device_crashes += c.device_crashes;
    t.hub_crashes += c.hub_crashes;
    t.faults += c.faults;
    t.user_steps += c.user_steps;
    t.net_faults += c.net_faults;
    t.server_restarts += c.server_restarts;
    t.compactions += c.compactions;
    t.bit_flips += c.bit_flips;
    t.lost_to_rot += c.lost_to_rot;
    total.calls += r.calls;
    total.device_seconds += r.device_seconds;
    if total.failure.is_none() {
        total.failure.clone_from(&r.failure);
    }
}

fn print_counts(runs: u64, r: &Report, took: Duration) {
    let c = &r.counts;
    let secs = took.as_secs_f64();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| runs (seeds) | {runs} |");
    println!(
        "| simulated device-hours | {:.1} |",
        r.device_seconds as f64 / 3600.0
    );
    println!("| sync rounds | {} ({} finished) |", c.rounds, c.rounds_ok);
    println!(
        "| user edits, moves, deletes, restores | {} |",
        c.user_steps
    );
    println!("| device crashes | {} |", c.device_crashes);
    println!("| hub disk crashes | {} |", c.hub_crashes);
    println!(
        "| faults (unmounts, unreadable files, growing files) | {} |",
        c.faults
    );
    println!(
        "| network faults (requests lost, answers lost, requests delayed, partitions) | {} |",
        c.net_faults
    );
    println!("| server restarts | {} |", c.server_restarts);
    println!(
        "| server compactions between two requests of a round | {} |",
        c.compactions
    );
    println!("| bit flips in the hub's storage | {} |", c.bit_flips);
    println!(
        "| versions only on the rotted disk (the disk's loss, exempt) | {} |",
        c.lost_to_rot
    );
    println!("| filesystem calls | {} |", r.calls);
    println!(
        "| invariants broken (versions lost, torn files, no convergence) | {} |",
        if r.failure.is_some() {
            "yes: see below"
        } else {
            "0"
        }
    );
    if secs > 0.0 {
        println!("| wall time | {secs:.1} s |");
        println!("| rounds per second | {:.0} |", c.rounds as f64 / secs);
    }
}
