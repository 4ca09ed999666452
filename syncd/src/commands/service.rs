//! `syncd service install`, `uninstall` and `status`: the vault's agent (`syncd watch`) as a
//! systemd user service, so it runs from login (or from boot, with linger) without a terminal.
//!
//! What the unit is called, what it says and how its command line is quoted are pure functions
//! of data, tested below; reading and writing the unit file and running `systemctl --user`
//! happen only in the command functions at the bottom.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use vault::ObjectId;
use vault::fsutil::{fsync_dir, write_atomic};
use vault::local::LocalVault;

use super::open_vault;
use super::watch::agent_status;
use crate::cli::{ServiceAction, ServiceArgs, ServiceInstallArgs, ServiceUninstallArgs, VaultOpt};
use crate::exit;
use crate::output::{self, line};

/// The first line of every unit this command writes: a unit without it is someone else's, and
/// is never overwritten or removed.
pub const MARKER: &str = "# Written by syncd service install";

/// Longest part of the vault folder's name kept in the unit name; the hash keeps it unique.
const NAME_PART_MAX: usize = 32;

/// The unit's name for the vault whose absolute (canonical) path is `vault`:
/// `vault-sync-<folder name>-<hash>.service`. The folder name is only there for people reading
/// `systemctl --user list-units`: bytes outside `[A-Za-z0-9_.]` become `-` (runs of them one
/// `-`), at most 32 are kept, and an empty result is `vault`. The 8 hex digits are the start of
/// the blake3 hash of the path's bytes, so two vaults with the same folder name get different
/// units, and the same path always gets the same one (which is how uninstall finds it).
pub fn unit_name(vault: &Path) -> String {
    let name = vault
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let hash = ObjectId::of(vault.as_os_str().as_bytes()).to_hex();
    format!("vault-sync-{}-{}.service", name_part(&name), &hash[..8])
}

fn name_part(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(NAME_PART_MAX).collect();
    // Leading dots and dashes read badly; a trailing `-` would double the separator.
    out = out.trim_matches(['-', '.']).to_string();
    if out.is_empty() {
        "vault".to_string()
    } else {
        out
    }
}

/// One word of a systemd command line (systemd.service(5), "Command lines"), always in double
/// quotes so spaces and a lone `;` stay inside the word. systemd expands `%` specifiers in the
/// whole line first, then unquotes with C escapes, then (in arguments only, not in the
/// executable's path) replaces `$VAR`, so `%` is doubled everywhere and `$` only when
/// `substitutes_env`. Unit files must be UTF-8: bytes that are not, and control characters,
/// are written as `\xNN`, which systemd turns back into the same byte.
pub fn exec_word(word: &OsStr, substitutes_env: bool) -> String {
    let mut out = String::from("\"");
    for chunk in word.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '%' => out.push_str("%%"),
                '$' if substitutes_env => out.push_str("$$"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Why systemd would refuse `exe` as the program of `ExecStart=`, if it would: it accepts
/// quotes, backslashes and control characters in arguments but not in the executable's path
/// ("Executable name contains special characters").
pub fn unusable_executable(exe: &Path) -> Option<String> {
    let bad = exe
        .as_os_str()
        .as_bytes()
        .iter()
        .find(|&&b| b < b' ' || b == 0x7f || matches!(b, b'"' | b'\'' | b'\\'))?;
    Some(format!(
        "systemd runs no program whose path holds quotes, backslashes or control characters, and the path of this syncd, `{}`, holds {:?}; put syncd in a folder without them (such as ~/.local/bin) and run `syncd service install` from there",
        exe.display(),
        char::from(*bad)
    ))
}

/// The `ExecStart=` value running `exe` with `args`.
pub fn exec_line(exe: &Path, args: &[&OsStr]) -> String {
    let mut line = exec_word(exe.as_os_str(), false);
    for arg in args {
        line.push(' ');
        line.push_str(&exec_word(arg, true));
    }
    line
}

/// Free text for a setting that expands specifiers but does not unquote (`Description=`):
/// `%` doubled, control characters (a newline would end the setting) shown as `?`.
fn plain_value(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '%' => "%%".to_string(),
            c if c.is_control() => "?".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The unit file for the agent of the vault at `vault`, run by the syncd at `exe` (both
/// absolute).
///
/// Only hardening that works in a user manager without user namespaces is set (seccomp and
/// no_new_privs); the mount-namespace options (ProtectHome, ProtectSystem, PrivateTmp) would
/// hide or fail on a vault in the home folder or in /tmp. `Restart=on-failure` covers a crash
/// and an agent that refused to start because another one runs: it takes over within 5 s of
/// that one stopping.
pub fn render_unit(exe: &Path, vault: &Path) -> String {
    let exec = exec_line(exe, &watch_args(vault));
    // The description ends with a quote, so a path ending in `\` cannot continue the line.
    let description = plain_value(&format!(
        "Vault Sync agent for \"{}\"",
        vault.to_string_lossy()
    ));
    format!(
        "{MARKER}; `syncd service uninstall` removes it, a new install replaces it.
# Edit with `systemctl --user edit UNIT` (a drop-in survives reinstalls), not here.
[Unit]
Description={description}

[Service]
Type=exec
ExecStart={exec}
Restart=on-failure
RestartSec=5
Environment=RUST_LOG=info
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native

[Install]
WantedBy=default.target
"
    )
}

fn watch_args(vault: &Path) -> [&OsStr; 3] {
    [
        OsStr::new("watch"),
        OsStr::new("--vault"),
        vault.as_os_str(),
    ]
}

/// Whether a unit file's text was written by this command.
pub fn is_ours(text: &str) -> bool {
    text.lines().next().is_some_and(|l| l.starts_with(MARKER))
}

/// The commands that enable and start the unit, for the user to run when syncd could not. A
/// replaced unit may be running with its old command, which `enable --now` would leave alone.
pub fn start_commands(unit: &str, replaced: bool) -> String {
    if replaced {
        format!(
            "systemctl --user daemon-reload && systemctl --user enable {unit} && systemctl --user restart {unit}"
        )
    } else {
        format!("systemctl --user daemon-reload && systemctl --user enable --now {unit}")
    }
}

const LINGER_HINT: &str = "to keep the agent running while you are logged out (and start it at boot), run `loginctl enable-linger $USER` once";

// ---- I/O from here on ----

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
    match args.action {
        ServiceAction::Install(args) => install(args),
        ServiceAction::Uninstall(args) => uninstall(args),
        ServiceAction::Status(args) => status(args),
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

fn install(args: ServiceInstallArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
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

fn uninstall(args: ServiceUninstallArgs) -> Result<u8> {
    let root = uninstall_root(&args.vault)?;
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

/// `syncd service status`: which unit, and what systemd says about it.
fn status(opt: VaultOpt) -> Result<u8> {
    let root = uninstall_root(&opt)?;
    let unit = unit_name(&root);
    let path = unit_dir()?.join(&unit);
    let installed = read_own_unit(&path)?.is_some();
    let mut out = String::new();
    line!(out, "unit:      {unit}");
    if !installed {
        line!(
            out,
            "unit file: {} (not installed; `syncd service install` installs it)",
            path.display()
        );
        output::emit(&out)?;
        return Ok(exit::OK);
    }
    line!(out, "unit file: {}", path.display());
    line!(out, "logs:      journalctl --user -u {unit} -f");
    output::emit(&out)?;
    // systemctl's own view, on our stdout; its exit code (3 for a stopped unit) is no error.
    match Command::new("systemctl")
        .args(["--user", "status", "--no-pager", &unit])
        .stdin(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot run `systemctl --user status {unit}`: {e}"),
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn executables_systemd_refuses_are_named() {
        assert_eq!(
            unusable_executable(Path::new("/opt/my apps/50% $x/syncd")),
            None
        );
        for bad in ["/a\"b/syncd", "/it's/syncd", "/a\\b/syncd", "/a\nb/syncd"] {
            let why = unusable_executable(Path::new(bad)).expect(bad);
            assert!(why.contains("~/.local/bin"), "{why}");
        }
    }

    #[test]
    fn unit_names_are_readable_stable_and_distinct() {
        let a = unit_name(Path::new("/home/me/notes"));
        assert!(a.starts_with("vault-sync-notes-"), "{a}");
        assert!(a.ends_with(".service"));
        assert_eq!(a.len(), "vault-sync-notes-".len() + 8 + ".service".len());
        assert_eq!(a, unit_name(Path::new("/home/me/notes")), "stable");
        assert_ne!(
            a,
            unit_name(Path::new("/home/you/notes")),
            "same folder name"
        );
        assert_eq!(name_part("My Notes % 100$"), "My-Notes-100");
        assert_eq!(name_part("..hidden--vault-"), "hidden-vault");
        assert_eq!(name_part("Заметки"), "vault");
        assert_eq!(name_part(""), "vault");
        assert_eq!(name_part(&"x".repeat(100)).len(), NAME_PART_MAX);
        assert!(unit_name(Path::new("/")).starts_with("vault-sync-vault-"));
        // Only characters systemd allows in unit names.
        let odd = unit_name(Path::new("/tmp/a b%c\"d\\e\n"));
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{odd}"
        );
    }

    #[test]
    fn exec_words_are_quoted_for_systemd() {
        let w = |s: &str, env: bool| exec_word(OsStr::new(s), env);
        assert_eq!(w("watch", true), r#""watch""#);
        assert_eq!(w("/a b/c", true), r#""/a b/c""#);
        assert_eq!(w("100%", true), r#""100%%""#);
        assert_eq!(w("a$HOME", true), r#""a$$HOME""#);
        // systemd does not substitute variables in the executable's path.
        assert_eq!(w("/opt/a$b/syncd", false), r#""/opt/a$b/syncd""#);
        assert_eq!(w(r#"say "hi"\"#, true), r#""say \"hi\"\\""#);
        assert_eq!(w("a\nb\tc\u{7f}", true), r#""a\nb\tc\x7f""#);
        assert_eq!(w(";", true), r#"";""#);
        assert_eq!(w("it's é", true), r#""it's é""#);
        let latin1 = OsString::from_vec(b"caf\xe9".to_vec());
        assert_eq!(exec_word(&latin1, true), r#""caf\xe9""#);
        assert_eq!(
            exec_line(
                Path::new("/usr/bin/syncd"),
                &watch_args(Path::new("/v/50% off"))
            ),
            r#""/usr/bin/syncd" "watch" "--vault" "/v/50%% off""#
        );
    }

    #[test]
    fn the_unit_runs_the_agent_and_is_marked_ours() {
        let text = render_unit(
            Path::new("/usr/bin/syncd"),
            Path::new("/home/me/100% notes"),
        );
        assert!(is_ours(&text));
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            r#"ExecStart="/usr/bin/syncd" "watch" "--vault" "/home/me/100%% notes""#,
            r#"Description=Vault Sync agent for "/home/me/100%% notes""#,
            "Restart=on-failure",
            "RestartSec=5",
            "WantedBy=default.target",
            "[Unit]",
            "[Service]",
            "[Install]",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("ProtectHome"), "would hide a vault in home");
        let weird = render_unit(Path::new("/s"), Path::new("/v/a\nb\\"));
        assert!(
            weird
                .lines()
                .any(|l| l == r#"Description=Vault Sync agent for "/v/a?b\""#),
            "{weird}"
        );
        assert!(!is_ours("[Unit]\nDescription=mine\n"));
        assert!(
            !is_ours(&format!("[Unit]\n{MARKER}\n")),
            "only as the first line"
        );
    }
}
