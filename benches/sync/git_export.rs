//! The history as a git repository (issue 20): `syncd history export --to DIR --json` (crate
//! `vault-git`, what a user runs and what the server's git mirror runs as heads move) over a
//! history of `--snapshots` snapshots of the generated vault (benches/sync/export_history.rs).
//!
//! Figures, each the real binary's wall time and peak memory: the first full export of every
//! snapshot into a new folder; the incremental export after one more snapshot (a note edited
//! and synced by the device; checked: exactly one commit written, `main` moved); the export
//! with nothing new (checked: nothing written, `main` where it was). The exported repository is
//! checked with the real `git` (`fsck --strict`, a commit per snapshot on `main`, the merges
//! with two parents, `main`'s trailer naming the hub's head and its tree holding the head's
//! files), so a wrong export fails the benchmark.
//!
//! Anchors, in the same run. For the full export, git writing one snapshot of the whole vault
//! into a new repository, `git add -A && git commit` and then `git repack -a -d`: the export
//! leaves its objects in a pack (vault-git's pack.rs), so the judged anchor is git's own packed
//! repository of the vault, and the target is that the whole history costs no more than git's
//! one snapshot (≤ 1.0×; git's repack searches for deltas, which the export's pack does not,
//! so git's pack is the smaller). The ratio to `git add -A && git commit` alone (loose objects)
//! is printed too. For the incremental export, `git add -A && git commit` of the same one-note
//! edit in a repository of the same files: a mirror kept up to date after every snapshot must
//! cost no more than git's own commit of the change (≤ 1.0×, the promise of the one-note
//! round too).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use vault::Hub as _;
use vault::sync::Outcome;

use crate::export_history::{self, Built};
use crate::lab::{Lab, STATE_DIR, dir_bytes, relative};
use crate::measure::{Proc, Times};
use crate::measure::{mib, ms, round3, span};
use crate::report::{RSS_TARGET_MIB, bytes, markdown_table};
use crate::scenarios::ratio;

/// The full export against `git add -A && git commit && git repack -a -d` of the whole vault.
pub const FULL_TARGET: f64 = 1.0;
/// The incremental export against `git add -A && git commit` of the one edited note.
pub const INCREMENTAL_TARGET: f64 = 1.0;
/// The export with nothing new, in milliseconds.
pub const NOOP_TARGET_MS: f64 = 100.0;

const GIT_ALL_PACKED: &str = "git add -A && git commit && git repack -a -d (the whole vault)";
const GIT_ALL: &str = "git add -A && git commit (loose objects)";
const GIT_ONE: &str = "git add -A && git commit (the same note)";

/// One timed command over its runs.
#[derive(Debug, Default)]
struct Side {
    times: Times,
    peak_rss_kib: u64,
}

impl Side {
    fn add(&mut self, procs: &[&Proc]) {
        self.times.0.push(procs.iter().map(|p| p.wall).sum());
        for p in procs {
            self.peak_rss_kib = self.peak_rss_kib.max(p.max_rss_kib);
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
        })
    }
}

#[derive(Debug, Default)]
pub struct ExportFigures {
    notes: usize,
    history: Built,
    full: Side,
    incremental: Side,
    noop: Side,
    git_all: Side,
    /// `git_all`, then `git repack -a -d`: git's own packed repository of one snapshot.
    git_all_packed: Side,
    /// That repository's `.git` on disk.
    git_repo_bytes: u64,
    git_one: Side,
    /// Objects the full export packed.
    full_packed: u64,
    /// The exported repository on disk after every export (the full one and the increments).
    repo_bytes: u64,
}

/// What `syncd history export --json` printed.
#[derive(Debug, PartialEq, Eq)]
struct Exported {
    head: String,
    written: u64,
    thinned: u64,
    moved: bool,
    /// Loose objects the run wrote into a pack (past a threshold, vault-git's pack.rs).
    packed: u64,
}

/// `syncd history export --vault VAULT --to TO --json`, run and read.
fn export(lab: &Lab, vault: &Path, to: &Path) -> Result<(Proc, Exported)> {
    let proc = lab.runner.run_ok(lab.syncd(&[
        "history".as_ref(),
        "export".as_ref(),
        "--vault".as_ref(),
        vault.as_os_str(),
        "--to".as_ref(),
        to.as_os_str(),
        "--json".as_ref(),
    ]))?;
    let v: Value = serde_json::from_str(&proc.stdout)
        .with_context(|| format!("`{}` printed no JSON:\n{}", proc.what, proc.stdout))?;
    let field = |name: &str| {
        v.get(name)
            .with_context(|| format!("`{}` printed no `{name}`: {v}", proc.what))
    };
    let exported = Exported {
        head: field("head")?
            .as_str()
            .context("an export without a head commit")?
            .to_string(),
        written: field("written")?.as_u64().context("`written`")?,
        thinned: field("thinned")?.as_u64().context("`thinned`")?,
        moved: field("moved")?.as_bool().context("`moved`")?,
        packed: field("packed")?.as_u64().context("`packed`")?,
    };
    if lab.verbose() {
        eprintln!(
            "    {}: {:.1} ms, {} KiB peak, {exported:?}",
            proc.what,
            ms(proc.wall),
            proc.max_rss_kib
        );
    }
    Ok((proc, exported))
}

/// `git --git-dir REPO ARGS…`, its output.
fn git_dir(lab: &Lab, repo: &Path, args: &[&str]) -> Result<String> {
    let mut all: Vec<&std::ffi::OsStr> = vec!["--git-dir".as_ref(), repo.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    Ok(lab.runner.run_ok(lab.git(lab.path(), all))?.stdout)
}

/// The real git's view of the export: `main` holds `commits` commits, `merges` of them with
/// two parents, the newest naming the hub's head in its trailer and holding its files; with
/// `fsck`, every object checked too.
fn check_with_git(
    lab: &Lab,
    repo: &Path,
    hub: &Path,
    (commits, merges): (usize, usize),
    fsck: bool,
) -> Result<()> {
    let count = git_dir(lab, repo, &["rev-list", "--count", "main"])?;
    ensure!(
        count.trim() == commits.to_string(),
        "the exported `main` holds {} commits, the history {commits} snapshots",
        count.trim()
    );
    let count = git_dir(lab, repo, &["rev-list", "--merges", "--count", "main"])?;
    ensure!(
        count.trim() == merges.to_string(),
        "the exported `main` holds {} merges, the history {merges}",
        count.trim()
    );
    let hub = vault::folder_hub::FolderHub::open(hub)?;
    let head = hub.head()?.context("the hub has no head")?;
    let trailer = git_dir(
        lab,
        repo,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Vault-Snapshot,valueonly,separator=)",
            "main",
        ],
    )?;
    ensure!(
        trailer.trim() == head.to_string(),
        "`main` names snapshot {:?}, the hub's head is {head}",
        trailer.trim()
    );
    // Every file of the head at its path, and no other (the bytes are the export's own tests'
    // business: git/tests).
    let tree = vault::hub_write::snapshot(&hub, head)?.tree;
    let mut want: Vec<String> = (vault::hub_write::files(&hub, tree)?.keys())
        .filter(|p| !p.is_revision())
        .map(|p| p.to_string())
        .collect();
    want.sort_unstable();
    let listed = git_dir(lab, repo, &["ls-tree", "-r", "-z", "--name-only", "main"])?;
    let mut got: Vec<&str> = listed.split('\0').filter(|p| !p.is_empty()).collect();
    got.sort_unstable();
    if got != want {
        let missing = want
            .iter()
            .filter(|p| got.binary_search(&p.as_str()).is_err());
        bail!(
            "`main` holds {} files, the hub's head {}; missing from `main`: {:?}",
            got.len(),
            want.len(),
            missing.take(5).collect::<Vec<_>>()
        );
    }
    if fsck {
        git_dir(lab, repo, &["fsck", "--strict", "--no-dangling"])
            .context("git fsck found the exported repository damaged")?;
    }
    Ok(())
}

pub fn measure(lab: &Lab, snapshots: usize, runs: usize) -> Result<ExportFigures> {
    eprintln!("  writing a history of {snapshots} snapshots…");
    let history = export_history::build(lab, snapshots)?;
    eprintln!(
        "  {} snapshots ({} merges) in {:.1} s",
        history.snapshots, history.merges, history.secs
    );
    ensure!(
        history.snapshots == snapshots,
        "the history holds {} snapshots, not {snapshots}",
        history.snapshots
    );
    let mut f = ExportFigures {
        notes: lab.summary.notes,
        history,
        ..ExportFigures::default()
    };
    let h = f.history.clone();
    // The incremental export's anchor: a repository of the files the device holds now.
    let repo = lab.fresh("export-repo");
    let mut cp = std::process::Command::new("cp");
    cp.arg("-a").arg(&h.vault).arg(&repo);
    lab.runner.run_ok(cp)?;
    lab.remove(&[&repo.join(STATE_DIR)])?;
    lab.committed_repo(&repo)?;

    let (mirror, last) = full_exports(lab, &h, runs, &mut f)?;
    let last = noop_exports(lab, &h.vault, &mirror, last, runs, &mut f)?;
    incremental_exports(lab, &h.vault, &repo, &mirror, last, runs, &mut f)?;
    eprintln!("  git fsck of the exported repository…");
    check_with_git(lab, &mirror, &h.hub, (snapshots + runs, h.merges), true)?;
    f.repo_bytes = dir_bytes(&mirror)?;
    lab.remove(&[&h.vault, &h.hub, &repo, &mirror])?;
    Ok(f)
}

/// The full export, each run into a new folder (all must make the same commits), against git's
/// repository of the whole vault. Returns the first run's folder, kept as the mirror the next
/// figures update, and what that run printed.
fn full_exports(
    lab: &Lab,
    h: &Built,
    runs: usize,
    f: &mut ExportFigures,
) -> Result<(PathBuf, Exported)> {
    let mut mirror: Option<(PathBuf, Exported)> = None;
    for run in 0..runs {
        eprintln!("  full export run {}/{runs}", run + 1);
        let to = lab.fresh("export-git");
        lab.settle();
        let (proc, out) = export(lab, &h.vault, &to)?;
        ensure!(
            out.written == h.snapshots as u64 && out.moved && out.thinned == 0,
            "the full export of {} snapshots reported {out:?}",
            h.snapshots
        );
        f.full.add(&[&proc]);
        match &mirror {
            None => {
                f.full_packed = out.packed;
                check_with_git(lab, &to, &h.hub, (h.snapshots, h.merges), false)?;
                mirror = Some((to, out));
            }
            Some((_, first)) => {
                ensure!(
                    first.head == out.head,
                    "two full exports of one history made different commits: {} and {}",
                    first.head,
                    out.head
                );
                lab.remove(&[&to])?;
            }
        }

        let all = lab.copy_source("export-commit-all")?;
        lab.runner
            .run_ok(lab.git(&all, ["init", "-q", "-b", "main"]))?;
        lab.settle();
        let add = lab.runner.run_ok(lab.git(&all, ["add", "-A"]))?;
        let commit = lab
            .runner
            .run_ok(lab.git(&all, ["commit", "-q", "-m", "the vault"]))?;
        f.git_all.add(&[&add, &commit]);
        let repack = lab
            .runner
            .run_ok(lab.git(&all, ["repack", "-a", "-d", "-q"]))?;
        f.git_all_packed.add(&[&add, &commit, &repack]);
        f.git_repo_bytes = dir_bytes(&all.join(".git"))?;
        lab.remove(&[&all])?;
    }
    mirror.context("no full export ran")
}

/// Exports into the up-to-date `mirror`: nothing written, `main` where it was.
fn noop_exports(
    lab: &Lab,
    vault: &Path,
    mirror: &Path,
    mut last: Exported,
    runs: usize,
    f: &mut ExportFigures,
) -> Result<Exported> {
    for run in 0..runs {
        eprintln!("  export with nothing new run {}/{runs}", run + 1);
        lab.settle();
        let (proc, out) = export(lab, vault, mirror)?;
        let want = Exported {
            written: 0,
            moved: false,
            packed: 0,
            ..last
        };
        if out != want {
            bail!("an export with nothing new reported {out:?}, expected {want:?}");
        }
        f.noop.add(&[&proc]);
        last = out;
    }
    Ok(last)
}

/// One note edited on the device and synced, then the export of that one snapshot into
/// `mirror` (exactly one commit, `main` moved), against git's commit of the same edit in
/// `repo`.
fn incremental_exports(
    lab: &Lab,
    vault: &Path,
    repo: &Path,
    mirror: &Path,
    mut last: Exported,
    runs: usize,
    f: &mut ExportFigures,
) -> Result<()> {
    for run in 0..runs {
        eprintln!("  incremental export run {}/{runs}", run + 1);
        let seed = 5000 + run as u64;
        let edited = relative(vault, &vaultgen::edit_notes(vault, 1, seed)?);
        let same = relative(repo, &vaultgen::edit_notes(repo, 1, seed)?);
        ensure!(
            edited == same,
            "the device and the repository had other notes edited: {edited:?}, {same:?}"
        );
        let (_, report) = lab.sync(lab.syncd_sync(vault))?;
        ensure!(
            report.outcome == Outcome::Pushed,
            "the one-note edit was not published: {:?}",
            report.outcome
        );
        lab.settle();
        let (proc, out) = export(lab, vault, mirror)?;
        ensure!(
            out.written == 1 && out.moved && out.thinned == 0 && out.head != last.head,
            "the export after one more snapshot reported {out:?} (`main` was at {})",
            last.head
        );
        f.incremental.add(&[&proc]);
        last = out;

        lab.settle();
        let add = lab.runner.run_ok(lab.git(repo, ["add", "-A"]))?;
        let commit = lab
            .runner
            .run_ok(lab.git(repo, ["commit", "-q", "-m", "edit"]))?;
        f.git_one.add(&[&add, &commit]);
    }
    Ok(())
}

impl ExportFigures {
    fn full_ratio(&self) -> f64 {
        ratio(self.full.times.median(), self.git_all_packed.times.median())
    }

    fn full_loose_ratio(&self) -> f64 {
        ratio(self.full.times.median(), self.git_all.times.median())
    }

    fn incremental_ratio(&self) -> f64 {
        ratio(self.incremental.times.median(), self.git_one.times.median())
    }

    /// The full export's median over its commits.
    fn per_snapshot_ms(&self) -> f64 {
        ms(self.full.times.median()) / self.history.snapshots.max(1) as f64
    }

    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let n = self.history.snapshots;
        let r = self.full_ratio();
        if r > FULL_TARGET {
            w.push(format!(
                "git export: the full export of {n} snapshots took {r:.2}× `git add -A && git commit && git repack -a -d` of the whole vault (target ≤ {FULL_TARGET:.1}×)"
            ));
        }
        let r = self.incremental_ratio();
        if r > INCREMENTAL_TARGET {
            w.push(format!(
                "git export: the export of one more snapshot took {r:.2}× `git add -A && git commit` of the same edit (target ≤ {INCREMENTAL_TARGET:.1}×)"
            ));
        }
        let noop = ms(self.noop.times.median());
        if noop > NOOP_TARGET_MS {
            w.push(format!(
                "git export: the export with nothing new took {noop:.1} ms (target < {NOOP_TARGET_MS} ms)"
            ));
        }
        for (what, side) in [
            ("full", &self.full),
            ("incremental", &self.incremental),
            ("nothing new", &self.noop),
        ] {
            let peak = mib(side.peak_rss_kib);
            if peak >= RSS_TARGET_MIB {
                w.push(format!(
                    "git export: the {what} export's peak memory {peak:.1} MiB is over the target (< {RSS_TARGET_MIB} MiB for 20,000 notes)"
                ));
            }
        }
        w
    }

    pub fn table(&self) -> String {
        let h = &self.history;
        let ok = |met: bool| if met { "ok" } else { "MISSED" };
        let peak = |s: &Side| format!("{:.1} MiB", mib(s.peak_rss_kib));
        let (full, incremental) = (self.full_ratio(), self.incremental_ratio());
        let noop = ms(self.noop.times.median());
        let mut rows = vec![[
            format!("git export ({} notes)", self.notes),
            "syncd min / median / max".to_string(),
            "peak RSS".to_string(),
            "anchor".to_string(),
            "anchor min / median / max".to_string(),
            "ratio".to_string(),
            "target".to_string(),
        ]];
        rows.push([
            format!("full export ({} commits)", h.snapshots),
            span(&self.full.times),
            peak(&self.full),
            GIT_ALL_PACKED.to_string(),
            span(&self.git_all_packed.times),
            format!("{full:.2}×"),
            format!("≤ {FULL_TARGET:.1}× {}", ok(full <= FULL_TARGET)),
        ]);
        rows.push([
            String::new(),
            String::new(),
            String::new(),
            GIT_ALL.to_string(),
            span(&self.git_all.times),
            format!("{:.2}×", self.full_loose_ratio()),
            String::new(),
        ]);
        rows.push([
            "one more snapshot (1 commit)".to_string(),
            span(&self.incremental.times),
            peak(&self.incremental),
            GIT_ONE.to_string(),
            span(&self.git_one.times),
            format!("{incremental:.2}×"),
            format!(
                "≤ {INCREMENTAL_TARGET:.1}× {}",
                ok(incremental <= INCREMENTAL_TARGET)
            ),
        ]);
        rows.push([
            "nothing new (0 commits)".to_string(),
            span(&self.noop.times),
            peak(&self.noop),
            String::new(),
            String::new(),
            String::new(),
            format!("< {NOOP_TARGET_MS:.0} ms {}", ok(noop <= NOOP_TARGET_MS)),
        ]);
        let mut text = markdown_table(&rows);
        text.push_str(&format!(
            "git export: {:.2} ms per snapshot in the full export; the history: {} snapshots \
             ({} merges; {} notes edited, {} added, {} renamed, {} deleted), written in {:.1} s; \
             the full export packed {} objects; on disk: the exported repository {}, git's \
             packed repository of one snapshot {}\n",
            self.per_snapshot_ms(),
            h.snapshots,
            h.merges,
            h.edited,
            h.added,
            h.renamed,
            h.deleted,
            h.secs,
            self.full_packed,
            bytes(self.repo_bytes),
            bytes(self.git_repo_bytes)
        ));
        text
    }

    pub fn json(&self, warnings: &[String]) -> Value {
        let h = &self.history;
        json!({
            "scenario": "git-export",
            "notes": self.notes,
            "snapshots": h.snapshots,
            "merges": h.merges,
            "changes": {
                "edited": h.edited,
                "added": h.added,
                "renamed": h.renamed,
                "deleted": h.deleted,
            },
            "history_secs": round3(h.secs),
            "full": self.full.json(),
            "incremental": self.incremental.json(),
            "noop": self.noop.json(),
            "git_commit_all": self.git_all.json(),
            "git_commit_all_repack": self.git_all_packed.json(),
            "git_commit_one": self.git_one.json(),
            "full_over_git_commit_all_repack": round3(self.full_ratio()),
            "full_over_git_commit_all": round3(self.full_loose_ratio()),
            "incremental_over_git_commit_one": round3(self.incremental_ratio()),
            "full_per_snapshot_ms": round3(self.per_snapshot_ms()),
            "full_packed": self.full_packed,
            "full_target": FULL_TARGET,
            "incremental_target": INCREMENTAL_TARGET,
            "noop_target_ms": NOOP_TARGET_MS,
            "peak_rss_target_mib": RSS_TARGET_MIB,
            "repo_bytes": self.repo_bytes,
            "git_repo_bytes": self.git_repo_bytes,
            "warnings": warnings,
        })
    }
}

impl crate::report::Figures for ExportFigures {
    fn warnings(&self) -> Vec<String> {
        ExportFigures::warnings(self)
    }

    fn json(&self, warnings: &[String]) -> Value {
        ExportFigures::json(self, warnings)
    }

    fn table(&self) -> String {
        ExportFigures::table(self)
    }
}
