//! `vault-server retention --data DIR --user U --vault V [--keep-all | --thin ...]`: a
//! server vault's history retention policy (vault::retention), shown or set by the operator,
//! with what it would keep now. The same policy and the same field of the vault folder's
//! `vault-hub.json` as `syncd hub retention` on a folder hub; the server's gc applies it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use vault::folder_hub::{FolderHub, MARKER_FILE};
use vault::retention::{self, Policy, Preview};

#[derive(Debug, Args)]
#[command(after_help = "\
Without --keep-all or --thin, shows the vault's policy and what it would keep now.
--thin keeps every snapshot of the last --recent-days days (default 30); before that, the last
snapshot of each UTC day for --daily-days days (default 365); before that, the last snapshot of
each UTC month for --monthly-months months, or for ever (--monthly-forever, the default). Numbers
not given are kept from the vault's current thinning. The head (every current file and
everything in .revisions/) is always kept; thinned snapshots stay in the history, their files
freed by gc. Safe while the server runs.")]
pub struct RetentionArgs {
    /// The server's data folder
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The user whose vault it is
    #[arg(long, value_name = "USER")]
    user: String,
    /// The vault's name, as `syncd` devices name it (--vault-name)
    #[arg(long, value_name = "VAULT")]
    vault: String,
    /// Keep every snapshot's files (the default)
    #[arg(long, conflicts_with = "thin")]
    keep_all: bool,
    /// Thin old snapshots: all recent ones, then one a day, then one a month
    #[arg(long)]
    thin: bool,
    /// Days in which every snapshot is kept
    #[arg(long, value_name = "N", requires = "thin")]
    recent_days: Option<u32>,
    /// Days, before the recent ones, in which the last snapshot of each UTC day is kept
    #[arg(long, value_name = "M", requires = "thin")]
    daily_days: Option<u32>,
    /// Months, before the daily ones, in which the last snapshot of each UTC month is kept;
    /// nothing older keeps its files (120: at most ten years)
    #[arg(
        long,
        value_name = "K",
        requires = "thin",
        conflicts_with = "monthly_forever"
    )]
    monthly_months: Option<u32>,
    /// Keep the last snapshot of each month for ever (the default)
    #[arg(long, requires = "thin")]
    monthly_forever: bool,
    /// Show what the policy would keep, without setting it
    #[arg(long)]
    dry_run: bool,
    /// Print the policy and its counts as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Shown {
    user: String,
    vault: String,
    folder: String,
    policy: Policy,
    description: String,
    changed: bool,
    dry_run: bool,
    preview: Preview,
}

/// A name as one path component: what the hub API would have created.
fn component(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        bail!("`{name}` is not a {what} name");
    }
    Ok(())
}

fn vault_folder(data: &Path, user: &str, vault: &str) -> Result<PathBuf> {
    component("user", user)?;
    component("vault", vault)?;
    let folder = data.join("vaults").join(user).join(vault);
    if !folder.join(MARKER_FILE).is_file() {
        bail!(
            "there is no vault `{vault}` of user `{user}` in `{}` (no `{}`); a vault appears when its first device joins it (`syncd init --hub URL --vault-name {vault}`)",
            data.display(),
            folder.join(MARKER_FILE).display()
        );
    }
    Ok(folder)
}

impl RetentionArgs {
    /// The flags, for [`retention::Request::policy`].
    pub fn request(&self) -> retention::Request {
        retention::Request {
            keep_all: self.keep_all,
            thin: self.thin,
            recent_days: self.recent_days,
            daily_days: self.daily_days,
            monthly_months: self.monthly_months,
            monthly_forever: self.monthly_forever,
            dry_run: self.dry_run,
        }
    }
}

pub fn run(args: RetentionArgs) -> Result<()> {
    let folder = vault_folder(&args.data, &args.user, &args.vault)?;
    let current = retention::load(&folder)?;
    let asked = args
        .request()
        .policy(&current)
        .map_err(anyhow::Error::msg)?;
    let policy = asked.clone().unwrap_or(current.clone());
    let changed = !args.dry_run && asked.as_ref().is_some_and(|p| *p != current);
    if changed {
        retention::save(&folder, &policy)?;
    }
    let hub = FolderHub::open(&folder)?;
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let preview = retention::preview(&hub, &policy, now)
        .with_context(|| format!("reading the history of `{}`", folder.display()))?;
    let shown = Shown {
        user: args.user,
        vault: args.vault,
        folder: folder.display().to_string(),
        description: policy.describe(),
        policy,
        changed,
        dry_run: args.dry_run,
        preview,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    let verb = match (asked.is_some(), args.dry_run, changed) {
        (false, _, _) => "retention",
        (true, true, _) => "retention (not set: --dry-run)",
        (true, false, true) => "retention set",
        (true, false, false) => "retention (unchanged)",
    };
    println!(
        "vault:     {} of {} (`{}`)",
        shown.vault, shown.user, shown.folder
    );
    println!("{verb}: {}", shown.description);
    println!("history:   {}", shown.preview.summary());
    Ok(())
}
