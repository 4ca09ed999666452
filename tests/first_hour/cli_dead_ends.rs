//! The smaller dead ends of the first hour (issue 16), each through the real `syncd` binary:
//! what README promises after a sync, who a revision is named after, what the agent answers
//! to `resume`/`sync-now`, options after a subcommand, messages outside a vault, and
//! `syncd service` without a user systemd.

use std::time::Duration;

use crate::common::agent::{Agent, eventually};
use crate::common::{World, wait_past_racy_margin};
use vault::sync::Outcome;

/// How long the agent may take to do what a test waits for.
const LIMIT: Duration = Duration::from_secs(30);

/// README's tour: right after a device downloaded the vault, `syncd sync --json` reads no file
/// ("files_read": 0), because the files sync wrote carry the tree's old modification time,
/// which any later save moves. The exception README states: a file whose last change lies
/// within the racy window of the previous round's scan (here a note stamped in the future by
/// a clock set ahead, so the window is certain) is read once more, on both devices.
#[test]
fn readme_files_read_zero_right_after_a_sync() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.write("todo.md", "- [ ] buy milk\n", 0);
    laptop.write("ideas/garden.md", "plant beans\n", 10);
    laptop.init().sync();
    let phone = world.device("phone");
    phone.init();
    let first = phone.sync();
    assert_eq!(first.stats.files_written, 2, "{first:?}");

    let next = phone.sync();
    assert_eq!(next.outcome, Outcome::UpToDate, "{next:?}");
    assert_eq!(
        (next.stats.files_read, next.stats.bytes_hashed),
        (0, 0),
        "the round right after the download read files: {next:?}"
    );

    // A note the clock cannot vouch for yet: its timestamp lies ahead of the scans. (The
    // laptop's own notes, created at the start, are first let out of their racy window.)
    wait_past_racy_margin();
    let ahead = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
    let p = laptop.path("ahead.md");
    std::fs::write(&p, "from a clock set ahead\n").unwrap();
    filetime::set_file_mtime(&p, filetime::FileTime::from_system_time(ahead)).unwrap();
    laptop.sync();
    phone.sync();
    for device in [&laptop, &phone] {
        let again = device.sync();
        assert_eq!(again.outcome, Outcome::UpToDate, "{again:?}");
        assert_eq!(
            again.stats.files_read, 1,
            "{}: only the racy note is read again: {again:?}",
            device.name
        );
    }
}

/// `syncd resume` and `syncd sync-now` answer with the agent's state after the command: right
/// after `resumed`, never `paused ... changes waiting`.
#[test]
fn resume_and_sync_now_answer_with_the_state_after_the_command() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.init();
    let agent = Agent::start(&laptop);
    eventually(LIMIT, || laptop.status()["agent"]["state"] == "idle").unwrap();

    let now = laptop.run("sync-now", &["--json"]).ok().json();
    assert_eq!(now["state"], "syncing", "{now}");

    laptop.run("pause", &[]).ok();
    std::fs::write(laptop.path("while-paused.md"), "wait").unwrap();
    eventually(LIMIT, || laptop.status()["agent"]["pending"] == true)
        .unwrap_or_else(|()| panic!("{}", agent.log().join("\n")));
    let resumed = laptop.run("resume", &[]).ok();
    assert!(resumed.stdout.starts_with("resumed"), "{}", resumed.stdout);
    assert!(
        !resumed.stdout.contains("paused"),
        "resume printed the state from before it:\n{}",
        resumed.stdout
    );
    assert!(
        resumed.stdout.contains("agent:   syncing"),
        "{}",
        resumed.stdout
    );
    laptop.run("pause", &[]).ok();
    let json = laptop.run("resume", &["--json"]).ok().json();
    assert_eq!(
        (&json["state"], &json["paused"]),
        (&"syncing".into(), &false.into()),
        "{json}"
    );
    eventually(LIMIT, || laptop.status()["agent"]["state"] == "idle").unwrap();
    assert!(agent.stop().success());
}

/// Options of a command with subcommands work before the subcommand too, as clap users
/// expect: `syncd revisions --vault V prune ...`, `syncd task --vault V add ...`, `syncd
/// service --vault V status`; and `revisions`' usage line shows `prune`.
#[test]
fn revisions_vault_before_prune_and_other_parent_options() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.write("todo.md", "- [ ] buy milk\n", 0);
    laptop.init().sync();
    let vault = laptop.root.display().to_string();
    let v = vault.as_str();

    let dry = world
        .syncd(&[
            "revisions",
            "--vault",
            v,
            "prune",
            "--keep",
            "1",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true, "{dry}");
    world
        .syncd(&["revisions", "prune", "--vault", v, "--older-than", "30d"])
        .ok();
    world
        .syncd(&["revisions", "--json", "--vault", v])
        .ok()
        .json();

    world
        .syncd(&[
            "task", "--vault", v, "add", "call", "mum", "--note", "todo.md",
        ])
        .ok();
    assert!(laptop.read("todo.md").unwrap().contains("- [ ] call mum"));
    world
        .syncd(&[
            "task",
            "add",
            "--vault",
            v,
            "water plants",
            "--note",
            "todo.md",
        ])
        .ok();

    let service = world.syncd(&["service", "--vault", v, "status"]);
    assert_ne!(service.code, Some(64), "{service:?}");
    assert!(
        !service.stderr.contains("unexpected argument"),
        "{service:?}"
    );

    let help = world.syncd(&["revisions", "--help"]).ok();
    let usage = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Usage:"))
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(usage.contains("prune"), "{usage}");
}

/// Outside any vault, in a folder that holds vaults, no message suggests `syncd init` there
/// (it would put a vault around them): it names them and says `--vault DIR` or cd there.
#[test]
fn outside_a_vault_the_vaults_below_are_named_never_init() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.write("todo.md", "- [ ] buy milk\n", 0);
    laptop.init().sync();
    let parent = world.path();
    for args in [
        &["status"][..],
        &["sync"],
        &["log"],
        &["revisions", "prune", "--keep", "1"],
        &["init", "--repair"],
    ] {
        let run = world.command(args).current_dir(parent).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("syncd init"),
            "{args:?} suggests init: {stderr}"
        );
        assert!(
            stderr.contains(&laptop.root.display().to_string()) && stderr.contains("--vault"),
            "{args:?} does not name the vault below: {stderr}"
        );
    }
    assert!(
        !parent.join(".vault").exists(),
        "a vault was made around another"
    );
}

/// `syncd service status` without a user systemd explains it (no raw "Failed to connect to
/// bus" alone, exit 1), and a unit whose program is in cargo's build folder (as this test's
/// syncd is) says so at install and in status.
#[test]
fn service_status_without_a_user_systemd_is_explained_and_fails() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.init();
    let vault = laptop.root.display().to_string();
    let runtime = world.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let no_systemd = |args: &[&str]| {
        let out = world
            .command(args)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", world.path().join("no-bus").display()),
            )
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) =
        no_systemd(&["service", "install", "--vault", &vault, "--no-start"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("cargo's build folder"), "{stdout}");

    let (code, stdout, stderr) = no_systemd(&["service", "status", "--vault", &vault]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("cargo's build folder"), "{stdout}");
    for words in [
        "no systemd user instance",
        "loginctl enable-linger",
        "syncd watch",
    ] {
        assert!(stderr.contains(words), "{words:?} not in: {stderr}");
    }
}

/// The revision `syncd revisions` lists for `device`'s words.
fn revision_device(device: &crate::common::Device, text: &str) -> String {
    let list = device.run("revisions", &["--json"]).ok().json();
    let found: Vec<_> = list["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| device.read(r["path"].as_str().unwrap()).as_deref() == Some(text))
        .collect();
    assert_eq!(found.len(), 1, "one revision holds {text:?}: {list:#}");
    found[0]["device"].as_str().unwrap().to_string()
}

/// A restore keeps the displaced version as a revision named after the device that wrote it,
/// not this device: `restore --at` on the laptop displaces the phone's edit ("from phone"),
/// a restore on the phone displaces the laptop's ("from laptop"); a local edit not synced
/// yet is this device's.
#[test]
fn restore_names_the_device_that_wrote_the_displaced_version() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.write("todo.md", "- [ ] buy milk\n", 0);
    laptop.init().sync();
    let first = laptop.run("log", &["--json"]).ok().json()[0]["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let phone = world.device("phone");
    phone.init().sync();
    phone.write("todo.md", "- [ ] buy oat milk\n", 100);
    phone.sync();
    laptop.sync();
    assert_eq!(laptop.read("todo.md").unwrap(), "- [ ] buy oat milk\n");

    // On the laptop, the phone's words give way to the first version.
    laptop.run("restore", &["todo.md", "--at", &first]).ok();
    assert_eq!(revision_device(&laptop, "- [ ] buy oat milk\n"), "phone");
    laptop.sync();
    phone.sync();
    assert_eq!(phone.read("todo.md").unwrap(), "- [ ] buy milk\n");

    // On the phone, the laptop's restored version gives way to the phone's revision.
    let list = phone.run("revisions", &["--json"]).ok().json();
    let rev = list["revisions"][0]["path"].as_str().unwrap().to_string();
    phone.run("restore", &[&rev]).ok();
    assert_eq!(phone.read("todo.md").unwrap(), "- [ ] buy oat milk\n");
    assert_eq!(revision_device(&phone, "- [ ] buy milk\n"), "laptop");

    // A local edit not synced yet is this device's.
    phone.write("todo.md", "- [ ] buy soy milk\n", 300);
    phone.run("restore", &["todo.md", "--at", &first]).ok();
    assert_eq!(revision_device(&phone, "- [ ] buy soy milk\n"), "phone");
}

/// A conflict keeps the hub's losing version under the name of the device that wrote it,
/// not of the device that made the hub's last snapshot.
#[test]
fn a_conflict_names_the_device_that_wrote_the_losing_version() {
    let world = World::new();
    let laptop = world.device("laptop");
    laptop.write("todo.md", "- [ ] buy milk\n", 0);
    laptop.init().sync();
    let desktop = world.device("desktop");
    desktop.init().sync();
    let phone = world.device("phone");
    phone.init().sync();

    laptop.write("todo.md", "- [ ] buy milk (laptop)\n", 100);
    laptop.sync();
    // The desktop publishes last, carrying the laptop's edit along.
    desktop.write("other.md", "desk\n", 150);
    desktop.sync();
    // The phone's newer edit keeps the name; the laptop's words become a revision.
    phone.write("todo.md", "- [ ] buy milk (phone)\n", 200);
    let report = phone.sync();
    assert_eq!(report.conflicts.len(), 1, "{report:?}");
    assert_eq!(
        revision_device(&phone, "- [ ] buy milk (laptop)\n"),
        "laptop"
    );
}
