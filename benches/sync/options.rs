//! The command line after `cargo bench --bench sync --`.

use anyhow::{Result, bail};

use crate::scenarios::Scenario;

pub const USAGE: &str = "\
cargo bench --bench sync [-- OPTIONS]

Runs the real syncd binary through the sync scenarios on a generated vault, side by side with
rsync and git on the same data, and prints a table of times, ratios and targets.

Options:
  --notes N      notes in the generated vault (default 20000; --quick: 300)
  --runs K       timed runs per figure (default 5; --quick: 1)
  --quick        a few hundred notes with small attachments, one run: proves the benchmark
                 works (CI), never judges a number; does not write target/bench/latest.json
  --json         one JSON object per figure on stdout, one per line (header and warnings go to
                 stderr); field names in docs/performance.md
  --only NAME    only this scenario (repeatable, or NAME,NAME): upload, download, unchanged,
                 edit-one, edit-mixed, conflicts, agent (two running agents and a server:
                 20 propagated writes, idle CPU and memory; --quick: 3 writes), tasks
                 (`syncd tasks` cold, warm and after 10 edits, `syncd task done`, against
                 git status and grep), web (the web view on a release vault-server: note,
                 folder, tasks and search pages, a tick, the index update after a 10-note
                 snapshot, the idle server's memory), large (one large file of each
                 --large-mib size through a folder hub and a vault-server: upload,
                 download, one byte changed, peak memory, against rsync -a), history
                 (--rounds one-edit rounds through one folder hub: round times, packs and
                 hub size before and after), git-export (`syncd history export` of a
                 history of --snapshots snapshots into a new git repository, then of
                 one more snapshot, then with nothing new, against git's own commit
                 and repack; the repository checked with git fsck), sim (the simulation's
                 soak throughput: seeded runs for 20 s, --quick 2 s, in simulated rounds
                 per second)
  --large-mib L  sizes of the large files in MiB, comma-separated (default 1024,4096;
                 --quick: 48)
  --rounds N     one-edit rounds of the long history (default 5000; --quick: 100)
  --snapshots N  snapshots in the history of the git export (default 1000; --quick: 30)
  --verbose      also print every syncd round (time, peak memory, outcome, statistics) on
                 stderr, including the untimed rounds that prepare a state
  -h, --help     this text";

#[derive(Debug, Clone)]
pub struct Options {
    pub notes: usize,
    pub runs: usize,
    pub quick: bool,
    pub json: bool,
    pub verbose: bool,
    /// Empty (and `agent` and `tasks` false): every scenario.
    pub only: Vec<Scenario>,
    /// `--only agent` was given.
    pub agent: bool,
    /// `--only tasks` was given.
    pub tasks: bool,
    /// `--only web` was given.
    pub web: bool,
    /// `--only large` was given.
    pub large: bool,
    /// `--only history` was given.
    pub history: bool,
    /// `--only sim` was given.
    pub sim: bool,
    /// `--only git-export` was given.
    pub git_export: bool,
    pub large_mib: Vec<u64>,
    pub rounds: usize,
    pub snapshots: usize,
}

impl Options {
    /// Whether this run's results are written to `target/bench/latest.json`.
    pub fn is_full_run(&self) -> bool {
        !self.quick && self.everything()
    }

    fn everything(&self) -> bool {
        self.only.is_empty()
            && !self.agent
            && !self.tasks
            && !self.web
            && !self.large
            && !self.history
            && !self.sim
            && !self.git_export
    }

    /// Whether the git export's figures (benches/sync/git_export.rs) are measured.
    pub fn wants_git_export(&self) -> bool {
        self.everything() || self.git_export
    }

    /// Whether the simulation's soak throughput (benches/sync/sim.rs) is measured.
    pub fn wants_sim(&self) -> bool {
        self.everything() || self.sim
    }

    /// Whether the large files' figures (benches/sync/large.rs) are measured.
    pub fn wants_large(&self) -> bool {
        self.everything() || self.large
    }

    /// Whether the long history's figures (benches/sync/long_history.rs) are measured.
    pub fn wants_history(&self) -> bool {
        self.everything() || self.history
    }

    pub fn wants(&self, scenario: Scenario) -> bool {
        self.everything() || self.only.contains(&scenario)
    }

    /// Whether the agent's figures (benches/sync/agent.rs) are measured.
    pub fn wants_agent(&self) -> bool {
        self.everything() || self.agent
    }

    /// Whether the task listing's figures (benches/sync/tasks.rs) are measured.
    pub fn wants_tasks(&self) -> bool {
        self.everything() || self.tasks
    }

    /// Whether the web view's figures (benches/sync/web.rs) are measured.
    pub fn wants_web(&self) -> bool {
        self.everything() || self.web
    }

    /// Parse the arguments (without the program name). `Ok(None)`: help was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>> {
        let mut notes = None;
        let mut runs = None;
        let mut quick = false;
        let mut json = false;
        let mut verbose = false;
        let mut only = Vec::new();
        let mut agent = false;
        let mut tasks = false;
        let mut web = false;
        let mut large = false;
        let mut history = false;
        let mut sim = false;
        let mut git_export = false;
        let mut large_mib = None;
        let mut rounds = None;
        let mut snapshots = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value)),
                _ => (arg.clone(), None),
            };
            let mut value = |what: &str| match inline {
                Some(v) => Ok(v.to_string()),
                None => args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{name} needs {what}")),
            };
            match name.as_str() {
                // `cargo bench` passes `--bench` to every bench target.
                "--bench" => {}
                "--quick" => quick = true,
                "--json" => json = true,
                "--verbose" => verbose = true,
                "--notes" => notes = Some(positive(&name, &value("a number of notes")?)?),
                "--runs" => runs = Some(positive(&name, &value("a number of runs")?)?),
                "--rounds" => rounds = Some(positive(&name, &value("a number of rounds")?)?),
                "--snapshots" => {
                    snapshots = Some(positive(&name, &value("a number of snapshots")?)?)
                }
                "--large-mib" => {
                    large_mib = Some(
                        value("sizes in MiB")?
                            .split(',')
                            .map(|v| positive(&name, v.trim()).map(|n| n as u64))
                            .collect::<Result<Vec<u64>>>()?,
                    )
                }
                "--only" => {
                    for slug in value("a scenario name")?.split(',') {
                        match Scenario::from_slug(slug.trim()) {
                            None if slug.trim() == "agent" => agent = true,
                            None if slug.trim() == "tasks" => tasks = true,
                            None if slug.trim() == "web" => web = true,
                            None if slug.trim() == "large" => large = true,
                            None if slug.trim() == "history" => history = true,
                            None if slug.trim() == "sim" => sim = true,
                            None if slug.trim() == "git-export" => git_export = true,
                            Some(s) if !only.contains(&s) => only.push(s),
                            Some(_) => {}
                            None => bail!(
                                "unknown scenario {slug:?}; the scenarios are: {}, agent, tasks, web, large, history, git-export, sim",
                                Scenario::ALL.map(Scenario::slug).join(", ")
                            ),
                        }
                    }
                }
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown option {other:?}\n\n{USAGE}"),
            }
        }
        Ok(Some(Options {
            notes: notes.unwrap_or(if quick { 300 } else { 20_000 }),
            runs: runs.unwrap_or(if quick { 1 } else { 5 }),
            quick,
            json,
            verbose,
            only,
            agent,
            tasks,
            web,
            large,
            history,
            sim,
            git_export,
            large_mib: large_mib.unwrap_or_else(|| if quick { vec![48] } else { vec![1024, 4096] }),
            rounds: rounds.unwrap_or(if quick { 100 } else { 5000 }),
            snapshots: snapshots.unwrap_or(if quick { 30 } else { 1000 }),
        }))
    }
}

fn positive(name: &str, value: &str) -> Result<usize> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{name} needs a positive whole number, not {value:?}"),
    }
}
