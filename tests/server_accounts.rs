//! End-to-end tests of `vault-server`'s account commands: the real binary on a real data folder.

mod common;

use std::path::Path;

use common::server::server_cmd as server;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(args: &[&str], stdin: &str) -> String {
    let out = server(args, stdin);
    assert!(
        out.status.success(),
        "vault-server {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn fails(args: &[&str], stdin: &str, code: i32) -> String {
    let out = server(args, stdin);
    assert_eq!(out.status.code(), Some(code), "vault-server {args:?}");
    text(&out.stderr)
}

#[test]
fn an_operator_manages_users_and_devices() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();

    let listed = ok(&["user", "list", "--data", d], "");
    assert!(listed.contains("no users yet"), "{listed}");
    let added = ok(
        &["user", "add", "alice", "--data", d, "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(added.contains("added user `alice`"), "{added}");
    let stored = std::fs::read_to_string(Path::new(&data).join("accounts.json")).unwrap();
    assert!(!stored.contains("correct horse"), "{stored}");

    let err = fails(
        &["user", "add", "alice", "--data", d, "--password-stdin"],
        "another password\n",
        1,
    );
    assert!(err.contains("already exists"), "{err}");
    let err = fails(
        &["user", "add", "bob", "--data", d, "--password-stdin"],
        "short\n",
        1,
    );
    assert!(err.contains("fewer than 8 characters"), "{err}");
    let err = fails(
        &["user", "add", "../bob", "--data", d, "--password-stdin"],
        "long enough\n",
        1,
    );
    assert!(err.contains("not allowed"), "{err}");
    let err = fails(
        &["user", "add", "bob", "--data", d, "--password-stdin"],
        "",
        1,
    );
    assert!(err.contains("no password on standard input"), "{err}");
    // Passwords never come from the command line.
    fails(&["user", "add", "bob", "--data", d], "long enough\n", 64);

    let json = ok(&["user", "list", "--data", d, "--json"], "");
    let users: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[0]["devices"], 0);

    ok(
        &["user", "passwd", "alice", "--data", d, "--password-stdin"],
        "a new password\r\n",
    );
    let err = fails(
        &["user", "passwd", "bob", "--data", d, "--password-stdin"],
        "a new password\n",
        1,
    );
    assert!(err.contains("there is no user `bob`"), "{err}");

    let devices = ok(&["device", "list", "alice", "--data", d], "");
    assert!(devices.contains("no devices yet"), "{devices}");
    assert_eq!(
        ok(&["device", "list", "alice", "--data", d, "--json"], "").trim(),
        "[]"
    );
    let err = fails(
        &["device", "revoke", "alice", "0123456789abcdef", "--data", d],
        "",
        1,
    );
    assert!(err.contains("has no device"), "{err}");
    let err = fails(&["device", "list", "carol", "--data", d], "", 1);
    assert!(err.contains("there is no user `carol`"), "{err}");
}
