//! A hostile server: a real `vault-server` behind [`Mangler`], a proxy that mangles its answers.

use std::path::{Path, PathBuf};

use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::hub::Hub;

use crate::common::server::{Server, add_user};
use crate::common::{Device, World, assert_converged, folder_state};
use crate::mangler::{Mangle, Mangler};

const PASSWORD: &str = "correct horse battery";

struct Setup<'w> {
    _server: Server,
    data: PathBuf,
    proxy: Mangler,
    a: Device<'w>,
    b: Device<'w>,
}

fn server_head(data: &Path, vault: &str) -> Option<ObjectId> {
    FolderHub::open(&data.join("vaults/alice").join(vault))
        .unwrap()
        .head()
        .unwrap()
}

fn join<'w>(w: &'w World, proxy: &Mangler, name: &str, vault: &str) -> Device<'w> {
    let d = w.device(name);
    d.join_server(&proxy.url, "alice", PASSWORD, &["--vault-name", vault])
        .ok();
    d.sync();
    d
}

/// Two devices in sync through the proxy (passing everything) on vault `notes`.
fn setup(w: &World) -> Setup<'_> {
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &[]);
    let proxy = Mangler::start(&server.url);
    let a = w.device("a");
    a.write("keep.md", "mine", 1);
    a.write("d/n.md", "note", 2);
    let a = {
        a.join_server(&proxy.url, "alice", PASSWORD, &["--vault-name", "notes"])
            .ok();
        a.sync();
        a
    };
    let b = join(w, &proxy, "b", "notes");
    Setup {
        _server: server,
        data,
        proxy,
        a,
        b,
    }
}

/// `a`'s round under `how` refuses, naming the hub, and changes nothing anywhere.
fn refused(s: &Setup, how: Mangle, says: &[&str]) -> String {
    let folder = folder_state(&s.a.root);
    let base = s.a.base();
    let head = server_head(&s.data, "notes");
    s.proxy.set(how.clone());
    let run = s.a.run("sync", &[]).failed();
    assert!(s.proxy.mangled() > 0, "{how:?}: nothing was mangled");
    s.proxy.set(Mangle::Pass);
    assert!(
        run.stderr.contains(&s.proxy.url),
        "{how:?}: the hub is not named: {run:?}"
    );
    for part in says {
        assert!(
            run.stderr.contains(part),
            "{how:?}: `{part}` not said: {run:?}"
        );
    }
    assert_eq!(
        folder_state(&s.a.root),
        folder,
        "{how:?}: the folder changed"
    );
    assert_eq!(s.a.base(), base, "{how:?}: base moved");
    assert_eq!(
        server_head(&s.data, "notes"),
        head,
        "{how:?}: the head moved"
    );
    run.stderr
}

#[test]
fn hostile_server_stale_head_is_refused_and_nothing_changes() {
    let w = World::new();
    let s = setup(&w);
    let stale = server_head(&s.data, "notes").unwrap();
    s.a.write("new.md", "after the stale head", 5);
    s.a.remove("keep.md");
    s.a.sync();
    s.a.write("later.md", "not synced yet", 6);
    refused(
        &s,
        Mangle::StaleHead(stale.to_string()),
        &["went back in time", &stale.short(), "--republish"],
    );
    // The cache is fixed: both devices converge, nothing lost, the delete not undone.
    s.a.sync();
    s.b.sync();
    assert_converged(&[&s.a, &s.b]);
    assert_eq!(s.b.read("later.md").as_deref(), Some("not synced yet"));
    assert_eq!(s.b.read("new.md").as_deref(), Some("after the stale head"));
    assert_eq!(s.b.read("keep.md"), None);
}

#[test]
fn hostile_server_head_that_flips_between_answers_loses_nothing() {
    let w = World::new();
    let s = setup(&w);
    let stale = server_head(&s.data, "notes").unwrap();
    s.a.write("new.md", "after the stale head", 5);
    s.a.sync();
    s.b.write("from-b.md", "b's note", 6);
    s.b.sync();
    s.a.write("later.md", "not synced yet", 7);
    s.proxy.set(Mangle::FlappingHead(stale.to_string()));
    let mut refusals = 0;
    for _ in 0..4 {
        let run = s.a.run("sync", &[]);
        if run.code != Some(0) {
            assert!(run.stderr.contains("went back in time"), "{run:?}");
            refusals += 1;
        }
        assert_ne!(s.a.base(), Some(stale.to_string()), "base went back");
        assert_eq!(s.a.read("later.md").as_deref(), Some("not synced yet"));
        assert_eq!(s.a.read("new.md").as_deref(), Some("after the stale head"));
    }
    assert!(refusals > 0, "the stale answer was never met");
    s.proxy.set(Mangle::Pass);
    s.a.sync();
    s.b.sync();
    assert_converged(&[&s.a, &s.b]);
    assert_eq!(s.a.read("from-b.md").as_deref(), Some("b's note"));
    assert_eq!(s.b.read("later.md").as_deref(), Some("not synced yet"));
}

#[test]
fn hostile_server_answering_another_vault_is_refused() {
    let w = World::new();
    let s = setup(&w);
    let o = w.device("o");
    o.write("theirs.md", "another vault", 3);
    let _o = {
        o.join_server(&s.proxy.url, "alice", PASSWORD, &["--vault-name", "other"])
            .ok();
        o.sync();
        o
    };
    s.a.write("local.md", "not synced yet", 4);
    refused(
        &s,
        Mangle::OtherVault("other".into()),
        &["holds another history", "shares nothing"],
    );
    assert!(s.a.read("theirs.md").is_none());
    assert!(
        server_head(&s.data, "other").is_some(),
        "the other vault was touched"
    );
    s.a.sync();
    s.b.sync();
    assert_converged(&[&s.a, &s.b]);
    assert_eq!(s.b.read("local.md").as_deref(), Some("not synced yet"));
}

#[test]
fn hostile_server_garbage_and_truncated_answers_change_nothing() {
    for (how, says) in [
        (Mangle::GarbageJson, "does not understand"),
        (Mangle::TruncatedObjects, "but only"),
        (Mangle::CutMidBody, "broke off"),
        (Mangle::GarbageObjects, "unknown kind"),
        (Mangle::WrongObjects, "bytes that hash to"),
    ] {
        let w = World::new();
        let s = setup(&w);
        // b publishes what a must download (and a deletion a must not over-apply).
        s.b.write("d/n.md", "note edited by b", 4);
        s.b.write("fresh.md", "new from b", 5);
        s.b.remove("keep.md");
        s.b.sync();
        s.a.write("local.md", "a's unsynced note", 6);
        refused(&s, how.clone(), &[says]);
        // Healthy again: both converge with nothing lost.
        s.a.sync();
        s.b.sync();
        assert_converged(&[&s.a, &s.b]);
        assert_eq!(s.a.read("fresh.md").as_deref(), Some("new from b"));
        assert_eq!(s.a.read("d/n.md").as_deref(), Some("note edited by b"));
        assert_eq!(s.b.read("local.md").as_deref(), Some("a's unsynced note"));
    }
}
