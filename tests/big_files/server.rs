//! Large files through a real `vault-server`: requests carry chunks, so a file far larger than
//! the server's body limit syncs, edits anywhere in it travel as a few chunks, neither side
//! holds it whole, and an upload cut off midway resumes.

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
fn a_large_file_edited_at_the_start_appended_and_truncated_syncs_through_the_server_in_bounded_memory()
 {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &[]);
    let a = join(&w, &server.url, "laptop");
    let b = join(&w, &server.url, "desktop");
    // 192 MiB, mostly a hole: 1 MiB of noise every 8 MiB (24 MiB of distinct data).
    let rel = "big/disk.img";
    write_sparse(&a.path(rel), 192 * MIB, 8 * MIB, 7);
    let (up, down) = sync_measured(&a, &b, rel);

    // Each edit travels one way and comes back the other, a few chunks each time.
    prepend(&b.path(rel), b"a new first line\n");
    let (sent, received) = (b.sync().stats.bytes_sent, a.sync().stats.bytes_received);
    assert_same(&a.path(rel), &b.path(rel));
    assert!(sent < 2 * MIB && received < 2 * MIB, "{sent} / {received}");
    append_noise(&a.path(rel), 3 * MIB, 8);
    let (sent, received) = (a.sync().stats.bytes_sent, b.sync().stats.bytes_received);
    assert_same(&a.path(rel), &b.path(rel));
    assert!(sent < 5 * MIB && received < 5 * MIB, "{sent} / {received}");
    truncate(&b.path(rel), 100 * MIB + 12_345);
    let (sent, received) = (b.sync().stats.bytes_sent, a.sync().stats.bytes_received);
    assert_same(&a.path(rel), &b.path(rel));
    assert!(sent < 2 * MIB && received < 2 * MIB, "{sent} / {received}");
    b.assert_verified();

    assert_peaks_under(&up, &down, 80.0, 192);
    let server_peak = server.peak_rss_mib();
    eprintln!("peak memory: vault-server {server_peak:.1} MiB");
    assert!(
        server_peak < 100.0,
        "vault-server peaked at {server_peak:.1} MiB"
    );
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
    let size = 64 * MIB;
    write_noise(&a.path(rel), size, 6);

    // Held after 52 MiB went through; then syncd is killed there. The batches (6-7 MiB) go to
    // two uploads at once, whichever is free, and the server makes each durable every 16 MiB:
    // with at most one batch of each cut off, six or more arrived whole, three or more of them
    // in one upload, which committed them.
    let before = gate.sent();
    gate.hold_at(before + 52 * MIB);
    let mut child = a.command("sync", &["--json"]).spawn().unwrap();
    eventually(Duration::from_secs(120), || gate.holding())
        .expect("the upload never reached the hold point");
    child.kill().unwrap();
    child.wait().unwrap();
    gate.release();
    let first = gate.sent() - before;
    assert!(first >= 52 * MIB, "{first}");

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
