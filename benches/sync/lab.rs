//! The benchmark's scratch folder: the generated vault, copies of it, hubs, git repositories,
//! and the commands that run on them (syncd, git, rsync), each isolated from the user's
//! configuration.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vault::sync::SyncReport;

use crate::measure::{Proc, Runner, settle_disk};

/// The syncd binary built by `cargo bench` from the current source (cargo sets
/// `CARGO_BIN_EXE_<name>` for the benches and integration tests of the package owning the
/// binary, and builds it with the bench profile first).
pub const SYNCD: &str = env!("CARGO_BIN_EXE_syncd");

/// Longer than the stat cache's racy margin (docs/sync.md, "The racy rule and idle rounds").
const RACY_WAIT: Duration = Duration::from_millis(250);

/// How long after a deletion freed inodes are reused again on ext4 without a journal (60 s),
/// plus a margin.
const INODE_REUSE_WAIT: Duration = Duration::from_secs(65);

/// Where the vault's own state lives; never compared and never copied to anchors.
pub const STATE_DIR: &str = ".vault";

pub struct Lab {
    root: tempfile::TempDir,
    /// The generated vault, never touched after generation: every run copies it.
    pub source: PathBuf,
    pub summary: vaultgen::GenSummary,
    pub runner: Runner,
    next: Cell<usize>,
    /// Where [`Lab::remove`] puts folders; emptied by [`Lab::purge`].
    trash: PathBuf,
    /// When the trash was last emptied.
    purged: Cell<Option<Instant>>,
    /// Print every syncd round's time, outcome and statistics on stderr.
    verbose: bool,
    /// `--quick`: no waiting for freed inodes (its numbers are never judged).
    quick: bool,
}

impl Lab {
    /// A new scratch folder (in `$TMPDIR`) with a vault of `opts` generated in it.
    pub fn new(opts: &vaultgen::GenOptions, verbose: bool, quick: bool) -> Result<Lab> {
        let root = tempfile::Builder::new()
            .prefix("vault-sync-bench-")
            .tempdir()
            .context("cannot create the benchmark's temp folder")?;
        let source = root.path().join("source");
        let summary = vaultgen::generate(&source, opts)
            .with_context(|| format!("generating the vault in `{}`", source.display()))?;
        let runner = Runner::new(&root.path().join("logs"))?;
        for dir in ["home", "xdg", "trash"] {
            fs::create_dir_all(root.path().join(dir))?;
        }
        let trash = root.path().join("trash");
        Ok(Lab {
            root,
            source,
            summary,
            runner,
            next: Cell::new(0),
            trash,
            purged: Cell::new(None),
            verbose,
            quick,
        })
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// `--verbose`: scenarios print their untimed steps too.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A new, unused path in the scratch folder (not created).
    pub fn fresh(&self, name: &str) -> PathBuf {
        self.root.path().join(format!("{name}-{}", self.next_id()))
    }

    fn next_id(&self) -> usize {
        let n = self.next.get();
        self.next.set(n + 1);
        n
    }

    /// A copy of the generated vault (`cp -a`: bytes, modes and modification times) at a new
    /// path.
    pub fn copy_source(&self, name: &str) -> Result<PathBuf> {
        let dest = self.fresh(name);
        let mut cp = Command::new("cp");
        cp.arg("-a").arg(&self.source).arg(&dest);
        self.runner.run_ok(cp)?;
        Ok(dest)
    }

    /// Put away folders a run no longer needs: moved into the trash, not deleted, so that no
    /// inode is freed while a scenario is timed (see [`Lab::settle`]).
    pub fn remove(&self, dirs: &[&Path]) -> Result<()> {
        for dir in dirs {
            if dir.exists() {
                let to = self.trash.join(self.next_id().to_string());
                fs::rename(dir, &to)
                    .with_context(|| format!("cannot move `{}` to the trash", dir.display()))?;
            }
        }
        Ok(())
    }

    /// Delete what the trash holds (between scenarios, untimed), so that the scratch folder
    /// holds at most one scenario's copies.
    pub fn purge(&self) -> Result<()> {
        fs::remove_dir_all(&self.trash).context("cannot empty the benchmark's trash")?;
        fs::create_dir(&self.trash)?;
        settle_disk();
        if !self.quick {
            self.purged.set(Some(Instant::now()));
        }
        Ok(())
    }

    /// Untimed, just before each timed side: flush every dirty page (so a timed `fsync` never
    /// pays for the setup's writes), and let a minute pass since the trash was last emptied.
    /// On ext4 without a journal (this project's shared machines) the kernel will not reuse an
    /// inode freed less than 60 s ago and scans past every such inode for each file it creates,
    /// which makes creating 20,000 files several times slower after a large deletion
    /// (`recently_deleted` in fs/ext4/ialloc.c); timed sides must not pay for that either.
    /// `--quick` does not wait: its few hundred files hardly matter, and its numbers are never
    /// judged.
    pub fn settle(&self) {
        settle_disk();
        if let Some(rest) = self
            .purged
            .get()
            .and_then(|at| INODE_REUSE_WAIT.checked_sub(at.elapsed()))
        {
            if self.verbose {
                eprintln!("    waiting {rest:.1?} for freed inodes to become reusable");
            }
            std::thread::sleep(rest);
        }
    }

    /// `syncd ARGS`, with every XDG folder inside the scratch folder and logging at its default.
    pub fn syncd(&self, args: &[&OsStr]) -> Command {
        let xdg = self.root.path().join("xdg");
        let mut cmd = Command::new(SYNCD);
        cmd.args(args).env("NO_COLOR", "1").env_remove("RUST_LOG");
        for (var, dir) in [
            ("XDG_DATA_HOME", "data"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            cmd.env(var, xdg.join(dir));
        }
        cmd
    }

    /// `syncd init --vault VAULT --hub HUB --device DEVICE`.
    pub fn syncd_init(&self, vault: &Path, hub: &Path, device: &str) -> Command {
        self.syncd(&[
            "init".as_ref(),
            "--vault".as_ref(),
            vault.as_os_str(),
            "--hub".as_ref(),
            hub.as_os_str(),
            "--device".as_ref(),
            device.as_ref(),
        ])
    }

    /// `syncd sync --vault VAULT --json`.
    pub fn syncd_sync(&self, vault: &Path) -> Command {
        self.syncd(&[
            "sync".as_ref(),
            "--vault".as_ref(),
            vault.as_os_str(),
            "--json".as_ref(),
        ])
    }

    /// Run a `syncd sync --json` command: the process and its report (an error if it failed).
    pub fn sync(&self, cmd: Command) -> Result<(Proc, SyncReport)> {
        let proc = self.runner.run_ok(cmd)?;
        let report: SyncReport = serde_json::from_str(&proc.stdout).with_context(|| {
            format!(
                "`{}` did not print a sync report:\n{}\n--- stderr\n{}",
                proc.what, proc.stdout, proc.stderr
            )
        })?;
        if self.verbose {
            eprintln!(
                "    {}: {:.1} ms, {} KiB peak, {:?}, {:?}",
                proc.what,
                proc.wall.as_secs_f64() * 1000.0,
                proc.max_rss_kib,
                report.outcome,
                report.stats
            );
        }
        Ok((proc, report))
    }

    /// Untimed: make `vault` a vault of `hub` and sync it once, then once more: the warm round,
    /// started more than the stat cache's racy margin (100 ms) after the files were last
    /// changed (copied, just before this), so that its cache entries are trusted from then on,
    /// as on a vault whose notes were last edited a while ago.
    pub fn synced_vault(&self, vault: &Path, hub: &Path, device: &str) -> Result<()> {
        let started = Instant::now();
        self.runner.run_ok(self.syncd_init(vault, hub, device))?;
        self.sync(self.syncd_sync(vault))?;
        if let Some(rest) = RACY_WAIT.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        self.sync(self.syncd_sync(vault))?;
        Ok(())
    }

    /// `git ARGS` in `dir`, with a fixed author and committer, no system or global
    /// configuration, no automatic gc, and a home folder inside the scratch folder.
    pub fn git<S: AsRef<OsStr>>(&self, dir: &Path, args: impl IntoIterator<Item = S>) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir).args(args);
        for (key, value) in [
            ("GIT_AUTHOR_NAME", "Vault Bench"),
            ("GIT_AUTHOR_EMAIL", "bench@vault-sync.invalid"),
            ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_COMMITTER_NAME", "Vault Bench"),
            ("GIT_COMMITTER_EMAIL", "bench@vault-sync.invalid"),
            ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_TERMINAL_PROMPT", "0"),
            // No `git gc --auto` after a commit of 20,000 new files: it would pack in the
            // background while the next sides are timed.
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "gc.auto"),
            ("GIT_CONFIG_VALUE_0", "0"),
            ("LC_ALL", "C"),
        ] {
            cmd.env(key, value);
        }
        cmd.env("HOME", self.root.path().join("home"));
        cmd
    }

    /// Untimed: `git init` in `dir`, commit everything, and run `git status` once (the warm
    /// round, as syncd gets one).
    pub fn committed_repo(&self, dir: &Path) -> Result<()> {
        self.runner
            .run_ok(self.git(dir, ["init", "-q", "-b", "main"]))?;
        self.runner.run_ok(self.git(dir, ["add", "-A"]))?;
        self.runner
            .run_ok(self.git(dir, ["commit", "-q", "-m", "initial"]))?;
        self.runner.run_ok(self.git(dir, ["status"]))?;
        Ok(())
    }

    /// `rsync -a [--delete] FROM/ TO/`.
    pub fn rsync(&self, from: &Path, to: &Path, delete: bool) -> Command {
        let mut cmd = Command::new("rsync");
        cmd.arg("-a");
        if delete {
            cmd.arg("--delete");
        }
        cmd.arg(slash(from)).arg(slash(to));
        cmd
    }
}

/// `dir/`, as rsync wants it to copy the folder's contents.
fn slash(dir: &Path) -> PathBuf {
    let mut s = dir.as_os_str().to_os_string();
    s.push("/");
    PathBuf::from(s)
}

/// Total bytes of the files under `dir` (0 if it does not exist).
pub fn dir_bytes(dir: &Path) -> Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let mut total = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("listing `{}`", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else {
            total += meta.len();
        }
    }
    Ok(total)
}

/// What a file is for the comparison of two trees.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    len: u64,
    mtime_ns: i128,
    executable: bool,
}

/// Every file under `dir` (but `.vault/` at its top), by relative path.
fn files(dir: &Path) -> Result<BTreeMap<PathBuf, Entry>> {
    fn walk(top: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("listing `{}`", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(top)?.to_path_buf();
            if rel == Path::new(STATE_DIR) {
                continue;
            }
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                walk(top, &path, out)?;
            } else {
                ensure!(meta.is_file(), "`{}` is not a regular file", path.display());
                let mtime_ns =
                    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
                out.insert(
                    rel,
                    Entry {
                        len: meta.len(),
                        mtime_ns,
                        executable: meta.permissions().mode() & 0o111 != 0,
                    },
                );
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Check that `got` holds exactly the files of `want` (`.vault/` aside): the same paths,
/// bytes, modification times (to the nanosecond) and executable bits.
pub fn same_tree(want: &Path, got: &Path) -> Result<()> {
    let (a, b) = (files(want)?, files(got)?);
    let only_want: Vec<_> = a.keys().filter(|p| !b.contains_key(*p)).take(5).collect();
    let only_got: Vec<_> = b.keys().filter(|p| !a.contains_key(*p)).take(5).collect();
    if !only_want.is_empty() || !only_got.is_empty() {
        bail!(
            "`{}` and `{}` hold different files: {} vs {} files; only in the first: {only_want:?}; only in the second: {only_got:?}",
            want.display(),
            got.display(),
            a.len(),
            b.len()
        );
    }
    for (rel, entry) in &a {
        let other = &b[rel];
        if entry != other {
            bail!(
                "`{}` differs: {entry:?} in `{}`, {other:?} in `{}`",
                rel.display(),
                want.display(),
                got.display()
            );
        }
        let (x, y) = (fs::read(want.join(rel))?, fs::read(got.join(rel))?);
        if x != y {
            bail!("`{}` has other bytes in `{}`", rel.display(), got.display());
        }
    }
    Ok(())
}

/// The relative paths of `paths` under `dir`, to compare edits made on two copies.
pub fn relative(dir: &Path, paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap_or(p).to_path_buf())
        .collect()
}
