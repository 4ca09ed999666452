//! A hub folder: a large upload (a 6 MiB file plus edits of 150 notes) and its download and
//! apply on the other device, each `syncd` killed at random moments.

use crate::common::{World, noise};
use crate::{
    Rng, assert_fsck_clean, assert_old_or_new, converge, folder_pair, kill_after, note_path,
};

const BIG: usize = 6 << 20;
const NOTES: usize = 150;

#[test]
fn folder_hub_uploads_downloads_and_applies_killed_at_random_points() {
    let mut rng = Rng::for_test("folder_hub_uploads_downloads_and_applies_killed");
    let w = World::new();
    let (a, b) = folder_pair(&w, NOTES);
    for round in 0..3u64 {
        // New content on the laptop: a large file and every note edited.
        std::fs::write(a.path("big.bin"), noise(BIG, round + 1)).unwrap();
        for i in 0..NOTES {
            a.write(
                &note_path(i),
                &format!("note {i} edited in round {round}\n{}", "words ".repeat(i)),
                1_000 + round as i64,
            );
        }
        let written = a.files();
        let delay = rng.delay(250);
        let (finished, _) = kill_after(a.command("sync", &[]).spawn().unwrap(), delay);
        let when = format!("upload of round {round} killed after {delay:?} (finished: {finished})");
        eprintln!("{when}");
        assert_eq!(
            a.files(),
            written,
            "{when}: an upload changed the laptop's files"
        );
        assert_fsck_clean(&a, &when);
        a.sync();

        // The desktop downloads and applies it all, killed at random moments.
        let old = b.files();
        let new = a.files();
        for attempt in 0..2 {
            let delay = rng.delay(250);
            let (finished, _) = kill_after(b.command("sync", &[]).spawn().unwrap(), delay);
            let when = format!(
                "download {attempt} of round {round} killed after {delay:?} (finished: {finished})"
            );
            eprintln!("{when}");
            assert_old_or_new(&b.files(), &old, &new, &when);
            assert_fsck_clean(&b, &when);
        }
        converge(&[&a, &b]);
    }
}
