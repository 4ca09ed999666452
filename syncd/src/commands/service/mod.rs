//! `syncd service install`, `uninstall` and `status`: the vault's agent (`syncd watch`) as a
//! systemd user service, so it runs from login (or from boot, with linger) without a terminal.
//!
//! What the unit is called, what it says and how its command line is quoted are pure functions
//! of data in [`unit`], with their tests; this file holds the commands, which read and write
//! the unit file and run `systemctl --user`.

mod unit;

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use vault::fsutil::{fsync_dir, write_atomic};
use vault::local::LocalVault;

use super::open_vault;
use super::watch::agent_status;
use crate::cli::{ServiceAction, ServiceArgs, ServiceInstallArgs, ServiceUninstallArgs, VaultOpt};
use crate::exit;
use crate::output::{self, line};
use unit::{
    MARKER, build_folder_note, cargo_build_folder, exec_line, is_ours, render_unit, start_commands,
    unit_name, unit_program, unusable_executable, watch_args,
};

const LINGER_HINT: &str = "to keep the agent running while you are logged out (and start it at boot), run `loginctl enable-linger $USER` once";

/// What `systemctl --user` did.
enum Systemctl {
    Ok(String),
    /// It ran, reached the user's systemd, and failed: its message.
    Failed(String),
}

/// Why `systemctl --user` could not be used at all.
struct Unreachable(String);

/// Run `systemctl --user ARGS`, capturing its output.
fn systemctl(args: &[&str]) -> Result<Systemctl, Unreachable> {
    let out = match Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Unreachable(
                "`systemctl` is not installed (is this a systemd system?)".to_string(),
            ));
        }
        Err(e) => return Err(Unreachable(format!("cannot run `systemctl`: {e}"))),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        return Ok(Systemctl::Ok(stdout));
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let text = if stderr.is_empty() { stdout } else { stderr };
    Ok(Systemctl::Failed(format!(
        "`systemctl --user {}` failed ({}): {text}",
        args.join(" "),
        out.status
    )))
}

/// `systemctl --user daemon-reload`, which fails only when there is no user systemd to talk
/// to (no systemctl, or "Failed to connect to bus": a container, an ssh session without a
/// login session): that decides whether syncd can start the unit or must tell the user how.
fn reach_systemd() -> Result<(), Unreachable> {
    match systemctl(&["daemon-reload"])? {
        Systemctl::Ok(_) => Ok(()),
        Systemctl::Failed(msg) => Err(Unreachable(msg)),
    }
}

/// The user's systemd unit folder: `$XDG_CONFIG_HOME/systemd/user`, else
/// `~/.config/systemd/user` (where `systemctl --user` looks first for a user's own units).
fn unit_dir() -> Result<PathBuf> {
    let config = dirs::config_dir().context(
        "cannot find the configuration folder: neither XDG_CONFIG_HOME nor HOME is set; set HOME",
    )?;
    Ok(config.join("systemd").join("user"))
}

/// The unit file at `path`: `None` when there is none, an error when it is not ours.
fn read_own_unit(path: &Path) -> Result<Option<String>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the unit file `{}`", path.display()));
        }
    };
    if !is_ours(&text) {
        bail!(
            "`{}` exists and was not written by `syncd service install` (its first line is not `{MARKER}`), so it is left alone; move it away if the vault's agent should run as this unit, then run this again",
            path.display()
        );
    }
    Ok(Some(text))
}

fn not_linux() -> Result<u8> {
    bail!(
        "`syncd service` sets up a systemd user service, which exists only on Linux; on macOS run the agent with launchd (docs/agent.md, \"Run as a service\", has a complete LaunchAgent)"
    )
}

pub fn run(args: ServiceArgs) -> Result<u8> {
    if !cfg!(target_os = "linux") {
        return not_linux();
    }
    let vault = args.vault.opt();
    match args.action {
        ServiceAction::Install(args) => install(args, &vault),
        ServiceAction::Uninstall(args) => uninstall(args, &vault),
        ServiceAction::Status => status(vault),
    }
}

/// The result of `syncd service install`, as `--json` prints it.
#[derive(Debug, Serialize)]
struct InstallReport {
    unit: String,
    unit_path: PathBuf,
    vault: PathBuf,
    exec_start: String,
    /// An older unit of ours was replaced.
    replaced: bool,
    /// systemd enabled and (re)started the unit.
    started: bool,
    messages: Vec<String>,
}

fn install(args: ServiceInstallArgs, vault: &VaultOpt) -> Result<u8> {
    let vault = open_vault(vault)?;
    let root = vault.root().to_path_buf();
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find the path of this syncd executable (was it deleted or replaced while running?); run the installed syncd again")?;
    if let Some(problem) = unusable_executable(&exe) {
        bail!(problem);
    }
    let dir = unit_dir()?;
    let unit = unit_name(&root);
    let path = dir.join(&unit);
    let text = render_unit(&exe, &root);

    let replaced = read_own_unit(&path)?.is_some();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the unit folder `{}`", dir.display()))?;
    write_atomic(&path, text.as_bytes()).with_context(|| {
        format!(
            "cannot write the unit file `{}`; check that the folder is writable",
            path.display()
        )
    })?;

    let mut messages = Vec::new();
    let other_agent = running_agent(&vault);
    let mut started = false;
    if args.no_start {
        messages.push(format!(
            "systemd was not told (--no-start); to enable the unit at login and start it now: {}",
            start_commands(&unit, replaced)
        ));
        if let Some(pid) = other_agent {
            messages.push(conflict_warning(pid, false));
        }
    } else {
        match reach_systemd() {
            Err(Unreachable(why)) => {
                messages.push(format!(
                    "the unit is written but not started: cannot reach your user systemd: {why}. Once you are in a login session with systemd (not a container or a bare ssh session), run: {}",
                    start_commands(&unit, replaced)
                ));
                if let Some(pid) = other_agent {
                    messages.push(conflict_warning(pid, false));
                }
            }
            Ok(()) => {
                // The agent of this very service (a reinstall) is no conflict.
                let main_pid = match systemctl(&["show", "--property=MainPID", "--value", &unit]) {
                    Ok(Systemctl::Ok(pid)) => pid.parse::<u32>().ok(),
                    _ => None,
                };
                // `restart` rather than `start`: a reinstall may have changed the command.
                let actions: [&[&str]; 2] = [&["enable", &unit], &["restart", &unit]];
                for action in actions {
                    match systemctl(action) {
                        Ok(Systemctl::Ok(_)) => {}
                        Ok(Systemctl::Failed(msg)) | Err(Unreachable(msg)) => bail!(
                            "the unit `{}` is written, but systemd did not take it: {msg}. See `systemctl --user status {unit}` and `journalctl --user -u {unit}`; `syncd service uninstall` removes it",
                            path.display()
                        ),
                    }
                }
                started = true;
                match other_agent.filter(|pid| Some(*pid) != main_pid) {
                    Some(pid) => messages.push(conflict_warning(pid, true)),
                    None => {
                        if let Some(warning) = wait_for_agent(&vault) {
                            messages.push(warning);
                        }
                    }
                }
            }
        }
    }
    if !lingering() {
        messages.push(LINGER_HINT.to_string());
    }
    if let Some(target) = cargo_build_folder(&exe, is_cargo_target) {
        messages.push(build_folder_note(&exe, target));
    }

    let report = InstallReport {
        exec_start: exec_line(&exe, &watch_args(&root)),
        unit,
        unit_path: path,
        vault: root,
        replaced,
        started,
        messages,
    };
    if args.json {
        output::json(&report)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    line!(
        out,
        "{} the systemd user service {}",
        if report.replaced {
            "replaced"
        } else {
            "installed"
        },
        report.unit
    );
    line!(out, "  unit file: {}", report.unit_path.display());
    line!(out, "  runs:      {}", report.exec_start);
    if report.started {
        line!(out, "  started, and enabled to start at every login");
    }
    line!(out, "  logs:      journalctl --user -u {} -f", report.unit);
    for m in &report.messages {
        line!(out, "note: {m}");
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

/// The pid of an agent answering on the vault's control socket, if any.
fn running_agent(vault: &LocalVault) -> Option<u32> {
    agent_status(vault).ok().flatten().map(|s| s.pid)
}

fn conflict_warning(pid: u32, started: bool) -> String {
    let consequence = if started {
        "the service's agent refuses to start while it runs (systemd retries every 5 s)"
    } else {
        "the service's agent will refuse to start while it runs"
    };
    format!(
        "warning: an agent not run by this service is already running for this vault (pid {pid}, likely a `syncd watch` in a terminal); {consequence}. Stop that one (ctrl-c in its terminal, or `kill {pid}`) and the service takes over"
    )
}

/// Give the started agent a few seconds to answer on its socket; a warning if it does not.
fn wait_for_agent(vault: &LocalVault) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if running_agent(vault).is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(format!(
        "warning: systemd started the service, but its agent did not answer within 5 s; see why with `journalctl --user -u {} -e`",
        unit_name(vault.root())
    ))
}

/// Whether the user's systemd outlives their sessions (`loginctl enable-linger`).
fn lingering() -> bool {
    let user = std::env::var("USER").unwrap_or_default();
    !user.is_empty() && Path::new("/var/lib/systemd/linger").join(user).exists()
}

/// The result of `syncd service uninstall`, as `--json` prints it.
#[derive(Debug, Serialize)]
struct UninstallReport {
    unit: String,
    unit_path: PathBuf,
    vault: PathBuf,
    /// A unit file of ours was there and is gone.
    removed: bool,
    /// systemd was reached and the unit stopped and disabled.
    stopped: bool,
    messages: Vec<String>,
}

/// The vault folder for uninstall and status: like every command's, but a folder that is no
/// longer a vault (its `.vault/` deleted) can still have its service found and removed.
fn uninstall_root(opt: &VaultOpt) -> Result<PathBuf> {
    match open_vault(opt) {
        Ok(vault) => Ok(vault.root().to_path_buf()),
        Err(e) => match &opt.vault {
            Some(dir) if dir.is_dir() => dir
                .canonicalize()
                .with_context(|| format!("cannot resolve the folder `{}`", dir.display())),
            _ => Err(e),
        },
    }
}

fn uninstall(args: ServiceUninstallArgs, vault: &VaultOpt) -> Result<u8> {
    let root = uninstall_root(vault)?;
    let dir = unit_dir()?;
    let unit = unit_name(&root);
    let path = dir.join(&unit);
    let mut messages = Vec::new();
    let mut stopped = false;
    let removed = match read_own_unit(&path)? {
        None => {
            messages.push(format!(
                "no service is installed for this vault (there is no `{}`); nothing to do",
                path.display()
            ));
            false
        }
        Some(_) => {
            let systemd = reach_systemd();
            match &systemd {
                Ok(()) => match systemctl(&["disable", "--now", &unit]) {
                    Ok(Systemctl::Ok(_)) => stopped = true,
                    // A unit systemd never loaded has nothing to stop.
                    Ok(Systemctl::Failed(msg))
                        if msg.contains("not loaded") || msg.contains("does not exist") =>
                    {
                        stopped = true
                    }
                    Ok(Systemctl::Failed(msg)) | Err(Unreachable(msg)) => bail!(
                        "could not stop and disable the service, so its unit `{}` is kept: {msg}. Stop it with `systemctl --user disable --now {unit}`, then run this again",
                        path.display()
                    ),
                },
                Err(Unreachable(why)) => messages.push(format!(
                    "cannot reach your user systemd ({why}), so the unit file is removed without stopping anything; if its agent still runs in another session, `systemctl --user daemon-reload && systemctl --user stop {unit}` there"
                )),
            }
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the unit file `{}`", path.display()))?;
            fsync_dir(&dir)
                .with_context(|| format!("cannot flush the unit folder `{}`", dir.display()))?;
            if systemd.is_ok() {
                // Forget the removed unit, and a failed state it may be remembered in.
                let _ = systemctl(&["daemon-reload"]);
                let _ = systemctl(&["reset-failed", &unit]);
            }
            true
        }
    };
    remove_wants_link(&dir, &unit, &path)?;

    let report = UninstallReport {
        unit,
        unit_path: path,
        vault: root,
        removed,
        stopped,
        messages,
    };
    if args.json {
        output::json(&report)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    if report.removed {
        line!(
            out,
            "removed the systemd user service {}{}",
            report.unit,
            if report.stopped {
                " (stopped and disabled)"
            } else {
                ""
            }
        );
        line!(out, "  unit file: {} (deleted)", report.unit_path.display());
    }
    for m in &report.messages {
        line!(out, "note: {m}");
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

/// The `default.target.wants/` link `systemctl enable` makes, when it is left over because
/// systemd could not be reached: only a link to our unit file is removed.
fn remove_wants_link(dir: &Path, unit: &str, unit_path: &Path) -> Result<()> {
    let link = dir.join("default.target.wants").join(unit);
    let Ok(target) = std::fs::read_link(&link) else {
        return Ok(());
    };
    if target == unit_path {
        std::fs::remove_file(&link)
            .with_context(|| format!("cannot remove the link `{}`", link.display()))?;
    }
    Ok(())
}

/// Whether `dir` is a cargo build folder: it holds the `CACHEDIR.TAG` cargo writes there.
fn is_cargo_target(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("CACHEDIR.TAG")).is_ok_and(|t| t.contains("created by cargo"))
}

/// What `status` says when it cannot reach the user's systemd: what that means, what to do.
fn no_user_systemd(unit: &str, why: &str) -> String {
    format!(
        "cannot ask systemd about the service: {why}. There is no systemd user instance for this session (a container, `su`/`sudo`, or an ssh or cron session without a login session), so nothing here can say whether the service runs, and systemd does not start it until one exists. Log in normally (a desktop or ssh login starts `systemd --user`), or run `loginctl enable-linger $USER` once so your systemd user instance runs from boot without a login; then `systemctl --user status {unit}`. Meanwhile `syncd watch` runs the agent in a terminal"
    )
}

/// `syncd service status`: which unit, and what systemd says about it (exit 1 when systemd
/// cannot be asked: the state of the service is then unknown).
fn status(opt: VaultOpt) -> Result<u8> {
    let root = uninstall_root(&opt)?;
    let unit = unit_name(&root);
    let path = unit_dir()?.join(&unit);
    let text = read_own_unit(&path)?;
    let mut out = String::new();
    line!(out, "unit:      {unit}");
    let Some(text) = text else {
        line!(
            out,
            "unit file: {} (not installed; `syncd service install` installs it)",
            path.display()
        );
        output::emit(&out)?;
        return Ok(exit::OK);
    };
    line!(out, "unit file: {}", path.display());
    if let Some(program) = unit_program(&text) {
        line!(out, "runs:      {}", program.display());
        if !program.exists() {
            line!(
                out,
                "note: `{}` no longer exists, so the service cannot start; run `syncd service install` again with the syncd you use now",
                program.display()
            );
        } else if let Some(target) = cargo_build_folder(&program, is_cargo_target) {
            line!(out, "note: {}", build_folder_note(&program, target));
        }
    }
    line!(out, "logs:      journalctl --user -u {unit} -f");
    output::emit(&out)?;
    // systemctl's own view, on our stdout. `status` exits 0 (running), 3 (stopped or failed)
    // or 4 (unknown unit): systemd answered. Anything else is systemd not being reachable
    // ("Failed to connect to bus"), which is explained rather than passed on raw.
    let answer = Command::new("systemctl")
        .args(["--user", "status", "--no-pager", &unit])
        .stdin(Stdio::null())
        .output();
    match answer {
        Ok(o) if matches!(o.status.code(), Some(0 | 3 | 4)) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&o.stdout);
            let _ = std::io::stderr().write_all(&o.stderr);
            Ok(exit::OK)
        }
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr).trim().to_string();
            let why = format!(
                "`systemctl --user status {unit}` failed ({}): {said}",
                o.status
            );
            bail!(no_user_systemd(&unit, &why))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(no_user_systemd(
            &unit,
            "`systemctl` is not installed (is this a systemd system?)"
        )),
        Err(e) => bail!(no_user_systemd(
            &unit,
            &format!("cannot run `systemctl`: {e}")
        )),
    }
}
