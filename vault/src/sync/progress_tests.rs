//! A round's progress reports against real rounds on real folders and a folder hub: every
//! phase that has a total ends exactly at it, no count ever passes its total, nothing is
//! reported outside a phase, and the totals are the round's own counts.

use std::fs;
use std::sync::{Arc, Mutex};

use super::*;
use crate::folder_hub::FolderHub;
use crate::progress::{Amount, Phase, Progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Begin(Phase, Option<Amount>),
    Advance(Phase, Amount),
    End(Phase),
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Progress for Recorder {
    fn begin(&self, phase: Phase, total: Option<Amount>) {
        self.0.lock().unwrap().push(Event::Begin(phase, total));
    }
    fn advance(&self, phase: Phase, done: Amount) {
        self.0.lock().unwrap().push(Event::Advance(phase, done));
    }
    fn end(&self, phase: Phase) {
        self.0.lock().unwrap().push(Event::End(phase));
    }
}

/// A phase as it was reported from its begin to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ended {
    phase: Phase,
    total: Option<Amount>,
    done: Amount,
    /// How many `advance` calls it took.
    steps: usize,
}

impl Recorder {
    /// Check the events and return the phases in the order they ended.
    fn phases(&self) -> Vec<Ended> {
        let events = self.0.lock().unwrap().clone();
        let mut open: [Option<Ended>; 4] = [None; 4];
        let mut ended = Vec::new();
        for e in events {
            match e {
                Event::Begin(phase, total) => {
                    assert!(open[phase.index()].is_none(), "{phase:?} began twice");
                    open[phase.index()] = Some(Ended {
                        phase,
                        total,
                        done: Amount::default(),
                        steps: 0,
                    });
                }
                Event::Advance(phase, by) => {
                    let p = open[phase.index()]
                        .as_mut()
                        .unwrap_or_else(|| panic!("{phase:?} advanced outside begin/end"));
                    p.done = Amount::new(p.done.items + by.items, p.done.bytes + by.bytes);
                    p.steps += 1;
                    if let Some(t) = p.total {
                        assert!(
                            p.done.items <= t.items && p.done.bytes <= t.bytes,
                            "{phase:?} passed its total: {p:?}"
                        );
                    }
                }
                Event::End(phase) => {
                    let p = open[phase.index()]
                        .take()
                        .unwrap_or_else(|| panic!("{phase:?} ended without beginning"));
                    if let Some(t) = p.total {
                        assert_eq!(p.done, t, "{phase:?} ended short of its total");
                    }
                    ended.push(p);
                }
            }
        }
        assert!(
            open.iter().all(Option::is_none),
            "phases left open: {open:?}"
        );
        ended
    }

    fn only(&self, phase: Phase) -> Vec<Ended> {
        self.phases()
            .into_iter()
            .filter(|p| p.phase == phase)
            .collect()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    hub: FolderHub,
    devices: Vec<LocalVault>,
}

fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let devices = (0..n)
        .map(|i| {
            let root = dir.path().join(format!("dev{i}"));
            LocalVault::init(&root, &hub_path.display().to_string(), &format!("dev{i}")).unwrap()
        })
        .collect();
    Setup {
        _dir: dir,
        hub,
        devices,
    }
}

fn write(v: &LocalVault, path: &str, bytes: &[u8]) {
    let p = v.root().join(path);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
}

/// `n` notes with distinct contents under a few folders, plus three attachments of 3 MiB
/// (together more than one upload pack); returns the bytes written.
fn fill(v: &LocalVault, n: usize) -> u64 {
    let mut bytes = 0;
    for i in 0..n {
        let text = format!("# note {i}\n\n{}\n", "some words ".repeat(i % 50));
        bytes += text.len() as u64;
        write(v, &format!("folder{}/note{i}.md", i % 7), text.as_bytes());
    }
    for k in 0..3u8 {
        let big = vec![k; 3 << 20];
        bytes += big.len() as u64;
        write(v, &format!("attachments/big{k}.bin"), &big);
    }
    bytes
}

fn sync_observed(v: &LocalVault, hub: &FolderHub) -> (SyncReport, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let opts = SyncOptions {
        progress: Some(recorder.clone()),
        ..SyncOptions::default()
    };
    let report = sync(v, hub, &opts).unwrap();
    (report, recorder)
}

#[test]
fn upload_and_download_end_at_the_totals_the_round_counted() {
    let s = setup(2);
    let bytes = fill(&s.devices[0], 400);

    let (up, seen) = sync_observed(&s.devices[0], &s.hub);
    assert_eq!(up.outcome, Outcome::Pushed);
    let scans = seen.only(Phase::Scanning);
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(
        scans[0].done,
        Amount::new(403, bytes),
        "every file seen and hashed"
    );
    let uploads = seen.only(Phase::Uploading);
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    // Ended at its total (checked by `phases`), which counts a large file's bytes as they are
    // read and the file as one item: each big file is three equal 1 MiB chunks, sent once.
    assert_eq!(uploads[0].total, Some(uploads[0].done));
    let notes = bytes - 3 * (3 << 20);
    assert!(uploads[0].done.bytes > bytes, "{uploads:?}");
    assert!(
        up.stats.bytes_sent > notes + 3 * (1 << 20) && up.stats.bytes_sent < notes + 4 * (1 << 20),
        "each big file's one distinct chunk is sent once: {:?}",
        up.stats
    );
    assert!(uploads[0].steps > 1, "reported pack by pack: {uploads:?}");
    assert!(seen.only(Phase::Downloading).is_empty());
    assert!(seen.only(Phase::Applying).is_empty());

    // An empty folder joins: no deletes, so downloads run inside apply.
    let (down, seen) = sync_observed(&s.devices[1], &s.hub);
    assert_eq!(down.outcome, Outcome::Pulled);
    let downloads = seen.only(Phase::Downloading);
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert_eq!(
        downloads[0].done,
        Amount::new(403, bytes),
        "every blob, once"
    );
    assert!(downloads[0].steps >= 403, "one call per blob");
    let applying = seen.only(Phase::Applying);
    assert_eq!(applying.len(), 1, "{applying:?}");
    assert_eq!(
        applying[0].done,
        Amount::new(down.stats.files_written, bytes)
    );
    assert!(seen.only(Phase::Uploading).is_empty());

    // A quiet round scans and reports nothing else.
    let (quiet, seen) = sync_observed(&s.devices[1], &s.hub);
    assert_eq!(quiet.outcome, Outcome::UpToDate);
    let phases: Vec<Phase> = seen.phases().iter().map(|p| p.phase).collect();
    assert_eq!(phases, [Phase::Scanning]);
}

#[test]
fn a_plan_that_deletes_reports_its_staged_download_then_apply() {
    let s = setup(2);
    fill(&s.devices[0], 50);
    sync_observed(&s.devices[0], &s.hub);
    sync_observed(&s.devices[1], &s.hub);

    // Deletes and new content from dev0: dev1's plan stages its downloads first.
    for i in 0..5 {
        fs::remove_file(
            s.devices[0]
                .root()
                .join(format!("folder{}/note{i}.md", i % 7)),
        )
        .unwrap();
    }
    write(&s.devices[0], "new/one.md", b"one new note");
    write(&s.devices[0], "new/two.bin", &vec![7u8; 100_000]);
    sync_observed(&s.devices[0], &s.hub);

    let (down, seen) = sync_observed(&s.devices[1], &s.hub);
    assert_eq!(down.stats.files_deleted, 5, "{down:?}");
    let phases = seen.phases();
    let order: Vec<Phase> = phases.iter().map(|p| p.phase).collect();
    assert_eq!(
        order,
        [Phase::Scanning, Phase::Downloading, Phase::Applying],
        "staged: the download ends before apply begins"
    );
    assert_eq!(phases[1].done, Amount::new(2, 12 + 100_000));
    assert_eq!(
        phases[2].done,
        Amount::new(7, 12 + 100_000),
        "2 writes, 5 deletes"
    );
}
