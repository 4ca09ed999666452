//! The scenarios of issue 4 and their anchors. Every timed run starts from the same prepared
//! state, built untimed just before it (copies of the generated vault, a fresh hub, a synced
//! vault with a warm stat cache, a committed git repository with a warm index); the runs of
//! the sides alternate, so that a noisy moment on a shared machine hits both.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vault::sync::{Outcome, SyncReport};

use crate::lab::{Lab, dir_bytes, relative, same_tree};
use crate::measure::{Proc, Times};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Upload,
    Download,
    Unchanged,
    EditOne,
    EditMixed,
    Conflicts,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Upload,
        Scenario::Download,
        Scenario::Unchanged,
        Scenario::EditOne,
        Scenario::EditMixed,
        Scenario::Conflicts,
    ];

    /// The name for `--only` and the `scenario` field of the JSON.
    pub fn slug(self) -> &'static str {
        match self {
            Scenario::Upload => "upload",
            Scenario::Download => "download",
            Scenario::Unchanged => "unchanged",
            Scenario::EditOne => "edit-one",
            Scenario::EditMixed => "edit-mixed",
            Scenario::Conflicts => "conflicts",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Upload => "initial upload",
            Scenario::Download => "initial download",
            Scenario::Unchanged => "nothing changed",
            Scenario::EditOne => "one note edited",
            Scenario::EditMixed => "1% edited, 10 renamed, 10 deleted",
            Scenario::Conflicts => "100 conflicting edits",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.slug() == slug)
    }

    pub fn run(self, lab: &Lab, runs: usize) -> Result<Measured> {
        let measured = match self {
            Scenario::Upload => upload(lab, runs),
            Scenario::Download => download(lab, runs),
            Scenario::Unchanged => unchanged(lab, runs),
            Scenario::EditOne => edit_one(lab, runs),
            Scenario::EditMixed => edit_mixed(lab, runs),
            Scenario::Conflicts => conflicts(lab, runs),
        };
        measured.with_context(|| format!("scenario {} ({})", self.slug(), self.title()))
    }
}

/// Names of the anchors, as printed and in the JSON's `side`.
pub const SYNCD: &str = "syncd";
const RSYNC: &str = "rsync -a";
const RSYNC_DELETE: &str = "rsync -a --delete";
const GIT_COMMIT: &str = "git add -A && git commit";
const GIT_CLONE: &str = "git clone";
const GIT_STATUS: &str = "git status";

/// What syncd's `--json` statistics and the hub folder say about one side's runs: the largest
/// value seen in any run (for each run, the sum over its syncd processes).
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCounts {
    pub files_read: u64,
    pub bytes_hashed: u64,
    /// Bytes of objects uploaded (`stats.bytes_sent`).
    pub bytes_sent: u64,
    /// Growth of the hub folder on disk (sum of its files' sizes, after minus before).
    pub hub_bytes_written: u64,
    pub conflicts: u64,
    /// `syncd sync` processes per run.
    pub rounds: u64,
}

/// One side of a scenario (syncd or an anchor) over all its runs.
#[derive(Debug, Clone)]
pub struct Figure {
    pub side: &'static str,
    /// One time per run: the sum of the wall times of the run's processes.
    pub times: Times,
    /// The largest peak RSS of any process of any run, in KiB.
    pub peak_rss_kib: u64,
    /// The largest ratio of syncd's median to this anchor's the project accepts.
    pub target: Option<f64>,
    /// syncd only.
    pub sync: Option<SyncCounts>,
    /// Broken promises seen while running (syncd only), printed as warnings.
    pub issues: Vec<String>,
}

impl Figure {
    fn syncd() -> Figure {
        Figure::anchor(SYNCD, None)
    }

    fn anchor(side: &'static str, target: Option<f64>) -> Figure {
        Figure {
            side,
            times: Times::default(),
            peak_rss_kib: 0,
            target,
            sync: None,
            issues: Vec::new(),
        }
    }

    /// Record one run made of these processes (run one after another).
    fn add_run(&mut self, procs: &[&Proc]) {
        self.times.0.push(procs.iter().map(|p| p.wall).sum());
        for p in procs {
            self.peak_rss_kib = self.peak_rss_kib.max(p.max_rss_kib);
        }
    }

    /// Record the reports of one run's `syncd sync` processes and the hub's growth.
    fn add_reports(&mut self, reports: &[&SyncReport], hub_bytes_written: u64) {
        let mut run = SyncCounts {
            hub_bytes_written,
            rounds: reports.len() as u64,
            ..SyncCounts::default()
        };
        for r in reports {
            run.files_read += r.stats.files_read;
            run.bytes_hashed += r.stats.bytes_hashed;
            run.bytes_sent += r.stats.bytes_sent;
            run.conflicts += r.stats.conflicts;
        }
        let all = self.sync.get_or_insert_with(SyncCounts::default);
        all.files_read = all.files_read.max(run.files_read);
        all.bytes_hashed = all.bytes_hashed.max(run.bytes_hashed);
        all.bytes_sent = all.bytes_sent.max(run.bytes_sent);
        all.hub_bytes_written = all.hub_bytes_written.max(run.hub_bytes_written);
        all.conflicts = all.conflicts.max(run.conflicts);
        all.rounds = all.rounds.max(run.rounds);
    }

    fn expect_outcome(&mut self, report: &SyncReport, want: Outcome, run: usize) {
        if report.outcome != want {
            self.issues.push(format!(
                "run {}: the round's outcome was {:?}, expected {want:?}",
                run + 1,
                report.outcome
            ));
        }
    }
}

/// The figures of one scenario.
#[derive(Debug)]
pub struct Measured {
    pub scenario: Scenario,
    pub ours: Figure,
    pub anchors: Vec<Figure>,
}

impl Measured {
    /// syncd's median over this anchor's.
    pub fn ratio(&self, anchor: &Figure) -> f64 {
        ratio(self.ours.times.median(), anchor.times.median())
    }
}

pub fn ratio(ours: Duration, theirs: Duration) -> f64 {
    ours.as_secs_f64() / theirs.as_secs_f64().max(1e-9)
}

fn progress(scenario: Scenario, run: usize, runs: usize) {
    eprintln!("  {} run {}/{runs}", scenario.title(), run + 1);
}

/// `syncd init` + the first `syncd sync` into an empty hub, against `rsync -a vault/ copy/` and
/// `git add -A && git commit` in a fresh repository.
fn upload(lab: &Lab, runs: usize) -> Result<Measured> {
    let mut ours = Figure::syncd();
    let mut rsync = Figure::anchor(RSYNC, Some(1.5));
    let mut git = Figure::anchor(GIT_COMMIT, None);
    for run in 0..runs {
        progress(Scenario::Upload, run, runs);
        let vault = lab.copy_source("upload")?;
        let hub = lab.fresh("hub");
        lab.settle();
        let init = lab
            .runner
            .run_ok(lab.syncd_init(&vault, &hub, "bench-upload"))?;
        let (sync, report) = lab.sync(lab.syncd_sync(&vault))?;
        ours.add_run(&[&init, &sync]);
        ours.add_reports(&[&report], dir_bytes(&hub)?);
        ours.expect_outcome(&report, Outcome::Pushed, run);
        lab.remove(&[&vault, &hub])?;

        let copy = lab.fresh("rsync");
        lab.settle();
        rsync.add_run(&[&lab.runner.run_ok(lab.rsync(&lab.source, &copy, false))?]);
        lab.remove(&[&copy])?;

        let repo = lab.copy_source("git")?;
        lab.runner
            .run_ok(lab.git(&repo, ["init", "-q", "-b", "main"]))?;
        lab.settle();
        let add = lab.runner.run_ok(lab.git(&repo, ["add", "-A"]))?;
        let commit = lab
            .runner
            .run_ok(lab.git(&repo, ["commit", "-q", "-m", "initial"]))?;
        git.add_run(&[&add, &commit]);
        lab.remove(&[&repo])?;
    }
    Ok(Measured {
        scenario: Scenario::Upload,
        ours,
        anchors: vec![rsync, git],
    })
}

/// A new, empty device joins a hub holding the vault (`syncd init` + `syncd sync`), against
/// `rsync -a` of the vault to a new folder and `git clone` of the committed repository. Every
/// download is checked to equal the generated vault, bytes and modification times.
fn download(lab: &Lab, runs: usize) -> Result<Measured> {
    let hub = lab.fresh("hub");
    let first = lab.copy_source("first")?;
    lab.synced_vault(&first, &hub, "bench-first")?;
    lab.remove(&[&first])?;
    let repo = lab.copy_source("repo")?;
    lab.committed_repo(&repo)?;
    // Packed, as git's own maintenance leaves a repository: the clone copies one pack.
    lab.runner.run_ok(lab.git(&repo, ["gc", "-q"]))?;

    let mut ours = Figure::syncd();
    let mut rsync = Figure::anchor(RSYNC, Some(1.5));
    // Copies the objects as a hub on another drive would have to (without this, a clone of a
    // local path hard-links them).
    let mut clone = Figure::anchor(GIT_CLONE, None);
    for run in 0..runs {
        progress(Scenario::Download, run, runs);
        let device = lab.fresh("download");
        let before = dir_bytes(&hub)?;
        lab.settle();
        let init =
            lab.runner
                .run_ok(lab.syncd_init(&device, &hub, &format!("bench-download-{run}")))?;
        let (sync, report) = lab.sync(lab.syncd_sync(&device))?;
        ours.add_run(&[&init, &sync]);
        ours.add_reports(&[&report], dir_bytes(&hub)?.saturating_sub(before));
        ours.expect_outcome(&report, Outcome::Pulled, run);
        same_tree(&lab.source, &device).context("the downloaded vault is not the uploaded one")?;
        lab.remove(&[&device])?;

        let copy = lab.fresh("rsync");
        lab.settle();
        rsync.add_run(&[&lab.runner.run_ok(lab.rsync(&lab.source, &copy, false))?]);
        lab.remove(&[&copy])?;

        let dest = lab.fresh("clone");
        lab.settle();
        let args: [&std::ffi::OsStr; 5] = [
            "clone".as_ref(),
            "-q".as_ref(),
            "--no-hardlinks".as_ref(),
            repo.as_os_str(),
            dest.as_os_str(),
        ];
        clone.add_run(&[&lab.runner.run_ok(lab.git(lab.path(), args))?]);
        lab.remove(&[&dest])?;
    }
    lab.remove(&[&hub, &repo])?;
    Ok(Measured {
        scenario: Scenario::Download,
        ours,
        anchors: vec![rsync, clone],
    })
}

/// A `syncd sync` round on a synced vault with a warm stat cache, against `git status` on a
/// committed repository of the same tree with a warm index. Promise: no file read, nothing
/// hashed. Nothing changes between runs, so one prepared state serves them all.
fn unchanged(lab: &Lab, runs: usize) -> Result<Measured> {
    let vault = lab.copy_source("unchanged")?;
    let hub = lab.fresh("hub");
    lab.synced_vault(&vault, &hub, "bench-unchanged")?;
    let repo = lab.copy_source("repo")?;
    lab.committed_repo(&repo)?;

    let mut ours = Figure::syncd();
    let mut status = Figure::anchor(GIT_STATUS, Some(1.0));
    for run in 0..runs {
        progress(Scenario::Unchanged, run, runs);
        let before = dir_bytes(&hub)?;
        lab.settle();
        let (sync, report) = lab.sync(lab.syncd_sync(&vault))?;
        ours.add_run(&[&sync]);
        ours.add_reports(&[&report], dir_bytes(&hub)?.saturating_sub(before));
        ours.expect_outcome(&report, Outcome::UpToDate, run);
        let stats = &report.stats;
        if stats.files_read > 0 || stats.bytes_hashed > 0 {
            ours.issues.push(format!(
                "run {}: a round with nothing changed read {} files and hashed {} bytes (promise: 0 and 0)",
                run + 1,
                stats.files_read,
                stats.bytes_hashed
            ));
        }

        lab.settle();
        status.add_run(&[&lab.runner.run_ok(lab.git(&repo, ["status"]))?]);
    }
    lab.remove(&[&vault, &hub, &repo])?;
    Ok(Measured {
        scenario: Scenario::Unchanged,
        ours,
        anchors: vec![status],
    })
}

/// A synced vault with a warm stat cache, a committed repository with a warm index, and, when
/// asked for, a pair of plain copies for `rsync -a --delete`, all of the generated vault.
struct Prepared {
    vault: PathBuf,
    hub: PathBuf,
    repo: PathBuf,
    /// (source, mirror): the source gets the edits, the mirror has the state before them.
    rsync: Option<(PathBuf, PathBuf)>,
}

impl Prepared {
    fn new(lab: &Lab, name: &str, with_rsync: bool) -> Result<Prepared> {
        let vault = lab.copy_source(name)?;
        let hub = lab.fresh("hub");
        lab.synced_vault(&vault, &hub, &format!("bench-{name}"))?;
        let repo = lab.copy_source("repo")?;
        lab.committed_repo(&repo)?;
        let rsync = if with_rsync {
            Some((
                lab.copy_source("rsync-source")?,
                lab.copy_source("rsync-mirror")?,
            ))
        } else {
            None
        };
        Ok(Prepared {
            vault,
            hub,
            repo,
            rsync,
        })
    }

    /// The folders that get the same edits.
    fn edited(&self) -> Vec<&Path> {
        let mut dirs = vec![self.vault.as_path(), self.repo.as_path()];
        if let Some((source, _)) = &self.rsync {
            dirs.push(source);
        }
        dirs
    }

    /// Apply `edit` to every edited folder and check it did the same thing in each.
    fn edit(&self, edit: impl Fn(&Path) -> Result<Vec<PathBuf>>) -> Result<()> {
        let mut first: Option<Vec<PathBuf>> = None;
        for dir in self.edited() {
            let done = edit(dir)?;
            match &first {
                None => first = Some(done),
                Some(f) => ensure!(
                    *f == done,
                    "the generator edited other notes in `{}` than in the first copy",
                    dir.display()
                ),
            }
        }
        Ok(())
    }

    fn remove(self, lab: &Lab) -> Result<()> {
        lab.remove(&[&self.vault, &self.hub, &self.repo])?;
        if let Some((source, mirror)) = &self.rsync {
            lab.remove(&[source, mirror])?;
        }
        Ok(())
    }
}

/// Time syncd's round and `git add -A && git commit` on a prepared state.
fn time_round(
    lab: &Lab,
    prep: &Prepared,
    ours: &mut Figure,
    git: &mut Figure,
    run: usize,
) -> Result<()> {
    let before = dir_bytes(&prep.hub)?;
    lab.settle();
    let (sync, report) = lab.sync(lab.syncd_sync(&prep.vault))?;
    ours.add_run(&[&sync]);
    ours.add_reports(&[&report], dir_bytes(&prep.hub)?.saturating_sub(before));
    ours.expect_outcome(&report, Outcome::Pushed, run);

    lab.settle();
    let add = lab.runner.run_ok(lab.git(&prep.repo, ["add", "-A"]))?;
    let commit = lab
        .runner
        .run_ok(lab.git(&prep.repo, ["commit", "-q", "-m", "edit"]))?;
    git.add_run(&[&add, &commit]);
    Ok(())
}

/// One note edited: a `syncd sync` round against `git add -A && git commit`.
fn edit_one(lab: &Lab, runs: usize) -> Result<Measured> {
    let mut ours = Figure::syncd();
    let mut git = Figure::anchor(GIT_COMMIT, Some(1.0));
    for run in 0..runs {
        progress(Scenario::EditOne, run, runs);
        let prep = Prepared::new(lab, "edit-one", false)?;
        let seed = 1000 + run as u64;
        prep.edit(|dir| Ok(relative(dir, &vaultgen::edit_notes(dir, 1, seed)?)))?;
        time_round(lab, &prep, &mut ours, &mut git, run)?;
        prep.remove(lab)?;
    }
    Ok(Measured {
        scenario: Scenario::EditOne,
        ours,
        anchors: vec![git],
    })
}

/// 1 % of the notes edited, 10 renamed, 10 deleted: a `syncd sync` round against
/// `git add -A && git commit` and `rsync -a --delete` onto a copy of the state before.
fn edit_mixed(lab: &Lab, runs: usize) -> Result<Measured> {
    let edits = (lab.summary.notes / 100).max(1);
    let mut ours = Figure::syncd();
    let mut git = Figure::anchor(GIT_COMMIT, None);
    let mut rsync = Figure::anchor(RSYNC_DELETE, None);
    for run in 0..runs {
        progress(Scenario::EditMixed, run, runs);
        let prep = Prepared::new(lab, "edit-mixed", true)?;
        let seed = 2000 + 3 * run as u64;
        prep.edit(|dir| {
            let mut done = relative(dir, &vaultgen::edit_notes(dir, edits, seed)?);
            for (from, to) in vaultgen::rename_notes(dir, 10, seed + 1)? {
                done.extend(relative(dir, &[from, to]));
            }
            done.extend(relative(dir, &vaultgen::delete_notes(dir, 10, seed + 2)?));
            Ok(done)
        })?;
        time_round(lab, &prep, &mut ours, &mut git, run)?;

        let (source, mirror) = prep.rsync.as_ref().context("no rsync copies")?;
        lab.settle();
        rsync.add_run(&[&lab.runner.run_ok(lab.rsync(source, mirror, true))?]);
        prep.remove(lab)?;
    }
    Ok(Measured {
        scenario: Scenario::EditMixed,
        ours,
        anchors: vec![git, rsync],
    })
}

/// Most rounds the two devices get to converge before the benchmark calls it a failure.
const MAX_ROUNDS: usize = 8;

/// The same notes edited differently on two synced devices; both sync in turn until a round
/// publishes nothing and ends at the head the other device last reached. Checked: every edit
/// conflicted, and both folders end up identical.
fn conflicts(lab: &Lab, runs: usize) -> Result<Measured> {
    let count = lab.summary.notes.min(100);
    let mut ours = Figure::syncd();
    for run in 0..runs {
        progress(Scenario::Conflicts, run, runs);
        let hub = lab.fresh("hub");
        let laptop = lab.copy_source("laptop")?;
        lab.synced_vault(&laptop, &hub, "laptop")?;
        let phone = lab.fresh("phone");
        lab.synced_vault(&phone, &hub, "phone")?;
        let edited = vaultgen::edit_notes(&laptop, count, 3000 + run as u64)?;
        for (i, rel) in relative(&laptop, &edited).iter().enumerate() {
            let path = phone.join(rel);
            let mut file = OpenOptions::new()
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot edit `{}`", path.display()))?;
            writeln!(file, "\n- [ ] edited on the phone ({i})")?;
        }

        let devices = [&laptop, &phone];
        let mut heads = [None, None];
        let mut procs: Vec<Proc> = Vec::new();
        let mut reports: Vec<SyncReport> = Vec::new();
        let before = dir_bytes(&hub)?;
        lab.settle();
        let converged = loop {
            let round = procs.len();
            if round == MAX_ROUNDS {
                break false;
            }
            let me = round % 2;
            let (proc, report) = lab.sync(lab.syncd_sync(devices[me]))?;
            let done = !report.snapshot_created && Some(report.head) == heads[1 - me];
            heads[me] = Some(report.head);
            procs.push(proc);
            reports.push(report);
            if done {
                break true;
            }
        };
        if !converged {
            bail!("the two devices did not converge in {MAX_ROUNDS} rounds");
        }
        ours.add_run(&procs.iter().collect::<Vec<_>>());
        ours.add_reports(
            &reports.iter().collect::<Vec<_>>(),
            dir_bytes(&hub)?.saturating_sub(before),
        );
        let conflicts: u64 = reports.iter().map(|r| r.stats.conflicts).sum();
        ensure!(
            conflicts == count as u64,
            "{count} notes were edited on both devices, but the rounds reported {conflicts} conflicts"
        );
        same_tree(&laptop, &phone).context("the two devices did not end up identical")?;
        lab.remove(&[&laptop, &phone, &hub])?;
    }
    Ok(Measured {
        scenario: Scenario::Conflicts,
        ours,
        anchors: Vec::new(),
    })
}
