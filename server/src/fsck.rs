//! `vault-server fsck`: check every vault of a data folder (each a hub folder under
//! `DATA/vaults/<user>/<vault>/`), or one, with [`vault::fsck::hub`], and the data folder's
//! own temp files. Read-only unless `--repair`, so safe while the server runs: uploads in
//! progress write temp files younger than the grace period, which are not reported.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vault::fsck::{self, FsckProgress, Options, Report};

use crate::gc::VaultSelection;

#[derive(Debug, Args)]
#[command(after_help = "\
Checks, per vault: vault-hub.json, every pack's header, every object re-hashed, the head and
the history behind it (no dangling parent), every object reached by each snapshot the vault's
retention policy keeps (present and hash-correct), temp files of interrupted uploads, retired
packs and stale locks; and the data folder's own temp files. Temp files younger than --grace
are uploads in progress and not reported, so fsck is safe while the server runs. Old temp
files and retired packs in a vault are gc's to remove (listed as cleanup, not a failure).

Each problem is one line: what, where, and what to do.

Exit codes:
  0   clean (warnings and what the server cleans by itself may be listed)
  1   the check could not run: the message says why
  2   problems found: data missing or damaged, or leftovers nothing else removes
  64  usage error: unknown command or bad arguments")]
pub struct FsckArgs {
    #[command(flatten)]
    vaults: VaultSelection,
    /// Print the reports as one JSON object on stdout
    #[arg(long)]
    json: bool,
    /// Remove what is safe to remove: the server's own temp files older than --grace, and
    /// locks whose process is gone (never an object, never an account)
    #[arg(long)]
    repair: bool,
    /// Temp files younger than this are uploads in progress: not reported, never removed
    /// (90s, 30m, 1h, 2d)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = vault::duration::parse)]
    grace: Duration,
}

#[derive(serde::Serialize)]
struct VaultReport {
    user: String,
    vault: String,
    #[serde(flatten)]
    report: Report,
}

/// Runs the check; exit 0 when clean, 2 when problems were found (errors are the caller's 1).
pub fn run(args: FsckArgs) -> Result<ExitCode> {
    let data_dir = args.vaults.data()?.to_path_buf();
    let opts = Options {
        grace: args.grace,
        repair: args.repair,
        now: SystemTime::now(),
    };
    let bar = Bar::new(args.json);
    let mut done = Vec::new();
    let mut data = Report {
        target: data_dir.clone(),
        ..Report::default()
    };
    fsck::leftover_temps(&data_dir, &opts, &mut data);
    fsck::leftover_temps(&data_dir.join("web"), &opts, &mut data);
    let selected = args.vaults.select("fsck");
    let result = selected.and_then(|selected| {
        for (user, vault, folder) in selected {
            bar.vault(&format!("{user}/{vault}"));
            let report = fsck::hub::check(&folder, &opts, &bar)
                .with_context(|| format!("checking vault `{vault}` of `{user}`"))?;
            done.push(VaultReport {
                user,
                vault,
                report,
            });
        }
        Ok(())
    });
    bar.finish();
    result?;
    let clean = data.clean() && done.iter().all(|v| v.report.clean());
    if args.json {
        let value = serde_json::json!({
            "clean": clean,
            "data": &data,
            "vaults": &done,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for v in &done {
            print!("{}/{}: ", v.user, v.vault);
            print!("{}", fsck::summary(&v.report));
        }
        for p in &data.problems {
            println!("{}", p.line());
        }
        for path in &data.repaired {
            println!("repaired: removed `{}`", path.display());
        }
        if done.is_empty() {
            println!("no vaults to check in `{}`", data_dir.display());
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// A bar of the current vault's phase, on a terminal only (never with --json).
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new(json: bool) -> Bar {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if json || dumb || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} {msg} {bar:30} {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar(Some(bar))
    }

    fn vault(&self, name: &str) {
        if let Some(b) = &self.0 {
            b.set_prefix(name.to_string());
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl FsckProgress for Bar {
    fn phase(&self, name: &'static str, total: u64) {
        if let Some(b) = &self.0 {
            b.set_message(name);
            b.set_length(total);
            b.set_position(0);
        }
    }

    fn advance(&self, done: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }
}
