//! `syncd service install/uninstall/status` through the real binary: the unit file it writes
//! (at the documented path, accepted by `systemd-analyze verify`, its `ExecStart=` parsed back
//! the way systemd parses it and run to start a real agent), what it does without a user
//! systemd, the `systemctl --user` commands it runs (against a recording stand-in), and which
//! files it refuses to touch.
//!
//! No test can reach the machine's own user systemd: every run gets an empty
//! `XDG_RUNTIME_DIR` and a `DBUS_SESSION_BUS_ADDRESS` that leads nowhere.

mod common;

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::agent::{Agent, eventually};
use common::{Run, World};

const MARKER: &str = "# Written by syncd service install";

/// How `systemctl` is found by a run.
enum Systemctl<'a> {
    /// The machine's own (no user systemd is reachable with the test's environment).
    Real,
    /// None on PATH.
    Missing,
    /// The recording stand-in in this folder, first on PATH.
    Fake(&'a FakeSystemctl),
}

/// A `systemctl` that appends its arguments to a log and answers as told.
struct FakeSystemctl {
    dir: PathBuf,
    log: PathBuf,
}

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
case "$2" in
  show) echo "${FAKE_MAIN_PID:-0}" ;;
  status) echo "fake status of $4" ;;
esac
if [ -n "$FAKE_FAIL" ] && [ "$2" = "$FAKE_FAIL" ]; then
  echo "$FAKE_FAIL_MESSAGE" >&2
  exit 1
fi
exit 0
"#;

impl FakeSystemctl {
    fn new(world: &World) -> FakeSystemctl {
        let dir = world.path().join("fake-bin");
        fs::create_dir_all(&dir).unwrap();
        let script = dir.join("systemctl");
        fs::write(&script, FAKE_SYSTEMCTL).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        FakeSystemctl {
            log: world.path().join("systemctl.log"),
            dir,
        }
    }

    /// The calls since the last `take`, one line each.
    fn take(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let _ = fs::remove_file(&self.log);
        text.lines().map(str::to_string).collect()
    }
}

/// `syncd` (or `program`, a copy of it) with `args`, isolated from the machine's systemd.
fn service_command(
    world: &World,
    program: Option<&Path>,
    systemctl: &Systemctl,
    args: &[&str],
) -> Command {
    let base = world.command(args);
    let mut cmd = Command::new(program.unwrap_or(Path::new(env!("CARGO_BIN_EXE_syncd"))));
    cmd.args(base.get_args());
    for (key, value) in base.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let runtime = world.path().join("run");
    fs::create_dir_all(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    cmd.env("XDG_RUNTIME_DIR", &runtime)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", world.path().join("no-bus").display()),
        )
        // Nobody with that name lingers, so the linger hint is always given.
        .env("USER", "syncd-service-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let path = std::env::var_os("PATH").unwrap_or_default();
    match systemctl {
        Systemctl::Real => {}
        Systemctl::Missing => {
            let empty = world.path().join("empty-bin");
            fs::create_dir_all(&empty).unwrap();
            cmd.env("PATH", empty);
        }
        Systemctl::Fake(fake) => {
            let mut dirs = vec![fake.dir.clone()];
            dirs.extend(std::env::split_paths(&path));
            cmd.env("PATH", std::env::join_paths(dirs).unwrap())
                .env("FAKE_SYSTEMCTL_LOG", &fake.log);
        }
    }
    cmd
}

fn run_cmd(mut cmd: Command, what: &str) -> Run {
    let out = cmd.output().expect("running syncd");
    Run {
        what: what.to_string(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn service(world: &World, systemctl: &Systemctl, args: &[&str]) -> Run {
    service_with(world, systemctl, args, &[])
}

/// [`service`] with more environment: what the stand-in systemctl is told to answer.
fn service_with(world: &World, systemctl: &Systemctl, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = service_command(world, None, systemctl, args);
    cmd.envs(env.iter().copied());
    run_cmd(cmd, &format!("syncd {}", args.join(" ")))
}

/// `syncd service install --no-start --json` for `vault`: the unit written, systemd not told.
fn install_no_start(vault: &str) -> [&str; 6] {
    [
        "service",
        "install",
        "--vault",
        vault,
        "--no-start",
        "--json",
    ]
}

/// Install `vault`'s unit without telling systemd (there is none on PATH); the report.
fn installed(world: &World, vault: &str) -> serde_json::Value {
    service(world, &Systemctl::Missing, &install_no_start(vault))
        .ok()
        .json()
}

/// `syncd service uninstall --json` for `vault`, which succeeds; the report.
fn uninstalled(world: &World, systemctl: &Systemctl, vault: &str) -> serde_json::Value {
    let args = ["service", "uninstall", "--vault", vault, "--json"];
    service(world, systemctl, &args).ok().json()
}

/// `syncd service status` for `vault`, which succeeds.
fn service_status(world: &World, systemctl: &Systemctl, vault: &str) -> Run {
    service(world, systemctl, &["service", "status", "--vault", vault]).ok()
}

/// An initialised vault folder `name` in `world`.
fn vault_in(world: &World, name: &str) -> PathBuf {
    let device = world.device(name);
    device.init();
    device.root.clone()
}

/// The unit file a report names.
fn unit_path(report: &serde_json::Value) -> PathBuf {
    PathBuf::from(report["unit_path"].as_str().expect("unit_path"))
}

/// Where the documentation says the unit goes: `$XDG_CONFIG_HOME/systemd/user/`.
fn unit_dir(world: &World) -> PathBuf {
    world.path().join("xdg/config/systemd/user")
}

fn messages(report: &serde_json::Value) -> Vec<String> {
    report["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

fn has_message(report: &serde_json::Value, text: &str) -> bool {
    messages(report).iter().any(|m| m.contains(text))
}

/// The unit's `ExecStart=` split into arguments as systemd does (systemd.service(5), "Command
/// lines", and systemd.syntax(7), "Quoting"): specifiers expanded (only `%%` is expected),
/// words split at unquoted whitespace, double quotes removed, C escapes resolved, then `$$`
/// turned into `$` in the arguments (not in the executable's path). Anything the unit should
/// never contain (another specifier, a variable, a prefix, a `;` separator) fails the test.
fn parse_exec_start(unit: &str) -> Vec<OsString> {
    let lines: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .collect();
    assert_eq!(lines.len(), 1, "one ExecStart= in\n{unit}");
    let mut expanded = Vec::new();
    let mut bytes = lines[0].bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            assert_eq!(bytes.next(), Some(b'%'), "a specifier in {}", lines[0]);
        }
        expanded.push(b);
    }
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < expanded.len() {
        if expanded[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = expanded[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut word = Vec::new();
        loop {
            let Some(&c) = expanded.get(i) else {
                assert!(!quoted, "unbalanced quote in {}", lines[0]);
                break;
            };
            i += 1;
            match c {
                b'"' if quoted => break,
                c if !quoted && c.is_ascii_whitespace() => break,
                b'\\' => {
                    let e = expanded[i];
                    i += 1;
                    match e {
                        b'\\' | b'"' | b'\'' => word.push(e),
                        b'n' => word.push(b'\n'),
                        b't' => word.push(b'\t'),
                        b's' => word.push(b' '),
                        b'x' => {
                            let hex = std::str::from_utf8(&expanded[i..i + 2]).unwrap();
                            word.push(u8::from_str_radix(hex, 16).unwrap());
                            i += 2;
                        }
                        other => panic!("unexpected escape \\{}", other as char),
                    }
                }
                c => word.push(c),
            }
        }
        assert!(
            quoted || word != b";",
            "a command separator in {}",
            lines[0]
        );
        words.push(word);
    }
    assert!(
        words[0].first() == Some(&b'/'),
        "the executable is an absolute path without prefixes"
    );
    words
        .into_iter()
        .enumerate()
        .map(|(n, word)| {
            if n == 0 {
                return OsString::from_vec(word);
            }
            let mut out = Vec::new();
            let mut it = word.into_iter();
            while let Some(b) = it.next() {
                if b == b'$' {
                    assert_eq!(it.next(), Some(b'$'), "a variable in an argument");
                }
                out.push(b);
            }
            OsString::from_vec(out)
        })
        .collect()
}

/// `systemd-analyze --user verify` of the unit: systemd's own parser, which also checks that
/// the executable exists. A user manager is simulated; it needs only a runtime folder.
fn assert_systemd_accepts(world: &World, unit: &Path) {
    let runtime = world.path().join("analyze-run");
    fs::create_dir_all(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", world.path().join("xdg/config"))
        .output()
        .expect("running systemd-analyze (Debian package `systemd`; .ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify refused {}:\n{stderr}\n--- the unit\n{}",
        unit.display(),
        fs::read_to_string(unit).unwrap()
    );
    let name = unit.file_name().unwrap().to_string_lossy();
    assert!(
        !stderr.contains(&*name),
        "systemd-analyze warned about the unit:\n{stderr}"
    );
}

/// The agent `argv` (parsed from a unit) starts, with the unit's `Environment=` and the
/// world's XDG folders; waits until `syncd status` shows it answering for `vault`, then stops
/// it with SIGTERM, as systemd would.
fn run_agent_from_unit(world: &World, unit: &str, argv: &[OsString], vault: &Path) {
    let mut cmd = service_command(world, Some(Path::new(&argv[0])), &Systemctl::Missing, &[]);
    cmd.args(&argv[1..]);
    for env in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let (key, value) = env.split_once('=').expect("KEY=VALUE");
        cmd.env(key, value);
    }
    let mut child: Child = cmd
        .stdout(Stdio::null())
        .spawn()
        .expect("the unit's command");
    let pid = child.id();
    let vault_arg = vault.to_str().unwrap();
    let answered = eventually(Duration::from_secs(30), || {
        let out = world.syncd(&["status", "--json", "--vault", vault_arg]);
        let Ok(status) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        status["agent"]["pid"].as_u64() == Some(u64::from(pid))
    });
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the agent ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        answered.is_ok(),
        "the unit's command never answered as the agent of {}:\n{log}",
        vault.display()
    );
    assert!(
        status.success(),
        "the agent's exit on SIGTERM: {status:?}\n{log}"
    );
    assert!(
        log.contains("agent started"),
        "RUST_LOG=info from the unit:\n{log}"
    );
}

fn syncd_exe() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_syncd"))
        .canonicalize()
        .unwrap()
}

/// syncd again as `dir/syncd` (a hard link where it can be), to install from that path.
fn syncd_in(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let exe = dir.join("syncd");
    if fs::hard_link(syncd_exe(), &exe).is_err() {
        fs::copy(syncd_exe(), &exe).unwrap();
    }
    exe
}

#[test]
fn install_writes_a_unit_that_systemd_accepts_and_whose_command_runs_the_agent() {
    let world = World::new();
    let vault = vault_in(&world, "notes").canonicalize().unwrap();
    let vault_arg = vault.to_str().unwrap();

    let fake = FakeSystemctl::new(&world);
    let run = service(
        &world,
        &Systemctl::Fake(&fake),
        &install_no_start(vault_arg),
    )
    .ok();
    assert!(fake.take().is_empty(), "--no-start ran systemctl");
    let report = run.json();
    let unit = report["unit"].as_str().unwrap();
    let hash = unit
        .strip_prefix("vault-sync-notes-")
        .and_then(|rest| rest.strip_suffix(".service"))
        .unwrap_or_else(|| panic!("unit name {unit}"));
    assert!(
        hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{unit}"
    );
    let path = unit_dir(&world).join(unit);
    assert_eq!(report["unit_path"].as_str(), path.to_str());
    assert_eq!(report["started"], false);
    assert_eq!(report["replaced"], false);
    assert!(has_message(&report, "--no-start"), "{report:#}");
    assert!(has_message(
        &report,
        &format!("systemctl --user daemon-reload && systemctl --user enable --now {unit}")
    ));
    assert!(has_message(&report, "loginctl enable-linger $USER"));

    let text = fs::read_to_string(&path).expect("the unit at the documented path");
    assert!(text.starts_with(MARKER), "{text}");
    for expected in [
        "Restart=on-failure",
        "RestartSec=5",
        "WantedBy=default.target",
    ] {
        assert!(text.lines().any(|l| l == expected), "{expected} in\n{text}");
    }
    assert!(text.contains(&format!("Description=Vault Sync agent for \"{vault_arg}\"")));
    let argv = parse_exec_start(&text);
    let expected: Vec<OsString> = vec![
        syncd_exe().into(),
        "watch".into(),
        "--vault".into(),
        vault.clone().into(),
    ];
    assert_eq!(argv, expected);
    assert_systemd_accepts(&world, &path);
    run_agent_from_unit(&world, &text, &argv, &vault);

    // The same vault always gets the same unit, from inside it as well.
    let again = service_command(
        &world,
        None,
        &Systemctl::Missing,
        &["service", "install", "--no-start", "--json"],
    )
    .current_dir(vault.join(".vault"))
    .output()
    .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["unit"].as_str(), Some(unit));
    assert_eq!(again["replaced"], true);
}

#[test]
fn spaces_percent_dollar_quotes_and_backslashes_in_paths_survive_the_unit() {
    let world = World::new();
    let vault = vault_in(&world, r#"my notes 100% $HOME "q" \ x"#)
        .canonicalize()
        .unwrap();
    // syncd itself under an awkward path too: systemd-analyze checks that the executable
    // named in ExecStart= exists, so its quoting is checked by systemd's own parser.
    let exe = syncd_in(&world.path().join("bin 50% $PATH"));
    let args = install_no_start(vault.to_str().unwrap());
    let run = run_cmd(
        service_command(&world, Some(&exe), &Systemctl::Missing, &args),
        "install from an awkward path",
    )
    .ok();
    let report = run.json();
    let unit = report["unit"].as_str().unwrap();
    assert!(
        unit.starts_with("vault-sync-my-notes-100-HOME-q-x-"),
        "{unit}"
    );
    let path = unit_dir(&world).join(unit);
    let text = fs::read_to_string(&path).unwrap();
    let argv = parse_exec_start(&text);
    let expected: Vec<OsString> = vec![
        exe.clone().into(),
        "watch".into(),
        "--vault".into(),
        vault.clone().into(),
    ];
    assert_eq!(argv, expected, "\n{text}");
    assert_systemd_accepts(&world, &path);
    run_agent_from_unit(&world, &text, &argv, &vault);

    // Quotes and backslashes in the executable's path systemd refuses outright (arguments may
    // hold them), so install says so instead of writing a unit that never starts.
    let exe = syncd_in(&world.path().join("bin \"q\""));
    fs::remove_file(&path).unwrap();
    let run = run_cmd(
        service_command(&world, Some(&exe), &Systemctl::Missing, &args),
        "install from a quoted path",
    )
    .expect_code(1);
    assert!(
        run.stderr.contains("put syncd in a folder without them"),
        "{}",
        run.stderr
    );
    assert!(!path.exists());
}

#[test]
fn without_a_user_systemd_the_unit_is_kept_and_the_commands_are_given() {
    let world = World::new();
    let vault = vault_in(&world, "notes");
    let vault_arg = vault.to_str().unwrap();
    let args = ["service", "install", "--vault", vault_arg, "--json"];

    // No systemctl on PATH at all.
    let report = service(&world, &Systemctl::Missing, &args).ok().json();
    let unit = report["unit"].as_str().unwrap().to_string();
    assert_eq!(report["started"], false);
    assert!(
        has_message(&report, "`systemctl` is not installed"),
        "{report:#}"
    );
    let fresh = format!("systemctl --user daemon-reload && systemctl --user enable --now {unit}");
    assert!(has_message(&report, &fresh), "{report:#}");
    // A replaced unit may be running with its old command: restart, not just start.
    let commands = format!(
        "systemctl --user daemon-reload && systemctl --user enable {unit} && systemctl --user restart {unit}"
    );
    assert!(has_message(&report, "loginctl enable-linger $USER"));
    assert!(unit_dir(&world).join(&unit).is_file());

    // The machine's systemctl, but no user systemd to talk to (as in a container).
    let report = service(&world, &Systemctl::Real, &args).ok().json();
    assert_eq!(report["started"], false);
    assert_eq!(report["replaced"], true);
    assert!(
        has_message(&report, "`systemctl --user daemon-reload` failed"),
        "{report:#}"
    );
    assert!(has_message(&report, &commands));

    // The same, for a person.
    let run = service(
        &world,
        &Systemctl::Real,
        &["service", "install", "--vault", vault_arg],
    )
    .ok();
    let unit_path = unit_dir(&world).join(&unit);
    for expected in [
        format!("unit file: {}", unit_path.display()),
        format!("journalctl --user -u {unit} -f"),
        commands,
        "cannot reach your user systemd".to_string(),
    ] {
        assert!(
            run.stdout.contains(&expected),
            "{expected:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn with_a_user_systemd_the_unit_is_enabled_and_restarted_and_conflicts_are_named() {
    let world = World::new();
    let device = world.device("notes");
    device.init();
    let fake = FakeSystemctl::new(&world);
    let systemctl = Systemctl::Fake(&fake);
    let vault_arg = device.root.to_str().unwrap();
    let install = |env: &[(&str, &str)]| {
        let args = ["service", "install", "--vault", vault_arg, "--json"];
        service_with(&world, &systemctl, &args, env)
    };

    // An agent in a terminal already runs on the vault: the service's would be refused.
    let agent = Agent::start(&device);
    let pid = agent.pid();
    let report = install(&[]).ok().json();
    let unit = report["unit"].as_str().unwrap().to_string();
    assert_eq!(report["started"], true);
    assert_eq!(
        fake.take(),
        [
            "--user daemon-reload".to_string(),
            format!("--user show --property=MainPID --value {unit}"),
            format!("--user enable {unit}"),
            format!("--user restart {unit}"),
        ]
    );
    assert!(
        has_message(&report, &format!("pid {pid}")) && has_message(&report, &format!("kill {pid}")),
        "{report:#}"
    );

    // The running agent is the service's own (a reinstall): no conflict, nothing to wait for.
    let report = install(&[("FAKE_MAIN_PID", &pid.to_string())]).ok().json();
    assert_eq!(report["replaced"], true);
    // (This test's syncd is in cargo's build folder, which install also notes.)
    let messages: Vec<String> = messages(&report)
        .into_iter()
        .filter(|m| !m.contains("cargo's build folder"))
        .collect();
    assert_eq!(
        messages,
        [
            "to keep the agent running while you are logged out (and start it at boot), run `loginctl enable-linger $USER` once"
        ]
    );
    fake.take();
    assert!(agent.stop().success());

    // systemd says it started the unit, but no agent ever answers.
    let report = install(&[]).ok().json();
    assert!(
        has_message(&report, "did not answer within 5 s")
            && has_message(&report, &format!("journalctl --user -u {unit}")),
        "{report:#}"
    );
    fake.take();

    // systemd refuses: an error that says what, and the unit stays.
    let run = install(&[
        ("FAKE_FAIL", "restart"),
        ("FAKE_FAIL_MESSAGE", "Job failed: bad things"),
    ])
    .expect_code(1);
    assert!(
        run.stderr.contains("bad things") && run.stderr.contains("is written"),
        "{}",
        run.stderr
    );
    assert!(unit_dir(&world).join(&unit).is_file());
    fake.take();

    // Status shows the unit and asks systemctl.
    let status = service_status(&world, &systemctl, vault_arg);
    assert!(
        status.stdout.contains(&format!("unit:      {unit}")),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(&format!("fake status of {unit}")));
    assert_eq!(fake.take(), [format!("--user status --no-pager {unit}")]);

    // Uninstall: a failure to stop keeps the unit, "not loaded" is no failure.
    let uninstall = |env: &[(&str, &str)]| {
        let args = ["service", "uninstall", "--vault", vault_arg, "--json"];
        service_with(&world, &systemctl, &args, env)
    };
    let run = uninstall(&[
        ("FAKE_FAIL", "disable"),
        ("FAKE_FAIL_MESSAGE", "Access denied"),
    ])
    .expect_code(1);
    assert!(
        run.stderr.contains("Access denied") && run.stderr.contains("is kept"),
        "{}",
        run.stderr
    );
    assert!(unit_dir(&world).join(&unit).is_file());
    fake.take();
    let report = uninstall(&[
        ("FAKE_FAIL", "disable"),
        (
            "FAKE_FAIL_MESSAGE",
            "Failed to stop x.service: Unit x.service not loaded.",
        ),
    ])
    .ok()
    .json();
    assert_eq!(report["removed"], true);
    assert_eq!(report["stopped"], true);
    assert!(!unit_dir(&world).join(&unit).exists());
    assert_eq!(
        fake.take(),
        [
            "--user daemon-reload".to_string(),
            format!("--user disable --now {unit}"),
            "--user daemon-reload".to_string(),
            format!("--user reset-failed {unit}"),
        ]
    );
}

#[test]
fn reinstall_replaces_only_a_unit_syncd_wrote() {
    let world = World::new();
    let vault = vault_in(&world, "notes");
    let vault_arg = vault.to_str().unwrap();
    let path = unit_path(&installed(&world, vault_arg));
    let original = fs::read_to_string(&path).unwrap();

    fs::write(&path, format!("{original}# an edit\n")).unwrap();
    assert_eq!(installed(&world, vault_arg)["replaced"], true);
    assert_eq!(fs::read_to_string(&path).unwrap(), original);

    let foreign = "[Unit]\nDescription=someone else's\n[Service]\nExecStart=/bin/true\n";
    fs::write(&path, foreign).unwrap();
    let run = service(&world, &Systemctl::Missing, &install_no_start(vault_arg)).expect_code(1);
    assert!(
        run.stderr.contains(&path.display().to_string())
            && run
                .stderr
                .contains("was not written by `syncd service install`"),
        "{}",
        run.stderr
    );
    let run = service(
        &world,
        &Systemctl::Missing,
        &["service", "uninstall", "--vault", vault_arg],
    )
    .expect_code(1);
    assert!(run.stderr.contains("left alone"), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&path).unwrap(), foreign);
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temp files left: {leftovers:?}");
}

#[test]
fn uninstall_removes_the_unit_and_its_link_and_says_when_there_is_none() {
    let world = World::new();
    let vault = vault_in(&world, "notes");
    let vault_arg = vault.to_str().unwrap();
    let report = installed(&world, vault_arg);
    let unit = report["unit"].as_str().unwrap();
    let path = unit_path(&report);
    // What `systemctl --user enable` leaves, for a systemd that is gone by now.
    let wants = unit_dir(&world).join("default.target.wants");
    fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(&path, wants.join(unit)).unwrap();
    // Someone else's link of the same name elsewhere is not touched.
    let other = unit_dir(&world).join("multi-user.target.wants");
    fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(&path, other.join(unit)).unwrap();

    let report = uninstalled(&world, &Systemctl::Real, vault_arg);
    assert_eq!(report["removed"], true);
    assert_eq!(report["stopped"], false);
    assert!(
        has_message(&report, "cannot reach your user systemd"),
        "{report:#}"
    );
    assert!(!path.exists());
    assert!(fs::symlink_metadata(wants.join(unit)).is_err());
    assert!(fs::symlink_metadata(other.join(unit)).is_ok());

    let report = uninstalled(&world, &Systemctl::Missing, vault_arg);
    assert_eq!(report["removed"], false);
    assert!(
        has_message(&report, "no service is installed for this vault"),
        "{report:#}"
    );
    let run = service_status(&world, &Systemctl::Missing, vault_arg);
    assert!(run.stdout.contains("not installed"), "{}", run.stdout);
}

#[test]
fn install_needs_a_vault_and_uninstall_still_works_after_it_is_gone() {
    let world = World::new();
    let plain = world.path().join("plain");
    fs::create_dir_all(&plain).unwrap();
    let plain_arg = plain.to_str().unwrap();
    let run = service(
        &world,
        &Systemctl::Missing,
        &["service", "install", "--vault", plain_arg, "--no-start"],
    )
    .expect_code(1);
    assert!(run.stderr.contains("not a vault"), "{}", run.stderr);
    assert!(!unit_dir(&world).exists(), "nothing written");

    let vault = vault_in(&world, "notes");
    let vault_arg = vault.to_str().unwrap();
    let path = unit_path(&installed(&world, vault_arg));
    fs::remove_dir_all(vault.join(".vault")).unwrap();
    let report = uninstalled(&world, &Systemctl::Missing, vault_arg);
    assert_eq!(report["removed"], true);
    assert!(!path.exists());
}
