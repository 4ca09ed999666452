//! A vault inside another: `syncd init` refuses both orders, no `.vault/` folder at any depth
//! ever syncs (so another vault's state and server token never reach other devices), a hub
//! that already holds such paths from an old version is not a problem, and tokens are private.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::object::{EntryKind, FileMeta, Kind, Object, Snapshot, Tree};
use vault::refs::RefFile;
use vault::store::PackStore;

use crate::common::server::Server;
use crate::common::{World, assert_converged, at};

const PASSWORD: &str = "correct horse battery staple";

/// Every path of the hub's head, read straight from its trees (no validation, so a path a
/// device would refuse is listed too).
fn raw_hub_paths(hub_dir: &Path) -> Vec<String> {
    let hub = FolderHub::open(hub_dir).unwrap();
    let Some(head) = hub.head().unwrap() else {
        return Vec::new();
    };
    let get = |id: ObjectId| hub.get(&[id]).unwrap().remove(0).bytes;
    let snap = Snapshot::decode(&get(head)).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), snap.tree)];
    while let Some((prefix, id)) = stack.pop() {
        for (name, entry) in Tree::decode(&get(id)).unwrap().entries {
            let path = format!("{prefix}{name}");
            match entry {
                EntryKind::File(_) => out.push(path),
                EntryKind::Dir(sub) => stack.push((format!("{path}/"), sub)),
            }
        }
    }
    out.sort();
    out
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn nested_vaults_init_around_vault_refused() {
    let w = World::new();
    let inner = w.device("outer/projects/inner");
    inner.write("i.md", "inner note", 1);
    inner.init();
    let outer = w.device("outer");
    outer.write("o.md", "outer note", 2);
    let vault = outer.root.display().to_string();
    let hub2 = w.path().join("hub2").display().to_string();
    for args in [
        vec!["init", "--vault", &vault, "--hub", &hub2],
        vec!["sync", "--vault", &vault],
    ] {
        let run = w.syncd(&args).failed();
        assert!(
            run.stderr.contains("projects/inner"),
            "`{}` must name the inner vault: {}",
            run.what,
            run.stderr
        );
        assert!(
            !outer.path(".vault").exists(),
            "`{}` made a vault",
            run.what
        );
    }
    assert!(!w.path().join("hub2").exists());
    assert!(!w.path().join("xdg/data/vault-sync/hub/outer").exists());
    // The other order is refused as before.
    let outer2 = w.device("outer2");
    outer2.write("x.md", "x", 1);
    outer2.init();
    let sub2 = outer2.path("sub").display().to_string();
    w.syncd(&["init", "--vault", &sub2, "--hub", &hub2])
        .failed();
    // A symlink to the inner vault is not followed: a link is never synced anyway.
    let linked = w.device("linked");
    linked.write("l.md", "l", 1);
    std::os::unix::fs::symlink(&inner.root, linked.path("link")).unwrap();
    linked.init();
}

#[test]
fn nested_vaults_inner_state_never_synced() {
    let w = World::new();
    let data = w.path().join("server");
    fs::create_dir_all(&data).unwrap();
    let mut server = Server::start(&data, &[]);
    let setup = server.setup_token();

    let a = w.device("laptop");
    a.write("o.md", "outer", 1);
    a.init().sync();
    let b = w.device("desktop");
    b.init().sync();

    // A vault of a server, made elsewhere (its token private), then moved into the outer
    // vault: what an old version allowed by initialising the outer vault last.
    let inner = w.device("inner");
    inner.write("i.md", "inner note", 3);
    inner
        .join_server(&server.url, "alice", PASSWORD, &["--setup-token", &setup])
        .ok();
    inner.sync();
    assert_eq!(mode(&inner.path(".vault/token")), 0o600);
    fs::rename(&inner.root, a.path("sub")).unwrap();

    let r = a.sync();
    assert!(
        r.warnings.iter().any(|w| w.contains("sub/.vault")),
        "the nested vault is named: {:?}",
        r.warnings
    );
    b.sync();
    let paths = raw_hub_paths(&w.hub);
    assert!(paths.contains(&"sub/i.md".to_string()), "{paths:?}");
    assert!(
        paths.iter().all(|p| !p.contains(".vault")),
        "another vault's state reached the hub: {paths:?}"
    );
    assert_eq!(b.read("sub/i.md").as_deref(), Some("inner note"));
    assert!(!b.path("sub/.vault").exists());
    assert_eq!(mode(&a.path("sub/.vault/token")), 0o600);
    assert!(a.path("sub/.vault/config.toml").exists());

    // A hub written by an old version holds `sub/.vault/token`: devices never write it, and
    // they are not stuck.
    let c = w.device("phone");
    c.init().sync();
    plant_state_in_hub(&w.hub, "sub", "secret-token\n");
    assert!(raw_hub_paths(&w.hub).contains(&"sub/.vault/token".to_string()));
    c.write("from-phone.md", "phone", 20);
    let r = c.sync();
    assert!(r.conflicts.is_empty(), "{r:?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("sub/.vault/")),
        "the planted state is named: {:?}",
        r.warnings
    );
    assert!(!c.path("sub/.vault").exists());
    b.sync();
    assert!(!b.path("sub/.vault").exists());
    assert_eq!(b.read("from-phone.md").as_deref(), Some("phone"));
    a.sync();
    assert_ne!(
        fs::read_to_string(a.path("sub/.vault/token")).unwrap(),
        "secret-token\n"
    );
    assert_converged(&[&b, &c]);
    // The next snapshot published leaves the planted state out of the hub's head.
    assert!(
        raw_hub_paths(&w.hub).iter().all(|p| !p.contains(".vault")),
        "{:?}",
        raw_hub_paths(&w.hub)
    );
    drop(server);
}

/// Make the hub's head a child of itself that also holds `<folder>/.vault/token` and
/// `<folder>/.vault/config.toml`, as an old version published a nested vault's state: written
/// straight into the hub's packs and `refs/head`.
fn plant_state_in_hub(hub_dir: &Path, folder: &str, token: &str) {
    let hub = FolderHub::open(hub_dir).unwrap();
    let head = hub.head().unwrap().unwrap();
    let get = |id: ObjectId| hub.get(&[id]).unwrap().remove(0).bytes;
    let snap = Snapshot::decode(&get(head)).unwrap();
    let mut root = Tree::decode(&get(snap.tree)).unwrap();
    let mut objects = Vec::new();
    let mut state = Tree::default();
    for (name, text) in [("token", token), ("config.toml", "device_id = \"x\"\n")] {
        let blob = Object {
            kind: Kind::Blob,
            bytes: text.as_bytes().to_vec(),
        };
        let meta = FileMeta {
            id: blob.id(),
            size: text.len() as u64,
            mtime_ns: at(7).unix_seconds() * 1_000_000_000,
            executable: false,
        };
        state.entries.insert(name.into(), EntryKind::File(meta));
        objects.push(blob);
    }
    let mut sub = match root.entries.get(folder) {
        Some(EntryKind::Dir(id)) => Tree::decode(&get(*id)).unwrap(),
        _ => Tree::default(),
    };
    sub.entries
        .insert(".vault".into(), EntryKind::Dir(state.to_object().id()));
    root.entries
        .insert(folder.into(), EntryKind::Dir(sub.to_object().id()));
    let new = Snapshot {
        tree: root.to_object().id(),
        parents: vec![head],
        device_id: "01d0001d01d0001d".into(),
        device_name: "old-version".into(),
        time_ns: snap.time_ns + 1,
    }
    .to_object();
    objects.extend([
        state.to_object(),
        sub.to_object(),
        root.to_object(),
        new.clone(),
    ]);
    PackStore::open(&hub_dir.join("packs"))
        .unwrap()
        .write_pack(&objects)
        .unwrap();
    RefFile::new(hub_dir.join("refs/head"))
        .write(new.id())
        .unwrap();
}
