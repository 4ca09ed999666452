//! The command line, as clap parses it. Everything here is declarative; `commands` acts on it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};

mod hub;
pub use hub::{HubArgs, HubCommand, HubGcArgs, HubRetentionArgs, HubSetArgs, HubShowArgs};

/// Shown after the help of `syncd`, `syncd sync` and `syncd verify`.
const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   error: the message says what happened and what to do (also a refused mass delete, or
      another syncd holding the vault)
  2   verification failed: the vault folder and the hub still differ (sync, verify)
  3   sync completed, but some paths were skipped (a folder where the hub has a file, a
      symbolic link in the way, a note this user cannot read, ...) or a folder's deletions
      were held back (a drive not mounted, a folder emptied of many notes): listed, each
      with what to do; everything else is synced
  64  usage error: unknown command or bad arguments";

/// Vault Sync agent: keeps a folder of markdown notes in sync through a hub.
///
/// A vault is an ordinary folder; its agent state lives in `.vault/` inside it. Conflicting
/// edits never overwrite each other: the older version is kept under `.revisions/`.
#[derive(Debug, Parser)]
#[command(name = "syncd", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a folder a vault that syncs through a hub (or, with --repair, write the config of
    /// a vault whose `.vault/config.toml` was lost or damaged)
    Init(InitArgs),
    /// Sync the vault with its hub once (a folder that is not a vault yet is initialised first)
    Sync(SyncArgs),
    /// Run the agent in the foreground: sync whenever a file changes or the hub has news
    Watch(WatchArgs),
    /// Ask the running agent to sync at once (even while paused)
    SyncNow(AgentArgs),
    /// Ask the running agent to stop syncing until `syncd resume` (changes are still noticed)
    Pause(AgentArgs),
    /// Ask a paused agent to sync again
    Resume(AgentArgs),
    /// Show the running agent's state in the system tray, its commands in the icon's menu
    /// (for an agent started elsewhere, e.g. as a service; needs a build with `--features tray`)
    Tray(TrayArgs),
    /// Show the vault's hub, device, last sync and the changes not synced yet
    Status(StatusArgs),
    /// List the snapshots on the hub, newest first, only those that changed one file, or the
    /// files deleted (--deleted)
    Log(LogArgs),
    /// Print a file as it was at a snapshot or time: its exact bytes, on stdout
    Show(ShowArgs),
    /// The vault's history in other forms: `syncd history export --to DIR` writes it as a git
    /// repository
    History(HistoryArgs),
    /// Check that the vault folder and the hub hold the same tree
    Verify(VerifyArgs),
    /// Check this device's `.vault/` (and with --hub its hub) for missing or damaged data and
    /// for leftovers of crashes; read-only unless --repair
    Fsck(FsckArgs),
    /// List the versions kept in `.revisions/`, newest first (or prune them)
    Revisions(RevisionsArgs),
    /// Put a version from `.revisions/`, or any file or folder as it was at a snapshot or time
    /// (--at), back in place, keeping the current one as a revision
    Restore(RestoreArgs),
    /// Log this device in to its server hub again (after a revoked token or a new password)
    Login(LoginArgs),
    /// Show the vault's hub, or move the vault to another one (`syncd hub set URL|DIR`)
    Hub(HubArgs),
    /// Check, step by step, that this vault can sync with its hub, and say how to fix what fails
    Doctor(DoctorArgs),
    /// Run the vault's agent as a systemd user service: install, uninstall, status
    Service(ServiceArgs),
    /// List the tasks (`- [ ]` lines) in the vault's notes: open ones by default, what is due
    /// first
    Tasks(TasksArgs),
    /// Add a task to a note, or mark one done or not done
    Task(TaskArgs),
}

/// `--vault` for commands that work on an existing vault.
#[derive(Debug, Default, Args)]
pub struct VaultOpt {
    /// The vault folder [default: the vault containing the current folder, found by walking
    /// up to the first folder with `.vault/`, as git finds `.git`]
    #[arg(long, value_name = "DIR")]
    pub vault: Option<PathBuf>,
}

/// `--vault` of a command with subcommands (`revisions`, `service`, `task`): global, so it is
/// taken before or after the subcommand (`syncd revisions --vault V prune` as well as
/// `syncd revisions prune --vault V`), as clap users expect.
#[derive(Debug, Args)]
pub struct ParentVaultOpt {
    /// The vault folder [default: the vault containing the current folder, found by walking
    /// up to the first folder with `.vault/`, as git finds `.git`]
    #[arg(long, value_name = "DIR", global = true)]
    pub vault: Option<PathBuf>,
}

impl ParentVaultOpt {
    /// As the `--vault` of a command without subcommands.
    pub fn opt(&self) -> VaultOpt {
        VaultOpt {
            vault: self.vault.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to make a vault (created if missing, and removed again if init fails; it
    /// may already hold notes)
    /// [default: the current folder]
    #[arg(long, value_name = "DIR")]
    pub vault: Option<PathBuf>,
    /// The hub: a folder [default: $XDG_DATA_HOME/vault-sync/hub/<vault folder name>], or
    /// a vault-server's URL (https://host:7878). Give every device of one vault the same hub
    /// (a shared drive, a NAS folder, a server)
    #[arg(long, value_name = "HUB")]
    pub hub: Option<PathBuf>,
    /// This device's name, shown in history, in revision names and in the server's device
    /// list [default: the host name and a random suffix chosen at init, e.g. `laptop-3f9a`,
    /// so cloned machines and containers are told apart]
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    /// Repair a vault whose `.vault/config.toml` was lost or cannot be read, keeping the rest
    /// of `.vault/`: write the config again for the hub it synced with (--hub; without it,
    /// the default hub, only if that holds this device's last snapshot). If the hub does not
    /// hold that snapshot, the next sync merges as a new device: differences become
    /// conflicts, nothing is deleted
    #[arg(long)]
    pub repair: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How `init` reaches a vault-server (only with an `https://` hub).
#[derive(Debug, Args)]
#[command(next_help_heading = "Server hub (when the hub is an https:// URL)")]
pub struct ServerArgs {
    /// The account on the server
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the account's password from the first line of standard input. It is exchanged
    /// for this device's own token (in `.vault/token`) and stored nowhere
    #[arg(long)]
    pub password_stdin: bool,
    /// Create the server's first account, with the one-time setup token the server logged
    /// when it started without accounts
    #[arg(long, value_name = "TOKEN")]
    pub setup_token: Option<String>,
    /// Which of the account's vaults to sync [default: the account's only vault; for an
    /// account without vaults, a new one named after the folder]
    #[arg(long, value_name = "NAME")]
    pub vault_name: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// How a device reaches its server: which certificate to trust, through which proxy. Given
/// to `init`, `hub set` and `login`; stored in the config's [server] table.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Trust the certificates in this PEM file besides the system's: the server's own
    /// certificate (pinned, even a CA:TRUE one from `openssl req -x509`) or a private CA.
    /// Stored in the config (the file is read at every sync: keep it where it is)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate. For emergencies only: anyone on the network path can read
    /// and change the traffic. Stored in the config; every sync warns while it is set
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Reach the server through this HTTP proxy (http://host:port), stored in the config
    /// [default: the system's HTTPS_PROXY / HTTP_PROXY / NO_PROXY]
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
}

impl ConnectionArgs {
    /// Whether any connection option was given.
    pub fn any(&self) -> bool {
        self.ca_cert.is_some() || self.insecure_skip_verify || self.proxy.is_some()
    }
}

impl ServerArgs {
    /// Whether any server-only option was given.
    pub fn any(&self) -> bool {
        self.user.is_some()
            || self.password_stdin
            || self.setup_token.is_some()
            || self.vault_name.is_some()
            || self.connection.any()
    }
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// The account [default: the one in the vault's config]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// Used for this login, and stored in the config once it succeeded
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the checks as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
    #[command(flatten)]
    pub vault: ParentVaultOpt,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Write a systemd user unit that runs `syncd watch` on the vault, then enable and start
    /// it (exit 0 when the unit is written even if systemd cannot be reached: the output says
    /// what to run later)
    Install(ServiceInstallArgs),
    /// Stop and disable the vault's service and delete its unit file
    Uninstall(ServiceUninstallArgs),
    /// Show the vault's unit file, its program and `systemctl --user status` of it (exit 1,
    /// with what to do, when no systemd user instance can be asked)
    Status,
}

#[derive(Debug, Args)]
pub struct ServiceInstallArgs {
    /// Only write the unit file; do not run `systemctl --user`
    #[arg(long)]
    pub no_start: bool,
    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServiceUninstallArgs {
    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct SyncArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the report as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Publish deletions even when they look like a vanished or restored-from-backup folder
    /// (more than the configured share of the vault's files, a sub-folder that was a mount
    /// point and is not mounted, or one emptied of 10 files or more)
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// Hash every file instead of trusting the stat cache, and have the hub verify its whole
    /// tree even when nothing changed, every object's bytes re-hashed; uploads again whatever
    /// the hub lost or holds damaged copies of
    #[arg(long)]
    pub full_verify: bool,
    /// Publish this device's copy again onto a hub that went back in time (restored from a
    /// backup: its head is older than this device's last sync) or holds a history without
    /// this device's last sync; without it such a round stops and changes nothing. Nothing is
    /// deleted that the hub's history does not keep
    #[arg(long)]
    pub republish: bool,
    /// How long to wait for another syncd that is working on this vault
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub lock_wait: u64,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Also show the agent's state in the system tray, with sync now, pause and resume in the
    /// icon's menu (needs a build with `--features tray`; without a tray on the desktop the
    /// agent warns once and syncs on)
    #[arg(long)]
    pub tray: bool,
}

#[derive(Debug, Args)]
pub struct TrayArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
}

/// Commands sent to the running agent of a vault.
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the agent's status afterwards as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the status as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the entries as a JSON array on stdout
    #[arg(long)]
    pub json: bool,
    /// Show at most this many snapshots (with --deleted: deleted files)
    #[arg(short = 'n', long = "limit", value_name = "LIMIT")]
    pub limit: Option<usize>,
    /// List the files deleted instead: path, the snapshot that deleted it, when and on which
    /// device, newest first (with PATH: only at or under that path). `syncd restore PATH --at
    /// SNAPSHOT` brings one back, SNAPSHOT being the one before
    #[arg(long)]
    pub deleted: bool,
    /// Only snapshots that changed this file (relative to the current folder or the vault
    /// folder; a deleted file is taken relative to the vault folder)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub action: HistoryAction,
    #[command(flatten)]
    pub vault: ParentVaultOpt,
}

#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Write the history on the hub as a bare git repository in DIR: a commit per snapshot
    /// (the same files, the device as author, the snapshot's time), `main` at the newest.
    /// Run again, it adds only the snapshots made since; on any device it makes the same
    /// commits. Read it with any git tool: `git --git-dir DIR log -p`, or `git clone DIR`
    Export(HistoryExportArgs),
}

#[derive(Debug, Args)]
pub struct HistoryExportArgs {
    /// The git repository to write: a new or empty folder, or one an earlier export made
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Export `.revisions/` (the versions conflicts set aside) too
    #[arg(long)]
    pub include_revisions: bool,
    /// Print the outcome as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// A snapshot, by the hex digits `syncd log` prints (at least 4), or a time, meaning the
    /// newest snapshot made at or before it: 2026-12-01T09:30:00Z (RFC 3339), 2026-12-01 09:30
    /// or 2026-12-01 (this machine's time zone; a day alone is its midnight), or a span before
    /// now: 2h, 3 days, 1 week ago
    #[arg(long, value_name = "SNAPSHOT|TIME", value_parser = crate::commands::parse_at)]
    pub at: vault::history::At,
    /// The file, relative to the vault folder (or the current folder), as `syncd log` prints it
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the report as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Hash every file instead of trusting the stat cache for unchanged ones (the hub always
    /// re-hashes every object of its head; damaged ones are listed with what to run)
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Checks, on this device: every pack of .vault/objects (header and every object re-hashed), that
.vault/base and .vault/graft name snapshots this device (or, with --hub, its hub) holds, that
the stat cache and task index can be read (a damaged one is only a cache: a warning, rebuilt
by the next sync), temp files left by interrupted writes (in the vault: removed by the next
sync; in .vault/: by --repair), .vault/staging, stale locks. With --hub, on a hub folder:
every pack and object, the head and its history, every object each snapshot kept by the
retention policy reaches; on a server: the server re-hashes everything its head reaches.
Temp files younger than --grace are work in progress and not reported, so fsck is safe while
a sync or the agent runs.

Each problem is one line: what, where, and what to do.

Exit codes:
  0   clean (warnings and what the software cleans by itself may be listed)
  1   the check could not run: the message says why
  2   problems found: data missing or damaged, or leftovers nothing else removes
  64  usage error: unknown command or bad arguments")]
pub struct FsckArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Also check the vault's hub: a hub folder read directly, a server by its own full check
    /// of the head
    #[arg(long)]
    pub hub: bool,
    /// Print the reports as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Remove what is safe to remove: the project's own temp files older than --grace, and
    /// locks whose process is gone (never a note, never an object)
    #[arg(long)]
    pub repair: bool,
    /// Temp files and downloads younger than this are work in progress: not reported, never
    /// removed (90s, 30m, 1h, 2d)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = vault::duration::parse)]
    pub grace: std::time::Duration,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "syncd revisions [--vault DIR] [--json] [PATH]\n       \
    syncd revisions [--vault DIR] [--json] prune (--older-than DURATION | --keep N) [--dry-run] [PATH]"
)]
pub struct RevisionsArgs {
    #[command(subcommand)]
    pub action: Option<RevisionsAction>,
    #[command(flatten)]
    pub vault: ParentVaultOpt,
    /// Print the list (or what prune removed) as one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Only revisions of this file (its path, not the revision's)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RevisionsAction {
    /// Delete old revisions. Never automatic; run `syncd sync` afterwards to publish it
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("policy").required(true).args(["older_than", "keep"])))]
pub struct PruneArgs {
    /// Remove revisions older than this: a number and a unit, s, m, h, d or w (30d, 12h, 2w)
    #[arg(long, value_name = "DURATION", value_parser = vault::duration::parse)]
    pub older_than: Option<Duration>,
    /// Keep the N newest revisions of each file, remove the rest
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Only revisions of this file (its path, not the revision's)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Print the result as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Without --at: the revision to restore, a file under `.revisions/` (relative to the
    /// current folder or the vault folder, or absolute) as `syncd revisions` lists them. With
    /// --at: the file or folder to bring back as it was then, also a deleted one (every file
    /// it held then; files added to it since are left alone)
    #[arg(value_name = "REVISION|PATH")]
    pub revision: PathBuf,
    /// Restore PATH from the history as it was then: a snapshot, by the hex digits `syncd
    /// log` prints (at least 4), or a time, meaning the newest snapshot made at or before it: 2026-12-01T09:30:00Z (RFC 3339), 2026-12-01 09:30
    /// or 2026-12-01 (this machine's time zone; a day alone is its midnight), or a span before
    /// now: 2h, 3 days, 1 week ago
    #[arg(long, value_name = "SNAPSHOT|TIME", value_parser = crate::commands::parse_at)]
    pub at: Option<vault::history::At>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("state").args(["open", "done", "all"])))]
pub struct TasksArgs {
    #[command(flatten)]
    pub vault: VaultOpt,
    /// Only open tasks: to do `[ ]` and in progress `[/]` (the default)
    #[arg(long)]
    pub open: bool,
    /// Only done tasks `[x]`
    #[arg(long)]
    pub done: bool,
    /// Every task: open, done, cancelled `[-]` and any other status
    #[arg(long)]
    pub all: bool,
    /// Only tasks due before this day: YYYY-MM-DD, `today` (the overdue ones) or `tomorrow`
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub due_before: Option<jiff::civil::Date>,
    /// Only tasks with this tag or one nested under it (`work` takes `#work/meeting`), their
    /// own or their note's (front matter `tags:`); any case
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Only notes whose path, or a folder above it, matches this glob: `Projects`,
    /// `daily/2026-*`, `**/*plan*` (`*` stays within a folder, `**` crosses folders)
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// Print the tasks as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub action: TaskAction,
    #[command(flatten)]
    pub vault: ParentVaultOpt,
}

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Append an open task to a note (the inbox unless --note says otherwise)
    Add(TaskAddArgs),
    /// Mark a task done: `[x]` and `✅ today`; a recurring task gets its next occurrence on a
    /// new line above it
    Done(TaskIdArgs),
    /// Mark a done task as not done again (`[ ]`, its done date removed)
    Undo(TaskIdArgs),
}

#[derive(Debug, Args)]
pub struct TaskAddArgs {
    /// What is to be done; several words are joined with spaces. Fields may be part of it
    /// (`#tag`, `📅 2026-12-01`, `🔁 every week`)
    #[arg(value_name = "TEXT", required = true, num_args = 1..)]
    pub text: Vec<String>,
    /// The note to add it to, created if missing [default: the inbox: `inbox` under `[tasks]`
    /// in .vault/config.toml, else Inbox.md in the vault folder]
    #[arg(long, value_name = "PATH")]
    pub note: Option<PathBuf>,
    /// When it is due: YYYY-MM-DD, `today` or `tomorrow`
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub due: Option<jiff::civil::Date>,
    /// How urgent: highest, high, medium, low, lowest (written as the Tasks plugin's emoji)
    #[arg(long, value_name = "PRIORITY", value_parser = parse_priority)]
    pub priority: Option<vault::markdown::Priority>,
    /// Print the new task as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TaskIdArgs {
    /// The task's id as `syncd tasks` shows it (7 characters; more if 7 match several tasks)
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print the changed task as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// `YYYY-MM-DD`, `today`, `tomorrow`, `yesterday` (in this machine's time zone).
pub fn parse_day(text: &str) -> Result<jiff::civil::Date, String> {
    vault::markdown::parse_day(text, jiff::ZonedDateTime::now().date()).ok_or_else(|| {
        format!("`{text}` is not a day; write YYYY-MM-DD (2026-12-01), today or tomorrow")
    })
}

/// `highest`, `high`, `medium`, `low`, `lowest`.
pub fn parse_priority(text: &str) -> Result<vault::markdown::Priority, String> {
    match vault::markdown::Priority::from_name(text) {
        Ok(Some(p)) => Ok(p),
        _ => Err(format!(
            "`{text}` is not a priority; use highest, high, medium, low or lowest"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_priorities_parse() {
        let today = jiff::ZonedDateTime::now().date();
        assert_eq!(parse_day("today"), Ok(today));
        assert_eq!(parse_day("Tomorrow"), Ok(today.tomorrow().unwrap()));
        assert_eq!(parse_day("2026-12-01"), Ok(jiff::civil::date(2026, 12, 1)));
        for bad in ["", "2026-13-01", "2026-12-1", "next week", "2026-02-30"] {
            assert!(parse_day(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse_priority("HIGH"), Ok(vault::markdown::Priority::High));
        assert!(parse_priority("urgent").is_err() && parse_priority("none").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
