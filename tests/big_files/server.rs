//! Large files through a real `vault-server`: requests carry chunks, so a file far larger than
//! the server's body limit syncs; an upload cut off midway resumes.

use std::time::Duration;

use crate::common::agent::eventually;
use crate::common::server::{Server, add_user};
use crate::common::stuck::Gate;
use crate::common::{Device, World};
use crate::files::*;

const MIB: u64 = 1 << 20;
const PASSWORD: &str = "correct horse battery";

fn join<'w>(w: &'w World, url: &str, name: &str) -> Device<'w> {
    let d = w.device(name);
    d.join_server(url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    d
}

#[test]
fn a_file_five_times_the_body_limit_syncs_through_the_server() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    // Each request must fit in 8 MiB: a 40 MiB file could never travel whole.
    let server = Server::start(&data, &["--max-body-mib", "8"]);
    let a = join(&w, &server.url, "laptop");
    let b = join(&w, &server.url, "desktop");
    let rel = "media/talk.mp4";
    write_noise(&a.path(rel), 40 * MIB, 5);
    let up = a.sync();
    assert!(up.stats.bytes_sent >= 40 * MIB, "{:?}", up.stats);
    let down = b.sync();
    assert!(down.stats.bytes_received >= 40 * MIB, "{:?}", down.stats);
    assert_same(&a.path(rel), &b.path(rel));

    // The server's copy is chunked: its hub folder says format 2.
    let marker = std::fs::read_to_string(data.join("vaults/alice/notes/vault-hub.json")).unwrap();
    assert!(marker.contains("\"format\":2"), "{marker}");

    // An edit in the middle travels as a chunk or two, both ways.
    flip_byte(&b.path(rel), 20 * MIB);
    let up = b.sync();
    assert!(up.stats.bytes_sent < 2 * MIB + MIB / 4, "{:?}", up.stats);
    let down = a.sync();
    assert!(
        down.stats.bytes_received < 2 * MIB + MIB / 4,
        "{:?}",
        down.stats
    );
    assert_same(&a.path(rel), &b.path(rel));
    b.assert_verified();
}

#[test]
fn an_upload_cut_off_midway_resumes_without_sending_again_what_arrived() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &[]);
    // The laptop reaches the server through a gate that can hold its upload.
    let gate = Gate::start(&server.addr());
    let a = join(&w, &gate.url, "laptop");
    let rel = "media/archive.bin";
    let size = 48 * MIB;
    write_noise(&a.path(rel), size, 6);

    // Held after about half the file went through; then syncd is killed there.
    let before = gate.sent();
    gate.hold_at(before + 24 * MIB);
    let mut child = a.command("sync", &["--json"]).spawn().unwrap();
    eventually(Duration::from_secs(120), || gate.holding())
        .expect("the upload never reached the hold point");
    child.kill().unwrap();
    child.wait().unwrap();
    gate.release();
    let first = gate.sent() - before;
    assert!(first >= 24 * MIB, "{first}");

    // The next round sends what is left (and a little: the batch cut off, lists, the tree).
    let before = gate.sent();
    let again = a.sync();
    let second = gate.sent() - before;
    assert!(
        second < size - 12 * MIB,
        "the second round sent {second} bytes of a {size}-byte file"
    );
    assert!(
        again.stats.bytes_sent < size - 12 * MIB,
        "{:?}",
        again.stats
    );

    let b = join(&w, &server.url, "desktop");
    b.sync();
    assert_same(&a.path(rel), &b.path(rel));
    a.assert_verified();
}
