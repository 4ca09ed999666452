//! `syncd hub set`: a vault that synced through a hub folder moves to a server (or another
//! folder) in one command, its history along; the other devices follow; a server vault with
//! other notes is merged with; an old hub that is gone, a wrong password, a server that is
//! down; the current server with other connection settings.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::agent::Agent;
use crate::common::proxy::Proxy;
use crate::common::server::{Server, add_user};
use crate::common::tls::{TlsFiles, openssl_self_signed, private_ca};
use crate::common::{Device, Run, World, assert_converged, folder_state, noise};

const PASSWORD: &str = "correct horse battery";

/// An HTTPS server (a private CA's certificate) with the account `alice`.
fn https_server(w: &World) -> (Server, TlsFiles, PathBuf) {
    serve_with(w, private_ca(w.path(), "hub"))
}

/// An HTTPS server with the account `alice` and the certificate of `tls`.
fn serve_with(w: &World, tls: TlsFiles) -> (Server, TlsFiles, PathBuf) {
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let args = tls.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Server::start(&data, &args), tls, data)
}

/// An HTTPS server with `alice`, and the device `notes` (one note, `a.md`) synced with it.
fn laptop_on_a_server(w: &World) -> (Server, TlsFiles, Device<'_>) {
    let (server, tls, _data) = https_server(w);
    let laptop = w.device("notes");
    laptop.write("a.md", "alpha", 1);
    laptop
        .join_server(
            &server.url,
            "alice",
            PASSWORD,
            &["--ca-cert", tls.ca.to_str().unwrap()],
        )
        .ok();
    laptop.sync();
    (server, tls, laptop)
}

/// `syncd hub set TARGET --vault <d> EXTRA...`, with `input` on standard input.
fn hub_set(w: &World, d: &Device, target: &str, extra: &[&str], input: &str) -> Run {
    let vault = d.root.display().to_string();
    let mut args = vec!["hub", "set", target, "--vault", &vault];
    args.extend_from_slice(extra);
    w.syncd_input(&args, input)
}

/// `hub set` to a server as alice, trusting `ca`, with `--json`.
fn hub_set_server(w: &World, d: &Device, url: &str, ca: &Path, extra: &[&str]) -> Run {
    let ca = ca.to_str().unwrap();
    let mut args = vec![
        "--user",
        "alice",
        "--password-stdin",
        "--ca-cert",
        ca,
        "--json",
    ];
    args.extend_from_slice(extra);
    hub_set(w, d, url, &args, &format!("{PASSWORD}\n"))
}

/// The snapshot ids `syncd log --json` lists.
fn log_ids(d: &Device) -> BTreeSet<String> {
    let log = d.run("log", &["--json"]).ok().json();
    log.as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|e| e["snapshot"].as_str().unwrap().to_string())
        .collect()
}

fn config(d: &Device) -> String {
    fs::read_to_string(d.path(".vault/config.toml")).unwrap()
}

/// The default hub of the quick start for a vault folder named `name`.
fn default_hub(w: &World, name: &str) -> PathBuf {
    w.path().join("xdg/data/vault-sync/hub").join(name)
}

/// The quick start: `syncd sync` in `notes` (default hub), a second device on the same hub,
/// edits over several rounds and a conflict that made a revision.
fn quick_start(w: &World) -> (Device<'_>, Device<'_>, PathBuf) {
    let laptop = w.device("notes");
    laptop.write("a.md", "first", 1);
    laptop.write("daily/mon.md", "monday", 2);
    laptop.run("sync", &[]).ok();
    let hub = default_hub(w, "notes");
    assert!(hub.join("vault-hub.json").is_file());
    let desk = w.device("desk");
    fs::create_dir_all(&desk.root).unwrap();
    let (vault, hub_text) = (desk.root.display().to_string(), hub.display().to_string());
    w.syncd(&[
        "init", "--vault", &vault, "--hub", &hub_text, "--device", "desk",
    ])
    .ok();
    desk.sync();
    laptop.write("daily/tue.md", "tuesday", 3);
    laptop.sync();
    desk.sync();
    // Both change a.md: the second to sync keeps the other's version as a revision.
    laptop.write("a.md", "laptop's a", 4);
    desk.write("a.md", "desk's a", 5);
    laptop.sync();
    desk.sync();
    laptop.sync();
    assert_eq!(
        desk.revisions_holding("laptop's a").len() + desk.revisions_holding("desk's a").len(),
        1
    );
    (laptop, desk, hub)
}

#[test]
fn the_quick_start_vault_moves_to_a_server_with_an_openssl_certificate_and_the_other_devices_follow()
 {
    let w = World::new();
    let (laptop, desk, old_hub) = quick_start(&w);
    let before_log = log_ids(&laptop);
    assert!(before_log.len() >= 4, "{before_log:?}");
    let old_state = folder_state(&old_hub);
    // The certificate of the recipe people follow (docs/server.md): self-signed, CA:TRUE;
    // `--ca-cert` pins it.
    let (cert, key) = openssl_self_signed(w.path(), "hub", Some("IP:127.0.0.1,DNS:localhost"));
    let (server, tls, _data) = serve_with(
        &w,
        TlsFiles {
            ca: cert.clone(),
            cert,
            key,
        },
    );

    let moved = hub_set_server(&w, &laptop, &server.url, &tls.ca, &[])
        .ok()
        .json();
    assert_eq!(moved["case"], "empty", "{moved}");
    assert_eq!(
        moved["copied"]["snapshots"],
        before_log.len() as u64,
        "{moved}"
    );
    assert!(config(&laptop).contains(&server.url));
    // The history came along: the next sync is an ordinary one, with nothing to send.
    let report = laptop.sync();
    assert_eq!(report.stats.objects_sent, 0, "{report:?}");
    assert_eq!(log_ids(&laptop), before_log);

    // The second device of the folder hub follows: nothing left to copy.
    let followed = hub_set_server(&w, &desk, &server.url, &tls.ca, &[])
        .ok()
        .json();
    assert_eq!(followed["case"], "contains", "{followed}");
    assert_eq!(followed["copied"]["objects"], 0, "{followed}");
    desk.write("daily/wed.md", "wednesday", 6);
    desk.sync();
    laptop.sync();

    // A fresh third device joins the server.
    let phone = w.device("phone");
    phone
        .join_server(
            &server.url,
            "alice",
            PASSWORD,
            &["--ca-cert", tls.ca.to_str().unwrap()],
        )
        .ok();
    phone.sync();
    for d in [&laptop, &desk, &phone] {
        let log = log_ids(d);
        assert!(log.is_superset(&before_log), "{}: {log:?}", d.name);
    }
    assert_converged(&[&laptop, &desk, &phone]);
    assert_eq!(phone.read("daily/wed.md").as_deref(), Some("wednesday"));
    // The old hub was only read.
    assert_eq!(folder_state(&old_hub), old_state);
}

#[test]
fn a_vault_moved_to_a_server_vault_with_other_notes_merges_with_nothing_lost() {
    let w = World::new();
    let (server, tls, _data) = https_server(&w);
    let ca = tls.ca.to_str().unwrap();
    // Other notes on the server already, from another device.
    let other = w.device("other");
    other.write("theirs.md", "theirs", 1);
    let big = String::from_utf8(noise(200_000, 7).iter().map(|b| b'a' + b % 26).collect()).unwrap();
    other.write("same.md", &big, 2);
    other.write("clash.md", "their clash", 3);
    other
        .join_server(
            &server.url,
            "alice",
            PASSWORD,
            &["--ca-cert", ca, "--vault-name", "notes"],
        )
        .ok();
    other.sync();
    let their_log = log_ids(&other);

    // This vault on a folder hub, with a history of its own.
    let laptop = w.device("notes");
    laptop.write("mine.md", "mine v1", 1);
    laptop.write("same.md", &big, 2);
    laptop.write("clash.md", "my clash", 4);
    laptop.run("sync", &[]).ok();
    laptop.write("mine.md", "mine v2", 5);
    laptop.sync();
    // Another device of this vault published since: joining the server's notes must start
    // from its change, so the move waits until this device has synced it.
    let tablet = w.device("tablet");
    fs::create_dir_all(&tablet.root).unwrap();
    let (vault, hub) = (
        tablet.root.display().to_string(),
        default_hub(&w, "notes").display().to_string(),
    );
    w.syncd(&["init", "--vault", &vault, "--hub", &hub]).ok();
    tablet.sync();
    tablet.write("mine.md", "mine v3", 6);
    tablet.sync();
    let config_before = config(&laptop);
    let behind = hub_set_server(&w, &laptop, &server.url, &tls.ca, &[]).failed();
    assert!(
        behind.stderr.contains("has not synced"),
        "{}",
        behind.stderr
    );
    assert_eq!(config(&laptop), config_before);
    laptop.sync();
    let my_log = log_ids(&laptop);

    let moved = hub_set_server(&w, &laptop, &server.url, &tls.ca, &[])
        .ok()
        .json();
    assert_eq!(moved["case"], "graft", "{moved}");
    assert!(laptop.path(".vault/graft").is_file());
    // Moving on before the join is published would leave the grafted history behind.
    let elsewhere = w.path().join("elsewhere").display().to_string();
    let pending = hub_set(&w, &laptop, &elsewhere, &[], "").failed();
    assert!(
        pending.stderr.contains("not yet published"),
        "{}",
        pending.stderr
    );
    // The big identical file was on the server already: not sent again.
    assert!(
        moved["copied"]["bytes"].as_u64().unwrap() < 100_000,
        "{moved}"
    );
    let report = laptop.run("sync", &["--json"]).ok().report();
    assert!(report.snapshot_created, "{report:?}");
    assert!(report.stats.bytes_sent < 100_000, "{report:?}");
    other.sync();

    // Nothing lost: one version of clash.md in place, the other in .revisions/.
    for d in [&laptop, &other] {
        assert_eq!(d.read("theirs.md").as_deref(), Some("theirs"));
        assert_eq!(d.read("mine.md").as_deref(), Some("mine v3"));
        assert_eq!(d.read("same.md").as_deref(), Some(big.as_str()));
        let clash = d.read("clash.md").unwrap();
        let aside = if clash == "my clash" {
            "their clash"
        } else {
            "my clash"
        };
        assert_eq!(
            d.revisions_holding(aside).len(),
            1,
            "{}: {:?}",
            d.name,
            d.files().keys()
        );
    }
    assert_converged(&[&laptop, &other]);
    // Both histories in the log, everywhere.
    for d in [&laptop, &other] {
        let log = log_ids(d);
        assert!(log.is_superset(&my_log), "{}: {log:?}", d.name);
        assert!(log.is_superset(&their_log), "{}: {log:?}", d.name);
    }
    assert!(!laptop.path(".vault/graft").exists());
}

#[test]
fn a_vault_moves_from_one_hub_folder_to_another() {
    let w = World::new();
    let (laptop, desk, old_hub) = quick_start(&w);
    let before_log = log_ids(&laptop);
    let old_state = folder_state(&old_hub);
    let new_hub = w.path().join("nas/notes-hub");
    let target = new_hub.display().to_string();

    let moved = hub_set(&w, &laptop, &target, &["--json"], "").ok().json();
    assert_eq!(moved["case"], "empty", "{moved}");
    assert!(new_hub.join("vault-hub.json").is_file());
    assert_eq!(laptop.sync().stats.objects_sent, 0);
    let human = hub_set(&w, &desk, &target, &[], "").ok().stdout;
    assert!(human.contains("now syncs with"), "{human}");
    desk.write("b.md", "bee", 9);
    desk.sync();
    laptop.sync();
    assert_eq!(laptop.read("b.md").as_deref(), Some("bee"));
    assert_eq!(
        log_ids(&desk).intersection(&before_log).count(),
        before_log.len()
    );
    assert_converged(&[&laptop, &desk]);
    assert_eq!(folder_state(&old_hub), old_state);
    // The same folder again: nothing to do, said so.
    let again = hub_set(&w, &laptop, &target, &[], "").failed();
    assert!(
        again.stderr.contains("already syncs with"),
        "{}",
        again.stderr
    );
    // A hub inside the vault is refused.
    let inside = laptop.path("hub").display().to_string();
    hub_set(&w, &laptop, &inside, &[], "").failed();
}

#[test]
fn an_old_hub_that_is_gone_is_refused_until_no_history_is_asked_for() {
    let w = World::new();
    let laptop = w.device("notes");
    laptop.write("a.md", "alpha", 1);
    laptop.run("sync", &[]).ok();
    laptop.write("b.md", "beta", 2);
    laptop.sync();
    let old_hub = default_hub(&w, "notes");
    fs::rename(&old_hub, w.path().join("lost-hub")).unwrap();
    let config_before = config(&laptop);
    let base_before = laptop.base();
    let new_hub = w.path().join("new-hub");
    let target = new_hub.display().to_string();

    let refused = hub_set(&w, &laptop, &target, &[], "").failed();
    assert!(
        refused.stderr.contains("--no-history"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&old_hub.display().to_string()),
        "{}",
        refused.stderr
    );
    assert_eq!(config(&laptop), config_before);
    assert_eq!(laptop.base(), base_before);
    assert!(!new_hub.exists());

    let moved = hub_set(&w, &laptop, &target, &["--no-history", "--json"], "")
        .ok()
        .json();
    assert_eq!(moved["case"], "no-history", "{moved}");
    assert_eq!(laptop.base(), None);
    laptop.sync();
    let desk = w.device("desk");
    fs::create_dir_all(&desk.root).unwrap();
    let vault = desk.root.display().to_string();
    w.syncd(&["init", "--vault", &vault, "--hub", &target]).ok();
    desk.sync();
    assert_eq!(desk.read("a.md").as_deref(), Some("alpha"));
    assert_eq!(desk.read("b.md").as_deref(), Some("beta"));
}

#[test]
fn a_wrong_password_or_a_server_that_is_down_changes_nothing() {
    let w = World::new();
    let laptop = w.device("notes");
    laptop.write("a.md", "alpha", 1);
    laptop.run("sync", &[]).ok();
    let (server, tls, data) = https_server(&w);
    let config_before = config(&laptop);
    let base_before = laptop.base();
    let ca = tls.ca.to_str().unwrap();

    let wrong = hub_set(
        &w,
        &laptop,
        &server.url,
        &["--user", "alice", "--password-stdin", "--ca-cert", ca],
        "not the password\n",
    )
    .failed();
    assert!(wrong.stderr.contains("alice"), "{}", wrong.stderr);
    assert_eq!(config(&laptop), config_before);
    assert_eq!(laptop.base(), base_before);
    assert!(!laptop.path(".vault/token").exists());
    assert!(
        !data.join("vaults/alice").exists()
            || fs::read_dir(data.join("vaults/alice"))
                .unwrap()
                .next()
                .is_none()
    );

    let url = server.url.clone();
    drop(server);
    let down = hub_set_server(&w, &laptop, &url, &tls.ca, &[]).failed();
    assert!(down.stderr.contains(&url), "{}", down.stderr);
    assert_eq!(config(&laptop), config_before);
    assert_eq!(laptop.base(), base_before);
    assert!(!laptop.path(".vault/token").exists());
}

#[test]
fn the_same_server_with_another_certificate_or_proxy_changes_only_the_settings() {
    let w = World::new();
    let (server, tls, laptop) = laptop_on_a_server(&w);
    let token = fs::read_to_string(laptop.path(".vault/token")).unwrap();
    let base = laptop.base();

    // The CA moved to another file: no password needed, the token is kept.
    let moved_ca = w.path().join("certs/ca.pem");
    fs::create_dir_all(moved_ca.parent().unwrap()).unwrap();
    fs::copy(&tls.ca, &moved_ca).unwrap();
    let ca = moved_ca.display().to_string();
    let set = hub_set(&w, &laptop, &server.url, &["--ca-cert", &ca, "--json"], "")
        .ok()
        .json();
    assert_eq!(set["case"], "settings", "{set}");
    assert!(config(&laptop).contains(&ca), "{}", config(&laptop));
    assert_eq!(
        fs::read_to_string(laptop.path(".vault/token")).unwrap(),
        token
    );
    assert_eq!(laptop.base(), base);

    // A certificate that does not match: refused, nothing changed.
    let other = private_ca(w.path(), "other");
    let before = config(&laptop);
    let bad = hub_set(
        &w,
        &laptop,
        &server.url,
        &["--ca-cert", other.ca.to_str().unwrap()],
        "",
    )
    .failed();
    assert!(bad.stderr.contains("nothing was changed"), "{}", bad.stderr);
    assert_eq!(config(&laptop), before);

    // A proxy: stored, and the next sync goes through it.
    let proxy = Proxy::start();
    hub_set(&w, &laptop, &server.url, &["--proxy", &proxy.url], "").ok();
    assert!(config(&laptop).contains(&proxy.url));
    laptop.write("b.md", "beta", 2);
    laptop.sync();
    let addr = server.url.trim_start_matches("https://");
    assert!(proxy.tunnels_to(addr) > 0);
    assert_eq!(
        fs::read_to_string(laptop.path(".vault/token")).unwrap(),
        token
    );

    // `syncd login` takes the same options and stores them after the login.
    let vault = laptop.root.display().to_string();
    w.syncd_input(
        &[
            "login",
            "--vault",
            &vault,
            "--password-stdin",
            "--ca-cert",
            tls.ca.to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    )
    .ok();
    assert!(config(&laptop).contains(tls.ca.to_str().unwrap()));
}

#[test]
fn a_server_that_is_down_as_the_old_hub_is_refused_and_a_running_agent_too() {
    let w = World::new();
    let (server, _tls, laptop) = laptop_on_a_server(&w);
    let new_hub = w.path().join("folder-hub");
    let target = new_hub.display().to_string();

    // An agent syncing with the current hub: it must be stopped first.
    let agent = Agent::start(&laptop);
    let config_before = config(&laptop);
    let refused = hub_set(&w, &laptop, &target, &[], "").failed();
    assert!(refused.stderr.contains("agent"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&agent.pid().to_string()),
        "{}",
        refused.stderr
    );
    agent.stop();
    assert_eq!(config(&laptop), config_before);

    // The server is down: its history cannot be read, and the way out is named.
    drop(server);
    let down = hub_set(&w, &laptop, &target, &[], "").failed();
    assert!(down.stderr.contains("--no-history"), "{}", down.stderr);
    assert_eq!(config(&laptop), config_before);
    assert!(!new_hub.exists());
    let moved = hub_set(&w, &laptop, &target, &["--no-history", "--json"], "")
        .ok()
        .json();
    assert_eq!(moved["case"], "no-history", "{moved}");
    assert!(!laptop.path(".vault/token").exists());
    laptop.sync();
    let vault = laptop.root.display().to_string();
    let shown = w
        .syncd(&["hub", "show", "--vault", &vault, "--json"])
        .ok()
        .json();
    assert_eq!(shown["kind"], "folder", "{shown}");
    assert_eq!(shown["hub"], target.as_str(), "{shown}");
    w.syncd(&["hub", "show", "--vault", &vault]).ok();
}

/// The packs in a hub folder.
fn packs(hub: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(hub.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pack"))
        .collect()
}

#[test]
fn objects_the_old_hub_lost_come_from_this_device_or_are_named() {
    let w = World::new();
    let laptop = w.device("notes");
    laptop.write("a.md", "the old version", 1);
    laptop.run("sync", &[]).ok();
    let hub = default_hub(&w, "notes");
    let first = packs(&hub);
    laptop.write("a.md", "the new version", 2);
    laptop.sync();
    let second: BTreeSet<PathBuf> = packs(&hub).difference(&first).cloned().collect();
    assert_eq!(second.len(), 1, "{second:?}");
    let aside = w.path().join("aside");
    fs::create_dir_all(&aside).unwrap();
    let put_aside = |packs: &BTreeSet<PathBuf>| {
        for pack in packs {
            fs::rename(pack, aside.join(pack.file_name().unwrap())).unwrap();
        }
    };
    let put_back = |packs: &BTreeSet<PathBuf>| {
        for pack in packs {
            fs::rename(aside.join(pack.file_name().unwrap()), pack).unwrap();
        }
    };

    // The first round's pack is lost: its snapshot and tree are in `.vault/objects`, but the
    // old version of a.md is nowhere. The history cannot be copied whole: named, and nothing
    // changes.
    put_aside(&first);
    let config_before = config(&laptop);
    let other = w.path().join("other-hub").display().to_string();
    let refused = hub_set(&w, &laptop, &other, &[], "").failed();
    assert!(refused.stderr.contains("`a.md`"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("cannot be copied whole"),
        "{}",
        refused.stderr
    );
    assert_eq!(config(&laptop), config_before);
    put_back(&first);

    // The last round's pack is lost: its snapshot and trees are in `.vault/objects`, its blob
    // is the file itself.
    put_aside(&second);
    let target = w.path().join("new-hub").display().to_string();
    let moved = hub_set(&w, &laptop, &target, &["--json"], "").ok().json();
    assert!(
        moved["copied"]["from_this_device"].as_u64().unwrap() >= 2,
        "{moved}"
    );
    assert_eq!(laptop.sync().stats.objects_sent, 0);
    assert_eq!(log_ids(&laptop).len(), 2);
}

#[test]
fn a_vault_moves_to_a_new_server_creating_its_first_account_with_the_setup_token() {
    let w = World::new();
    let laptop = w.device("notes");
    laptop.write("a.md", "alpha", 1);
    laptop.run("sync", &[]).ok();
    laptop.write("a.md", "alpha, edited", 2);
    laptop.sync();
    let before_log = log_ids(&laptop);
    // A server without accounts, as the operator just started it (plain HTTP on loopback).
    let mut server = Server::start(&w.path().join("server-data"), &[]);
    let token = server.setup_token();

    let moved = hub_set(
        &w,
        &laptop,
        &server.url,
        &[
            "--user",
            "alice",
            "--password-stdin",
            "--setup-token",
            &token,
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    )
    .ok()
    .json();
    assert_eq!(moved["case"], "empty", "{moved}");
    let report = laptop.sync();
    assert_eq!(report.stats.objects_sent, 0, "{report:?}");
    assert_eq!(log_ids(&laptop), before_log);

    // The account exists with that password: a new device logs in with it.
    let phone = w.device("phone");
    phone.join_server(&server.url, "alice", PASSWORD, &[]).ok();
    phone.sync();
    assert_eq!(phone.read("a.md").as_deref(), Some("alpha, edited"));
    assert!(log_ids(&phone).is_superset(&before_log));
    // The token was for one use only.
    let again = w.device("again");
    again
        .join_server(&server.url, "bob", PASSWORD, &["--setup-token", &token])
        .failed();
}
