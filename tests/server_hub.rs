//! End-to-end tests of the hub protocol of `vault-server serve` (docs/protocol.md): real server
//! process, real HTTP, objects made with the `vault` library.

mod common;

use std::time::{Duration, Instant};

use common::server::{Server, client};
use serde_json::{Value, json};
use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use vault::paths::VaultPath;

fn add_user(data: &std::path::Path, user: &str) {
    common::server::add_user(data, user, "correct horse");
}

/// A device of `user` on `server`: its token and requests on its behalf.
struct Device {
    base: String,
    token: String,
}

impl Device {
    fn login(server: &Server, user: &str) -> Device {
        let res = client()
            .post(format!("{}/api/v1/login", server.url))
            .json(&json!({"user": user, "password": "correct horse", "device_name": "test"}))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let body: Value = res.json().unwrap();
        Device {
            base: format!("{}/api/v1", server.url),
            token: body["token"].as_str().unwrap().to_string(),
        }
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> (u16, Vec<u8>) {
        let res = req.bearer_auth(&self.token).send().unwrap();
        (res.status().as_u16(), res.bytes().unwrap().to_vec())
    }

    fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => client().get(url),
            "PUT" => client().put(url),
            _ => client().post(url),
        };
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let (status, bytes) = self.send(req);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn upload(&self, vault: &str, body: Vec<u8>) -> (u16, Value) {
        let (status, bytes) = self.send(
            client()
                .post(format!("{}/vaults/{vault}/objects", self.base))
                .header("content-type", vault::wire::CONTENT_TYPE)
                .body(body),
        );
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn ids(objects: &[&Object]) -> Value {
    json!(objects.iter().map(|o| o.id().to_hex()).collect::<Vec<_>>())
}

/// A one-note vault: the note's blob, its trees and a snapshot with `parents`.
fn history(text: &str, parents: Vec<ObjectId>) -> (Object, Vec<Object>, Object) {
    let blob = Object {
        kind: Kind::Blob,
        bytes: text.as_bytes().to_vec(),
    };
    let mut flat = FlatTree::new();
    flat.insert(
        VaultPath::new("notes/a.md").unwrap(),
        FileMeta {
            id: blob.id(),
            size: text.len() as u64,
            mtime_ns: 1_790_000_000_000_000_000,
            executable: false,
        },
    );
    let (root, trees) = build_trees(&flat);
    let snapshot = Snapshot {
        tree: root,
        parents,
        device_id: "0123456789abcdef".into(),
        device_name: "test".into(),
        time_ns: 1_790_000_000_000_000_000,
    }
    .to_object();
    (blob, trees, snapshot)
}

#[test]
fn a_device_uploads_moves_the_head_and_another_account_sees_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice");
    add_user(&data, "bob");
    let server = Server::start(&data, &["--max-body-mib", "1"]);
    let alice = Device::login(&server, "alice");
    let bob = Device::login(&server, "bob");

    assert_eq!(
        alice.json("GET", "/vaults", None),
        (200, json!({"vaults": []}))
    );
    let (status, body) = alice.json("GET", "/vaults/notes/head", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        alice.json("PUT", "/vaults/notes", None),
        (201, json!({"head": null}))
    );
    assert_eq!(
        alice.json("PUT", "/vaults/notes", None),
        (200, json!({"head": null}))
    );
    assert_eq!(alice.json("PUT", "/vaults/-x", None).0, 400);
    assert_eq!(alice.json("PUT", "/vaults/Notes", None).0, 400);

    let (blob, trees, snap) = history("# A\n", vec![]);
    let mut all: Vec<&Object> = vec![&blob];
    all.extend(trees.iter());
    all.push(&snap);
    let (status, body) = alice.json(
        "POST",
        "/vaults/notes/missing",
        Some(json!({"ids": ids(&all)})),
    );
    assert_eq!(status, 200);
    assert_eq!(body["missing"].as_array().unwrap().len(), all.len());

    // A stream larger than the server's limit (here 1 MiB) is refused whole, as JSON.
    let big = vault::wire::encode(&[Object {
        kind: Kind::Blob,
        bytes: vec![7u8; 2 << 20],
    }]);
    let (status, body) = alice.upload("notes", big);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "too large");

    // A damaged stream stores nothing.
    let mut stream = vault::wire::encode(&all.iter().map(|o| (*o).clone()).collect::<Vec<_>>());
    let (status, body) = alice.upload("notes", stream[..stream.len() - 1].to_vec());
    assert_eq!(status, 400, "{body}");
    let (_, body) = alice.json(
        "POST",
        "/vaults/notes/missing",
        Some(json!({"ids": ids(&all)})),
    );
    assert_eq!(body["missing"].as_array().unwrap().len(), all.len());

    // The head cannot move to a snapshot whose objects the hub lacks.
    let (status, body) = alice.json(
        "POST",
        "/vaults/notes/head",
        Some(json!({"old": null, "new": snap.id().to_hex()})),
    );
    assert!(status == 409 || status == 422, "{status} {body}");
    assert_eq!(
        alice.json("GET", "/vaults/notes/head", None).1,
        json!({"head": null})
    );

    let (status, body) = alice.upload("notes", std::mem::take(&mut stream));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stored"], all.len());
    let (_, body) = alice.json(
        "POST",
        "/vaults/notes/missing",
        Some(json!({"ids": ids(&all)})),
    );
    assert_eq!(body["missing"], json!([]));
    let (status, body) = alice.json(
        "POST",
        "/vaults/notes/head",
        Some(json!({"old": null, "new": snap.id().to_hex()})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"updated": true, "head": snap.id().to_hex()}));
    // A stale compare-and-swap tells the head it lost to.
    let (_, body) = alice.json(
        "POST",
        "/vaults/notes/head",
        Some(json!({"old": null, "new": snap.id().to_hex()})),
    );
    assert_eq!(body, json!({"updated": false, "head": snap.id().to_hex()}));

    let tree = Snapshot::decode(&snap.bytes).unwrap().tree.to_hex();
    assert_eq!(
        alice.json("GET", "/vaults/notes/tree", None).1,
        json!({"tree": tree})
    );
    assert_eq!(
        alice.json("GET", "/vaults/notes/tree?full=true", None).1,
        json!({"tree": tree})
    );
    // The tree of a given snapshot, still after the head moved past it (a round checks the
    // snapshot it settled on); anything else asked for is the client's mistake.
    let (blob2, trees2, snap2) = history("# A, edited\n", vec![snap.id()]);
    let newer: Vec<Object> = [blob2]
        .into_iter()
        .chain(trees2)
        .chain([snap2.clone()])
        .collect();
    assert_eq!(alice.upload("notes", vault::wire::encode(&newer)).0, 200);
    let (status, body) = alice.json(
        "POST",
        "/vaults/notes/head",
        Some(json!({"old": snap.id().to_hex(), "new": snap2.id().to_hex()})),
    );
    assert_eq!(status, 200, "{body}");
    let tree_of = |id: &str, full: bool| {
        let query = format!("/vaults/notes/tree?snapshot={id}&full={full}");
        alice.json("GET", &query, None)
    };
    for full in [false, true] {
        assert_eq!(
            tree_of(&snap.id().to_hex(), full),
            (200, json!({"tree": tree}))
        );
        let tree2 = Snapshot::decode(&snap2.bytes).unwrap().tree.to_hex();
        assert_eq!(
            tree_of(&snap2.id().to_hex(), full),
            (200, json!({"tree": tree2}))
        );
    }
    let (status, body) = tree_of(&blob.id().to_hex(), false);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("Snapshot"),
        "{body}"
    );
    let (status, body) = tree_of(&ObjectId::of(b"nobody has this").to_hex(), false);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("missing")),
        "{body}"
    );
    assert_eq!(tree_of("not-an-id", false).0, 400);

    let (status, bytes) = alice.send(
        client()
            .post(format!("{}/vaults/notes/objects/fetch", alice.base))
            .json(&json!({"ids": [blob.id().to_hex(), snap.id().to_hex()]})),
    );
    assert_eq!(status, 200);
    assert_eq!(
        vault::wire::decode(&bytes).unwrap(),
        vec![blob.clone(), snap.clone()]
    );
    let (status, body) = alice.json(
        "POST",
        "/vaults/notes/objects/fetch",
        Some(json!({"ids": [ObjectId::of(b"nobody has this").to_hex()]})),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "missing");

    // Bob's namespace has no `notes`: 404, not 403, and his own `notes` is another vault.
    assert_eq!(bob.json("GET", "/vaults/notes/head", None).0, 404);
    assert_eq!(
        bob.json("GET", "/vaults", None),
        (200, json!({"vaults": []}))
    );
    assert_eq!(
        bob.json("PUT", "/vaults/notes", None),
        (201, json!({"head": null}))
    );
    assert_eq!(
        alice.json("GET", "/vaults", None),
        (200, json!({"vaults": ["notes"]}))
    );
    assert_eq!(
        alice.json("GET", "/vaults/notes/head", None).1,
        json!({"head": snap2.id().to_hex()})
    );
    drop(server);
}

#[test]
fn a_waiting_device_learns_of_a_new_head_at_once_and_hub_folders_are_served_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice");
    // A hub folder a device synced through before, moved under the server's data folder.
    let (blob, trees, first) = history("# first\n", vec![]);
    let folder = FolderHub::open(&data.join("vaults/alice/old")).unwrap();
    let mut objects = vec![blob];
    objects.extend(trees);
    objects.push(first.clone());
    folder.put(&objects).unwrap();
    folder.cas_head(None, first.id()).unwrap();

    let server = Server::start(&data, &[]);
    let alice = Device::login(&server, "alice");
    assert_eq!(
        alice.json("GET", "/vaults/old/head", None).1,
        json!({"head": first.id().to_hex()})
    );

    // Nothing changes: the wait ends after `wait` seconds with the same head.
    let started = Instant::now();
    let path = format!("/vaults/old/changes?since={}&wait=1", first.id().to_hex());
    assert_eq!(
        alice.json("GET", &path, None).1,
        json!({"head": first.id().to_hex()})
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A device waits; another moves the head; the waiter hears at once.
    let (blob2, trees2, second) = history("# second\n", vec![first.id()]);
    let waiter = {
        let base = alice.base.clone();
        let token = alice.token.clone();
        let path = format!(
            "{base}/vaults/old/changes?since={}&wait=30",
            first.id().to_hex()
        );
        std::thread::spawn(move || {
            let started = Instant::now();
            let res = client().get(path).bearer_auth(token).send().unwrap();
            (started.elapsed(), res.json::<Value>().unwrap())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut objects = vec![blob2];
    objects.extend(trees2);
    objects.push(second.clone());
    assert_eq!(alice.upload("old", vault::wire::encode(&objects)).0, 200);
    let (status, body) = alice.json(
        "POST",
        "/vaults/old/head",
        Some(json!({"old": first.id().to_hex(), "new": second.id().to_hex()})),
    );
    assert_eq!(status, 200, "{body}");
    let (waited, body) = waiter.join().unwrap();
    assert_eq!(body, json!({"head": second.id().to_hex()}));
    assert!(waited < Duration::from_secs(10), "{waited:?}");

    // A long poll does not hold up a shutdown: it is answered, and the server exits.
    let waiter = {
        let path = format!(
            "{}/vaults/old/changes?since={}&wait=60",
            alice.base,
            second.id().to_hex()
        );
        let token = alice.token.clone();
        std::thread::spawn(move || {
            let res = client().get(path).bearer_auth(token).send().unwrap();
            (res.status().as_u16(), res.json::<Value>().unwrap())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (status, log) = server.stop();
    assert!(status.success(), "{}", log.join("\n"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        waiter.join().unwrap(),
        (200, json!({"head": second.id().to_hex()}))
    );
}

/// A large file's upload (`x-vault-upload`): its batches are stored only when committed, a bad
/// upload name is refused with nothing stored, and committing an upload the server does not
/// know (it restarted) says so instead of pretending.
#[test]
fn an_upload_in_parts_is_stored_at_its_commit_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice");
    let server = Server::start(&data, &[]);
    let alice = Device::login(&server, "alice");
    assert_eq!(alice.json("PUT", "/vaults/big", None).0, 201);
    let chunk = |n: u8| Object {
        kind: Kind::Blob,
        bytes: vec![n; 100_000],
    };
    let (a, b) = (chunk(1), chunk(2));
    let part = |name: &str, o: &Object| {
        let (status, bytes) = alice.send(
            client()
                .post(format!("{}/vaults/big/objects", alice.base))
                .header("content-type", vault::wire::CONTENT_TYPE)
                .header("x-vault-upload", name)
                .body(vault::wire::encode(std::slice::from_ref(o))),
        );
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    };
    let missing = |objects: &[&Object]| {
        let (status, body) = alice.json(
            "POST",
            "/vaults/big/missing",
            Some(json!({"ids": ids(objects)})),
        );
        assert_eq!(status, 200, "{body}");
        body["missing"].as_array().unwrap().len()
    };

    let name = "0123456789abcdef0123456789abcdef";
    let (status, body) = part(name, &a);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upload"], true);
    let (status, _) = part(name, &b);
    assert_eq!(status, 200);
    assert_eq!(missing(&[&a, &b]), 2, "not stored before the commit");
    let commit = |name: &str| {
        alice.json(
            "POST",
            "/vaults/big/objects/commit",
            Some(json!({"upload": name})),
        )
    };
    let (status, body) = commit(name);
    assert_eq!(status, 200, "{body}");
    assert_eq!(missing(&[&a, &b]), 0);

    // A name that could be a path, or is not one at all: refused, nothing kept.
    let c = chunk(3);
    for bad in ["../../packs/x", "short", "UPPER-CASE-NAME"] {
        let (status, body) = part(bad, &c);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(missing(&[&c]), 1);

    // The server restarts between a part and the commit: the commit is refused with what
    // to do, and the part was not stored.
    assert_eq!(part("fedcba9876543210fedcba9876543210", &c).0, 200);
    server.stop();
    let server = Server::start(&data, &[]);
    let alice = Device::login(&server, "alice");
    let (status, body) = alice.json(
        "POST",
        "/vaults/big/objects/commit",
        Some(json!({"upload": "fedcba9876543210fedcba9876543210"})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("sync again"),
        "{body}"
    );
    let (_, body) = alice.json(
        "POST",
        "/vaults/big/missing",
        Some(json!({"ids": ids(&[&c])})),
    );
    assert_eq!(body["missing"].as_array().unwrap().len(), 1);
}
