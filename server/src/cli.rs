//! The command line: the operator's account commands.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::accounts::{AccountStore, Accounts};

/// Vault Sync hub server: keeps users' vaults and lets their devices sync through it.
///
/// It serves logins and the hub protocol (`serve`) and manages the accounts and devices of a
/// data folder. A device syncs through it once it joins: a new folder with `syncd init --hub
/// https://HOST:PORT --user NAME --password-stdin`, a vault it has with `syncd hub set
/// https://HOST:PORT --user NAME --password-stdin` (docs/server.md).
#[derive(Debug, Parser)]
#[command(name = "vault-server", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes:
  0   success
  1   error: the message says what happened and what to do
  2   fsck found problems (each listed with what to do)
  64  usage error: unknown command or bad arguments";

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API over HTTP on loopback, or HTTPS anywhere (logs go to stderr; RUST_LOG)
    Serve(ServeArgs),
    /// Add, list and change users
    #[command(subcommand)]
    User(UserCommand),
    /// List and revoke the devices a user has logged in with
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Make a key and a TLS certificate for the server's host names (for serve --tls-cert)
    Cert(crate::cert::CertArgs),
    /// Compact the vaults' packs and remove what no kept snapshot reaches (safe while serving)
    Gc(crate::gc::GcArgs),
    /// Check the vaults for missing or damaged data and leftovers of crashes (read-only unless
    /// --repair; safe while serving; exit 2 when problems were found)
    Fsck(crate::fsck::FsckArgs),
    /// Show or choose how much history a vault keeps: everything (the default), or old
    /// snapshots thinned out (their files freed by gc; the snapshots stay in the history)
    Retention(crate::retention::RetentionArgs),
    /// The vaults' git mirrors (kept and served by `serve --git-mirror`)
    #[command(subcommand)]
    GitMirror(GitMirrorCommand),
}

#[derive(Debug, Subcommand)]
enum GitMirrorCommand {
    /// Make vaults' git mirrors anew from their history (DATA/git/<user>/<vault>.git), each
    /// beside the old one and then swapped in (safe while serving)
    Rebuild {
        #[command(flatten)]
        data: DataArg,
        /// Only this user's vaults
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Only the vault of this name (with --user)
        #[arg(long, value_name = "NAME", requires = "user")]
        vault: Option<String>,
        /// One JSON document instead of lines of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArg,
    /// Address and port to listen on; plain HTTP is allowed only on a loopback address
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serves HTTPS
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address: only behind a reverse proxy that ends TLS
    /// (logged as a warning)
    #[arg(long)]
    insecure_http: bool,
    /// Largest request body accepted, in MiB; larger ones get 413
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_body_mib: usize,
    /// Keep a git mirror of every vault as its history grows, and serve it read-only to the
    /// vault's owner: `git clone https://HOST:PORT/git/USER/VAULT.git` (docs/git.md)
    #[arg(long)]
    git_mirror: bool,
}

#[derive(Debug, Args)]
struct DataArg {
    /// The server's data folder (accounts and vaults); created if missing
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

#[derive(Debug, Args)]
struct PasswordArg {
    /// Read the password from the first line of standard input (never from the command line,
    /// where other users could see it)
    #[arg(long, required = true)]
    password_stdin: bool,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user
    Add {
        /// 1 to 64 lowercase letters, digits, `.`, `_` or `-`
        name: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        password: PasswordArg,
    },
    /// Change a user's password (devices already logged in stay; revoke them to cut them off)
    Passwd {
        name: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        password: PasswordArg,
    },
    /// List the users
    List {
        #[command(flatten)]
        data: DataArg,
        /// One JSON document instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// List a user's devices
    List {
        user: String,
        #[command(flatten)]
        data: DataArg,
        /// One JSON document instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its token is refused from the next request on
    Revoke {
        user: String,
        /// The device id, as `device list` shows it
        device: String,
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Command::Fsck(args) = cli.command {
        return crate::fsck::run(args).unwrap_or_else(|e| {
            eprintln!("vault-server: {e:#}");
            ExitCode::FAILURE
        });
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vault-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

fn open(data: &Path) -> Result<AccountStore> {
    Ok(AccountStore::open(data)?)
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Password (one line):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!(
            "no password on standard input; pipe it in, e.g. `printf '%s\\n' \"$PASS\" | vault-server user add NAME --data DIR --password-stdin`"
        );
    }
    Ok(password.to_string())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => {
            init_logging();
            crate::serve::serve(crate::serve::ServeOptions {
                data: args.data.data,
                listen: args.listen,
                tls: args.tls_cert.zip(args.tls_key),
                insecure_http: args.insecure_http,
                limits: crate::api::Limits {
                    max_body_bytes: args.max_body_mib.saturating_mul(1 << 20),
                    git_mirror: args.git_mirror,
                    ..crate::api::Limits::default()
                },
            })?;
        }
        Command::Cert(args) => crate::cert::run(args)?,
        Command::Gc(args) => crate::gc::run(args)?,
        Command::Fsck(_) => unreachable!("fsck is run by main for its exit code"),
        Command::Retention(args) => crate::retention::run(args)?,
        Command::GitMirror(GitMirrorCommand::Rebuild {
            data,
            user,
            vault,
            json,
        }) => rebuild_mirrors(&data.data, user.as_deref(), vault.as_deref(), json)?,
        Command::User(UserCommand::Add { name, data, .. }) => {
            let password = read_password()?;
            open(&data.data)?.modify(|a| a.add_user(&name, &password, now_ns()))?;
            println!("added user `{name}`");
        }
        Command::User(UserCommand::Passwd { name, data, .. }) => {
            let password = read_password()?;
            open(&data.data)?.modify(|a| a.set_password(&name, &password))?;
            println!(
                "changed the password of `{name}`; devices already logged in keep working (revoke them with `vault-server device revoke`)"
            );
        }
        Command::User(UserCommand::List { data, json }) => {
            print_users(&open(&data.data)?.read()?, json)?;
        }
        Command::Device(DeviceCommand::List { user, data, json }) => {
            print_devices(&open(&data.data)?.read()?, &user, json)?;
        }
        Command::Device(DeviceCommand::Revoke { user, device, data }) => {
            open(&data.data)?.modify(|a| a.revoke(&user, &device, now_ns()))?;
            println!("revoked device `{device}` of `{user}`; its token is refused from now on");
        }
    }
    Ok(())
}

fn time(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ns.to_string())
}

/// Print `rows` as JSON, or as a table (`header`, then one `line` each), or `empty` if none.
fn print_rows<T: Serialize>(
    rows: &[T],
    json: bool,
    empty: &str,
    header: &str,
    line: impl Fn(&T) -> String,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(rows)?);
    } else if rows.is_empty() {
        println!("{empty}");
    } else {
        println!("{header}");
        for row in rows {
            println!("{}", line(row));
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct UserRow<'a> {
    name: &'a str,
    created: String,
    devices: usize,
    active_devices: usize,
}

fn print_users(accounts: &Accounts, json: bool) -> Result<()> {
    let rows: Vec<UserRow> = accounts
        .users()
        .map(|(name, u)| UserRow {
            name,
            created: time(u.created_ns),
            devices: u.devices.len(),
            active_devices: u
                .devices
                .values()
                .filter(|d| d.revoked_ns.is_none())
                .count(),
        })
        .collect();
    print_rows(
        &rows,
        json,
        "no users yet; add one with `vault-server user add NAME --data DIR --password-stdin`",
        &format!("{:<24} {:<23} {:>7}", "USER", "CREATED", "DEVICES"),
        |r| {
            let devices = format!("{}/{}", r.active_devices, r.devices);
            format!("{:<24} {:<23} {devices:>7}", r.name, r.created)
        },
    )
}

#[derive(Serialize)]
struct DeviceRow<'a> {
    id: &'a str,
    name: &'a str,
    created: String,
    revoked: Option<String>,
}

fn print_devices(accounts: &Accounts, user: &str, json: bool) -> Result<()> {
    let rows: Vec<DeviceRow> = accounts
        .user(user)?
        .devices
        .iter()
        .map(|(id, d)| DeviceRow {
            id,
            name: &d.name,
            created: time(d.created_ns),
            revoked: d.revoked_ns.map(time),
        })
        .collect();
    print_rows(
        &rows,
        json,
        &format!(
            "`{user}` has no devices yet: a device appears when it logs in (a vault it has: `syncd hub set URL --user {user} --password-stdin`, or `syncd login --password-stdin` if it syncs with this server already; a new folder: `syncd init --hub URL --user {user} --password-stdin`)"
        ),
        &format!("{:<16} {:<24} {:<23} STATUS", "DEVICE", "NAME", "CREATED"),
        |r| {
            let status = match &r.revoked {
                Some(at) => format!("revoked {at}"),
                None => "active".to_string(),
            };
            format!("{:<16} {:<24} {:<23} {status}", r.id, r.name, r.created)
        },
    )
}

/// The bar of `git-mirror rebuild` on a terminal (never with --json).
fn rebuild_bar(json: bool) -> Option<indicatif::ProgressBar> {
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if json || dumb || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} exporting snapshots {bar:30} {pos}/{len} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// `git-mirror rebuild`: the chosen vaults' mirrors made anew, one line (or JSON entry) each.
fn rebuild_mirrors(data: &Path, user: Option<&str>, vault: Option<&str>, json: bool) -> Result<()> {
    if !data.join("vaults").is_dir() {
        bail!(
            "`{}` holds no vaults: is it the data folder `vault-server serve --data` uses?",
            data.display()
        );
    }
    let chosen: Vec<(String, String)> = crate::git_mirror::all_vaults(data)
        .into_iter()
        .filter(|(u, v)| user.is_none_or(|x| x == u) && vault.is_none_or(|x| x == v))
        .collect();
    if chosen.is_empty() {
        match (user, vault) {
            (Some(u), Some(v)) => bail!(
                "the user `{u}` has no vault `{v}` here; `vault-server git-mirror rebuild --data DIR --user {u}` rebuilds all of theirs"
            ),
            (Some(u), None) => bail!("the user `{u}` has no vaults here"),
            _ => {}
        }
    }
    let mut done = Vec::new();
    let bar = rebuild_bar(json);
    for (u, v) in &chosen {
        if let Some(bar) = &bar {
            bar.set_prefix(format!("{u}/{v}"));
            bar.set_position(0);
        }
        let rebuilt = crate::git_mirror::rebuild(data, u, v, &mut |p| {
            if let Some(bar) = &bar {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            }
        })?;
        if !json {
            let line = format!(
                "{u}/{v}: {} commit(s){}, main at {}",
                rebuilt.commits,
                match rebuilt.thinned {
                    0 => String::new(),
                    n => format!(" ({n} thinned snapshot(s) without their own)"),
                },
                rebuilt
                    .main
                    .as_deref()
                    .unwrap_or("nothing (no snapshots yet)")
            );
            // Above the bar, which goes on with the next vault.
            match &bar {
                Some(bar) => bar.suspend(|| println!("{line}")),
                None => println!("{line}"),
            }
        }
        done.push(rebuilt);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "rebuilt": done }))?
        );
    } else if done.is_empty() {
        println!("no vaults: nothing to rebuild");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
