//! Large files between two devices through a hub folder.

use crate::common::World;
use crate::files::*;

const MIB: u64 = 1 << 20;

/// Sync `a` then `b`, and check `b`'s copy of `rel` is `a`'s; returns what `a` sent and `b`
/// received.
fn sync_pair(a: &crate::common::Device, b: &crate::common::Device, rel: &str) -> (u64, u64) {
    let up = a.sync();
    let down = b.sync();
    assert_same(&a.path(rel), &b.path(rel));
    (up.stats.bytes_sent, down.stats.bytes_received)
}

#[test]
fn a_large_file_edited_everywhere_syncs_byte_for_byte_through_a_hub_folder() {
    let w = World::new();
    let a = w.device("laptop");
    let b = w.device("desktop");
    a.init();
    b.init();
    let rel = "media/video.bin";
    write_noise(&a.path(rel), 24 * MIB, 1);
    let (sent, received) = sync_pair(&a, &b, rel);
    assert!((24 * MIB..25 * MIB).contains(&sent), "first upload: {sent}");
    assert!(
        (24 * MIB..25 * MIB).contains(&received),
        "first download: {received}"
    );
    let marker = std::fs::read_to_string(w.hub.join("vault-hub.json")).unwrap();
    assert!(marker.contains("\"format\":2"), "{marker}");

    // Each edit sends and receives a chunk or two (chunks are at most 1 MiB), not the file.
    flip_byte(&a.path(rel), 12 * MIB + 12345);
    let (sent, received) = sync_pair(&a, &b, rel);
    assert!(
        sent < 2 * MIB + MIB / 4,
        "one byte in the middle sent {sent}"
    );
    assert!(
        received < 2 * MIB + MIB / 4,
        "one byte in the middle received {received}"
    );

    prepend(&a.path(rel), b"a new beginning");
    let (sent, received) = sync_pair(&a, &b, rel);
    assert!(sent < 2 * MIB + MIB / 4, "a new start sent {sent}");
    assert!(
        received < 2 * MIB + MIB / 4,
        "a new start received {received}"
    );

    append_noise(&a.path(rel), 300_000, 2);
    let (sent, _) = sync_pair(&a, &b, rel);
    assert!(sent < 2 * MIB + MIB / 4, "an append sent {sent}");

    // Edited on the other device this time: below the chunking size, one blob; above, chunks.
    truncate(&b.path(rel), 700_000);
    sync_pair(&b, &a, rel);
    append_noise(&b.path(rel), 5 * MIB, 3);
    sync_pair(&b, &a, rel);

    a.assert_verified();
    b.assert_verified();
}

#[test]
fn syncd_peak_memory_stays_far_below_the_size_of_the_file_it_syncs() {
    let w = World::new();
    let a = w.device("laptop");
    let b = w.device("desktop");
    a.init();
    b.init();
    // 192 MiB, mostly a hole: 1 MiB of noise every 8 MiB (24 MiB of distinct data).
    let rel = "big/disk.img";
    write_sparse(&a.path(rel), 192 * MIB, 8 * MIB, 4);

    let (up, down) = sync_measured(&a, &b, rel);
    assert_peaks_under(&up, &down, 80.0, 192);
}
