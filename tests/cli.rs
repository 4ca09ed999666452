//! End-to-end tests of the `syncd` and `vault-server` binaries: real processes, real folders.
//! Every test has its own temp folder and points `XDG_DATA_HOME` (and `HOME`) into it, so the
//! default hub lands there too.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use filetime::FileTime;
use serde_json::Value;
use vault::local::LocalVault;

const SYNCD: &str = env!("CARGO_BIN_EXE_syncd");
const SERVER: &str = env!("CARGO_BIN_EXE_vault-server");

struct Env {
    dir: tempfile::TempDir,
}

/// What a run printed, and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        fs::create_dir_all(cwd).unwrap();
        let out = Command::new(SYNCD)
            .args(args)
            .current_dir(cwd)
            .env("XDG_DATA_HOME", self.path("data"))
            .env("HOME", self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run `syncd` in the folder `cwd` (relative to the temp folder) and expect exit code 0.
    fn ok(&self, cwd: &str, args: &[&str]) -> Run {
        let run = self.run_in(&self.path(cwd), args);
        assert_eq!(
            run.code, 0,
            "syncd {args:?} in {cwd} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run
    }

    fn fails(&self, cwd: &str, args: &[&str], code: i32) -> Run {
        let run = self.run_in(&self.path(cwd), args);
        assert_eq!(
            run.code, code,
            "syncd {args:?} in {cwd}:\n{}\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// Make `name` a vault on the shared hub `hub`.
    fn init(&self, name: &str, device: &str) {
        let hub = self.path("hub").display().to_string();
        let vault = self.path(name).display().to_string();
        let run = self.ok(
            ".",
            &["init", "--vault", &vault, "--hub", &hub, "--device", device],
        );
        assert!(run.stdout.contains("initialised vault"), "{}", run.stdout);
    }

    /// Write a file with its modification time `secs` seconds before now.
    fn write(&self, rel: &str, bytes: &[u8], secs_ago: i64) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
        let now = FileTime::now().unix_seconds();
        filetime::set_file_mtime(&p, FileTime::from_unix_time(now - secs_ago, 0)).unwrap();
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    fn sync(&self, vault: &str) -> Value {
        self.ok(vault, &["sync", "--json"]).json()
    }
}

#[test]
fn every_command_has_help_and_bad_arguments_are_usage_errors() {
    let env = Env::new();
    for cmd in [
        &[][..],
        &["init"],
        &["sync"],
        &["status"],
        &["log"],
        &["show"],
        &["verify"],
        &["fsck"],
        &["revisions"],
        &["revisions", "prune"],
        &["restore"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let run = env.ok(".", &args);
        assert!(
            run.stdout.contains("Usage: syncd"),
            "{args:?}: {}",
            run.stdout
        );
    }
    let top = env.ok(".", &["--help"]).stdout;
    assert!(
        top.contains("Exit codes") && top.contains("verification failed"),
        "{top}"
    );
    assert!(env.ok(".", &["--version"]).stdout.starts_with("syncd "));
    env.fails(".", &["frobnicate"], 64);
    env.fails(".", &["revisions", "prune"], 64); // --keep or --older-than is required
    env.fails(".", &["revisions", "prune", "--older-than", "3 days"], 64);

    for args in [&["--help"][..], &["--version"], &["fsck", "--help"]] {
        let out = Command::new(SERVER).args(args).output().unwrap();
        assert!(out.status.success(), "vault-server {args:?}");
    }
    let help = Command::new(SERVER).arg("--help").output().unwrap();
    // It says how a device joins (not that syncd learns it later).
    assert!(String::from_utf8_lossy(&help.stdout).contains("syncd init --hub"));
    let bare = Command::new(SERVER).output().unwrap();
    assert!(
        !bare.status.success(),
        "a server that serves nothing must not claim success"
    );
}

/// `--vault` goes before or after a subcommand, as README says: `syncd hub --vault V gc` and
/// `syncd hub gc --vault V` name the same vault, from a folder outside it.
#[test]
fn hub_subcommands_take_the_vault_before_or_after_them() {
    let env = Env::new();
    env.init("laptop", "laptop");
    env.write("laptop/a.md", b"a\n", 60);
    env.sync("laptop");
    let vault = env.path("laptop").display().to_string();
    let hub = env.path("hub").display().to_string();
    for (sub, extra) in [
        ("show", &["--json"][..]),
        ("gc", &["--dry-run", "--json"]),
        ("retention", &["--json"]),
    ] {
        let before = [&["hub", "--vault", &vault, sub][..], extra].concat();
        let after = [&["hub", sub, "--vault", &vault][..], extra].concat();
        let (a, b) = (env.ok(".", &before).json(), env.ok(".", &after).json());
        assert_eq!(a["hub"].as_str(), Some(hub.as_str()), "{sub}: {a}");
        assert_eq!(b["hub"], a["hub"], "{sub}");
    }
    // Outside any vault and without --vault: a usage-level refusal that names the fix.
    let lost = env.fails(".", &["hub", "gc"], 1);
    assert!(lost.stderr.contains("--vault"), "{}", lost.stderr);
}

#[test]
fn init_then_sync_reports_json() {
    let env = Env::new();
    env.init("v", "laptop");
    env.write("v/notes/a.md", b"# A\n", 10);
    let report = env.sync("v");
    assert_eq!(report["outcome"], "pushed");
    assert_eq!(report["snapshot_created"], true);
    assert_eq!(report["head"].as_str().unwrap().len(), 64);
    assert!(report["stats"]["files_scanned"].as_u64().unwrap() >= 1);
    assert!(report["stats"]["objects_sent"].as_u64().unwrap() >= 3);
    assert_eq!(report["conflicts"], Value::Array(vec![]));
    assert!(report["stats"]["duration_ms"].is_u64());

    let again = env.sync("v");
    assert_eq!(again["outcome"], "up_to_date");
    assert_eq!(again["stats"]["objects_sent"], 0);
    let human = env.ok("v", &["sync"]).stdout;
    assert!(
        human.contains("up to date") && human.contains("took"),
        "{human}"
    );
    // From a subfolder, the vault is found by walking up.
    assert_eq!(env.sync("v/notes")["outcome"], "up_to_date");
}

#[test]
fn sync_in_a_plain_folder_initialises_it_and_says_so() {
    let env = Env::new();
    env.write("notes/a.md", b"hello", 10);
    let run = env.ok("notes", &["sync", "--json"]);
    assert!(
        run.stderr.contains("initialised") && run.stderr.contains("as a new vault"),
        "{}",
        run.stderr
    );
    let hub = env.path("data/vault-sync/hub/notes");
    assert!(
        run.stderr.contains(&hub.display().to_string()),
        "{}",
        run.stderr
    );
    assert!(hub.join("vault-hub.json").is_file());
    assert_eq!(run.json()["outcome"], "pushed");
    let second = env.ok("notes", &["sync"]);
    assert!(!second.stderr.contains("initialised"), "{}", second.stderr);

    // The home folder (the test's temp folder) is never made a vault by accident; as it
    // holds one, the error names that vault (and never suggests `syncd init` there).
    let err = env.fails(".", &["sync"], 1).stderr;
    assert!(
        err.contains("holds the vault") && err.contains("--vault") && !err.contains("syncd init"),
        "{err}"
    );
    assert!(!env.path(".vault").exists());
}

#[test]
fn a_note_travels_between_two_vaults_byte_for_byte() {
    let env = Env::new();
    env.init("a", "laptop");
    env.init("b", "phone");
    let bytes: Vec<u8> = (0..=255u8).chain(b"\r\n# note\n".iter().copied()).collect();
    env.write("a/notes/x.md", &bytes, 10);

    let before = env.ok("a", &["status", "--json"]).json();
    let changes = before["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{before}");
    assert_eq!(changes[0]["path"], "notes/x.md");
    assert_eq!(changes[0]["kind"], "added");
    let human = env.ok("a", &["status"]).stdout;
    assert!(
        human.contains("A notes/x.md") && human.contains("never"),
        "{human}"
    );

    env.sync("a");
    assert_eq!(env.sync("b")["outcome"], "pulled");
    assert_eq!(env.read("b/notes/x.md"), bytes);
    let after = env.ok("a", &["status", "--json"]).json();
    assert_eq!(after["changes"], Value::Array(vec![]), "{after}");
    assert!(after["last_sync"]["report"].is_object());
    assert!(env.ok("a", &["status"]).stdout.contains("no changes"));
}

#[test]
fn log_lists_snapshots_and_the_ones_touching_a_path() {
    let env = Env::new();
    env.init("v", "laptop");
    env.write("v/a.md", b"one", 30);
    env.sync("v");
    env.write("v/b.md", b"bee", 20);
    env.sync("v");
    env.write("v/a.md", b"two", 10);
    env.sync("v");

    let all = env.ok("v", &["log", "--json"]).json();
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    assert!(all[0]["time_ns"].as_i64() >= all[1]["time_ns"].as_i64());
    assert_eq!(all[0]["device_name"], "laptop");
    let a = env.ok("v", &["log", "--json", "a.md"]).json();
    let kinds: Vec<&str> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["change"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["modified", "added"]);
    assert_eq!(a[0]["snapshot"], all[0]["snapshot"]);
    assert_eq!(a[1]["snapshot"], all[2]["snapshot"]);

    let human = env.ok("v", &["log", "b.md"]).stdout;
    assert_eq!(human.lines().count(), 1, "{human}");
    assert!(
        human.contains("laptop") && human.contains("added"),
        "{human}"
    );
    assert_eq!(env.ok("v", &["log", "-n", "2"]).stdout.lines().count(), 2);
}

/// Two vaults edit `note.md` differently; `b`'s edit is newer and wins.
fn conflict(env: &Env) -> String {
    env.init("a", "laptop");
    env.init("b", "phone");
    env.write("a/note.md", b"base\n", 300);
    env.sync("a");
    env.sync("b");
    env.write("a/note.md", b"laptop edit\n", 200);
    env.write("b/note.md", b"phone edit\n", 100);
    env.sync("a");
    let report = env.sync("b");
    assert_eq!(report["conflicts"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(env.read("b/note.md"), b"phone edit\n");
    report["conflicts"][0]["revision"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn conflicts_restore_and_prune_through_revisions() {
    let env = Env::new();
    let revision = conflict(&env);
    assert_eq!(env.read(&format!("b/{revision}")), b"laptop edit\n");

    let listed = env.ok("b", &["revisions", "--json"]).json();
    let revs = listed["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 1, "{listed}");
    assert_eq!(revs[0]["path"], revision.as_str());
    assert_eq!(revs[0]["original"], "note.md");
    assert_eq!(revs[0]["device"], "laptop");
    let human = env.ok("b", &["revisions", "note.md"]).stdout;
    assert!(
        human.contains(&revision) && human.contains("laptop"),
        "{human}"
    );

    // Named relative to the current folder, from inside `.revisions/`.
    let name = Path::new(&revision).file_name().unwrap().to_str().unwrap();
    let restored = env.ok("b/.revisions", &["restore", "--json", name]).json();
    assert_eq!(restored["original"], "note.md");
    assert_eq!(env.read("b/note.md"), b"laptop edit\n");
    let kept = restored["kept_current"].as_str().unwrap();
    assert_eq!(env.read(&format!("b/{kept}")), b"phone edit\n");
    assert_eq!(
        env.read(&format!("b/{revision}")),
        b"laptop edit\n",
        "revision stays"
    );
    let err = env.fails("b", &["restore", "note.md"], 1).stderr;
    assert!(err.contains("not a revision"), "{err}");

    // The restored version is the newest edit: it wins on the hub and on the other device.
    env.sync("b");
    env.sync("a");
    assert_eq!(env.read("a/note.md"), b"laptop edit\n");
    assert_eq!(env.read(&format!("a/{kept}")), b"phone edit\n");

    let dry = env.ok(
        "b",
        &["revisions", "prune", "--keep", "0", "--dry-run", "--json"],
    );
    let dry = dry.json();
    assert_eq!(dry["removed"].as_array().unwrap().len(), 2, "{dry}");
    assert!(
        env.path(&format!("b/{revision}")).exists(),
        "dry run deleted"
    );
    let run = env.ok("b", &["revisions", "prune", "--keep", "0"]);
    assert!(run.stdout.contains("removed 2 revisions"), "{}", run.stdout);
    assert!(run.stdout.contains("syncd sync"), "{}", run.stdout);
    assert!(!env.path(&format!("b/{revision}")).exists());
    assert!(!env.path(&format!("b/{kept}")).exists());
    assert_eq!(env.read("b/note.md"), b"laptop edit\n");
    env.sync("b");
    env.sync("a");
    assert!(
        !env.path(&format!("a/{kept}")).exists(),
        "prune did not travel"
    );
}

#[test]
fn verify_exits_0_in_sync_and_2_after_an_unsynced_edit() {
    let env = Env::new();
    env.init("v", "laptop");
    env.write("v/a.md", b"one", 30);
    env.sync("v");
    assert!(env.ok("v", &["verify"]).stdout.contains("in sync"));
    assert_eq!(
        env.ok("v", &["verify", "--full", "--json"]).json()["equal"],
        true
    );
    env.write("v/a.md", b"changed", 5);
    let run = env.fails("v", &["verify"], 2);
    assert!(
        run.stdout.contains("a.md") && run.stdout.contains("syncd sync"),
        "{}",
        run.stdout
    );
    let json = env.fails("v", &["verify", "--json"], 2).json();
    assert_eq!(json["equal"], false);
    assert_eq!(json["differences"][0]["path"], "a.md");
}

#[test]
fn a_second_sync_waits_for_the_vault_lock_then_says_why_it_gave_up() {
    let env = Env::new();
    env.init("v", "laptop");
    let vault = LocalVault::open(&env.path("v")).unwrap();
    let held = vault.lock(Duration::ZERO).unwrap();
    let started = std::time::Instant::now();
    let run = env.fails("v", &["sync", "--lock-wait", "1"], 1);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "did not wait"
    );
    assert!(
        run.stderr
            .contains("another syncd is working on this vault"),
        "{}",
        run.stderr
    );
    drop(held);
    env.sync("v");
}

#[test]
fn hubs_that_cannot_be_used_are_refused_with_what_to_do() {
    let env = Env::new();
    env.init("v", "laptop");
    fs::remove_dir_all(env.path("hub")).unwrap();
    let err = env.fails("v", &["sync"], 1).stderr;
    assert!(
        err.contains("does not exist") && err.contains("mount"),
        "{err}"
    );

    let mut vault = LocalVault::open(&env.path("v")).unwrap();
    let mut config = vault.config().clone();
    config.hub = "https://hub.example".into();
    vault.set_config(config).unwrap();
    let err = env.fails("v", &["sync"], 1).stderr;
    assert!(
        err.contains("no [server] table") && err.contains("config.toml"),
        "{err}"
    );

    env.write("full/x.md", b"x", 1);
    let hub = env.path("full").display().to_string();
    let err = env
        .fails(".", &["init", "--vault", "w", "--hub", &hub], 1)
        .stderr;
    assert!(err.contains("not a Vault Sync hub"), "{err}");
    assert!(
        !env.path("w/.vault").exists(),
        "init left a half-made vault"
    );
}
