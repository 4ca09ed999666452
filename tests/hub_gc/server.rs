//! The server's vaults: compacted in the background after pushes, and by `vault-server gc`.

use std::path::Path;

use crate::common::server::{Server, add_user, server_cmd};
use crate::common::{Device, World};
use crate::{hub_gc, rounds};

const PASSWORD: &str = "correct horse battery staple";

fn packs(data: &Path) -> usize {
    std::fs::read_dir(data.join("vaults/alice/notes/packs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .count()
}

#[test]
fn the_server_compacts_after_pushes_and_vault_server_gc_cleans_a_data_folder() {
    let world = World::new();
    let data = world.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let mut server = Server::start(&data, &[]);
    let a: Device = world.device("a");
    a.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    rounds(&a, 20, "a");
    // The compaction after the 17th push or so is logged by the server.
    let line = server.wait_for("compacted a vault's packs");
    assert!(line.contains("notes"), "{line}");
    assert!(packs(&data) < 20, "{} packs", packs(&data));

    // `syncd hub gc` on a server vault says who cleans it.
    let refused = hub_gc(&world, &a, &[]).failed();
    assert!(
        refused.stderr.contains("vault-server gc"),
        "{}",
        refused.stderr
    );

    let d = data.to_str().unwrap();
    let dry = server_cmd(&["gc", "--data", d, "--dry-run", "--json"], "");
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let before = packs(&data);
    let out = server_cmd(
        &[
            "gc", "--data", d, "--user", "alice", "--vault", "notes", "--json",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = &json["vaults"][0];
    assert_eq!(
        (v["user"].as_str(), v["vault"].as_str()),
        (Some("alice"), Some("notes"))
    );
    assert_eq!(v["packs_before"].as_u64(), Some(before as u64), "{json}");
    assert_eq!(v["objects_dropped"], 0, "{json}");
    assert_eq!(v["packs_after"].as_u64(), Some(packs(&data) as u64));
    let human = server_cmd(&["gc", "--data", d], "");
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("alice/notes"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );
    let missing = server_cmd(
        &["gc", "--data", d, "--user", "alice", "--vault", "nope"],
        "",
    );
    assert!(!missing.status.success());

    // The vault still syncs whole to a new device, and verifies.
    rounds(&a, 1, "after");
    let b = world.device("b");
    b.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    b.sync();
    crate::common::assert_converged(&[&a, &b]);
    a.assert_verified();
    b.assert_verified();
    drop(server);
}
