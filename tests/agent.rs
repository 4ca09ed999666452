//! End-to-end tests of the agent: real `syncd watch` processes on real folders, syncing
//! through a real `vault-server` (or a hub folder) with no command run after they start.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::agent::{Agent, eventually};
use common::proxy::Relay;
use common::server::{Server, add_user};
use common::{Device, World, assert_converged};

const PASSWORD: &str = "correct horse battery";
/// Generous: the agents propagate in well under a second, but CI machines are shared.
const LIMIT: Duration = Duration::from_secs(20);

fn server_with_alice(w: &World) -> (Server, PathBuf) {
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    (Server::start(&data, &[]), data)
}

/// Join `d` to alice's vault `notes` on the server at `url`.
fn join(d: &Device, url: &str) {
    d.join_server(url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
}

/// A server with `alice`, and her `laptop` and `desktop` joined to its vault `notes`.
fn pair_on_server(w: &World) -> (Server, PathBuf, Device<'_>, Device<'_>) {
    let (server, data) = server_with_alice(w);
    let a = w.device("laptop");
    let b = w.device("desktop");
    join(&a, &server.url);
    join(&b, &server.url);
    (server, data, a, b)
}

/// A server with `alice`; `direct` joined to it, `behind` joined through a relay that passes
/// `bytes_per_sec` upstream and can be cut.
fn pair_behind_relay<'w>(
    w: &'w World,
    direct: &str,
    behind: &str,
    bytes_per_sec: u64,
) -> (Server, Relay, Device<'w>, Device<'w>) {
    let (server, _data) = server_with_alice(w);
    let a = w.device(direct);
    join(&a, &server.url);
    let relay = Relay::start(&server.addr(), bytes_per_sec);
    let b = w.device(behind);
    join(&b, &relay.url);
    (server, relay, a, b)
}

/// Wait until `d` holds `path` with exactly `text` (or, with `None`, no `path`).
fn arrives(d: &Device, path: &str, text: Option<&str>) -> Duration {
    eventually(LIMIT, || d.read(path).as_deref() == text).unwrap_or_else(|()| {
        panic!(
            "{}: `{path}` never became {text:?} (it is {:?})",
            d.name,
            d.read(path)
        )
    })
}

#[test]
fn edits_propagate_between_two_agents_through_the_server_with_no_command() {
    let w = World::new();
    let (_server, _data, a, b) = pair_on_server(&w);
    a.write("existing.md", "synced by the agent's first round", 1);
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    arrives(&b, "existing.md", Some("synced by the agent's first round"));

    fs::write(a.path("new.md"), "written on the laptop").unwrap();
    arrives(&b, "new.md", Some("written on the laptop"));
    fs::write(b.path("new.md"), "edited on the desktop").unwrap();
    arrives(&a, "new.md", Some("edited on the desktop"));
    fs::create_dir_all(a.path("deep/er")).unwrap();
    fs::write(a.path("deep/er/n.md"), "in a new folder").unwrap();
    arrives(&b, "deep/er/n.md", Some("in a new folder"));
    fs::remove_file(a.path("existing.md")).unwrap();
    arrives(&b, "existing.md", None);

    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
    for d in [&a, &b] {
        assert!(d.revisions_holding("written on the laptop").is_empty());
    }
}

#[test]
fn agents_sync_through_a_hub_folder_too() {
    let w = World::new();
    let a = w.device("laptop");
    let b = w.device("desktop");
    a.init();
    b.init();
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    fs::write(a.path("a.md"), "through the folder").unwrap();
    arrives(&b, "a.md", Some("through the folder"));
    fs::write(b.path("b.md"), "and back").unwrap();
    arrives(&a, "b.md", Some("and back"));
    // Idle means idle: reading the hub's head (every round does) is not news from the hub.
    std::thread::sleep(Duration::from_millis(500));
    let rounds = a.status()["agent"]["rounds"].as_u64();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.status()["agent"]["rounds"].as_u64(), rounds);
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
}

#[test]
fn a_burst_of_saves_ends_with_the_last_content_everywhere_and_no_revisions() {
    let w = World::new();
    let (_server, _data, a, b) = pair_on_server(&w);
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    for i in 0..100 {
        fs::write(
            a.path("typing.md"),
            format!("draft {i}\n{}", "text ".repeat(i)),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let last = format!("draft 99\n{}", "text ".repeat(99));
    arrives(&b, "typing.md", Some(&last));
    // Let any round still in flight finish, then nothing may have been kept as a conflict.
    std::thread::sleep(Duration::from_millis(500));
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    for d in [&a, &b] {
        let revisions: Vec<String> = d
            .files()
            .into_keys()
            .filter(|p| p.starts_with(".revisions/"))
            .collect();
        assert!(revisions.is_empty(), "{}: {revisions:?}", d.name);
    }
    assert_converged(&[&a, &b]);
}

#[test]
fn agents_ride_out_a_server_outage_and_catch_up_when_it_returns() {
    let w = World::new();
    let (server, data, a, b) = pair_on_server(&w);
    let addr = server.addr();
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    fs::write(a.path("before.md"), "before the outage").unwrap();
    arrives(&b, "before.md", Some("before the outage"));

    server.signal_and_wait(libc::SIGKILL);
    fs::write(a.path("during.md"), "written while the server was down").unwrap();
    agent_a.wait_for_log("offline");
    let status = a.status();
    assert_eq!(status["agent"]["state"], "offline", "{status}");
    assert!(
        status["agent"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot be reached")),
        "{status}"
    );
    assert_eq!(status["agent"]["pending"], true, "{status}");
    let server = Server::start_at(&data, &addr, &[]);
    arrives(&b, "during.md", Some("written while the server was down"));
    agent_a.wait_for_log("reachable again");
    // One line when the outage began and one when it ended: no log flood.
    let offline_lines = agent_a
        .log()
        .iter()
        .filter(|l| l.contains("offline"))
        .count();
    assert_eq!(offline_lines, 1, "{}", agent_a.log().join("\n"));
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
    drop(server);
}

#[test]
fn status_pause_resume_and_sync_now_talk_to_the_running_agent() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let a = w.device("laptop");
    a.init();
    let agent = Agent::start(&a);
    let socket = a.path(".vault/agent.sock");
    let mode = fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    eventually(LIMIT, || a.status()["agent"]["state"] == "idle").unwrap();
    let status = a.status();
    assert_eq!(
        status["agent"]["pid"].as_u64(),
        Some(u64::from(agent.pid()))
    );
    assert_eq!(status["agent"]["pending"], false, "{status}");

    // A second agent on the same vault refuses to start and leaves the first one alone.
    let second = a.run("watch", &[]).failed();
    assert!(
        second.stderr.contains("already running"),
        "{}",
        second.stderr
    );

    // Paused: changes are noticed, not synced.
    let paused = a.run("pause", &["--json"]).ok().json();
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(paused["paused"], true, "{paused}");
    let head = w.hub_head();
    fs::write(a.path("while-paused.md"), "wait for it").unwrap();
    eventually(LIMIT, || a.status()["agent"]["pending"] == true)
        .unwrap_or_else(|()| panic!("{}\n{}", a.status(), agent.log().join("\n")));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        w.hub_head(),
        head,
        "a paused agent synced:\n{}",
        agent.log().join("\n")
    );
    let human = a.run("status", &[]).ok();
    assert!(human.stdout.contains("agent:   paused"), "{}", human.stdout);

    // sync-now runs one round even while paused; the agent stays paused.
    a.run("sync-now", &[]).ok();
    eventually(LIMIT, || w.hub_head() != head).unwrap();
    eventually(LIMIT, || a.status()["agent"]["pending"] == false).unwrap();
    assert_eq!(a.status()["agent"]["state"], "paused");
    assert_eq!(a.status()["agent"]["paused"], true);
    let head = w.hub_head();
    fs::write(a.path("after-resume.md"), "now").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(w.hub_head(), head);
    a.run("resume", &[]).ok();
    eventually(LIMIT, || w.hub_head() != head).unwrap();
    eventually(LIMIT, || a.status()["agent"]["state"] == "idle").unwrap();
    assert_eq!(a.status()["agent"]["paused"], false);

    assert!(agent.stop().success());
    assert!(!socket.exists(), "the socket outlived the agent");
    let run = a.run("pause", &[]).failed();
    assert!(run.stderr.contains("no agent is running"), "{}", run.stderr);
    let human = a.run("status", &[]).ok();
    assert!(
        human.stdout.contains("agent:   not running"),
        "{}",
        human.stdout
    );
    assert_eq!(a.status()["agent"], serde_json::Value::Null);
}

/// Save `text` at `path` in `d` the way an editor does.
fn editor_save(d: &Device, path: &str, text: &str, editor: &str) {
    let target = d.path(path);
    let dir = target.parent().unwrap().to_path_buf();
    let name = target.file_name().unwrap().to_str().unwrap().to_string();
    match editor {
        // vim (backupcopy=auto): probe the folder with `4913`, keep the old file as `name~`,
        // write the new one, drop the backup; a swap file exists all along.
        "vim" => {
            let swap = dir.join(format!(".{name}.swp"));
            fs::write(&swap, "vim swap").unwrap();
            fs::write(dir.join("4913"), "").unwrap();
            fs::remove_file(dir.join("4913")).unwrap();
            let backup = dir.join(format!("{name}~"));
            if target.exists() {
                fs::rename(&target, &backup).unwrap();
            }
            fs::write(&target, text).unwrap();
            let _ = fs::remove_file(&backup);
            fs::remove_file(&swap).unwrap();
        }
        // JetBrains "safe write": new content beside, old one moved aside, swap, drop.
        "jetbrains" => {
            let tmp = dir.join(format!("{name}___jb_tmp___"));
            let old = dir.join(format!("{name}___jb_old___"));
            fs::write(&tmp, text).unwrap();
            if target.exists() {
                fs::rename(&target, &old).unwrap();
            }
            fs::rename(&tmp, &target).unwrap();
            let _ = fs::remove_file(&old);
        }
        // GIO (gedit, GNOME apps): a hidden temp file renamed over the note.
        "gio" => {
            let tmp = dir.join(".goutputstream-Q7X2K1");
            fs::write(&tmp, text).unwrap();
            fs::rename(&tmp, &target).unwrap();
        }
        // A plain overwrite in two writes with a pause between (a slow writer): the sync
        // must not publish the first half.
        "overwrite" => {
            use std::io::Write;
            let (first, second) = text.split_at(text.len() / 2);
            let mut f = fs::File::create(&target).unwrap();
            f.write_all(first.as_bytes()).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(40));
            f.write_all(second.as_bytes()).unwrap();
        }
        other => panic!("no editor {other}"),
    }
}

#[test]
fn editor_save_patterns_sync_only_the_final_content() {
    let w = World::new();
    let (_server, _data, a, b) = pair_on_server(&w);
    a.write("notes/plan.md", "version 0", 1);
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    arrives(&b, "notes/plan.md", Some("version 0"));
    for (i, editor) in ["vim", "jetbrains", "gio", "overwrite", "vim"]
        .iter()
        .enumerate()
    {
        let text = format!(
            "version {} saved by {editor}\n{}",
            i + 1,
            "line\n".repeat(50 * i)
        );
        editor_save(&a, "notes/plan.md", &text, editor);
        arrives(&b, "notes/plan.md", Some(&text));
    }
    std::thread::sleep(Duration::from_millis(400));
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
    let names: Vec<String> = b.files().into_keys().collect();
    assert_eq!(names, ["notes/plan.md"], "only the note itself syncs");
    // No save was taken for a conflict: each editor's dance ended as one change.
    assert!(a.files().keys().all(|p| !p.starts_with(".revisions/")));
}

#[test]
fn an_agent_killed_mid_sync_restarts_and_converges_without_loss() {
    let w = World::new();
    let (_server, _data, a, b) = pair_on_server(&w);
    let agent_b = Agent::start(&b);
    let mut expected = Vec::new();
    for round in 0..3 {
        let agent_a = Agent::start(&a);
        // Enough new files that a round is still running when the kill comes.
        for i in 0..200 {
            let path = format!("r{round}/note-{i}.md");
            fs::create_dir_all(a.path(&format!("r{round}"))).unwrap();
            fs::write(a.path(&path), format!("round {round} note {i}")).unwrap();
            expected.push(path);
        }
        std::thread::sleep(Duration::from_millis(150 + 60 * round as u64));
        agent_a.kill();
    }
    let agent_a = Agent::start(&a);
    for path in &expected {
        let text = a
            .read(path)
            .expect("a note the kill lost on its own device");
        arrives(&b, path, Some(&text));
    }
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
}

/// Wait until `d`'s agent has finished its rounds and has nothing pending.
fn settled(d: &Device) -> serde_json::Value {
    eventually(LIMIT, || {
        let s = d.status();
        s["agent"]["state"] == "idle" && s["agent"]["pending"] == false
    })
    .unwrap_or_else(|()| panic!("{}: the agent never settled: {}", d.name, d.status()));
    d.status()
}

fn rounds(d: &Device) -> u64 {
    settled(d)["agent"]["rounds"].as_u64().expect("rounds")
}

#[test]
fn own_writes_never_bounce_and_a_round_looks_only_at_what_changed() {
    let w = World::new();
    let (server, _data, a, b) = pair_on_server(&w);
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    fs::write(a.path("first.md"), "warm up").unwrap();
    arrives(&b, "first.md", Some("warm up"));
    let (ra, rb) = (rounds(&a), rounds(&b));

    fs::write(a.path("second.md"), "one round on each side").unwrap();
    arrives(&b, "second.md", Some("one round on each side"));
    // Longer than the debounce's cap: an echo of the file B just wrote would have started.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        (rounds(&a), rounds(&b)),
        (ra + 1, rb + 1),
        "one push and one pull, and nothing more:\n--- a\n{}\n--- b\n{}",
        agent_a.log().join("\n"),
        agent_b.log().join("\n")
    );
    // A's push looked only at the folder of the saved note, not at the whole vault.
    let pushed = agent_a
        .log()
        .into_iter()
        .rfind(|l| l.contains("synced") && l.contains("Pushed"))
        .expect("a push was logged");
    assert!(pushed.contains("scoped=true"), "{pushed}");

    // Folders the pull creates are no news either.
    let (ra, rb) = (rounds(&a), rounds(&b));
    fs::create_dir_all(a.path("projects/new")).unwrap();
    fs::write(a.path("projects/new/plan.md"), "in new folders").unwrap();
    arrives(&b, "projects/new/plan.md", Some("in new folders"));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        rounds(&b),
        rb + 1,
        "b pulled once:\n{}",
        agent_b.log().join("\n")
    );
    // On the writing side, creating the folders and the note may be one burst or two.
    assert!(rounds(&a) <= ra + 2, "{}", agent_a.log().join("\n"));

    // B edits what it was just sent: that is news, not an echo.
    fs::write(b.path("second.md"), "edited on b").unwrap();
    arrives(&a, "second.md", Some("edited on b"));
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
    assert!(a.revisions_holding("one round on each side").is_empty());
    drop(server);
}

#[test]
fn status_says_syncing_while_a_slow_upload_runs() {
    let w = World::new();
    // The desktop's uplink: 256 KiB/s.
    let (server, relay, a, b) = pair_behind_relay(&w, "laptop", "desktop", 256 * 1024);
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    settled(&b);
    let mut big = vec![0u8; 1024 * 1024];
    blake3::Hasher::new()
        .update(b"incompressible")
        .finalize_xof()
        .fill(&mut big);
    fs::write(b.path("scan.pdf"), &big).unwrap();
    eventually(LIMIT, || b.status()["agent"]["state"] == "syncing")
        .unwrap_or_else(|()| panic!("never syncing: {}", b.status()));
    let during = b.status();
    assert_eq!(
        (&during["agent"]["state"], &during["agent"]["pending"]),
        (&"syncing".into(), &true.into()),
        "{during}\n{}",
        agent_b.log().join("\n")
    );
    eventually(LIMIT, || {
        fs::read(a.path("scan.pdf")).ok() == Some(big.clone())
    })
    .unwrap_or_else(|()| panic!("the upload never arrived: {}", b.status()));
    let after = settled(&b);
    assert_eq!(after["agent"]["last_outcome"], "pushed", "{after}");
    assert!(relay.sent() > big.len() as u64);
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    drop(server);
}

/// A laptop off the network while the other device goes on working: many snapshots, a
/// renamed folder, a deletion, an edit of a note the laptop also edited a week ago. When
/// it is back, everything converges with nothing lost, and without waiting for the agent's
/// long backoff.
#[test]
fn a_device_offline_for_a_week_catches_up_without_loss() {
    let w = World::new();
    let (server, relay, a, b) = pair_behind_relay(&w, "desktop", "laptop", 1 << 30);
    for i in 0..10 {
        a.write(&format!("journal/day-{i:02}.md"), &format!("day {i}"), i);
    }
    a.write("projects/alpha/plan.md", "the plan", 20);
    a.write("shared.md", "shared, first version", 21);
    let agent_a = Agent::start(&a);
    let agent_b = Agent::start(&b);
    arrives(&b, "shared.md", Some("shared, first version"));
    arrives(&b, "projects/alpha/plan.md", Some("the plan"));

    relay.set_cut(true);
    // The laptop's week: an edit (dated a week back), an edit of a note the desktop will
    // delete, new notes, a deletion.
    let week_ago = std::time::SystemTime::now() - Duration::from_secs(7 * 24 * 3600);
    fs::write(b.path("shared.md"), "shared, the laptop's old edit").unwrap();
    filetime::set_file_mtime(b.path("shared.md"), week_ago.into()).unwrap();
    fs::write(b.path("journal/day-03.md"), "day 3, kept on the laptop").unwrap();
    for i in 0..5 {
        fs::create_dir_all(b.path("offline")).unwrap();
        fs::write(b.path(&format!("offline/new-{i}.md")), format!("new {i}")).unwrap();
    }
    fs::remove_file(b.path("journal/day-05.md")).unwrap();
    agent_b.wait_for_log("offline");
    assert_eq!(b.status()["agent"]["state"], "offline");

    // The desktop's week: thirty snapshots and more.
    for i in 0..30 {
        fs::create_dir_all(a.path("log")).unwrap();
        fs::write(
            a.path(&format!("log/entry-{i:02}.md")),
            format!("entry {i}"),
        )
        .unwrap();
        settled(&a);
    }
    fs::write(a.path("shared.md"), "shared, the desktop's new edit").unwrap();
    fs::remove_file(a.path("journal/day-03.md")).unwrap();
    fs::rename(a.path("projects/alpha"), a.path("projects/archive-alpha")).unwrap();
    settled(&a);
    assert_eq!(b.status()["agent"]["state"], "offline");

    relay.set_cut(false);
    arrives(&b, "log/entry-29.md", Some("entry 29"));
    arrives(&a, "offline/new-4.md", Some("new 4"));
    settled(&a);
    settled(&b);
    // The agents may still be exchanging the last merge: the two folders agree once both
    // are quiet on the same snapshot.
    eventually(LIMIT, || a.base() == b.base() && a.files() == b.files()).unwrap_or_else(|()| {
        panic!(
            "never converged\n--- a\n{}\n--- b\n{}",
            agent_a.log().join("\n"),
            agent_b.log().join("\n")
        )
    });
    for d in [&a, &b] {
        assert_eq!(
            d.read("shared.md").as_deref(),
            Some("shared, the desktop's new edit")
        );
        assert_eq!(
            d.revisions_holding("shared, the laptop's old edit").len(),
            1,
            "{}: the losing edit is kept",
            d.name
        );
        assert_eq!(
            d.read("journal/day-03.md").as_deref(),
            Some("day 3, kept on the laptop"),
            "the edit wins over the deletion"
        );
        assert_eq!(d.read("journal/day-05.md"), None);
        assert_eq!(d.read("projects/alpha/plan.md"), None);
        assert_eq!(
            d.read("projects/archive-alpha/plan.md").as_deref(),
            Some("the plan")
        );
    }
    let log = agent_b.log();
    assert_eq!(
        log.iter().filter(|l| l.contains("offline:")).count(),
        1,
        "{}",
        log.join("\n")
    );
    assert!(log.iter().any(|l| l.contains("reachable again")));
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a, &b]);
    drop(server);
}

/// inotify needs one watch per folder; a limit too low for the vault is refused at start with
/// the fix, not left to miss changes. The limit is lowered for this test only, inside a user
/// namespace (whose inotify limits are its own: /proc/sys/user/max_inotify_watches).
#[test]
fn a_watch_limit_too_low_for_the_vault_is_refused_with_the_fix() {
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: this machine cannot make a user namespace (`unshare --user`)");
        return;
    }
    let w = World::new();
    let a = w.device("laptop");
    for i in 0..20 {
        a.write(&format!("folder-{i:02}/note.md"), "a note", i);
    }
    a.init();
    let watch = a.command("watch", &[]);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 5 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"")
        .arg(watch.get_program())
        .args(watch.get_args());
    for (key, value) in watch.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("fs.inotify.max_user_watches")
            && stderr.contains("sudo sysctl fs.inotify.max_user_watches=524288")
            && stderr.contains(&a.root.display().to_string()),
        "{stderr}"
    );
    assert!(
        !a.path(".vault/agent.sock").exists(),
        "the socket is removed"
    );
}
