//! Point 6 of issue 15: one path this device cannot bring to the hub's version (a folder where
//! the hub has a file, a file where it has a folder, a symbolic link in the way, a note this
//! device cannot read) must not block the round. The round completes (exit 3, "synced, some
//! paths skipped"), names the path and the real reason, keeps both sides' content (the hub
//! keeps its version, this device its own thing), publishes everything else, and an agent does
//! not spin on it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::agent::{Agent, eventually};
use crate::common::{Device, Run, World};

/// `syncd sync` exits with this when the round completed but skipped paths that need the user.
const SKIPPED: i32 = 3;

/// Two devices of one folder hub that agree on `shared.md`.
fn pair(w: &World) -> (Device<'_>, Device<'_>) {
    let a = w.device("laptop");
    let b = w.device("phone");
    a.init();
    b.init();
    a.write("shared.md", "both devices have this", 1);
    a.sync();
    b.sync();
    (a, b)
}

/// The round's JSON report must list `path` as skipped with `reason`, and its message must
/// name the path; the round took one attempt (it was not retried until it gave up).
fn assert_skipped(run: &Run, path: &str, reason: &str, words: &str) {
    let json = run.json();
    let skipped = json["skipped"].as_array().unwrap_or_else(|| {
        panic!("no `skipped` list in the report:\n{}", run.stdout);
    });
    let entry = skipped
        .iter()
        .find(|s| s["path"] == path)
        .unwrap_or_else(|| panic!("`{path}` is not reported as skipped:\n{}", run.stdout));
    assert_eq!(entry["reason"], reason, "{}", run.stdout);
    let message = entry["message"].as_str().expect("a message");
    assert!(message.contains(&format!("`{path}`")), "{message}");
    assert!(message.contains(words), "{message}");
    assert_eq!(json["stats"]["attempts"], 1, "{}", run.stdout);
}

/// The human summary names the path and the reason too, and exits with the same code.
fn assert_summary_names(d: &Device, path: &str, words: &str) {
    let run = d.run("sync", &[]).expect_code(SKIPPED);
    assert!(
        run.stdout.contains(&format!("`{path}`")) && run.stdout.contains(words),
        "{}",
        run.stdout
    );
}

#[test]
fn stuck_paths_folder_where_hub_has_file() {
    let w = World::new();
    let (a, b) = pair(&w);
    b.write("notes/a.md", "the phone's note", 10);
    b.sync();
    // The laptop made a folder of that name meanwhile, and edited something else.
    a.write("notes/a.md/inside.md", "a note in the laptop's folder", 11);
    a.write("other.md", "an unrelated edit on the laptop", 12);

    let run = a.run("sync", &["--json"]).expect_code(SKIPPED);
    assert_skipped(&run, "notes/a.md", "folder_in_the_way", "folder");
    // This device's folder is untouched; the hub kept its file; the rest was published.
    assert_eq!(
        a.read("notes/a.md/inside.md").as_deref(),
        Some("a note in the laptop's folder")
    );
    b.sync();
    assert_eq!(b.read("notes/a.md").as_deref(), Some("the phone's note"));
    assert_eq!(
        b.read("other.md").as_deref(),
        Some("an unrelated edit on the laptop")
    );
    // Reported every round, never published as a deletion of the hub's file.
    assert_summary_names(&a, "notes/a.md", "folder");
    b.sync();
    assert_eq!(b.read("notes/a.md").as_deref(), Some("the phone's note"));

    // Once the folder is renamed, both sides get everything.
    fs::rename(a.path("notes/a.md"), a.path("notes/a-folder")).unwrap();
    a.sync();
    assert_eq!(a.read("notes/a.md").as_deref(), Some("the phone's note"));
    b.sync();
    assert_eq!(
        b.read("notes/a-folder/inside.md").as_deref(),
        Some("a note in the laptop's folder")
    );
    crate::common::assert_converged(&[&a, &b]);
}

#[test]
fn stuck_paths_file_where_hub_has_folder() {
    let w = World::new();
    let (a, b) = pair(&w);
    b.write("projects/plan.md", "the phone's plan", 10);
    b.sync();
    a.write("projects", "a file named like the phone's folder", 11);
    a.write("other.md", "an unrelated edit on the laptop", 12);

    let run = a.run("sync", &["--json"]).expect_code(SKIPPED);
    assert_skipped(&run, "projects", "file_in_the_way", "folder");
    assert_eq!(
        a.read("projects").as_deref(),
        Some("a file named like the phone's folder")
    );
    b.sync();
    assert_eq!(
        b.read("projects/plan.md").as_deref(),
        Some("the phone's plan")
    );
    assert_eq!(
        b.read("other.md").as_deref(),
        Some("an unrelated edit on the laptop")
    );
    assert_summary_names(&a, "projects", "folder");
    b.sync();
    assert_eq!(
        b.read("projects/plan.md").as_deref(),
        Some("the phone's plan")
    );
}

#[test]
fn stuck_paths_symlink_where_hub_has_file() {
    let w = World::new();
    let (a, b) = pair(&w);
    b.write("notes/a.md", "the phone's note", 10);
    b.sync();
    fs::create_dir_all(a.path("notes")).unwrap();
    std::os::unix::fs::symlink("../shared.md", a.path("notes/a.md")).unwrap();
    a.write("other.md", "an unrelated edit on the laptop", 12);

    let run = a.run("sync", &["--json"]).expect_code(SKIPPED);
    assert_skipped(&run, "notes/a.md", "link_in_the_way", "symbolic link");
    let link = fs::symlink_metadata(a.path("notes/a.md")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert_eq!(
        a.read("shared.md").as_deref(),
        Some("both devices have this")
    );
    b.sync();
    assert_eq!(b.read("notes/a.md").as_deref(), Some("the phone's note"));
    assert_eq!(
        b.read("other.md").as_deref(),
        Some("an unrelated edit on the laptop")
    );
    assert_summary_names(&a, "notes/a.md", "symbolic link");
}

/// The uid `setpriv` runs syncd as when the tests run as root (root reads any file, whatever
/// its mode, so only another user can meet an unreadable note).
const NOBODY: u32 = 65534;

fn chown_tree(path: &Path, uid: u32) {
    let status = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(path)
        .status()
        .expect("running chown");
    assert!(status.success(), "chown -R {}", path.display());
}

#[test]
fn stuck_paths_unreadable_note_changed_on_hub() {
    let w = World::new();
    let (a, b) = pair(&w);
    a.write("notes/a.md", "first version", 10);
    a.sync();
    b.sync();
    b.write("notes/a.md", "the phone's edit", 20);
    b.sync();
    a.write("other.md", "an unrelated edit on the laptop", 12);
    let note = a.path("notes/a.md");
    fs::set_permissions(&note, fs::Permissions::from_mode(0o000)).unwrap();

    // As root, run the laptop's syncd as an ordinary user who owns its vault and the hub.
    let root = unsafe { libc::geteuid() } == 0;
    let laptop_sync = |extra: &[&str]| -> Run {
        let mut cmd = a.command("sync", extra);
        if root {
            let program = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|s| s.to_owned()).collect();
            let envs: Vec<_> = cmd
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
                .collect();
            let mut wrapped = Command::new("setpriv");
            wrapped
                .args([
                    &format!("--reuid={NOBODY}"),
                    &format!("--regid={NOBODY}"),
                    "--clear-groups",
                    "--",
                ])
                .arg(program)
                .args(args);
            for (k, v) in envs {
                match v {
                    Some(v) => wrapped.env(k, v),
                    None => wrapped.env_remove(k),
                };
            }
            cmd = wrapped;
        }
        let out = cmd.output().expect("running syncd");
        Run {
            what: format!("laptop: syncd sync {}", extra.join(" ")),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    if root {
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("skipped: running as root and `setpriv` is not installed");
            return;
        }
        // The world's temp dir is private to root; the ordinary user must reach into it.
        fs::set_permissions(w.path(), fs::Permissions::from_mode(0o755)).unwrap();
        chown_tree(&a.root, NOBODY);
        chown_tree(&w.hub, NOBODY);
    }

    let run = laptop_sync(&["--json"]).expect_code(SKIPPED);
    assert_skipped(&run, "notes/a.md", "unreadable", "cannot read");
    let human = laptop_sync(&[]).expect_code(SKIPPED);
    assert!(
        human.stdout.contains("`notes/a.md`") && human.stdout.contains("cannot read"),
        "{}",
        human.stdout
    );

    // The laptop's own copy is untouched, the hub kept the phone's edit, the rest arrived.
    fs::set_permissions(&note, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(a.read("notes/a.md").as_deref(), Some("first version"));
    b.sync();
    assert_eq!(b.read("notes/a.md").as_deref(), Some("the phone's edit"));
    assert_eq!(
        b.read("other.md").as_deref(),
        Some("an unrelated edit on the laptop")
    );

    // Readable again and never edited here: the phone's edit arrives, nothing is lost.
    let run = laptop_sync(&["--json"]).ok();
    assert!(run.json()["skipped"].as_array().is_none_or(Vec::is_empty));
    assert_eq!(a.read("notes/a.md").as_deref(), Some("the phone's edit"));
    b.sync();
    assert_eq!(b.read("notes/a.md").as_deref(), Some("the phone's edit"));
}

#[test]
fn stuck_paths_agent_does_not_spin() {
    let w = World::new();
    let (a, b) = pair(&w);
    b.write("notes/a.md", "the phone's note", 10);
    b.sync();
    a.write("notes/a.md/inside.md", "a note in the laptop's folder", 11);

    let agent = Agent::start(&a);
    agent.wait_for_log("`notes/a.md`");
    a.write("other.md", "an unrelated edit on the laptop", 12);
    eventually(Duration::from_secs(30), || {
        b.sync();
        b.read("other.md").as_deref() == Some("an unrelated edit on the laptop")
    })
    .unwrap_or_else(|()| panic!("the edit never arrived:\n{}", agent.log().join("\n")));

    let status = a.status();
    let rounds = status["agent"]["rounds"]
        .as_u64()
        .expect("the agent's rounds");
    let log = agent.log().join("\n");
    // One round at the start, one for the edit (and maybe one for a straggling event):
    // never a round that starts over and over.
    assert!(rounds <= 4, "{rounds} rounds:\n{log}");
    // (A round may start over for an edit made while it ran, never for the path in the way.)
    assert!(
        !log.lines()
            .any(|l| l.contains("starting over") && l.contains("notes/a.md")),
        "{log}"
    );
    assert!(status["agent"]["last_error"].is_null(), "{status}");
    assert_eq!(b.read("notes/a.md").as_deref(), Some("the phone's note"));
    assert_eq!(
        a.read("notes/a.md/inside.md").as_deref(),
        Some("a note in the laptop's folder")
    );
    agent.stop();
}
