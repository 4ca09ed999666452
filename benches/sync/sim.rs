//! The simulation's soak throughput (docs/reliability.md "Simulation"): seeded runs of the
//! unmodified sync code on simulated disks, for a fixed time, in simulated rounds per second.
//! A figure to watch, not judged: the soak's reach in a night depends on it.

use std::time::{Duration, Instant};

use vault_sim::ops::generate;
use vault_sim::run::run;

/// What a timed soak did.
pub struct Throughput {
    pub runs: u64,
    pub rounds: u64,
    pub crashes: u64,
    pub failing_seeds: Vec<u64>,
    pub took: Duration,
}

impl Throughput {
    pub fn rounds_per_second(&self) -> f64 {
        self.rounds as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

/// Run seeds from 1 for `time`, 60 steps each (the soak's default).
pub fn measure(time: Duration) -> Throughput {
    let started = Instant::now();
    let mut t = Throughput {
        runs: 0,
        rounds: 0,
        crashes: 0,
        failing_seeds: Vec::new(),
        took: Duration::ZERO,
    };
    let mut seed = 1;
    while started.elapsed() < time {
        let (setup, steps) = generate(seed, 60);
        let report = run(seed, &setup, &steps);
        t.runs += 1;
        t.rounds += report.counts.rounds;
        t.crashes += report.counts.device_crashes + report.counts.hub_crashes;
        if report.failure.is_some() {
            t.failing_seeds.push(seed);
        }
        seed += 1;
    }
    t.took = started.elapsed();
    t
}

/// The section of the benchmark's report.
pub fn text(t: &Throughput) -> String {
    format!(
        "\nsimulation soak: {} runs, {} rounds, {} crashes in {:.1} s: {:.0} simulated rounds per second{}\n",
        t.runs,
        t.rounds,
        t.crashes,
        t.took.as_secs_f64(),
        t.rounds_per_second(),
        if t.failing_seeds.is_empty() {
            String::new()
        } else {
            format!(
                "; FAILING seeds {:?} (replay: cargo run --release -p vault-sim -- --seed S)",
                t.failing_seeds
            )
        }
    )
}
