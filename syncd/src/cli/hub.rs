//! `syncd hub set` and `syncd hub show`: which hub an existing vault syncs with, and how it
//! reaches it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ParentVaultOpt, ServerArgs, VaultOpt};

#[derive(Debug, Args)]
pub struct HubArgs {
    #[command(subcommand)]
    pub command: HubCommand,
    /// Before or after the subcommand (`syncd hub --vault V gc`, `syncd hub gc --vault V`);
    /// handed to the subcommand's `vault` by [`HubArgs::into_command`].
    #[command(flatten)]
    pub vault: ParentVaultOpt,
}

impl HubArgs {
    /// The subcommand, with the `--vault` given anywhere on the line.
    pub fn into_command(self) -> HubCommand {
        let vault = self.vault.opt();
        let mut command = self.command;
        match &mut command {
            HubCommand::Set(a) => a.vault = vault,
            HubCommand::Show(a) => a.vault = vault,
            HubCommand::Gc(a) => a.vault = vault,
            HubCommand::Retention(a) => a.vault = vault,
        }
        command
    }
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Move this vault to another hub (a folder or a vault-server), taking its whole history
    /// along; or, given the server it uses now, change only how it connects (--ca-cert,
    /// --proxy, --insecure-skip-verify). The old hub is only read, never changed
    Set(HubSetArgs),
    /// Show the vault's hub and how it connects to it
    Show(HubShowArgs),
    /// Compact a hub folder's packs and remove what no snapshot reaches (killed uploads);
    /// a vault-server does this by itself
    Gc(HubGcArgs),
    /// Show or choose how much history the hub keeps: everything (the default), or old
    /// snapshots thinned out (their files freed by the hub's gc; the snapshots stay in the log)
    Retention(HubRetentionArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Small packs are merged (few packs keep rounds fast); objects no kept snapshot reaches (the
uploads of killed rounds) are dropped from packs older than the grace period; replaced packs
are moved to packs/retired/ and deleted by a later run once older than the grace period, so a
device that listed the packs a while ago can still read. Rounds also merge packs by themselves
once a hub folder holds more than 16.")]
pub struct HubGcArgs {
    /// From [`HubArgs::vault`].
    #[arg(skip)]
    pub vault: VaultOpt,
    /// Say what would be merged, dropped and freed; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Leave alone packs and temp files younger than this, and keep retired packs this long
    /// (90s, 30m, 1h, 2d): longer than any upload, or any delay of a service that syncs the
    /// hub folder
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = vault::duration::parse)]
    pub grace: std::time::Duration,
    /// Print the counts as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
What happens depends on the new hub (docs/server.md, \"Moving a vault to a server\"):
  empty                 every snapshot is copied to it and becomes its history; the next sync
                        is an ordinary one
  holds this history    (another device of the vault moved first) only what it lacks is
                        copied; the next sync is an ordinary one
  another history       every snapshot is copied, and the next sync merges the two: nothing
                        deleted, differing files kept as conflicts with revisions; `syncd log`
                        then shows both histories
  the current server    only the connection settings change; the device's token is kept if it
                        still works, else --password-stdin is needed
Nothing in `.vault/` changes until the history is copied; an agent must be stopped first.")]
pub struct HubSetArgs {
    /// The new hub: a folder (created if missing, outside the vault) or a vault-server's URL
    /// (https://host:7878)
    #[arg(value_name = "URL|DIR")]
    pub hub: PathBuf,
    /// From [`HubArgs::vault`].
    #[arg(skip)]
    pub vault: VaultOpt,
    /// Copy no history: for an old hub that is gone for good (a lost folder, a server that
    /// will not come back). The next sync merges this folder into the new hub as a new
    /// device would: nothing deleted, differences kept as conflicts
    #[arg(long)]
    pub no_history: bool,
    /// Print what was done as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct HubShowArgs {
    /// From [`HubArgs::vault`].
    #[arg(skip)]
    pub vault: VaultOpt,
    /// Print the hub and its settings as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Without --keep-all or --thin, shows the hub's policy and what it would keep now.
--thin keeps every snapshot of the last --recent-days days (default 30); before that, the last
snapshot of each UTC day for --daily-days days (default 365); before that, the last snapshot of
each UTC month for --monthly-months months, or for ever (--monthly-forever, the default). Numbers
not given are kept from the hub's current thinning. The head (every current file and everything
in .revisions/) is always kept. Thinned snapshots stay in `syncd log`, marked \"files not kept\";
their files are freed by the hub's gc. The policy is stored in the hub folder's vault-hub.json,
so every device of the vault shares it. For a server hub, the server's operator sets it with
`vault-server retention`.")]
pub struct HubRetentionArgs {
    /// From [`HubArgs::vault`].
    #[arg(skip)]
    pub vault: VaultOpt,
    /// Keep every snapshot's files (the default)
    #[arg(long, conflicts_with = "thin")]
    pub keep_all: bool,
    /// Thin old snapshots: all recent ones, then one a day, then one a month
    #[arg(long)]
    pub thin: bool,
    /// Days in which every snapshot is kept
    #[arg(long, value_name = "N", requires = "thin")]
    pub recent_days: Option<u32>,
    /// Days, before the recent ones, in which the last snapshot of each UTC day is kept
    #[arg(long, value_name = "M", requires = "thin")]
    pub daily_days: Option<u32>,
    /// Months, before the daily ones, in which the last snapshot of each UTC month is kept;
    /// nothing older keeps its files (120: at most ten years)
    #[arg(
        long,
        value_name = "K",
        requires = "thin",
        conflicts_with = "monthly_forever"
    )]
    pub monthly_months: Option<u32>,
    /// Keep the last snapshot of each month for ever (the default)
    #[arg(long, requires = "thin")]
    pub monthly_forever: bool,
    /// Show what the policy would keep, without setting it
    #[arg(long)]
    pub dry_run: bool,
    /// Print the policy and its counts as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

impl HubRetentionArgs {
    /// The flags, for [`vault::retention::Request::policy`].
    pub fn request(&self) -> vault::retention::Request {
        vault::retention::Request {
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
