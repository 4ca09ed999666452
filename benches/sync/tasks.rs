//! The task listing's figures (issue 7): `syncd tasks --json` on the generated vault, synced
//! once so that its stat cache is warm, as in real use. Timed: a cold listing (the task index
//! `.vault/tasks` removed: every note read and parsed), a warm one (index present, nothing
//! changed: promise, no note parsed and no file hashed, so it costs a stat walk), a warm one
//! after a few notes were edited (only those parsed), and `syncd task done ID`.
//!
//! Anchors on the same vault, in the same run: `git status --porcelain` on a committed
//! repository of it (git's stat walk, the floor of a warm listing) and `grep -rc` for task lines
//! over its notes (reading every note: the least a listing without an index costs).

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use vault::tasks::ListStats;

use crate::lab::{Lab, STATE_DIR};
use crate::measure::{Proc, Times};
use crate::measure::{mib, ms, round3, span};
use crate::report::{RSS_TARGET_MIB, bytes, markdown_table};
use crate::scenarios::ratio;

/// Notes edited before each timed "edited" listing.
pub const EDITED: usize = 10;

/// The task index's file name inside `.vault/` (`vault::tasks::index::INDEX_FILE`).
const INDEX_FILE: &str = "tasks";

/// Longer than the stat cache's racy margin (100 ms; docs/sync.md).
const RACY_WAIT: Duration = Duration::from_millis(250);

const GREP_PATTERN: &str = r"- \[ \]";

/// The largest of each count of two listings.
fn max_stats(a: ListStats, b: ListStats) -> ListStats {
    ListStats {
        files_scanned: a.files_scanned.max(b.files_scanned),
        files_hashed: a.files_hashed.max(b.files_hashed),
        notes: a.notes.max(b.notes),
        notes_parsed: a.notes_parsed.max(b.notes_parsed),
        notes_from_index: a.notes_from_index.max(b.notes_from_index),
    }
}

/// One listing's output.
struct Listing {
    /// (id, path, state) of each listed task.
    tasks: Vec<(String, String, String)>,
    warnings: Vec<String>,
    stats: ListStats,
}

impl Listing {
    fn parse(proc: &Proc) -> Result<Listing> {
        let v: Value = serde_json::from_str(&proc.stdout).with_context(|| {
            format!(
                "`{}` did not print JSON:\n{}\n--- stderr\n{}",
                proc.what, proc.stdout, proc.stderr
            )
        })?;
        let text = |t: &Value, name: &str| t[name].as_str().unwrap_or_default().to_string();
        let tasks = v["tasks"]
            .as_array()
            .context("`tasks` in the output of syncd tasks --json")?
            .iter()
            .map(|t| (text(t, "id"), text(t, "path"), text(t, "state")))
            .collect();
        let warnings = v["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Listing {
            tasks,
            warnings,
            stats: serde_json::from_value(v["stats"].clone())
                .context("`stats` in the output of syncd tasks --json")?,
        })
    }
}

/// One timed command over its runs.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub times: Times,
    pub peak_rss_kib: u64,
    /// `syncd tasks` sides: the largest of each statistic over the runs.
    pub stats: Option<ListStats>,
}

impl Side {
    fn add(&mut self, proc: &Proc, stats: Option<ListStats>) {
        self.times.0.push(proc.wall);
        self.peak_rss_kib = self.peak_rss_kib.max(proc.max_rss_kib);
        if let Some(s) = stats {
            self.stats = Some(self.stats.map_or(s, |all| max_stats(all, s)));
        }
    }

    fn json(&self) -> Value {
        let t = &self.times;
        json!({
            "runs": t.0.len(),
            "min_ms": round3(ms(t.min())),
            "median_ms": round3(ms(t.median())),
            "max_ms": round3(ms(t.max())),
            "times_ms": t.0.iter().map(|d| round3(ms(*d))).collect::<Vec<_>>(),
            "peak_rss_mib": round3(mib(self.peak_rss_kib)),
            "files_scanned": self.stats.map(|s| s.files_scanned),
            "files_hashed": self.stats.map(|s| s.files_hashed),
            "notes_parsed": self.stats.map(|s| s.notes_parsed),
            "notes_from_index": self.stats.map(|s| s.notes_from_index),
        })
    }
}

#[derive(Debug, Default)]
pub struct TasksFigures {
    /// Notes in the generated vault, and task lines the generator wrote.
    pub notes: usize,
    pub generated_tasks: usize,
    /// Distinct note contents: what a cold listing parses (identical notes are parsed once).
    pub distinct_contents: u64,
    /// What `syncd tasks --all --json` found: notes that can hold tasks, tasks, open tasks.
    pub listed_notes: u64,
    pub tasks: usize,
    pub open_tasks: usize,
    /// Size of `.vault/tasks` holding every note.
    pub index_bytes: u64,
    pub edited: usize,
    pub cold: Side,
    pub warm: Side,
    /// Warm, with `--path` matching no note: the scan and the index's load, nothing decoded or
    /// printed (the floor of any warm listing).
    pub warm_floor: Side,
    pub after_edit: Side,
    pub done: Side,
    pub git_status: Side,
    pub grep: Side,
    /// Broken promises seen while running, printed as warnings.
    pub issues: Vec<String>,
}

impl TasksFigures {
    pub fn warm_over_git_status(&self) -> f64 {
        ratio(self.warm.times.median(), self.git_status.times.median())
    }

    pub fn warm_floor_over_git_status(&self) -> f64 {
        ratio(
            self.warm_floor.times.median(),
            self.git_status.times.median(),
        )
    }

    pub fn cold_over_grep(&self) -> f64 {
        ratio(self.cold.times.median(), self.grep.times.median())
    }

    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.issues.iter().map(|i| format!("tasks: {i}")).collect();
        for (what, side) in self.syncd_sides() {
            let rss = mib(side.peak_rss_kib);
            if rss >= RSS_TARGET_MIB {
                out.push(format!(
                    "tasks: {what}: syncd's peak memory {rss:.1} MiB is over the target \
                     (< {RSS_TARGET_MIB} MiB for 20,000 notes)"
                ));
            }
        }
        out
    }

    fn syncd_sides(&self) -> [(&'static str, &Side); 5] {
        [
            ("cold listing", &self.cold),
            ("warm listing", &self.warm),
            ("warm listing, no note selected", &self.warm_floor),
            ("listing after edits", &self.after_edit),
            ("task done", &self.done),
        ]
    }

    /// A Markdown table, as the scenarios' (it can be pasted into docs/performance.md).
    pub fn table(&self) -> String {
        let warm_ratio = format!("{:.2}× git status", self.warm_over_git_status());
        let cold_ratio = format!("{:.2}× grep", self.cold_over_grep());
        let edited = format!("{} notes edited, the rest warm", self.edited);
        let rows: Vec<(&str, &Side, String)> = vec![
            ("cold: `.vault/tasks` removed", &self.cold, cold_ratio),
            ("warm: nothing changed", &self.warm, warm_ratio),
            (
                "warm, `--path` matching no note",
                &self.warm_floor,
                format!("{:.2}× git status", self.warm_floor_over_git_status()),
            ),
            (&edited, &self.after_edit, String::new()),
            ("`syncd task done ID`", &self.done, String::new()),
            ("`git status --porcelain`", &self.git_status, String::new()),
            ("`grep -rc` task lines", &self.grep, String::new()),
        ];
        let mut cells = vec![
            [
                "task listing",
                "min / median / max",
                "ratio",
                "peak RSS",
                "notes parsed",
                "files hashed",
            ]
            .map(String::from),
        ];
        for (what, side, ratio) in rows {
            let stat =
                |f: fn(&ListStats) -> u64| side.stats.map_or(String::new(), |s| f(&s).to_string());
            cells.push([
                what.to_string(),
                span(&side.times),
                ratio,
                format!("{:.1} MiB", mib(side.peak_rss_kib)),
                stat(|s| s.notes_parsed),
                stat(|s| s.files_hashed),
            ]);
        }
        let mut out = format!(
            "Tasks: `syncd tasks --json` on a synced vault of {} notes ({} can hold tasks, {} distinct \
             contents; {} tasks, {} open; the generator wrote {} task lines); index `.vault/tasks` {}\n",
            self.notes,
            self.listed_notes,
            self.distinct_contents,
            self.tasks,
            self.open_tasks,
            self.generated_tasks,
            bytes(self.index_bytes),
        );
        out.push_str(&markdown_table(&cells));
        out
    }

    pub fn json(&self, warnings: &[String]) -> Value {
        json!({
            "scenario": "tasks",
            "title": "task listing",
            "side": crate::scenarios::SYNCD,
            "notes": self.notes,
            "listed_notes": self.listed_notes,
            "tasks": self.tasks,
            "open_tasks": self.open_tasks,
            "generated_tasks": self.generated_tasks,
            "distinct_contents": self.distinct_contents,
            "index_bytes": self.index_bytes,
            "edited_notes": self.edited,
            "cold": self.cold.json(),
            "warm": self.warm.json(),
            "after_edit": self.after_edit.json(),
            "task_done": self.done.json(),
            "git_status": self.git_status.json(),
            "grep": self.grep.json(),
            "warm_over_git_status": round3(self.warm_over_git_status()),
            "warm_floor": self.warm_floor.json(),
            "warm_floor_over_git_status": round3(self.warm_floor_over_git_status()),
            "cold_over_grep": round3(self.cold_over_grep()),
            "peak_rss_target_mib": RSS_TARGET_MIB,
            "warnings": warnings,
        })
    }
}

/// Prepare a synced vault and a committed repository of the generated vault, then time `runs`
/// runs of each figure (cold listings alternating with grep, warm ones with git status).
pub fn measure(lab: &Lab, runs: usize) -> Result<TasksFigures> {
    let vault = lab.copy_source("tasks")?;
    let hub = lab.fresh("hub");
    lab.synced_vault(&vault, &hub, "bench-tasks")?;
    let repo = lab.copy_source("tasks-repo")?;
    lab.committed_repo(&repo)?;
    let index = vault.join(STATE_DIR).join(INDEX_FILE);
    let contents = distinct_contents(&lab.source)?;
    let mut f = TasksFigures {
        notes: lab.summary.notes,
        generated_tasks: lab.summary.tasks,
        distinct_contents: contents,
        edited: EDITED.min(lab.summary.notes),
        ..TasksFigures::default()
    };

    for run in 0..runs {
        eprintln!("  cold listing and grep, run {}/{runs}", run + 1);
        match fs::remove_file(&index) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).context("removing the task index");
            }
            _ => {}
        }
        lab.settle();
        let (proc, listing) = list(lab, &vault, false)?;
        let s = listing.stats;
        // Each content is parsed once: notes with the same bytes (the generator's empty
        // `Inbox/Untitled N.md`) share one parse.
        let kept = s.notes == f.notes as u64 && s.notes_parsed == contents;
        let want = format!("{contents} parsed (one per distinct content), 0 hashed");
        f.check(run, "cold", &listing, kept, &want);
        f.cold.add(&proc, Some(s));

        lab.settle();
        f.grep.add(&lab.runner.run_ok(grep(&vault))?, None);
    }
    f.index_bytes = fs::metadata(&index)
        .context("the cold listing left no task index")?
        .len();

    for run in 0..runs {
        eprintln!("  warm listing and git status, run {}/{runs}", run + 1);
        lab.settle();
        let (proc, listing) = list(lab, &vault, false)?;
        let s = listing.stats;
        f.check(
            run,
            "warm",
            &listing,
            s.notes_parsed == 0 && s.files_hashed == 0,
            "0 parsed, 0 hashed",
        );
        f.warm.add(&proc, Some(s));

        lab.settle();
        let (proc, listing) = list_with(lab, &vault, &["--path", "no-such-folder-*"])?;
        let s = listing.stats;
        f.check(
            run,
            "warm, no note selected",
            &listing,
            s.notes_parsed == 0 && s.files_hashed == 0 && listing.tasks.is_empty(),
            "0 parsed, 0 hashed, nothing listed",
        );
        f.warm_floor.add(&proc, Some(s));

        lab.settle();
        let status = lab
            .runner
            .run_ok(lab.git(&repo, ["status", "--porcelain"]))?;
        if !status.stdout.is_empty() {
            f.issues.push(format!(
                "run {}: git status --porcelain found changes in the unchanged repository",
                run + 1
            ));
        }
        f.git_status.add(&status, None);
    }

    let (_, all) = list(lab, &vault, true)?;
    f.listed_notes = all.stats.notes;
    f.tasks = all.tasks.len();
    f.open_tasks = all
        .tasks
        .iter()
        .filter(|(_, _, state)| matches!(state.as_str(), "todo" | "in_progress"))
        .count();

    for run in 0..runs {
        eprintln!("  listing after {} edits, run {}/{runs}", f.edited, run + 1);
        vaultgen::edit_notes(&vault, f.edited, 7000 + run as u64)?;
        lab.settle();
        let (proc, listing) = list(lab, &vault, false)?;
        let s = listing.stats;
        let want = f.edited as u64;
        f.check(
            run,
            &format!("after {want} edits"),
            &listing,
            s.notes_parsed == want && s.files_hashed == want,
            &format!("{want} parsed, {want} hashed"),
        );
        f.after_edit.add(&proc, Some(s));
        // The edits synced (as a running agent would), so the next run starts warm again.
        resync(lab, &vault)?;
    }

    let (_, open) = list(lab, &vault, false)?;
    let ids = spread_ids(&open, runs);
    ensure!(
        ids.len() == runs,
        "the vault has only {} open tasks in distinct notes; {runs} are needed for `syncd task done`",
        ids.len()
    );
    for (run, id) in ids.iter().enumerate() {
        eprintln!("  syncd task done, run {}/{runs}", run + 1);
        lab.settle();
        let args: [&std::ffi::OsStr; 5] = [
            "task".as_ref(),
            "done".as_ref(),
            id.as_ref(),
            "--vault".as_ref(),
            vault.as_os_str(),
        ];
        f.done.add(&lab.runner.run_ok(lab.syncd(&args))?, None);
        resync(lab, &vault)?;
    }
    let (_, after) = list(lab, &vault, false)?;
    let still_open: HashSet<&str> = after.tasks.iter().map(|(id, _, _)| id.as_str()).collect();
    for id in &ids {
        ensure!(
            !still_open.contains(id.as_str()),
            "`syncd task done {id}` exited 0, but the task is still listed as open"
        );
    }

    lab.remove(&[&vault, &hub, &repo])?;
    Ok(f)
}

impl TasksFigures {
    /// Record a broken promise (or a listing that warned) of one run.
    fn check(&mut self, run: usize, what: &str, listing: &Listing, kept: bool, want: &str) {
        let s = listing.stats;
        if !kept {
            self.issues.push(format!(
                "{what} listing, run {}: {} notes parsed of {}, {} files hashed of {} scanned \
                 (promise: {want})",
                run + 1,
                s.notes_parsed,
                s.notes,
                s.files_hashed,
                s.files_scanned
            ));
        }
        for w in &listing.warnings {
            self.issues
                .push(format!("{what} listing, run {}: {w}", run + 1));
        }
    }
}

/// `syncd tasks --json [--all] --vault VAULT`, run (timed) to its end, and its output.
fn list(lab: &Lab, vault: &Path, all: bool) -> Result<(Proc, Listing)> {
    list_with(lab, vault, if all { &["--all"] } else { &[] })
}

/// `syncd tasks --json EXTRA --vault VAULT`, run (timed) to its end, and its output.
fn list_with(lab: &Lab, vault: &Path, extra: &[&str]) -> Result<(Proc, Listing)> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["tasks".as_ref(), "--json".as_ref()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    args.extend(["--vault".as_ref(), vault.as_os_str()]);
    let proc = lab.runner.run_ok(lab.syncd(&args))?;
    let listing = Listing::parse(&proc)?;
    Ok((proc, listing))
}

/// `grep -rc` for open task lines over the vault's notes (`.vault/` left out), in the C locale.
fn grep(vault: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("grep");
    cmd.args(["-rc", "--include=*.md", "--include=*.markdown"])
        .arg(format!("--exclude-dir={STATE_DIR}"))
        .args(["--", GREP_PATTERN])
        .arg(vault)
        .env("LC_ALL", "C");
    cmd
}

/// Untimed, after a change: wait out the stat cache's racy margin, then sync, so that the
/// cache trusts the changed notes again (as after a running agent's round).
fn resync(lab: &Lab, vault: &Path) -> Result<()> {
    std::thread::sleep(RACY_WAIT);
    lab.sync(lab.syncd_sync(vault))?;
    Ok(())
}

/// The ids of `count` open (to-do) tasks in distinct notes, spread over the listing.
fn spread_ids(listing: &Listing, count: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    let candidates: Vec<&String> = listing
        .tasks
        .iter()
        .filter(|(_, path, state)| state == "todo" && seen.insert(path.clone()))
        .map(|(id, _, _)| id)
        .collect();
    if candidates.len() < count {
        return Vec::new();
    }
    let step = candidates.len() / count;
    (0..count).map(|i| candidates[i * step].clone()).collect()
}

/// How many distinct contents the notes (`.md` files outside dot folders) of `dir` have.
fn distinct_contents(dir: &Path) -> Result<u64> {
    let mut seen = HashSet::new();
    for rel in vaultgen::note_paths(dir)? {
        let bytes =
            fs::read(dir.join(&rel)).with_context(|| format!("reading `{}`", rel.display()))?;
        seen.insert(*blake3::hash(&bytes).as_bytes());
    }
    Ok(seen.len() as u64)
}

impl crate::report::Figures for TasksFigures {
    fn warnings(&self) -> Vec<String> {
        TasksFigures::warnings(self)
    }

    fn json(&self, warnings: &[String]) -> Value {
        TasksFigures::json(self, warnings)
    }

    fn table(&self) -> String {
        TasksFigures::table(self)
    }
}
