//! Multi-device property test of the sync round: three devices (real folders, each a
//! `LocalVault`) and one `FolderHub` folder live through a generated history of writes, deletes,
//! renames, syncs, conflicting edits, syncs of two devices at once, edits saved while a round
//! runs, and a device losing `.vault/`; then every device syncs twice with no edits
//! (0, 1, 2, 0, 1, 2) and the invariants of `shared/design.md` must hold:
//!
//! - **convergence**: the three folders hold the same files with the same bytes, `verify` finds
//!   each equal to the hub, every device has the same tree and it is the hub's `tree_hash`, and a
//!   further round on each device has nothing to do;
//! - **no loss**: every content a user wrote, and every content that was in a device's folder
//!   just before or just after a successful round, is at the end the content of some file
//!   (current or under `.revisions/`), unless a user operation removed that content somewhere
//!   (an overwrite or a delete: losing it is then the user's intent, not the sync's doing). Most
//!   writes carry content unique to the operation, so this is exact for them; some use shared
//!   words, so identical edits and content collisions happen too;
//! - **history**: every snapshot reachable from the hub's head decodes, its trees flatten (every
//!   path re-validated) and the hub holds every blob they name; every file in `.revisions/` has
//!   a name that parses.
//!
//! Modification times come from a simulated clock (an hour before now, plus one second per
//! operation or sometimes zero, so time ties happen) and device ids are fixed, so a history
//! resolves the same way every time (except for the two operations that race a round against
//! another thread).
//!
//! Three worlds differ in where users may create names that differ only in letter case:
//! nowhere, on different devices (macOS, Windows), or also side by side on one device (Linux).
//!
//! Cases: 256 per world by default; `VAULT_PROPTEST_CASES=N` overrides, and
//! `VAULT_PROPTEST_OPS=N` allows histories of up to `N` operations (default 24) for a deeper
//! search. Temp folders go to `/dev/shm` when it exists (fsync dominates on a disk).
//!
//! A failure prints the shrunk history, one operation per line, and proptest records its seed
//! in `vault/proptest-regressions/multi_device*.txt` (commit it). Every later run replays the
//! recorded seeds first, so `cargo test -p vault --test multi_device` reproduces it, and
//! `VAULT_PROPTEST_CASES=0` runs only the recorded seeds. A bug found this way deserves a named
//! test with the shrunk history spelled out (see the end of this file): seeds are only valid
//! while the generators stay the same.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use filetime::FileTime;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::ignore_rules::IgnoreRules;
use vault::local::LocalVault;
use vault::object::{FlatTree, Snapshot, Tree, build_trees, flatten};
use vault::revisions::parse_revision;
use vault::statcache::now_ns;
use vault::sync::{Outcome, SyncError, SyncOptions, SyncReport, sync, verify};
use vault::{ObjectId, VaultPath};

const DEVICES: usize = 3;

/// Note paths: nested folders, names that only differ in letter case (`a.md`/`A.md`,
/// `d/b.md`/`D/b.md`), which a case-insensitive filesystem would store as one file, and a name
/// the built-in rules ignore (`d/n.tmp`: each device's own, never synced nor touched by a round).
const PATHS: &[&str] = &[
    "a.md", "A.md", "b.md", "d/b.md", "D/b.md", "d/e/c.md", "d/n.tmp",
];

/// Words a note is made of. "alpha" and "gamma" have the same size, so an edit from one to the
/// other keeps the size; "" is an empty note.
const WORDS: &[&str] = &["alpha", "gamma", "beta", ""];

/// What a write puts in a note: a shared word (so two devices can write the same bytes), or a
/// word made unique to the operation (so the no-loss check is exact for it).
#[derive(Clone, Copy, Debug)]
struct Text {
    word: &'static str,
    unique: bool,
}

#[derive(Clone, Debug)]
enum Op {
    /// Write `text` at `path` (new or existing) on `dev`.
    Write {
        dev: usize,
        path: &'static str,
        text: Text,
    },
    /// Delete one of `dev`'s notes (if it has any; the `pick`th, counting round).
    Delete {
        dev: usize,
        pick: usize,
    },
    /// Rename one of `dev`'s notes (as for `Delete`) to `to`, if `to` is free there.
    Rename {
        dev: usize,
        pick: usize,
        to: &'static str,
    },
    Sync {
        dev: usize,
    },
    /// Flip the exec bit of one of `dev`'s notes (as for `Delete`): a change of mode only.
    Chmod {
        dev: usize,
        pick: usize,
    },
    /// `a` and `b` sync at the same time, each from its own thread with its own hub handle.
    SyncTogether {
        a: usize,
        b: usize,
    },
    /// `dev` loses `.vault/` and joins again as a new device (files kept, no base).
    Reset {
        dev: usize,
    },
    /// `dev` syncs while its user saves `text` at `path`, `delay_us` after the round starts
    /// (before, during or after the round's scan, apply, upload or verification).
    EditWhileSyncing {
        dev: usize,
        path: &'static str,
        text: Text,
        delay_us: u64,
    },
    /// `a` and `b` both edit `path`, differently, then `a` syncs, then `b` syncs. With `tie`
    /// both edits have the same modification time (the device id decides).
    Conflict {
        a: usize,
        b: usize,
        path: &'static str,
        a_text: Text,
        b_word: &'static str,
        tie: bool,
    },
}

/// One step of a history: an operation and how many seconds the clock moves before it.
#[derive(Clone, Debug)]
struct Step {
    advance: u8,
    op: Op,
}

fn text() -> impl Strategy<Value = Text> {
    (prop::sample::select(WORDS), prop::bool::weighted(0.7))
        .prop_map(|(word, unique)| Text { word, unique })
}

fn op() -> impl Strategy<Value = Op> {
    let dev = 0..DEVICES;
    let path = prop::sample::select(PATHS);
    prop_oneof![
        5 => (dev.clone(), path.clone(), text())
            .prop_map(|(dev, path, text)| Op::Write { dev, path, text }),
        2 => (dev.clone(), 0..8usize).prop_map(|(dev, pick)| Op::Delete { dev, pick }),
        2 => (dev.clone(), 0..8usize, path.clone())
            .prop_map(|(dev, pick, to)| Op::Rename { dev, pick, to }),
        4 => dev.clone().prop_map(|dev| Op::Sync { dev }),
        1 => (dev.clone(), 0..8usize).prop_map(|(dev, pick)| Op::Chmod { dev, pick }),
        1 => (dev.clone(), 1..DEVICES)
            .prop_map(|(a, offset)| Op::SyncTogether { a, b: (a + offset) % DEVICES }),
        1 => dev.clone().prop_map(|dev| Op::Reset { dev }),
        1 => (dev.clone(), path.clone(), text(), 0..4000u64).prop_map(
            |(dev, path, text, delay_us)| Op::EditWhileSyncing { dev, path, text, delay_us }
        ),
        1 => (
            dev.clone(),
            1..DEVICES,
            path,
            text(),
            prop::sample::select(WORDS),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(a, offset, path, a_text, b_word, tie)| Op::Conflict {
                a,
                b: (a + offset) % DEVICES,
                path,
                a_text,
                b_word,
                tie,
            }),
    ]
}

fn history() -> impl Strategy<Value = Vec<Step>> {
    let step = (prop_oneof![1 => Just(0u8), 4 => Just(1u8)], op())
        .prop_map(|(advance, op)| Step { advance, op });
    prop::collection::vec(step, 5..=max_ops())
}

/// The longest history: 24 operations by default, `VAULT_PROPTEST_OPS` for deeper runs.
fn max_ops() -> usize {
    env_number("VAULT_PROPTEST_OPS").map_or(24, |n: usize| n.max(5))
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn cases() -> u32 {
    env_number("VAULT_PROPTEST_CASES").unwrap_or(256)
}

/// Three devices, one hub, and what the test knows about the history so far.
struct World {
    dir: tempfile::TempDir,
    hub: FolderHub,
    devices: Vec<LocalVault>,
    /// The simulated clock, ns since the Unix epoch.
    clock_ns: i64,
    /// Contents a user wrote, or a device held around a successful round: each must survive,
    /// unless a user removed it.
    vouched: BTreeSet<Vec<u8>>,
    /// Contents a user operation removed from some folder (overwritten or deleted).
    removed: BTreeSet<Vec<u8>>,
    /// Syncs done, for messages.
    syncs: usize,
    /// Devices that joined so far (resets included), for fresh device ids.
    joined: usize,
    /// Where users may create names that fold together.
    clashes: Clashes,
}

/// Where users may create a name that folds (letter case, Unicode form) to the name of an
/// existing file, which a macOS or Windows folder would store as one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clashes {
    /// Nowhere: no device creates a name that folds to a name any device has.
    Never,
    /// Only on different devices (as on macOS or Windows): `a.md` on one device, `A.md` on
    /// another.
    AcrossDevices,
    /// Also on one device (as on Linux): `a.md` and `A.md` side by side.
    OnOneDevice,
}

type Checked = Result<(), String>;

impl World {
    fn new(clashes: Clashes) -> Result<World, String> {
        let dir = scratch_dir().map_err(|e| e.to_string())?;
        let hub = FolderHub::open(&dir.path().join("hub")).map_err(|e| e.to_string())?;
        let mut world = World {
            dir,
            hub,
            devices: Vec::new(),
            // An hour ago (the hub's clock is the real one, and the round refuses a big skew),
            // with a sub-second part so nanosecond precision of mtimes is exercised.
            clock_ns: (now_ns() / 1_000_000_000 - 3600) * 1_000_000_000 + 123_456_789,
            vouched: BTreeSet::new(),
            removed: BTreeSet::new(),
            syncs: 0,
            joined: 0,
            clashes,
        };
        for i in 0..DEVICES {
            let v = world.join(i)?;
            world.devices.push(v);
        }
        Ok(world)
    }

    /// Make folder `dev{i}` a vault of the hub, with a fixed device id that no device had
    /// before (equal modification times go to the greater id, and a replayed history must
    /// resolve the same way).
    fn join(&mut self, i: usize) -> Result<LocalVault, String> {
        self.joined += 1;
        let mut v = LocalVault::init(
            &self.dir.path().join(format!("dev{i}")),
            &self.hub.path().display().to_string(),
            &format!("dev-{i}"),
        )
        .map_err(|e| e.to_string())?;
        let mut config = v.config().clone();
        config.device_id = format!("{:016x}", self.joined);
        v.set_config(config).map_err(|e| e.to_string())?;
        Ok(v)
    }

    fn root(&self, dev: usize) -> &Path {
        self.devices[dev].root()
    }

    /// The notes of `dev` a user operation may pick (not the conflict copies in `.revisions/`).
    fn notes(&self, dev: usize) -> Vec<String> {
        files(self.root(dev))
            .into_keys()
            .filter(|p| !p.starts_with(".revisions/"))
            .collect()
    }

    /// Whether users of this world may not create `path` on `dev` (see [`Clashes`]).
    fn would_clash(&self, dev: usize, path: &str) -> bool {
        let key = VaultPath::new(path).expect("valid path").fold_key();
        let clashes_on = |d: usize| {
            files(self.root(d))
                .into_keys()
                .any(|p| p != path && VaultPath::new(&p).is_ok_and(|p| p.fold_key() == key))
        };
        match self.clashes {
            Clashes::Never => (0..DEVICES).any(clashes_on),
            Clashes::AcrossDevices => clashes_on(dev),
            Clashes::OnOneDevice => false,
        }
    }

    /// Write `bytes` at `path` on `dev` with modification time `mtime_ns` (nothing if `path`
    /// would clash there).
    fn write(&mut self, dev: usize, path: &str, bytes: &[u8], mtime_ns: i64) -> Checked {
        if self.would_clash(dev, path) {
            return Ok(());
        }
        let old = put_file(&self.root(dev).join(path), bytes, mtime_ns)?;
        self.wrote(old, bytes);
        Ok(())
    }

    /// A user replaced `old` (if any) with `new`: `new` must survive, `old` need not.
    fn wrote(&mut self, old: Option<Vec<u8>>, new: &[u8]) {
        if let Some(old) = old.filter(|o| o != new) {
            self.removed.insert(old);
        }
        self.vouched.insert(new.to_vec());
    }

    /// A round on `dev` while its user saves `bytes` at `path` after `delay_us`.
    fn sync_while_editing(
        &mut self,
        dev: usize,
        path: &str,
        bytes: &[u8],
        mtime_ns: i64,
        delay_us: u64,
    ) -> Checked {
        if self.would_clash(dev, path) {
            return self.sync(dev).map(drop);
        }
        // What the round may put at `path` before the user's save lands on it: the hub's
        // version (a download, a remote rename, a conflict's winner). Saving over it is the
        // user's doing, as is saving over what the user had (read just before the save).
        let incoming = hub_file(&self.hub, path)?;
        let full = self.root(dev).join(path);
        let before = files(self.root(dev));
        let (saved, result) = std::thread::scope(|s| {
            let editor = s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_micros(delay_us));
                put_file(&full, bytes, mtime_ns)
            });
            let result = round(&self.devices[dev], &self.hub);
            (editor.join().expect("editor thread"), result)
        });
        self.wrote(saved?, bytes);
        self.wrote(incoming, bytes);
        result.map_err(|e| format!("sync of dev{dev} while editing failed: {e}"))?;
        self.synced(dev, before, Some((path, bytes)))
    }

    /// One round on `dev`.
    fn sync(&mut self, dev: usize) -> Result<SyncReport, String> {
        let before = files(self.root(dev));
        let report = round(&self.devices[dev], &self.hub)
            .map_err(|e| format!("sync #{} of dev{dev} failed: {e}", self.syncs))?;
        self.synced(dev, before, None)?;
        Ok(report)
    }

    /// After a successful round of `dev`: what it held before (`before`) and holds now must
    /// survive; its ignored files must be as before, but for the user's `edit` during the round.
    fn synced(
        &mut self,
        dev: usize,
        before: BTreeMap<String, Vec<u8>>,
        edit: Option<(&str, &[u8])>,
    ) -> Checked {
        self.syncs += 1;
        let now = files(self.root(dev));
        let mut expected: BTreeMap<String, Vec<u8>> = local_only(&before);
        if let Some((path, bytes)) = edit.filter(|(p, _)| ignored(p)) {
            expected.insert(path.to_string(), bytes.to_vec());
        }
        if local_only(&now) != expected {
            return Err(format!(
                "round #{} of dev{dev} changed ignored files: {} -> {}",
                self.syncs,
                listing(&expected),
                listing(&local_only(&now))
            ));
        }
        self.vouched.extend(before.into_values());
        self.vouched.extend(now.into_values());
        Ok(())
    }

    /// Rounds on `a` and `b` at the same time, as two processes would run them.
    fn sync_together(&mut self, a: usize, b: usize) -> Checked {
        let before = (files(self.root(a)), files(self.root(b)));
        let hub_path = self.hub.path();
        let (va, vb) = (&self.devices[a], &self.devices[b]);
        let own_round = |v: &LocalVault| round(v, &FolderHub::open(hub_path)?);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| own_round(va));
            let tb = s.spawn(|| own_round(vb));
            (ta.join(), tb.join())
        });
        let failed = |dev: usize, e| format!("sync of dev{dev} (with another) failed: {e}");
        ra.expect("round thread").map_err(|e| failed(a, e))?;
        rb.expect("round thread").map_err(|e| failed(b, e))?;
        self.synced(a, before.0, None)?;
        self.synced(b, before.1, None)
    }

    fn run(&mut self, index: usize, step: &Step) -> Checked {
        self.clock_ns += i64::from(step.advance) * 1_000_000_000;
        let now = self.clock_ns;
        let content = |t: &Text, tag: &str| -> Vec<u8> {
            if t.unique {
                format!("{} {index}{tag}", t.word).into_bytes()
            } else {
                t.word.as_bytes().to_vec()
            }
        };
        match &step.op {
            Op::Write { dev, path, text } => self.write(*dev, path, &content(text, ""), now),
            Op::Delete { dev, pick } => {
                let notes = self.notes(*dev);
                if notes.is_empty() {
                    return Ok(());
                }
                let full = self.root(*dev).join(&notes[pick % notes.len()]);
                self.removed.insert(fs::read(&full).map_err(err(&full))?);
                fs::remove_file(&full).map_err(err(&full))
            }
            Op::Rename { dev, pick, to } => {
                let notes = self.notes(*dev);
                let target = self.root(*dev).join(to);
                if notes.is_empty() || target.exists() || self.would_clash(*dev, to) {
                    return Ok(());
                }
                let from = self.root(*dev).join(&notes[pick % notes.len()]);
                fs::create_dir_all(target.parent().expect("a note has a folder"))
                    .map_err(err(&target))?;
                fs::rename(&from, &target).map_err(err(&target))
            }
            Op::Chmod { dev, pick } => {
                use std::os::unix::fs::PermissionsExt;
                let notes = self.notes(*dev);
                if notes.is_empty() {
                    return Ok(());
                }
                let full = self.root(*dev).join(&notes[pick % notes.len()]);
                let mut perms = fs::metadata(&full).map_err(err(&full))?.permissions();
                perms.set_mode(perms.mode() ^ 0o111);
                fs::set_permissions(&full, perms).map_err(err(&full))
            }
            Op::Sync { dev } => self.sync(*dev).map(drop),
            Op::SyncTogether { a, b } => self.sync_together(*a, *b),
            Op::EditWhileSyncing {
                dev,
                path,
                text,
                delay_us,
            } => self.sync_while_editing(*dev, path, &content(text, "e"), now, *delay_us),
            Op::Reset { dev } => {
                let state = self.root(*dev).join(".vault");
                fs::remove_dir_all(&state).map_err(err(&state))?;
                self.devices[*dev] = self.join(*dev)?;
                Ok(())
            }
            Op::Conflict {
                a,
                b,
                path,
                a_text,
                b_word,
                tie,
            } => {
                let a_bytes = content(a_text, "a");
                let mut b_bytes = format!("{b_word} {index}b").into_bytes();
                if b_bytes == a_bytes {
                    b_bytes.push(b'!');
                }
                self.write(*a, path, &a_bytes, now)?;
                let b_time = if *tie { now } else { now + 500_000_000 };
                self.write(*b, path, &b_bytes, b_time)?;
                self.sync(*a)?;
                self.sync(*b).map(drop)
            }
        }
    }

    /// Every device syncs twice, then the invariants are checked.
    fn settle_and_check(&mut self) -> Checked {
        for _ in 0..2 {
            for dev in 0..DEVICES {
                self.sync(dev)?;
            }
        }
        self.check_convergence()?;
        self.check_no_loss()?;
        check_revision_names(&files(self.root(0)))?;
        check_history(&self.hub)?;
        // Settled: one more round anywhere has nothing to do.
        for dev in 0..DEVICES {
            let r = self.sync(dev)?;
            if r.outcome != Outcome::UpToDate || r.snapshot_created {
                return Err(format!(
                    "dev{dev} was not quiet after settling: {:?}",
                    (r.outcome, r.snapshot_created, &r.conflicts)
                ));
            }
        }
        Ok(())
    }

    fn check_convergence(&self) -> Checked {
        let first = synced_files(self.root(0));
        for dev in 1..DEVICES {
            let other = synced_files(self.root(dev));
            if other != first {
                return Err(format!(
                    "folders differ after settling:\n  dev0: {}\n  dev{dev}: {}",
                    listing(&files(self.root(0))),
                    listing(&files(self.root(dev)))
                ));
            }
        }
        // An empty hub (no head) agrees with empty folders.
        let hub_tree = self.hub.tree_hash().map_err(|e| e.to_string())?;
        let hub_tree = hub_tree.unwrap_or_else(|| build_trees(&FlatTree::new()).0);
        for (dev, v) in self.devices.iter().enumerate() {
            let report = verify(v, &self.hub, true).map_err(|e| format!("verify dev{dev}: {e}"))?;
            if !report.equal || !report.differences.is_empty() {
                return Err(format!(
                    "verify of dev{dev} differs: {:?}",
                    report.differences
                ));
            }
            if hub_tree != report.local_tree {
                return Err(format!(
                    "dev{dev} has tree {} but the hub's tree is {hub_tree}",
                    report.local_tree
                ));
            }
        }
        Ok(())
    }

    fn check_no_loss(&self) -> Checked {
        let present: HashSet<Vec<u8>> = (0..DEVICES)
            .flat_map(|dev| files(self.root(dev)).into_values())
            .collect();
        let lost: Vec<String> = self
            .vouched
            .iter()
            .filter(|c| !self.removed.contains(*c) && !present.contains(*c))
            .map(|c| format!("{:?}", String::from_utf8_lossy(c)))
            .collect();
        if lost.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "lost content that no user removed: {}; folders hold {}",
                lost.join(", "),
                listing(&files(self.root(0)))
            ))
        }
    }
}

/// Write `bytes` at `full` (folders created) with modification time `mtime_ns`; returns what
/// the file held before, if anything.
fn put_file(full: &Path, bytes: &[u8], mtime_ns: i64) -> Result<Option<Vec<u8>>, String> {
    let old = fs::read(full).ok();
    fs::create_dir_all(full.parent().expect("a note has a folder")).map_err(err(full))?;
    fs::write(full, bytes).map_err(err(full))?;
    let t = FileTime::from_unix_time(
        mtime_ns.div_euclid(1_000_000_000),
        mtime_ns.rem_euclid(1_000_000_000) as u32,
    );
    filetime::set_file_mtime(full, t).map_err(err(full))?;
    Ok(old)
}

/// A temp folder for one case: in `/dev/shm` where there is one, since a round's fsyncs on a
/// disk cost ten times the rest of the case; the folders are real folders all the same.
fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return Ok(dir);
    }
    tempfile::tempdir()
}

/// One round of `vault` with `hub`, mass deletes allowed; a transient hub error (a lock held
/// too long) is retried, any other error is the answer.
fn round(vault: &LocalVault, hub: &FolderHub) -> Result<SyncReport, SyncError> {
    let opts = SyncOptions {
        allow_mass_delete: true,
        ..SyncOptions::default()
    };
    let mut tries = 0;
    loop {
        match sync(vault, hub, &opts) {
            Err(SyncError::Hub(e)) if e.is_transient() && tries < 3 => tries += 1,
            other => return other,
        }
    }
}

/// Every file under `.revisions/` has a name that says where it came from.
fn check_revision_names(files: &BTreeMap<String, Vec<u8>>) -> Checked {
    for path in files.keys().filter(|p| p.starts_with(".revisions/")) {
        let parsed = VaultPath::new(path).ok().and_then(|p| parse_revision(&p));
        if parsed.is_none() {
            return Err(format!("revision `{path}` has a name that does not parse"));
        }
    }
    Ok(())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bytes of object `id` from the hub, checked against the id.
fn hub_object(hub: &FolderHub, id: ObjectId) -> Result<Vec<u8>, BoxError> {
    let object = hub.get(&[id])?.pop().ok_or("the hub returned no object")?;
    if object.id() != id {
        return Err(format!("object {id} has bytes of {}", object.id()).into());
    }
    Ok(object.bytes)
}

/// Snapshot `id` from the hub, and the files of its tree (every path re-validated).
fn hub_snapshot(hub: &FolderHub, id: ObjectId) -> Result<(Snapshot, FlatTree), BoxError> {
    let snap = Snapshot::decode(&hub_object(hub, id)?)?;
    let flat = flatten::<BoxError>(snap.tree, &mut |t| Ok(Tree::decode(&hub_object(hub, t)?)?))?;
    Ok((snap, flat))
}

/// The bytes of `path` in the hub's head, if it has that file.
fn hub_file(hub: &FolderHub, path: &str) -> Result<Option<Vec<u8>>, String> {
    let read = || -> Result<Option<Vec<u8>>, BoxError> {
        let Some(head) = hub.head()? else {
            return Ok(None);
        };
        let (_, mut flat) = hub_snapshot(hub, head)?;
        match flat.remove(&VaultPath::new(path)?) {
            Some(meta) => Ok(Some(hub_object(hub, meta.id)?)),
            None => Ok(None),
        }
    };
    read().map_err(|e| format!("reading `{path}` from the hub: {e}"))
}

/// Every snapshot reachable from the hub's head decodes, its trees flatten and its blobs are in
/// the hub.
fn check_history(hub: &FolderHub) -> Checked {
    let walk = || -> Result<(), BoxError> {
        let mut todo: Vec<ObjectId> = hub.head()?.into_iter().collect();
        let mut seen = HashSet::new();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let (snap, flat) = hub_snapshot(hub, id)?;
            let blobs: Vec<ObjectId> = flat.values().map(|m| m.id).collect();
            let missing = hub.missing(&blobs)?;
            if !missing.is_empty() {
                return Err(format!("snapshot {id} names blobs the hub lacks: {missing:?}").into());
            }
            todo.extend(snap.parents);
        }
        Ok(())
    };
    walk().map_err(|e| format!("hub history: {e}"))
}

/// Whether `path` is left out of sync by the built-in ignore rules (no world has a
/// `.syncignore`).
fn ignored(path: &str) -> bool {
    static RULES: std::sync::LazyLock<IgnoreRules> =
        std::sync::LazyLock::new(|| IgnoreRules::new(None).expect("built-in rules"));
    VaultPath::new(path).is_ok_and(|p| RULES.is_ignored(&p, false))
}

/// The ignored files among `files`: each device's own, never synced.
fn local_only(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(p, _)| ignored(p))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

/// The files of `root` that sync, with their bytes and exec bit.
fn synced_files(root: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    use std::os::unix::fs::PermissionsExt;
    files(root)
        .into_iter()
        .filter(|(p, _)| !ignored(p))
        .map(|(p, bytes)| {
            let mode = fs::metadata(root.join(&p)).map_or(0, |m| m.permissions().mode());
            (p, (bytes, mode & 0o100 != 0))
        })
        .collect()
}

/// Every file under `root` except `.vault/`, by relative path (with `/`), with its bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".vault"))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).expect("under root");
            let rel = VaultPath::from_relative(rel)
                .map_or_else(|_| rel.display().to_string(), |p| p.as_str().to_string());
            (rel, fs::read(e.path()).unwrap_or_default())
        })
        .collect()
}

fn listing(files: &BTreeMap<String, Vec<u8>>) -> String {
    let items: Vec<String> = files
        .iter()
        .map(|(p, c)| format!("{p}={:?}", String::from_utf8_lossy(c)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

fn err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn describe(history: &[Step]) -> String {
    let mut out = String::new();
    for (i, step) in history.iter().enumerate() {
        let _ = writeln!(out, "  {i:>2}: +{}s {:?}", step.advance, step.op);
    }
    out
}

fn run_history(history: &[Step], clashes: Clashes) -> Checked {
    let mut world = World::new(clashes)?;
    for (i, step) in history.iter().enumerate() {
        world
            .run(i, step)
            .map_err(|e| format!("at step {i}: {e}"))?;
    }
    world.settle_and_check()
}

fn check(history: &[Step], clashes: Clashes) -> Result<(), TestCaseError> {
    run_history(history, clashes)
        .map_err(|e| TestCaseError::fail(format!("{e}\nhistory:\n{}", describe(history))))
}

/// The run's settings; failing seeds go to `vault/proptest-regressions/<file>` (the tests run
/// in the package folder).
fn config(file: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        // Shrink replayed seeds too (the default scales with `cases`, which may be 0).
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config("proptest-regressions/multi_device.txt"))]

    #[test]
    fn devices_converge_without_losing_content(history in history()) {
        check(&history, Clashes::Never)?;
    }
}

proptest! {
    #![proptest_config(config("proptest-regressions/multi_device_clashes.txt"))]

    #[test]
    fn devices_converge_when_they_add_case_clashing_names(history in history()) {
        check(&history, Clashes::AcrossDevices)?;
    }
}

proptest! {
    #![proptest_config(config("proptest-regressions/multi_device_local_clashes.txt"))]

    #[test]
    fn devices_converge_with_case_clashing_names_on_one_device(history in history()) {
        check(&history, Clashes::OnOneDevice)?;
    }
}

/// A history from its operations, the clock moving one second before each.
fn steps(ops: Vec<Op>) -> Vec<Step> {
    ops.into_iter().map(|op| Step { advance: 1, op }).collect()
}

fn shared(word: &'static str) -> Text {
    Text {
        word,
        unique: false,
    }
}

/// Found by `devices_converge_when_they_add_case_clashing_names`: dev2 takes dev1's rename
/// `b.md` -> `D/b.md` as a local move while it has just made `d/b.md` itself. The name-clash
/// rule once looked only at files written fresh from the hub, so dev2 published both names and
/// dev1 moved `d/b.md` aside in round two, after dev0 had synced for the last time.
#[test]
fn a_remote_rename_onto_a_name_that_clashes_with_a_new_local_note() {
    use Op::*;
    let history = steps(vec![
        Write {
            dev: 0,
            path: "b.md",
            text: shared("beta"),
        },
        Conflict {
            a: 0,
            b: 2,
            path: "A.md",
            a_text: shared("alpha"),
            b_word: "alpha",
            tie: false,
        },
        Write {
            dev: 1,
            path: "a.md",
            text: shared("alpha"),
        },
        Sync { dev: 1 },
        Rename {
            dev: 1,
            pick: 1,
            to: "D/b.md",
        },
        Rename {
            dev: 2,
            pick: 0,
            to: "d/b.md",
        },
        Sync { dev: 0 },
        Write {
            dev: 0,
            path: "d/b.md",
            text: shared("alpha"),
        },
    ]);
    run_history(&history, Clashes::AcrossDevices).unwrap_or_else(|e| panic!("{e}"));
}

/// Found by `devices_converge_with_case_clashing_names_on_one_device`: two devices each hold
/// `D/b.md` and `d/b.md`. The name-clash rule once let dev0 publish both; dev1 downloaded them
/// and kept `d/b.md` under `.revisions/`; dev2 added its own `d/b.md` back; dev1 moved it aside
/// again in round two, which dev0 never saw.
#[test]
fn two_devices_that_each_hold_the_same_case_clashing_pair() {
    use Op::*;
    let write = |dev, path| Write {
        dev,
        path,
        text: shared("alpha"),
    };
    let history = steps(vec![
        write(0, "D/b.md"),
        write(2, "D/b.md"),
        write(2, "d/b.md"),
        write(0, "d/b.md"),
    ]);
    run_history(&history, Clashes::OnOneDevice).unwrap_or_else(|e| panic!("{e}"));
}

/// Found by `devices_converge_with_case_clashing_names_on_one_device` (the failure needs two
/// devices syncing at once, so it is run a few times: about two runs in three lost "beta 1").
/// dev0 renames `d/b.md` ("beta 1") to `d/e/c.md`, where dev1 has a new note; dev2 adds its
/// own `d/b.md`. dev1 and dev2 sync together: dev1's first attempt deletes `d/b.md` and keeps
/// the hub's `d/e/c.md` under `.revisions/` (its own, newer, wins), then loses the CAS to dev2.
/// Its retry took the deletion and that revision (same bytes, same time) for a rename, and
/// carried dev2's `d/b.md` into the revision, over "beta 1".
#[test]
fn a_retried_round_never_writes_an_edit_into_the_revision_it_kept() {
    use Op::*;
    let write = |dev, path, word, unique| Write {
        dev,
        path,
        text: Text { word, unique },
    };
    let history = vec![
        write(1, "D/b.md", "alpha", true),
        write(0, "d/b.md", "beta", true),
        write(1, "A.md", "", true),
        Sync { dev: 0 },
        Conflict {
            a: 0,
            b: 1,
            path: "D/b.md",
            a_text: shared("beta"),
            b_word: "alpha",
            tie: true,
        },
        Sync { dev: 0 },
        write(0, "b.md", "", false),
        write(1, "d/e/c.md", "alpha", true),
        Rename {
            dev: 0,
            pick: 2,
            to: "d/e/c.md",
        },
        Sync { dev: 0 },
        write(2, "d/b.md", "alpha", false),
        SyncTogether { a: 2, b: 1 },
    ];
    let history = steps(history);
    for _ in 0..8 {
        run_history(&history, Clashes::OnOneDevice).unwrap_or_else(|e| panic!("{e}"));
    }
}
