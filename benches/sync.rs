//! `cargo bench --bench sync [-- OPTIONS]`: every speed promise of Vault Sync measured side by
//! side with the tools people trust (rsync, git), on the same generated vault, in the same run.
//!
//! It runs the real `syncd` binary (built by cargo for this bench, `CARGO_BIN_EXE_syncd`) as a
//! child process, with its XDG folders and every hub inside a scratch folder in `$TMPDIR`, and
//! reaps every child with `wait4` to take its peak memory. How to run it, the options, the
//! JSON fields and how to read the table: docs/performance.md, "The benchmark".

#[path = "sync/agent.rs"]
mod agent;
#[path = "sync/export_history.rs"]
mod export_history;
#[path = "sync/git_export.rs"]
mod git_export;
#[path = "sync/lab.rs"]
mod lab;
#[path = "sync/large.rs"]
mod large;
#[path = "sync/long_history.rs"]
mod long_history;
#[path = "sync/measure.rs"]
mod measure;
#[path = "sync/options.rs"]
mod options;
#[path = "sync/report.rs"]
mod report;
#[path = "sync/scenarios.rs"]
mod scenarios;
#[path = "sync/sim.rs"]
mod sim;
#[path = "sync/tasks.rs"]
mod tasks;
#[path = "sync/web.rs"]
mod web;
#[path = "sync/web_http.rs"]
mod web_http;

use std::process::ExitCode;

use anyhow::Result;

use crate::lab::Lab;
use crate::options::{Options, USAGE};
use crate::report::Environment;
use crate::scenarios::Scenario;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == measure::LAUNCH) {
        return measure::launcher(&args[1..]);
    }
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(64);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> Result<()> {
    let mut env = Environment::probe()?;
    let gen_opts = vaultgen::GenOptions {
        attachments: if opts.quick {
            vaultgen::Attachments::Small
        } else {
            vaultgen::Attachments::Full
        },
        ..vaultgen::GenOptions::new(opts.notes)
    };
    eprintln!("generating a vault of {} notes…", opts.notes);
    let lab = Lab::new(&gen_opts, opts.verbose, opts.quick)?;
    env.rss_floor_kib = lab
        .runner
        .run_ok(std::process::Command::new("true"))?
        .max_rss_kib;

    // Header and warnings go to stdout with the table; with --json, stdout holds only the JSON
    // lines, and the rest goes to stderr.
    let say = |text: &str| {
        if opts.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    say(&report::header(&env, &lab, opts));

    let mut results = Vec::new();
    let mut figures = Vec::new();
    let mut warnings = Vec::new();
    for scenario in Scenario::ALL.into_iter().filter(|s| opts.wants(*s)) {
        eprintln!("{}:", scenario.title());
        let measured = scenario.run(&lab, opts.runs)?;
        lab.purge()?;
        let found = report::warnings(&measured);
        for line in report::figures_json(&measured, lab.summary.notes, &found) {
            if opts.json {
                println!("{line}");
            }
            figures.push(line);
        }
        warnings.extend(found.into_iter().map(|(_, text)| text));
        results.push(measured);
    }

    let agent_text = if opts.wants_agent() {
        eprintln!("agent propagation:");
        let (writes, idle) = if opts.quick {
            (3, std::time::Duration::from_secs(2))
        } else {
            (20, std::time::Duration::from_secs(10))
        };
        let measured = agent::measure(&lab, writes, idle)?;
        report_scenario(&lab, opts, &measured, &mut figures, &mut warnings)?
    } else {
        String::new()
    };

    let tasks_text = if opts.wants_tasks() {
        eprintln!("task listing:");
        let measured = tasks::measure(&lab, opts.runs)?;
        report_scenario(&lab, opts, &measured, &mut figures, &mut warnings)?
    } else {
        String::new()
    };

    let web_text = if opts.wants_web() {
        eprintln!("web view:");
        let idle = std::time::Duration::from_secs(if opts.quick { 2 } else { 10 });
        let measured = web::measure(&lab, opts.runs, idle)?;
        report_scenario(&lab, opts, &measured, &mut figures, &mut warnings)?
    } else {
        String::new()
    };

    let large_text = if opts.wants_large() {
        eprintln!("large files:");
        let measured = large::measure(&lab, &opts.large_mib, opts.runs.min(3))?;
        report_scenario(&lab, opts, &measured, &mut figures, &mut warnings)?
    } else {
        String::new()
    };

    let history_text = if opts.wants_history() {
        eprintln!("long history:");
        let measured = long_history::measure(&lab, opts.rounds, opts.runs)?;
        report_scenario(&lab, opts, &measured, &mut figures, &mut warnings)?
    } else {
        String::new()
    };

    let export_text = if opts.wants_git_export() {
        eprintln!("git export:");
        let measured = git_export::measure(&lab, opts.snapshots, opts.runs)?;
        report_scenario(&lab, opts, &measured, &mut figures, &mut warnings)?
    } else {
        String::new()
    };

    let sim_text = if opts.wants_sim() {
        eprintln!("simulation soak:");
        let measured = sim::measure(std::time::Duration::from_secs(if opts.quick {
            2
        } else {
            20
        }));
        if opts.json {
            println!(
                "{{\"scenario\":\"sim\",\"runs\":{},\"rounds\":{},\"crashes\":{},\"rounds_per_second\":{:.1},\"failing_seeds\":{}}}",
                measured.runs,
                measured.rounds,
                measured.crashes,
                measured.rounds_per_second(),
                measured.failing_seeds.len()
            );
        }
        if !measured.failing_seeds.is_empty() {
            warnings.push(format!(
                "the simulation found failing seeds {:?}: an invariant broke (docs/reliability.md \"Simulation\")",
                measured.failing_seeds
            ));
        }
        sim::text(&measured)
    } else {
        String::new()
    };

    say(&format!(
        "\n{}{agent_text}{tasks_text}{web_text}{large_text}{history_text}{export_text}{sim_text}\nTargets: nothing changed ≤ 1.0× git status with 0 files read and 0 bytes hashed; \
         one note edited ≤ 1.0× git add -A && git commit; initial upload and download ≤ 1.5× \
         rsync -a; syncd's peak RSS < {} MiB for 20,000 notes; agent: median propagation < 1 s, \
         idle CPU about 0, RSS < 60 MiB; tasks: a warm listing parses 0 notes and hashes 0 files, \
         after edits only the edited notes are parsed; web view (warm): note and folder page < 20 ms, \
         tasks page < 100 ms, search < 50 ms, tick < 100 ms, index update after a 10-note snapshot \
         < 200 ms, idle server RSS < 200 MiB; large files: upload and download ≤ 1.5× rsync -a, \
         every peak < 100 MiB, one changed byte < 1 MiB sent and stored; long history: one-edit \
         and idle rounds ≤ 1.3× a fresh hub's, < 40 packs, hub ≤ 2× its live objects; git export: \
         the full export ≤ {:.1}× git add -A && git commit && git repack -a -d of the whole vault, \
         one more snapshot ≤ {:.1}× git add -A && git commit of the same edit, nothing new < {} ms. \
         Times are the sum of a run's processes; ratio = syncd's median / the anchor's median.\n",
        if results.is_empty() {
            String::new()
        } else {
            report::table(&results)
        },
        report::RSS_TARGET_MIB,
        git_export::FULL_TARGET,
        git_export::INCREMENTAL_TARGET,
        git_export::NOOP_TARGET_MS
    ));
    for w in &warnings {
        say(&format!("WARNING: {w}\n"));
    }
    if warnings.is_empty() {
        say("All targets met.\n");
    }
    if opts.is_full_run() {
        let path = report::write_latest(&env, &lab, opts, &figures, &warnings)?;
        say(&format!("Results written to {}\n", path.display()));
    }
    Ok(())
}

/// After a scenario with a table of its own: the lab cleared, its figures (printed as JSON
/// lines with `--json`) and warnings kept; its table, to print with the others.
fn report_scenario(
    lab: &Lab,
    opts: &Options,
    measured: &dyn report::Figures,
    figures: &mut Vec<serde_json::Value>,
    warnings: &mut Vec<String>,
) -> Result<String> {
    lab.purge()?;
    let found = measured.warnings();
    let line = measured.json(&found);
    if opts.json {
        println!("{line}");
    }
    figures.push(line);
    warnings.extend(found);
    Ok(format!("\n{}", measured.table()))
}
