//! A long history (issue 18): thousands of one-edit rounds on the generated vault through one
//! folder hub, as an agent that syncs on every save makes in a few weeks. Measured before and
//! after: the one-edit round and the idle round (medians), the hub's pack count, its size on
//! disk, and the size of its live objects (what a copy of the whole history into a new hub
//! takes: `vault::hub_copy`, the code of `syncd hub set`).
//!
//! Targets: after 5,000 rounds the one-edit round at most 1.3× its time on the fresh hub, the
//! idle round unchanged (at most 1.3× too: the same noise allowance), fewer than 40 packs, and
//! the hub within 2× its live objects. The hub's size is its folder without `packs/retired/`:
//! packs a compaction replaced wait there for the grace period (1 hour) before the next
//! compaction deletes them, so right after thousands of rounds in minutes they still count
//! toward the disk but not toward what the hub keeps; they are printed on a line of their own.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use vault::sync::Outcome;

use crate::lab::{Lab, dir_bytes};
use crate::measure::Times;
use crate::report::{bytes, markdown_table};
use crate::scenarios::ratio;

pub const ROUND_TARGET: f64 = 1.3;
pub const PACKS_TARGET: usize = 40;
pub const SIZE_TARGET: f64 = 2.0;

/// One state of the hub: round times and what the hub holds.
#[derive(Debug, Default)]
pub struct HubState {
    edit: Times,
    idle: Times,
    packs: usize,
    /// The hub folder on disk, without `packs/retired/`.
    hub_bytes: u64,
    /// Packs a compaction replaced, waiting out the grace period in `packs/retired/` (any
    /// reader that listed the packs before may still open them); the next compaction after
    /// the grace deletes them.
    retired_bytes: u64,
    live_bytes: u64,
}

#[derive(Debug, Default)]
pub struct HistoryFigures {
    pub rounds: usize,
    fresh: HubState,
    long: HubState,
    /// Wall time of all the rounds that made the history.
    history_secs: f64,
}

/// The packs in the hub's `packs/` folder (retired packs, kept for their grace period, are not
/// read by any round and not counted).
fn pack_count(hub: &Path) -> Result<usize> {
    Ok(fs::read_dir(hub.join("packs"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .count())
}

/// The bytes of every object reachable from the hub's head, as a fresh hub receiving a copy of
/// the whole history stores them.
fn live_bytes(lab: &Lab, hub: &Path) -> Result<u64> {
    use vault::Hub as _;
    let copy = lab.fresh("live-copy");
    let from = vault::folder_hub::FolderHub::open(hub)?;
    let to = vault::folder_hub::FolderHub::open(&copy)?;
    let head = from.head()?.context("the hub has no head")?;
    let local = vault::hub_copy::LocalCopies::none();
    vault::hub_copy::copy_history(&from, &to, head, &local, &vault::progress::NoProgress)?;
    let size = dir_bytes(&copy.join("packs"))?;
    lab.remove(&[&copy])?;
    Ok(size)
}

/// Append a line to note number `n` (in path order) of the vault.
fn edit_note(notes: &[std::path::PathBuf], n: usize) -> Result<()> {
    use std::io::Write as _;
    let path = &notes[n % notes.len()];
    let mut f = fs::OpenOptions::new().append(true).open(path)?;
    writeln!(f, "edit {n}")?;
    Ok(())
}

fn measure_state(
    lab: &Lab,
    vault: &Path,
    hub: &Path,
    notes: &[std::path::PathBuf],
    runs: usize,
    next: &mut usize,
) -> Result<HubState> {
    let mut state = HubState::default();
    for _ in 0..runs {
        edit_note(notes, *next)?;
        *next += 1;
        lab.settle();
        let (proc, report) = lab.sync(lab.syncd_sync(vault))?;
        anyhow::ensure!(
            report.outcome == Outcome::Pushed,
            "an edit round pushed nothing"
        );
        state.edit.0.push(proc.wall);
        // The stat cache's racy margin: the idle round must find nothing to hash.
        std::thread::sleep(std::time::Duration::from_millis(250));
        lab.settle();
        let (proc, _) = lab.sync(lab.syncd_sync(vault))?;
        state.idle.0.push(proc.wall);
    }
    state.packs = pack_count(hub)?;
    let retired = hub.join("packs").join("retired");
    state.retired_bytes = if retired.exists() {
        dir_bytes(&retired)?
    } else {
        0
    };
    state.hub_bytes = dir_bytes(hub)?.saturating_sub(state.retired_bytes);
    state.live_bytes = live_bytes(lab, hub)?;
    Ok(state)
}

pub fn measure(lab: &Lab, rounds: usize, runs: usize) -> Result<HistoryFigures> {
    let vault = lab.copy_source("history")?;
    let hub = lab.fresh("history-hub");
    lab.synced_vault(&vault, &hub, "bench-history")?;
    let mut notes: Vec<_> = walkdir_notes(&vault)?;
    notes.sort();
    let mut next = 0;
    let fresh = measure_state(lab, &vault, &hub, &notes, runs, &mut next)?;
    eprintln!("  {rounds} one-edit rounds…");
    let started = std::time::Instant::now();
    for i in 0..rounds {
        edit_note(&notes, next)?;
        next += 1;
        let (_, report) = lab.sync(lab.syncd_sync(&vault))?;
        anyhow::ensure!(
            report.outcome == Outcome::Pushed,
            "round {i} of the history pushed nothing"
        );
        if (i + 1) % 500 == 0 {
            eprintln!("    {} rounds, {} packs", i + 1, pack_count(&hub)?);
        }
    }
    let history_secs = started.elapsed().as_secs_f64();
    let long = measure_state(lab, &vault, &hub, &notes, runs, &mut next)?;
    lab.remove(&[&vault, &hub])?;
    Ok(HistoryFigures {
        rounds,
        fresh,
        long,
        history_secs,
    })
}

/// Every `.md` file under `dir` outside `.vault/`.
fn walkdir_notes(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name() == crate::lab::STATE_DIR {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    Ok(out)
}

impl HistoryFigures {
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let n = self.rounds;
        for (what, after, before) in [
            ("one-edit round", &self.long.edit, &self.fresh.edit),
            ("idle round", &self.long.idle, &self.fresh.idle),
        ] {
            let r = ratio(after.median(), before.median());
            if r > ROUND_TARGET {
                w.push(format!(
                    "after {n} rounds the {what} took {r:.2}× its time on a fresh hub (target ≤ {ROUND_TARGET}×)"
                ));
            }
        }
        if self.long.packs >= PACKS_TARGET {
            w.push(format!(
                "after {n} rounds the hub holds {} packs (target < {PACKS_TARGET})",
                self.long.packs
            ));
        }
        let size = self.long.hub_bytes as f64 / self.long.live_bytes.max(1) as f64;
        if size > SIZE_TARGET {
            w.push(format!(
                "after {n} rounds the hub is {size:.2}× its live objects (target ≤ {SIZE_TARGET}×)"
            ));
        }
        w
    }

    pub fn table(&self) -> String {
        let ms = |t: &Times| format!("{:.1} ms", t.median().as_secs_f64() * 1000.0);
        let mut rows = vec![[
            "long history".to_string(),
            "fresh hub".to_string(),
            format!("after {} rounds", self.rounds),
            "ratio".to_string(),
        ]];
        for (what, a, b) in [
            ("one-edit round", &self.fresh.edit, &self.long.edit),
            ("idle round", &self.fresh.idle, &self.long.idle),
        ] {
            rows.push([
                what.to_string(),
                ms(a),
                ms(b),
                format!("{:.2}×", ratio(b.median(), a.median())),
            ]);
        }
        rows.push([
            "packs".to_string(),
            self.fresh.packs.to_string(),
            self.long.packs.to_string(),
            String::new(),
        ]);
        rows.push([
            "hub size / live objects".to_string(),
            format!(
                "{} / {}",
                bytes(self.fresh.hub_bytes),
                bytes(self.fresh.live_bytes)
            ),
            format!(
                "{} / {}",
                bytes(self.long.hub_bytes),
                bytes(self.long.live_bytes)
            ),
            format!(
                "{:.2}×",
                self.long.hub_bytes as f64 / self.long.live_bytes.max(1) as f64
            ),
        ]);
        rows.push([
            "retired packs (deleted after the grace)".to_string(),
            bytes(self.fresh.retired_bytes),
            bytes(self.long.retired_bytes),
            String::new(),
        ]);
        rows.push([
            format!("{} rounds took", self.rounds),
            String::new(),
            format!("{:.1} s", self.history_secs),
            String::new(),
        ]);
        markdown_table(&rows)
    }

    pub fn json(&self, warnings: &[String]) -> Value {
        let state = |s: &HubState| {
            json!({
                "edit_ms": s.edit.median().as_secs_f64() * 1000.0,
                "idle_ms": s.idle.median().as_secs_f64() * 1000.0,
                "packs": s.packs,
                "hub_bytes": s.hub_bytes,
                "retired_bytes": s.retired_bytes,
                "live_bytes": s.live_bytes,
            })
        };
        json!({
            "scenario": "long-history",
            "rounds": self.rounds,
            "fresh": state(&self.fresh),
            "after": state(&self.long),
            "history_secs": self.history_secs,
            "warnings": warnings,
        })
    }
}

impl crate::report::Figures for HistoryFigures {
    fn warnings(&self) -> Vec<String> {
        HistoryFigures::warnings(self)
    }

    fn json(&self, warnings: &[String]) -> Value {
        HistoryFigures::json(self, warnings)
    }

    fn table(&self) -> String {
        HistoryFigures::table(self)
    }
}
