//! End-to-end tests of syncing through a real `vault-server` process: every device is a real
//! folder driven by real `syncd` processes over real sockets on 127.0.0.1 (HTTP, HTTPS with a
//! CA made in the test, a forward proxy), and every outcome is checked on the files, on the
//! server's hub folders, and by `syncd verify` against the server.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::hostile::{Hostile, poison_hub};
use common::proxy::{Proxy, Relay};
use common::server::{Server, device_list, server_cmd};
use common::tls::private_ca;
use common::{Device, World, assert_converged, libfaketime};
use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::sync::Outcome;

const PASSWORD: &str = "correct horse battery";

fn add_user(data: &Path, user: &str) {
    common::server::add_user(data, user, PASSWORD);
}

/// A server on loopback (plain HTTP) with the account `alice`.
fn server_with_alice(w: &World, extra: &[&str]) -> (Server, PathBuf) {
    let data = w.path().join("server-data");
    add_user(&data, "alice");
    (Server::start(&data, extra), data)
}

/// The hub folder the server keeps `user`'s vault `vault` in.
fn server_hub(data: &Path, user: &str, vault: &str) -> FolderHub {
    FolderHub::open(&data.join("vaults").join(user).join(vault)).unwrap()
}

/// The check `name` of a `syncd doctor --json` report.
fn doctor_check(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["checks"]
        .as_array()
        .expect("a list of checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
        .clone()
}

/// A device of `alice` that joined the server and synced once.
fn joined<'w>(w: &'w World, server: &Server, name: &str) -> Device<'w> {
    let d = w.device(name);
    d.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    d.sync();
    d
}

fn device_id(data: &Path, user: &str, device_name: &str) -> String {
    let list = device_list(data, user);
    list.iter()
        .find(|d| d["name"] == device_name)
        .unwrap_or_else(|| panic!("no device {device_name} in {list:?}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_desktop_vault_fills_a_new_server_and_a_new_device_downloads_it() {
    let w = World::new();
    let data = w.path().join("server-data");
    let mut server = Server::start(&data, &[]);
    let setup = server.setup_token();

    // Flow 1: an existing vault creates the first account with the setup token.
    let desktop = w.device("desktop");
    desktop.write("inbox.md", "- [ ] call Ann\n", 1);
    desktop.write("projects/vault sync.md", "# Plan\nünïcode ✓ 日本語\r\n", 2);
    fs::create_dir_all(desktop.path("attachments")).unwrap();
    let picture: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(desktop.path("attachments/pic.png"), &picture).unwrap();
    let joined = desktop
        .join_server(&server.url, "alice", PASSWORD, &["--setup-token", &setup])
        .ok();
    assert!(
        joined.stdout.contains("new vault `desktop`"),
        "{}",
        joined.stdout
    );
    // The password is stored nowhere on the device; the token is the owner's only.
    for entry in fs::read_dir(desktop.path(".vault")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(PASSWORD),
                "{} holds the password",
                path.display()
            );
        }
    }
    let mode = fs::metadata(desktop.path(".vault/token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let up = desktop.sync();
    assert_eq!(up.outcome, Outcome::Pushed, "{up:?}");
    assert!(
        up.stats.bytes_sent >= picture.len() as u64,
        "{:?}",
        up.stats
    );
    // The server keeps the vault as an ordinary hub folder, with the tree the device has.
    let hub = server_hub(&data, "alice", "desktop");
    assert_eq!(hub.head().unwrap(), up.head);
    assert_eq!(hub.verify_tree().unwrap(), up.tree);
    desktop.assert_verified();

    // The setup token worked once.
    let late = w.device("intruder");
    let refused = late
        .join_server(&server.url, "mallory", PASSWORD, &["--setup-token", &setup])
        .failed();
    assert!(
        refused.stderr.contains("accounts already"),
        "{}",
        refused.stderr
    );
    assert!(!late.path(".vault").exists());

    // Flow 2: a new, empty device joins the account's only vault and downloads everything.
    let laptop = w.device("laptop");
    let joined = laptop.join_server(&server.url, "alice", PASSWORD, &[]).ok();
    assert!(
        joined
            .stdout
            .contains("vault `desktop` on the server at snapshot"),
        "{}",
        joined.stdout
    );
    let down = laptop.sync();
    assert_eq!(down.outcome, Outcome::Pulled, "{down:?}");
    assert_converged(&[&desktop, &laptop]);
    assert_eq!(
        fs::read(laptop.path("attachments/pic.png")).unwrap(),
        picture
    );
    assert_eq!(laptop.mtime("inbox.md"), desktop.mtime("inbox.md"));

    // Each device has its own token on the server.
    let desktop_id = device_id(&data, "alice", "desktop");
    let laptop_id = device_id(&data, "alice", "laptop");
    assert_ne!(desktop_id, laptop_id);
}

#[test]
fn a_hub_folder_moved_into_the_server_is_served_and_devices_switch_without_copying() {
    let w = World::new();
    let a = w.device("laptop");
    a.write("a.md", "alpha", 1);
    a.write("notes/b.md", "beta", 2);
    a.init().sync();
    let b = w.device("desktop");
    b.init().sync();

    let data = w.path().join("server-data");
    add_user(&data, "alice");
    fs::create_dir_all(data.join("vaults/alice")).unwrap();
    fs::rename(&w.hub, data.join("vaults/alice/notes")).unwrap();
    let server = Server::start(&data, &[]);
    for d in [&a, &b] {
        fs::rename(
            d.path(".vault"),
            w.path().join(format!("{}-old-state", d.name)),
        )
        .unwrap();
        let joined = d
            .join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
            .ok();
        assert!(joined.stdout.contains("at snapshot"), "{}", joined.stdout);
        let report = d.sync();
        assert_eq!(report.stats.files_written, 0, "{}: {report:?}", d.name);
        assert!(report.conflicts.is_empty(), "{}: {report:?}", d.name);
        // Only the trees and the snapshot come down; nothing goes up.
        assert_eq!(report.outcome, Outcome::UpToDate, "{}: {report:?}", d.name);
        assert_eq!(report.stats.objects_sent, 0, "{}: {report:?}", d.name);
        assert_eq!(report.stats.objects_received, 3, "{}: {report:?}", d.name);
    }
    assert_converged(&[&a, &b]);
    assert!(a.revisions_holding("alpha").is_empty());
}

#[test]
fn a_hostile_answer_from_the_server_is_refused_and_the_folder_is_left_untouched() {
    for how in [
        Hostile::DotDot,
        Hostile::StateDir,
        Hostile::Slash,
        Hostile::BadBlob,
    ] {
        let w = World::new();
        let (server, data) = server_with_alice(&w, &[]);
        let a = w.device("laptop");
        a.write("keep.md", "mine", 1);
        a.write("d/n.md", "note", 2);
        a.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
            .ok();
        a.sync();
        a.write("local-edit.md", "not synced yet", 3);
        // What a compromised server (or its damaged disk) would answer.
        let hub_dir = data.join("vaults/alice/notes");
        poison_hub(&hub_dir, how);
        let head = server_hub(&data, "alice", "notes").head().unwrap();
        let base = a.base();
        let before = common::folder_state(&a.root);
        if let Hostile::BadBlob = how {
            // A damaged blob fails only the files that need it (issue 15, point 10): they are
            // not written and are named as skipped (exit 3), and the local edit is still
            // published.
            let run = a.run("sync", &[]).expect_code(3);
            for path in ["`d/n.md` is damaged", "`evil.md` is damaged"] {
                assert!(run.stdout.contains(path), "{run:?}");
            }
            assert_eq!(common::folder_state(&a.root), before, "the folder changed");
            assert_eq!(a.base(), base, "base moved");
            assert_ne!(server_hub(&data, "alice", "notes").head().unwrap(), head);
            continue;
        }
        let run = a.run("sync", &[]).failed();
        let why = "cannot be used";
        assert!(run.stderr.contains(why), "{how:?}: {}", run.stderr);
        assert_eq!(
            common::folder_state(&a.root),
            before,
            "{how:?}: the folder changed"
        );
        assert_eq!(a.base(), base, "{how:?}: base moved");
        assert_eq!(server_hub(&data, "alice", "notes").head().unwrap(), head);
        assert!(!w.path().join("escape.md").exists());
    }
}

#[test]
fn an_account_keeps_several_vaults_chosen_by_name() {
    let w = World::new();
    let (server, data) = server_with_alice(&w, &[]);
    let work = w.device("work");
    work.write("plan.md", "work plan", 1);
    work.join_server(&server.url, "alice", PASSWORD, &[]).ok();
    work.sync();
    let home = w.device("home");
    home.write("recipes.md", "soup", 1);
    home.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "home"])
        .ok();
    home.sync();
    assert!(server_hub(&data, "alice", "work").head().unwrap().is_some());
    assert!(server_hub(&data, "alice", "home").head().unwrap().is_some());
    let status = home.run("status", &[]).ok();
    assert!(
        status.stdout.contains("vault `home`, account `alice`"),
        "{}",
        status.stdout
    );

    // With two vaults, a new device must say which one it wants; then it gets only that one.
    let laptop = w.device("laptop");
    let run = laptop
        .join_server(&server.url, "alice", PASSWORD, &[])
        .failed();
    assert!(
        run.stderr.contains("home, work") && run.stderr.contains("--vault-name"),
        "{}",
        run.stderr
    );
    assert!(!laptop.path(".vault").exists());
    laptop
        .join_server(&server.url, "alice", PASSWORD, &["--vault-name", "work"])
        .ok();
    laptop.sync();
    assert_converged(&[&work, &laptop]);
    assert_eq!(laptop.read("recipes.md"), None);
}

#[test]
fn a_wrong_password_or_unknown_account_leaves_the_folder_as_it_was() {
    let w = World::new();
    let (server, _data) = server_with_alice(&w, &[]);
    let phone = w.device("phone");
    phone.write("keep.md", "mine", 1);
    let before = common::folder_state(&phone.root);
    for (user, password) in [("alice", "not the password"), ("nobody", PASSWORD)] {
        let run = phone.join_server(&server.url, user, password, &[]).failed();
        assert!(
            run.stderr.contains("wrong user name or password"),
            "{user}: {}",
            run.stderr
        );
        assert!(
            !phone.path(".vault").exists(),
            "{user}: .vault/ was created"
        );
        assert_eq!(common::folder_state(&phone.root), before);
    }
    // The password must come on standard input, never in argv.
    let vault = phone.root.display().to_string();
    let run = w
        .syncd(&[
            "init",
            "--vault",
            &vault,
            "--hub",
            &server.url,
            "--user",
            "alice",
        ])
        .failed();
    assert!(run.stderr.contains("--password-stdin"), "{}", run.stderr);
    // Plain HTTP to another machine is refused before anything is sent.
    let run = phone
        .join_server("http://192.0.2.1:7878", "alice", PASSWORD, &[])
        .failed();
    assert!(run.stderr.contains("unencrypted"), "{}", run.stderr);
    // Server options without a server are a usage mistake, named as such.
    let run = w
        .syncd(&["init", "--vault", &vault, "--user", "alice"])
        .failed();
    assert!(run.stderr.contains("server hub"), "{}", run.stderr);
    assert!(!phone.path(".vault").exists());
}

#[test]
fn three_devices_converge_through_the_server_and_keep_both_sides_of_a_conflict() {
    let w = World::new();
    let (server, data) = server_with_alice(&w, &[]);
    let a = w.device("laptop");
    a.write("shared.md", "version 0", 1);
    a.write("old.md", "to be deleted", 1);
    a.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    a.sync();
    let b = joined(&w, &server, "desktop");
    let c = joined(&w, &server, "phone");
    assert_converged(&[&a, &b, &c]);

    a.write("shared.md", "laptop's edit", 100);
    b.write("shared.md", "desktop's edit, the newer", 200);
    c.write("from-phone.md", "written on the phone", 50);
    c.remove("old.md");
    for d in [&a, &b, &c, &a, &b] {
        d.sync();
    }
    assert_converged(&[&a, &b, &c]);
    assert_eq!(
        a.read("shared.md").as_deref(),
        Some("desktop's edit, the newer")
    );
    assert_eq!(
        a.read("from-phone.md").as_deref(),
        Some("written on the phone")
    );
    assert_eq!(a.read("old.md"), None);
    for d in [&a, &b, &c] {
        assert_eq!(d.revisions_holding("laptop's edit").len(), 1, "{}", d.name);
    }
    let hub = server_hub(&data, "alice", "notes");
    assert_eq!(hub.verify_tree().unwrap(), a.sync().tree);
}

#[test]
fn two_devices_pushing_at_once_lose_no_update() {
    let w = World::new();
    let (server, _data) = server_with_alice(&w, &[]);
    let a = joined(&w, &server, "laptop");
    let b = joined(&w, &server, "desktop");
    for round in 0..4 {
        a.write(
            &format!("laptop-{round}.md"),
            &format!("laptop {round}"),
            10 + round,
        );
        b.write(
            &format!("desktop-{round}.md"),
            &format!("desktop {round}"),
            10 + round,
        );
        a.write(
            "shared.md",
            &format!("laptop's edit {round}"),
            100 + 2 * round,
        );
        b.write(
            "shared.md",
            &format!("desktop's edit {round}"),
            101 + 2 * round,
        );
        common::sync_at_once(&[&a, &b]);
    }
    a.sync();
    b.sync();
    assert_converged(&[&a, &b]);
    for round in 0..4 {
        assert_eq!(
            a.read(&format!("laptop-{round}.md")),
            Some(format!("laptop {round}"))
        );
        assert_eq!(
            a.read(&format!("desktop-{round}.md")),
            Some(format!("desktop {round}"))
        );
        // Every losing edit of the shared note is kept: the laptop's always lost (older).
        assert_eq!(
            a.revisions_holding(&format!("laptop's edit {round}")).len(),
            1,
            "round {round}: {:?}",
            a.files().keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(a.read("shared.md").as_deref(), Some("desktop's edit 3"));
}

#[test]
fn a_revoked_device_is_refused_at_once_and_can_log_in_again() {
    let w = World::new();
    let (server, data) = server_with_alice(&w, &[]);
    let a = joined(&w, &server, "laptop");
    let head = server_hub(&data, "alice", "notes").head().unwrap();
    let id = device_id(&data, "alice", "laptop");
    let out = server_cmd(
        &[
            "device",
            "revoke",
            "alice",
            &id,
            "--data",
            data.to_str().unwrap(),
        ],
        "",
    );
    common::assert_success(&out, "sync");

    a.write("after-revoke.md", "must not reach the server", 5);
    let run = a.run("sync", &[]).failed();
    assert!(run.stderr.contains("syncd login"), "{}", run.stderr);
    assert_eq!(server_hub(&data, "alice", "notes").head().unwrap(), head);
    assert_eq!(
        a.read("after-revoke.md").as_deref(),
        Some("must not reach the server")
    );
    let doctor = a.run("doctor", &["--json"]).failed().json();
    let login = doctor_check(&doctor, "login");
    assert_eq!(login["status"], "fail", "{doctor}");
    assert!(
        login["fix"].as_str().unwrap().contains("syncd login"),
        "{doctor}"
    );

    // A wrong password does not bring it back; the right one does, with a new token.
    let vault = a.root.display().to_string();
    let login_args = ["login", "--vault", vault.as_str(), "--password-stdin"];
    w.syncd_input(&login_args, "guess\n").failed();
    let old_token = fs::read_to_string(a.path(".vault/token")).unwrap();
    w.syncd_input(&login_args, &format!("{PASSWORD}\n")).ok();
    assert_ne!(
        fs::read_to_string(a.path(".vault/token")).unwrap(),
        old_token
    );
    let report = a.sync();
    assert_eq!(report.outcome, Outcome::Pushed);
    assert_eq!(
        server_hub(&data, "alice", "notes").head().unwrap(),
        report.head
    );
}

#[test]
fn one_account_never_reaches_another_accounts_vault() {
    let w = World::new();
    let (server, data) = server_with_alice(&w, &[]);
    add_user(&data, "bob");
    let a = w.device("alice-laptop");
    a.write("diary.md", "alice's secret", 1);
    a.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    a.sync();

    // Bob asks for a vault of the same name: he gets his own, new and empty.
    let b = w.device("bob-laptop");
    b.write("bob.md", "bob's note", 1);
    let joined = b
        .join_server(&server.url, "bob", PASSWORD, &["--vault-name", "notes"])
        .ok();
    assert!(
        joined.stdout.contains("new vault `notes`"),
        "{}",
        joined.stdout
    );
    b.sync();
    a.sync();
    assert_eq!(b.read("diary.md"), None);
    assert_eq!(a.read("bob.md"), None);
    assert_ne!(
        server_hub(&data, "alice", "notes").head().unwrap(),
        server_hub(&data, "bob", "notes").head().unwrap()
    );
    // Bob's token cannot read Alice's vault by any name: it is not there for him (404).
    let bob_token = fs::read_to_string(b.path(".vault/token")).unwrap();
    let res = common::server::client()
        .get(format!("{}/api/v1/vaults/notes/head", server.url))
        .bearer_auth(bob_token.trim())
        .send()
        .unwrap();
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(
        body["head"].as_str(),
        server_hub(&data, "bob", "notes")
            .head()
            .unwrap()
            .map(|h| h.to_hex())
            .as_deref()
    );
    let res = common::server::client()
        .get(format!("{}/api/v1/vaults/alices-other/head", server.url))
        .bearer_auth(bob_token.trim())
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

#[test]
fn tls_with_a_private_ca_works_and_an_untrusted_certificate_is_refused() {
    let w = World::new();
    let tls = private_ca(w.path(), "hub");
    let other = private_ca(w.path(), "other");
    let args = tls.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, data) = server_with_alice(&w, &args);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    let d = w.device("laptop");
    d.write("a.md", "over TLS", 1);
    for trusted in [None, Some(&other.ca)] {
        let mut extra = vec![];
        if let Some(ca) = trusted {
            extra = vec!["--ca-cert", ca.to_str().unwrap()];
        }
        let run = d
            .join_server(&server.url, "alice", PASSWORD, &extra)
            .failed();
        assert!(run.stderr.contains("certificate"), "{}", run.stderr);
        assert!(run.stderr.contains("--ca-cert"), "{}", run.stderr);
        assert!(!d.path(".vault").exists());
    }
    let ca = tls.ca.to_str().unwrap();
    d.join_server(
        &server.url,
        "alice",
        PASSWORD,
        &["--ca-cert", ca, "--vault-name", "notes"],
    )
    .ok();
    let report = d.sync();
    assert_eq!(report.outcome, Outcome::Pushed);
    assert_eq!(
        server_hub(&data, "alice", "notes").head().unwrap(),
        report.head
    );
    d.assert_verified();
    let doctor = d.run("doctor", &["--json"]).ok().json();
    assert_eq!(doctor["ok"], true, "{doctor}");

    // The emergency switch works, is stored, and warns on every sync.
    let e = w.device("desktop");
    let run = e
        .join_server(&server.url, "alice", PASSWORD, &["--insecure-skip-verify"])
        .ok();
    assert!(
        run.stderr.contains("certificate checks are OFF"),
        "{}",
        run.stderr
    );
    let config = fs::read_to_string(e.path(".vault/config.toml")).unwrap();
    assert!(config.contains("insecure_skip_verify = true"), "{config}");
    for _ in 0..2 {
        let run = e.run("sync", &["--json"]).ok();
        assert!(
            run.stderr.contains("certificate checks are OFF"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(e.read("a.md").as_deref(), Some("over TLS"));
    let doctor = e.run("doctor", &["--json"]).ok().json();
    let tls_check = doctor_check(&doctor, "tls");
    assert_eq!(tls_check["status"], "warn", "{doctor}");
}

#[test]
fn sync_goes_through_an_explicit_or_system_proxy() {
    let w = World::new();
    let tls = private_ca(w.path(), "hub");
    let args = tls.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, _data) = server_with_alice(&w, &args);
    let addr = server.addr();
    let proxy = Proxy::start();
    let ca = tls.ca.to_str().unwrap();

    let d = w.device("laptop");
    d.write("a.md", "through the proxy", 1);
    d.join_server(
        &server.url,
        "alice",
        PASSWORD,
        &["--ca-cert", ca, "--proxy", &proxy.url],
    )
    .ok();
    let after_init = proxy.tunnels_to(&addr);
    assert!(after_init > 0, "init did not use the proxy");
    d.sync();
    let after_sync = proxy.tunnels_to(&addr);
    assert!(after_sync > after_init, "sync did not use the proxy");
    let doctor = d.run("doctor", &[]).ok();
    assert!(doctor.stdout.contains(&proxy.url), "{}", doctor.stdout);

    // Without a proxy in the config, the system's variables apply, and NO_PROXY is honoured.
    let e = w.device("desktop");
    e.join_server(&server.url, "alice", PASSWORD, &["--ca-cert", ca])
        .ok();
    let before = proxy.tunnels_to(&addr);
    let out = e
        .command("sync", &["--json"])
        .env("HTTPS_PROXY", &proxy.url)
        .output()
        .unwrap();
    common::assert_success(&out, "sync");
    assert_eq!(e.read("a.md").as_deref(), Some("through the proxy"));
    let with_system_proxy = proxy.tunnels_to(&addr);
    assert!(with_system_proxy > before, "HTTPS_PROXY was not used");
    let out = e
        .command("sync", &["--json"])
        .env("HTTPS_PROXY", &proxy.url)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    common::assert_success(&out, "sync");
    assert_eq!(
        proxy.tunnels_to(&addr),
        with_system_proxy,
        "NO_PROXY was ignored"
    );

    // A proxy that is not there is an error that names it, not a silent direct connection.
    let config_path = e.path(".vault/config.toml");
    let config = fs::read_to_string(&config_path).unwrap();
    fs::write(
        &config_path,
        format!("{config}proxy = \"http://127.0.0.1:9\"\n"),
    )
    .unwrap();
    let run = e.run("sync", &[]).failed();
    assert!(run.stderr.contains("cannot be reached"), "{}", run.stderr);
    let doctor = e.run("doctor", &[]).failed();
    assert!(doctor.stdout.contains("FAIL connect"), "{}", doctor.stdout);
}

/// Run `cmd` with its clock moved by `offset` (libfaketime syntax: `+10m`, `-2h`).
fn with_clock_moved(cmd: &mut std::process::Command, offset: &str) -> std::process::Output {
    cmd.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap()
}

fn skewed(d: &Device, command: &str, offset: &str) -> std::process::Output {
    with_clock_moved(&mut d.command(command, &[]), offset)
}

#[test]
fn a_clock_more_than_five_minutes_off_is_refused_with_how_much() {
    let w = World::new();
    let (server, data) = server_with_alice(&w, &[]);
    let a = joined(&w, &server, "laptop");
    let head = server_hub(&data, "alice", "notes").head().unwrap();
    a.write("late.md", "written on a machine with a wrong clock", 5);
    for (offset, words) in [
        ("+10m", ["ahead of", "(10 min 0 s)"]),
        ("-2h", ["behind", "(2 h 0 min)"]),
    ] {
        let out = skewed(&a, "sync", offset);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{offset}: {stderr}");
        for word in words {
            assert!(stderr.contains(word), "{offset}: {stderr}");
        }
        assert!(stderr.contains("NTP"), "{stderr}");
        assert_eq!(server_hub(&data, "alice", "notes").head().unwrap(), head);
    }
    // Within the 5 minutes, the round goes ahead.
    let out = skewed(&a, "sync", "+4m");
    common::assert_success(&out, "sync");
    assert_ne!(server_hub(&data, "alice", "notes").head().unwrap(), head);

    // A device whose clock is off cannot join either, and no state is left behind.
    let b = w.device("desktop");
    fs::create_dir_all(&b.root).unwrap();
    let vault = b.root.display().to_string();
    let out = with_clock_moved(
        &mut w.command(&[
            "init",
            "--vault",
            &vault,
            "--hub",
            &server.url,
            "--user",
            "alice",
            "--password-stdin",
        ]),
        "+1d",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ahead") && stderr.contains("1 d 0 h"),
        "{stderr}"
    );
    assert!(!b.path(".vault").exists());
}

/// Stop the server with `signal` while a device's upload of new attachments is halfway
/// through (a slow relay between them makes the halfway point observable).
fn stop_server_mid_upload(signal: i32) {
    let w = World::new();
    let (server, data) = server_with_alice(&w, &[]);
    let addr = server.addr();
    let relay = Relay::start(&addr, 4 * 1024 * 1024);
    let a = w.device("laptop");
    a.write("first.md", "before the upload", 1);
    a.join_server(&relay.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    a.sync();
    let head = server_hub(&data, "alice", "notes").head().unwrap();

    // 4 MB of new, incompressible attachments (each just under the 1 MiB from which files
    // are chunked, so each is one blob and all travel in one request): about a second
    // through the relay.
    let mut ids = Vec::new();
    fs::create_dir_all(a.path("files")).unwrap();
    for i in 0..4u32 {
        let bytes = common::noise(1000 * 1024, u64::from(i) + 1);
        ids.push(vault::ObjectId::of(&bytes));
        fs::write(a.path(&format!("files/{i}.bin")), bytes).unwrap();
    }
    let before = relay.sent();
    let child = a.command("sync", &["--json"]).spawn().unwrap();
    let started = std::time::Instant::now();
    while relay.sent() < before + 1024 * 1024 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the upload never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = server.signal_and_wait(signal);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the round could not have finished: {stderr}"
    );
    assert!(stderr.contains("cannot be reached"), "{stderr}");

    // What the server stored is whole, and its head did not move.
    let hub = server_hub(&data, "alice", "notes");
    assert_eq!(hub.head().unwrap(), head);
    assert!(hub.verify_tree().unwrap().is_some());
    let missing = hub.missing(&ids).unwrap();
    if signal == libc::SIGTERM {
        // Graceful: the upload in flight was received and stored before the server exited.
        assert!(status.success(), "{status:?}");
        assert!(
            missing.is_empty(),
            "the in-flight upload was lost: {missing:?}"
        );
    } else {
        assert_eq!(
            missing.len(),
            ids.len(),
            "a half-received upload was stored"
        );
    }

    // The server comes back where it was; the next round completes and both sides agree.
    let server = Server::start_at(&data, &addr, &[]);
    let report = a.sync();
    assert_eq!(report.outcome, Outcome::Pushed, "{report:?}");
    a.assert_verified();
    let b = w.device("desktop");
    b.join_server(&server.url, "alice", PASSWORD, &[]).ok();
    b.sync();
    assert_converged(&[&a, &b]);
}

#[test]
fn a_server_stopped_in_the_middle_of_an_upload_stores_it_before_exiting() {
    stop_server_mid_upload(libc::SIGTERM);
}

#[test]
fn a_server_killed_in_the_middle_of_an_upload_stores_nothing_half_and_recovers() {
    stop_server_mid_upload(libc::SIGKILL);
}
