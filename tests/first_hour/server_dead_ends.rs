//! The smaller dead ends of a first hour with a server: which device the server means, a
//! device name that tells cloned machines apart, help texts and docs that are true today, a
//! setup token only from a server that listens, a failed `init` that leaves no folder behind,
//! and server messages that name a command that works for the vault at hand.

use std::fs;
use std::process::{Command, Stdio};

use crate::common::World;
use crate::common::server::{SERVER, Server, add_user, device_list, server_cmd};

const PASSWORD: &str = "correct horse battery";

/// A server on loopback with the account `alice`, and its data folder.
fn server_with_alice(w: &World) -> (Server, std::path::PathBuf) {
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    (Server::start(&data, &[]), data)
}

#[test]
fn the_device_id_status_shows_is_the_one_the_server_lists_and_revokes() {
    let w = World::new();
    let (server, data) = server_with_alice(&w);
    let laptop = w.device("laptop");
    let joined = laptop
        .join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    laptop.sync();

    let listed = device_list(&data, "alice");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let status = laptop.status();
    assert_eq!(status["server_device_id"], id, "{status}");
    let human = laptop.run("status", &[]).ok().stdout;
    assert!(human.contains(&id), "{human}");
    assert!(
        joined.stdout.contains(&id),
        "init names it: {}",
        joined.stdout
    );

    // A new login is a new device on the server: status follows it.
    let login = w.syncd_input(
        &[
            "login",
            "--vault",
            laptop.root.to_str().unwrap(),
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    login.ok();
    let newest = device_list(&data, "alice")
        .into_iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .find(|d| *d != id)
        .expect("the login made a second device");
    assert_eq!(laptop.status()["server_device_id"], newest);

    // That id is the one `device revoke` takes: the device is shut out.
    let out = server_cmd(
        &[
            "device",
            "revoke",
            "alice",
            &newest,
            "--data",
            data.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let refused = laptop.run("sync", &[]).failed();
    assert!(refused.stderr.contains("syncd login"), "{}", refused.stderr);

    // A vault from before the id was stored still reads, and says nothing of it.
    let config = laptop.path(".vault/config.toml");
    let text = fs::read_to_string(&config).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("device = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text, "the config holds the server's device id: {text}");
    fs::write(&config, old).unwrap();
    assert!(laptop.status()["server_device_id"].is_null());
}

#[test]
fn the_default_device_name_is_the_host_name_and_a_suffix_shown_at_init() {
    let w = World::new();
    let dir = w.path().join("notes");
    let hub = w.path().join("hub");
    let init = w
        .syncd(&[
            "init",
            "--vault",
            dir.to_str().unwrap(),
            "--hub",
            hub.to_str().unwrap(),
        ])
        .ok();
    let status = w
        .syncd(&["status", "--vault", dir.to_str().unwrap(), "--json"])
        .ok()
        .json();
    let name = status["device_name"].as_str().unwrap().to_string();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let suffix = name
        .strip_prefix(&format!("{}-", host.trim()))
        .unwrap_or_else(|| panic!("{name:?} is not the host name {host:?} and a suffix"));
    assert!(
        suffix.len() == 4 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name:?}"
    );
    assert!(init.stdout.contains(&name), "{}", init.stdout);
    let help = w.syncd(&["init", "--help"]).ok().stdout;
    assert!(help.contains("suffix"), "{help}");
}

/// What a help text says that is no longer true: a feature promised for later.
const PROMISES: [&str; 7] = [
    "later release",
    "in a later",
    "comes next",
    "next release",
    "not yet supported",
    "learns to sync",
    "until then",
];

fn help_texts(program: &str, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    let run = Command::new(program)
        .args(path.iter())
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(run.status.success(), "{path:?}: {run:?}");
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    // The subcommands of this one, from its "Commands:" section.
    let commands: Vec<String> = text
        .split("Commands:\n")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .take_while(|l| l.starts_with("  "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| *c != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.push((path.join(" "), text));
    for c in commands {
        path.push(c);
        help_texts(program, path, out);
        path.pop();
    }
}

#[test]
fn no_help_text_says_a_feature_comes_later() {
    for program in [SERVER, env!("CARGO_BIN_EXE_syncd")] {
        let mut texts = Vec::new();
        help_texts(program, &mut Vec::new(), &mut texts);
        assert!(texts.len() > 3, "{program}: {texts:?}");
        for (command, text) in texts {
            let lower = text.to_lowercase();
            for p in PROMISES {
                assert!(
                    !lower.contains(p),
                    "`{program} {command} --help` says {p:?}:\n{text}"
                );
            }
        }
    }
}

/// The exit codes listed after "Exit codes" in `text`: lines that start with a number, or a
/// Markdown list item that starts with one in backticks.
fn exit_codes(text: &str) -> Vec<String> {
    let from = text.find("Exit codes").expect("an exit code list");
    text[from..]
        .lines()
        .skip(1)
        .map(str::trim_start)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let l = l.strip_prefix("- `").unwrap_or(l);
            let code: String = l.chars().take_while(char::is_ascii_digit).collect();
            (!code.is_empty()).then_some(code)
        })
        .collect()
}

#[test]
fn the_readme_lists_the_exit_codes_syncd_help_lists() {
    let help = World::new().syncd(&["--help"]).ok().stdout;
    let listed = exit_codes(&help);
    assert_eq!(listed, ["0", "1", "2", "3", "64"], "{help}");
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert_eq!(exit_codes(&readme), listed);
}

#[test]
fn serve_on_a_taken_port_fails_clearly_without_a_setup_token() {
    let w = World::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = w.path().join("server-data");
    let out = Command::new(SERVER)
        .args(["serve", "--data", data.to_str().unwrap(), "--listen", &addr])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(!log.contains("setup token"), "{log}");
    assert!(
        log.contains(&addr) && log.contains("in use") && log.contains("--listen"),
        "{log}"
    );
    drop(taken);

    // A server that listens logs its address first, then the token that works there.
    let mut server = Server::start(&data, &[]);
    let token = server.setup_token();
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token:?}");
    let (_, log) = server.stop();
    let listening = log
        .iter()
        .position(|l| l.contains("listening on "))
        .unwrap();
    let setup = log.iter().position(|l| l.contains(&token)).unwrap();
    assert!(listening < setup, "{log:?}");
}

/// `syncd init --vault <dir>/new/deeper ...` failing leaves `<dir>` as it was.
fn assert_failed_init_leaves_nothing(w: &World, hub: &str, extra: &[&str]) {
    let parent = w.path().join("place");
    fs::create_dir_all(parent.join("kept-empty")).unwrap();
    fs::write(parent.join("note.md"), "mine").unwrap();
    for target in [parent.join("new/deeper"), parent.join("kept-empty")] {
        let mut args = vec!["init", "--vault", target.to_str().unwrap(), "--hub", hub];
        args.extend_from_slice(extra);
        let run = w.syncd_input(&args, "wrong password\n").failed();
        let mut left: Vec<String> = fs::read_dir(&parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["kept-empty", "note.md"], "{}", run.stderr);
        assert_eq!(fs::read_dir(parent.join("kept-empty")).unwrap().count(), 0);
    }
}

#[test]
fn a_failed_init_on_a_folder_hub_removes_the_folders_it_made() {
    let w = World::new();
    let not_a_hub = w.path().join("not-a-hub");
    fs::write(&not_a_hub, "a file, not a hub folder").unwrap();
    assert_failed_init_leaves_nothing(&w, not_a_hub.to_str().unwrap(), &[]);
}

#[test]
fn a_failed_init_on_a_server_removes_the_folders_it_made() {
    let w = World::new();
    let (server, _data) = server_with_alice(&w);
    assert_failed_init_leaves_nothing(&w, &server.url, &["--user", "alice", "--password-stdin"]);
    let (_, _) = server.stop();
    // An unreachable server likewise.
    assert_failed_init_leaves_nothing(
        &w,
        &server_url_of_nothing(),
        &["--user", "alice", "--password-stdin"],
    );
}

/// An http://127.0.0.1 URL where nothing listens.
fn server_url_of_nothing() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[test]
fn server_messages_name_commands_that_work_on_an_existing_vault() {
    let w = World::new();
    let (server, data) = server_with_alice(&w);
    let laptop = w.device("laptop");
    laptop
        .join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    laptop.sync();

    // A revoked device: log in again, in the vault it has.
    let id = device_list(&data, "alice")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
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
    assert!(out.status.success(), "{out:?}");
    let refused = laptop.run("sync", &[]).failed();
    assert!(refused.stderr.contains("syncd login"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("syncd init"), "{}", refused.stderr);

    // No token at all: the server names both ways in.
    let res = crate::common::server::client()
        .get(format!("{}/api/v1/whoami", server.url))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let body: serde_json::Value = res.json().unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("syncd login --password-stdin") && detail.contains("new folder"),
        "{detail}"
    );

    // The vault gone from the server: re-point this vault, do not init it.
    w.syncd_input(
        &[
            "login",
            "--vault",
            laptop.root.to_str().unwrap(),
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    )
    .ok();
    let addr = server.addr();
    server.stop();
    fs::remove_dir_all(data.join("vaults/alice/notes")).unwrap();
    let _server = Server::start_at(&data, &addr, &[]);
    let gone = laptop.run("sync", &[]).failed();
    assert!(gone.stderr.contains("syncd hub set"), "{}", gone.stderr);
    assert!(!gone.stderr.contains("syncd init"), "{}", gone.stderr);

    // An account without devices: both ways a device logs in.
    add_user(&data, "bob", PASSWORD);
    let out = server_cmd(
        &["device", "list", "bob", "--data", data.to_str().unwrap()],
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("syncd login") && text.contains("syncd init"),
        "{text}"
    );
}

#[test]
fn the_setup_token_line_says_how_an_existing_vault_joins() {
    let w = World::new();
    let mut server = Server::start(&w.path().join("server-data"), &[]);
    let line = server.wait_for("setup token ");
    assert!(
        line.contains("syncd hub set") && line.contains("new folder"),
        "{line}"
    );
}
