//! What the benchmark prints: the header (machine, tools, vault), the table, the warnings, one
//! JSON object per figure, and `target/bench/latest.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::lab::{Lab, SYNCD};
use crate::measure::{mib, ms, round3};
use crate::options::Options;
use crate::scenarios::{Figure, Measured, Scenario};

/// syncd's peak memory target for a 20,000-note vault, in MiB.
pub const RSS_TARGET_MIB: f64 = 100.0;

/// The machine and the tools, as measured at start.
pub struct Environment {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory: String,
    /// `/proc/loadavg`'s first three fields at start (a shared machine's noise).
    pub load: String,
    /// The commit the benchmark was built from, `+ uncommitted changes` when the tree differs.
    pub source: String,
    pub syncd: String,
    pub git: String,
    pub rsync: String,
    /// The peak RSS measured for a child running `true`: the least any figure can show.
    pub rss_floor_kib: u64,
}

impl Environment {
    /// Fails if git or rsync cannot be run: the anchors need them.
    pub fn probe() -> Result<Environment> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".to_string(), |k| format!("Linux {}", k.trim()));
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kib: u64 = m
                    .lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB RAM", kib as f64 / (1024.0 * 1024.0)))
            })
            .unwrap_or_else(|| "unknown RAM".to_string());
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".to_string());
        Ok(Environment {
            load,
            source: source_commit(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            kernel,
            memory,
            syncd: first_line(SYNCD, "--version", "cargo bench builds it")?,
            git: first_line("git", "--version", "install it: apt-get install git")?,
            rsync: first_line("rsync", "--version", "install it: apt-get install rsync")?,
            rss_floor_kib: 0,
        })
    }

    fn json(&self) -> Value {
        json!({
            "cpus": self.cpus,
            "cpu_model": self.cpu_model,
            "kernel": self.kernel,
            "memory": self.memory,
            "load_average": self.load,
            "source": self.source,
            "syncd": self.syncd,
            "git": self.git,
            "rsync": self.rsync,
            "rss_floor_mib": round3(mib(self.rss_floor_kib)),
        })
    }
}

/// The first line `program arg` prints, spaces collapsed.
fn first_line(program: &str, arg: &str, hint: &str) -> Result<String> {
    let out = Command::new(program)
        .arg(arg)
        .output()
        .with_context(|| format!("cannot run `{program}`, which the benchmark needs ({hint})"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("");
    Ok(line.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The short commit id of the checkout the benchmark was built from, and whether tracked files
/// differ from it.
fn source_commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        None => "unknown (not a git checkout)".to_string(),
        Some(commit) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if changes.is_empty() => commit,
            _ => format!("{commit} + uncommitted changes"),
        },
    }
}

/// `cargo bench --bench sync -- ARGS`, as this run was asked for.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut text = "cargo bench --bench sync".to_string();
    if !args.is_empty() {
        text.push_str(" -- ");
        text.push_str(&args.join(" "));
    }
    text
}

/// The lines above the table.
pub fn header(env: &Environment, lab: &Lab, opts: &Options) -> String {
    let s = &lab.summary;
    format!(
        "Vault Sync benchmark: {}\n\
         source:  {}\n\
         machine: {} CPUs, {}, {}, {}, load average {}\n\
         tools:   {}; {}; {}\n\
         vault:   {} notes, {} attachments, {} files in {} folders, {}; {} run{} per figure\n\
         memory:  peak RSS of each child from wait4; a child running `true` shows {:.1} MiB\n\
         scratch: {}\n",
        command_line(),
        env.source,
        env.cpus,
        env.cpu_model,
        env.kernel,
        env.memory,
        env.load,
        env.syncd,
        env.git,
        env.rsync,
        s.notes,
        s.attachments,
        s.files,
        s.folders,
        bytes(s.bytes),
        opts.runs,
        if opts.runs == 1 { "" } else { "s" },
        mib(env.rss_floor_kib),
        lab.path().display()
    )
}

/// `512 B`, `4.0 KiB`, `12.3 MiB`, `1.20 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        3 => format!("{value:.2} GiB"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// `min / median / max` in one unit, chosen by the median.
fn times(figure: &Figure) -> String {
    let t = &figure.times;
    let (min, med, max) = (t.min(), t.median(), t.max());
    let secs = med >= Duration::from_secs(1);
    let f = |d: Duration| {
        if secs {
            format!("{:.2}", d.as_secs_f64())
        } else if med >= Duration::from_millis(10) {
            format!("{:.1}", ms(d))
        } else {
            format!("{:.2}", ms(d))
        }
    };
    format!(
        "{} / {} / {} {}",
        f(min),
        f(med),
        f(max),
        if secs { "s" } else { "ms" }
    )
}

/// The promises a scenario's figures break, one line each (without the `WARNING: ` prefix).
pub fn warnings(m: &Measured) -> Vec<(&'static str, String)> {
    let title = m.scenario.title();
    let mut out = Vec::new();
    for issue in &m.ours.issues {
        out.push((m.ours.side, format!("{title}: {issue}")));
    }
    let rss = mib(m.ours.peak_rss_kib);
    if rss >= RSS_TARGET_MIB {
        out.push((
            m.ours.side,
            format!(
                "{title}: syncd's peak memory {rss:.1} MiB is over the target (< {RSS_TARGET_MIB} MiB for 20,000 notes)"
            ),
        ));
    }
    for anchor in &m.anchors {
        if let Some(target) = anchor.target {
            let ratio = m.ratio(anchor);
            if ratio > target {
                out.push((
                    anchor.side,
                    format!(
                        "{title}: syncd takes {ratio:.2}× the time of `{}` (median {} vs {}); target ≤ {target:.1}×",
                        anchor.side,
                        short(m.ours.times.median()),
                        short(anchor.times.median())
                    ),
                ));
            }
        }
    }
    out
}

fn short(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", ms(d))
    }
}

/// The table, as a Markdown table (so it can be pasted into docs/performance.md as printed).
pub fn table(results: &[Measured]) -> String {
    let mut rows: Vec<[String; 10]> = vec![
        [
            "scenario",
            "syncd min / median / max",
            "anchor",
            "anchor min / median / max",
            "ratio",
            "target",
            "peak RSS",
            "files read",
            "bytes hashed",
            "hub bytes (sent / on disk)",
        ]
        .map(String::from),
    ];
    for m in results {
        let sync = m.ours.sync.unwrap_or_default();
        let ours = [
            m.scenario.title().to_string(),
            times(&m.ours),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            format!(
                "{:.1} MiB{}",
                mib(m.ours.peak_rss_kib),
                if mib(m.ours.peak_rss_kib) < RSS_TARGET_MIB {
                    ""
                } else {
                    " MISSED"
                }
            ),
            match m.scenario {
                Scenario::Unchanged => format!("{} (target 0)", sync.files_read),
                _ => sync.files_read.to_string(),
            },
            match m.scenario {
                Scenario::Unchanged => format!("{} (target 0)", bytes(sync.bytes_hashed)),
                _ => bytes(sync.bytes_hashed),
            },
            format!(
                "{} / {}",
                bytes(sync.bytes_sent),
                bytes(sync.hub_bytes_written)
            ),
        ];
        if m.anchors.is_empty() {
            let mut row = ours.clone();
            let per =
                m.ours.times.median() / u32::try_from(sync.conflicts.max(1)).unwrap_or(u32::MAX);
            row[2] = "(none)".to_string();
            row[3] = format!("{} per conflict, {} rounds", short(per), sync.rounds);
            rows.push(row);
        }
        for (i, anchor) in m.anchors.iter().enumerate() {
            let mut row = if i == 0 {
                ours.clone()
            } else {
                std::array::from_fn(|_| String::new())
            };
            row[2] = anchor.side.to_string();
            row[3] = times(anchor);
            let ratio = m.ratio(anchor);
            row[4] = format!("{ratio:.2}×");
            row[5] = anchor.target.map_or_else(String::new, |t| {
                format!("≤ {t:.1}× {}", if ratio <= t { "ok" } else { "MISSED" })
            });
            rows.push(row);
        }
    }
    markdown_table(&rows)
}

/// `rows` as a Markdown table with padded columns, the first row its header (the tables can be
/// pasted into docs/performance.md).
pub fn markdown_table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        out.push('|');
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
        }
        out.push('\n');
        if n == 0 {
            out.push('|');
            for w in &widths {
                out.push_str(&format!("{}|", "-".repeat(w + 2)));
            }
            out.push('\n');
        }
    }
    out
}

/// One JSON object per figure (documented in docs/performance.md, "The benchmark").
pub fn figures_json(m: &Measured, notes: usize, warnings: &[(&'static str, String)]) -> Vec<Value> {
    let mut out = Vec::new();
    for figure in std::iter::once(&m.ours).chain(&m.anchors) {
        let is_ours = std::ptr::eq(figure, &m.ours);
        let t = &figure.times;
        let sync = figure.sync;
        let mine: Vec<&String> = warnings
            .iter()
            .filter(|(side, _)| *side == figure.side)
            .map(|(_, text)| text)
            .collect();
        let per_conflict = sync
            .filter(|s| m.scenario == Scenario::Conflicts && s.conflicts > 0)
            .map(|s| round3(ms(t.median()) / s.conflicts as f64));
        out.push(json!({
            "scenario": m.scenario.slug(),
            "title": m.scenario.title(),
            "side": figure.side,
            "notes": notes,
            "runs": t.0.len(),
            "min_ms": round3(ms(t.min())),
            "median_ms": round3(ms(t.median())),
            "max_ms": round3(ms(t.max())),
            "times_ms": t.0.iter().map(|d| round3(ms(*d))).collect::<Vec<_>>(),
            "ratio": (!is_ours).then(|| round3(m.ratio(figure))),
            "target": figure.target,
            "peak_rss_mib": round3(mib(figure.peak_rss_kib)),
            "peak_rss_target_mib": is_ours.then_some(RSS_TARGET_MIB),
            "files_read": sync.map(|s| s.files_read),
            "bytes_hashed": sync.map(|s| s.bytes_hashed),
            "bytes_sent": sync.map(|s| s.bytes_sent),
            "hub_bytes_written": sync.map(|s| s.hub_bytes_written),
            "rounds": sync.map(|s| s.rounds),
            "conflicts": sync.filter(|_| m.scenario == Scenario::Conflicts).map(|s| s.conflicts),
            "per_conflict_ms": per_conflict,
            "warnings": mine,
        }));
    }
    out
}

/// The target folder: `$CARGO_TARGET_DIR`, else the one holding the syncd binary
/// (`<target>/release/syncd`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => Path::new(SYNCD)
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("target"), Path::to_path_buf),
    }
}

/// Write `target/bench/latest.json`: this run's command, machine, vault and every figure.
pub fn write_latest(
    env: &Environment,
    lab: &Lab,
    opts: &Options,
    figures: &[Value],
    warnings: &[String],
) -> Result<PathBuf> {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let s = &lab.summary;
    let doc = json!({
        "command": command_line(),
        "time": jiff::Timestamp::now().to_string(),
        "machine": env.json(),
        "vault": {
            "notes": s.notes,
            "attachments": s.attachments,
            "files": s.files,
            "bytes": s.bytes,
            "folders": s.folders,
            "tasks": s.tasks,
        },
        "runs": opts.runs,
        "figures": figures,
        "warnings": warnings,
    });
    let path = dir.join("latest.json");
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(path)
}

/// The figures of a scenario that prints a table of its own (agent, tasks, web).
pub trait Figures {
    /// What missed its target, in words.
    fn warnings(&self) -> Vec<String>;
    /// One JSON object with every figure and `warnings`.
    fn json(&self, warnings: &[String]) -> Value;
    fn table(&self) -> String;
}
