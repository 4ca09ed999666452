//! The simulated world: a hub machine with a folder hub on its disk (or `vault-server` over a
//! data folder there, [`crate::server_hub`]), devices each with a vault on its own disk, one
//! clock. Steps ([`crate::ops::Step`]) act on it: users edit files as real editors and tools
//! do, devices run the unmodified sync round.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vault::folder_hub::FolderHub;
use vault::local::LocalVault;
use vault::sync::{SyncOptions, sync};
use vault::vfs::{self, Attached};

use crate::fs::{Crashed, FsConfig, SimFs, WorldClock};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ops::{Change, Housekeeping, HubKind, NetFault, Save, Setup, Step};
use crate::server_client::ServerHub;
use crate::server_hub::SimServer;

const SECOND: i64 = 1_000_000_000;

/// One simulated machine, attached under its own root.
pub struct Machine {
    pub fs: SimFs,
    _attached: Attached,
    pub root: PathBuf,
}

impl Machine {
    fn new(root: PathBuf, config: FsConfig, clock: &Arc<WorldClock>, skew_ns: i64) -> Machine {
        let fs = SimFs::new(config, Arc::clone(clock), skew_ns);
        let attached = vfs::attach(root.clone(), Arc::new(fs.clone()));
        Machine {
            fs,
            _attached: attached,
            root,
        }
    }
}

pub struct Device {
    pub machine: Machine,
    /// The vault folder.
    pub vault: PathBuf,
    pub name: String,
    pub has_mount: bool,
    pub mounted: bool,
}

/// What happened in a round, for the run's figures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub rounds: u64,
    pub rounds_ok: u64,
    pub device_crashes: u64,
    pub hub_crashes: u64,
    pub faults: u64,
    pub user_steps: u64,
    /// Requests between a device and the server lost, cut off or delayed (rounds struck).
    pub net_faults: u64,
    /// Server processes restarted (with the hub's crashes, and on their own).
    pub server_restarts: u64,
    /// Compactions of the server's vault between two requests of a round.
    pub compactions: u64,
    /// Bits flipped in the hub's storage (bit rot).
    pub bit_flips: u64,
    /// Versions whose only copy was in what a bit flip damaged: the disk's loss, not sync's
    /// (see [`crate::check::rot`]).
    pub lost_to_rot: u64,
}

/// The faults a sync round runs into (see [`Step::Sync`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    pub crash: Option<(u64, u8)>,
    pub hub_crash: Option<(u64, u8)>,
    pub net: Option<(u64, NetFault)>,
    pub compact_at: Option<(u64, Housekeeping)>,
}

/// What a sync step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundOutcome {
    Synced,
    Failed(String),
    Crashed,
}

pub struct World {
    pub clock: Arc<WorldClock>,
    /// When the world began, by its clock.
    pub started_ns: i64,
    pub hub: Machine,
    /// The hub folder: the folder hub, or the server's folder of the devices' vault.
    pub hub_dir: PathBuf,
    /// The server, when the devices meet at one.
    pub server: Option<SimServer>,
    pub devices: Vec<Device>,
    /// Backups kept by the user: (device, slot) -> (path, bytes, mtime).
    backups: BTreeMap<(usize, usize), (String, Vec<u8>, i64)>,
    pub counts: Counts,
    /// Every content a user ever wrote: no vault file may hold anything else, or it is a torn
    /// write (an empty file included, unless some user saved one).
    pub written: BTreeSet<Vec<u8>>,
    /// The paths the last finished round could not bring to the hub's version, each waiting
    /// for its user (a link or a folder in the way).
    pub last_skipped: Vec<vault::sync::SkippedPath>,
    /// Rounds run `syncd sync --full-verify` (the hub re-hashes every object its head
    /// reaches; devices re-upload what it lost or holds damaged): what a user does when told
    /// the hub holds a damaged copy.
    pub full_verify: bool,
    /// A round said to run `syncd sync --full-verify` (a damaged copy on the hub, in its
    /// error or in a skipped path's message).
    pub told_full_verify: bool,
    /// The world settles: every fault is healed (drives mounted again), so what a device's
    /// user is told next is about the user's own doing.
    pub settling: bool,
    /// Devices whose round refused to delete most of the vault (an emptied folder, which
    /// could be a drive not mounted) and said to run `syncd sync --allow-mass-delete`: once
    /// the world settles, the deletes are the user's own, and the user does so.
    told_mass_delete: BTreeSet<usize>,
    /// How many names the settling user has put aside: each aside name carries the next
    /// number, so two names that differ only in case (`Note.md`, `note.md`) put aside on a
    /// case-insensitive disk do not collide again under the same suffix.
    asides: u32,
}

/// Where this process's worlds live: each run a root of its own.
fn fresh_root() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    PathBuf::from(format!(
        "/vault-sim/{}/{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Run `f`, a simulated crash (a [`Crashed`] panic) turned into `Err`. So is any other panic
/// once `dead` says a machine died: a crash point reached on another thread of the round (a
/// large file's chunks read on a thread of their own) panics this one with the thread
/// scope's own message.
fn quietly<T>(f: impl FnOnce() -> T, dead: impl Fn() -> bool) -> Result<T, ()> {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) if payload.downcast_ref::<Crashed>().is_some() || dead() => Err(()),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

impl World {
    pub fn new(setup: &Setup) -> World {
        let root = fresh_root();
        let clock = WorldClock::new(1_767_225_600 * SECOND);
        let hub = Machine::new(root.join("hub"), FsConfig::default(), &clock, 0);
        let (hub_dir, server) = match setup.hub {
            HubKind::Folder => (hub.root.join("hub"), None),
            HubKind::Server => {
                let data = hub.root.join("data");
                let server = SimServer::start(data.clone(), setup.devices.len());
                // The operator's setup is on the disk before anything happens.
                hub.fs.restart(usize::MAX);
                (SimServer::vault_dir(&data), Some(server))
            }
        };
        let devices = setup
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let config = FsConfig {
                    granularity_ns: d.granularity_ns,
                    names: d.names,
                    capacity: d.capacity,
                };
                let machine = Machine::new(root.join(format!("dev{i}")), config, &clock, d.skew_ns);
                let vault = machine.root.join("vault");
                vfs::create_dir_all(vault.join("media")).expect("a fresh simulated disk");
                if d.has_mount {
                    machine
                        .fs
                        .mount(Path::new("vault/media"))
                        .expect("a fresh simulated disk");
                }
                machine.fs.restart(usize::MAX);
                LocalVault::init(&vault, &hub_dir.to_string_lossy(), &format!("dev{i}"))
                    .expect("a vault on a fresh simulated disk");
                machine.fs.restart(usize::MAX);
                Device {
                    machine,
                    vault,
                    name: format!("dev{i}"),
                    has_mount: d.has_mount,
                    mounted: d.has_mount,
                }
            })
            .collect();
        World {
            started_ns: clock.now_ns(),
            clock,
            hub,
            hub_dir,
            server,
            devices,
            backups: BTreeMap::new(),
            counts: Counts::default(),
            written: BTreeSet::new(),
            last_skipped: Vec::new(),
            asides: 0,
            full_verify: false,
            told_full_verify: false,
            settling: false,
            told_mass_delete: BTreeSet::new(),
        }
    }

    fn full(&self, dev: usize, path: &str) -> PathBuf {
        self.devices[dev].vault.join(path)
    }

    /// Run one step. User steps that find nothing to act on do nothing.
    pub fn step(&mut self, step: &Step) -> Option<RoundOutcome> {
        self.clock.advance(SECOND);
        // Requests the network held back arrive, late, before whatever this step does.
        if let Some(server) = &self.server {
            server.tick();
        }
        match step {
            Step::Sync {
                dev,
                crash,
                hub_crash,
                net,
                compact_at,
            } => {
                let faults = Faults {
                    crash: *crash,
                    hub_crash: *hub_crash,
                    net: *net,
                    compact_at: *compact_at,
                };
                return Some(self.sync_with(*dev, &faults));
            }
            Step::RestartServer => {
                if let Some(server) = &self.server {
                    server.restart();
                    self.counts.server_restarts += 1;
                }
            }
            Step::Wait { secs } => self.clock.advance(secs * SECOND),
            Step::BitRot { file, bit } => {
                if self.rot(*file, *bit).is_some() {
                    self.counts.bit_flips += 1;
                }
            }
            Step::Mount { dev, mounted } => {
                let d = &mut self.devices[*dev];
                if d.has_mount && d.mounted != *mounted {
                    let at = Path::new("vault/media");
                    let _ = if *mounted {
                        d.machine.fs.remount(at)
                    } else {
                        d.machine.fs.unmount(at)
                    };
                    d.mounted = *mounted;
                    self.counts.faults += 1;
                }
            }
            user => {
                self.counts.user_steps += 1;
                self.user(user);
            }
        }
        None
    }

    /// A user's step: the files change as the tools named change them, and are on the disk
    /// (a user's save is the editor's to make durable; what sync does after is under test).
    fn user(&mut self, step: &Step) {
        match step {
            Step::Write {
                dev,
                path,
                text,
                save,
            } => {
                let full = self.full(*dev, path);
                if let Some(parent) = full.parent()
                    && vfs::create_dir_all(parent).is_err()
                {
                    return;
                }
                self.written.insert(text.as_bytes().to_vec());
                if save_as(&full, text.as_bytes(), *save).is_err() && *save == Save::InPlace {
                    // A save in place that fails (a full disk) leaves the file truncated:
                    // the editor's doing, not sync's.
                    self.written.insert(Vec::new());
                }
            }
            Step::Delete { dev, path } => {
                let full = self.full(*dev, path);
                if vfs::remove_file(&full).is_ok() {
                    durable_dir(&full);
                }
            }
            Step::Rename { dev, from, to } => {
                let (from, to) = (self.full(*dev, from), self.full(*dev, to));
                if from == to || to.starts_with(&from) {
                    return;
                }
                if let Some(parent) = to.parent() {
                    let _ = vfs::create_dir_all(parent);
                }
                // `mv` refuses to replace a folder and asks before replacing a file: the user
                // said no.
                if vfs::symlink_metadata(&to).is_err() && vfs::rename(&from, &to).is_ok() {
                    durable_dir(&from);
                    durable_dir(&to);
                }
            }
            Step::Backup { dev, path, slot } => {
                let full = self.full(*dev, path);
                if let (Ok(bytes), Ok(meta)) = (vfs::read(&full), vfs::metadata(&full)) {
                    self.backups
                        .insert((*dev, *slot), (path.clone(), bytes, meta.mtime_ns));
                }
            }
            Step::Restore { dev, slot } => {
                if let Some((path, bytes, mtime)) = self.backups.get(&(*dev, *slot)).cloned() {
                    let full = self.full(*dev, &path);
                    if let Some(parent) = full.parent() {
                        let _ = vfs::create_dir_all(parent);
                    }
                    if save_as(&full, &bytes, Save::InPlace).is_ok()
                        && vfs::set_modified_ns(&full, mtime).is_ok()
                        && let Ok(f) = vfs::File::open(&full)
                    {
                        let _ = f.sync_all();
                    }
                }
            }
            Step::TouchBack { dev, path, secs } => {
                let full = self.full(*dev, path);
                if let Ok(m) = vfs::metadata(&full)
                    && vfs::set_modified_ns(&full, m.mtime_ns - secs * SECOND).is_ok()
                    && let Ok(f) = vfs::File::open(&full)
                {
                    let _ = f.sync_all();
                }
            }
            Step::Lock { dev, path, locked } => {
                let full = self.full(*dev, path);
                if vfs::metadata(&full).is_ok_and(|m| m.is_file()) {
                    let _ = vfs::set_mode(&full, if *locked { 0o000 } else { 0o644 });
                    self.counts.faults += 1;
                }
            }
            Step::Grow { dev, path } => {
                let rel = Path::new("vault").join(path);
                if self.devices[*dev]
                    .machine
                    .fs
                    .grow_when_read(&rel, 1)
                    .is_ok()
                {
                    self.counts.faults += 1;
                    self.written
                        .insert(b"\nmore typed while it was read".to_vec());
                }
            }
            Step::Large {
                dev,
                path,
                seed,
                change,
                save,
            } => {
                let full = self.full(*dev, path);
                if let Some(parent) = full.parent()
                    && vfs::create_dir_all(parent).is_err()
                {
                    return;
                }
                let bytes = large_bytes(vfs::read(&full).ok(), *seed, *change);
                self.written.insert(bytes.clone());
                if save_as(&full, &bytes, *save).is_err() && *save == Save::InPlace {
                    self.written.insert(Vec::new());
                }
            }
            Step::Symlink { dev, path, target } => {
                let full = self.full(*dev, path);
                if let Some(parent) = full.parent()
                    && vfs::create_dir_all(parent).is_ok()
                    && vfs::symlink(target, &full).is_ok()
                {
                    durable_dir(&full);
                }
            }
            Step::FileToFolder { dev, path, text } => {
                let full = self.full(*dev, path);
                if vfs::symlink_metadata(&full).is_ok_and(|m| m.is_file())
                    && vfs::remove_file(&full).is_ok()
                    && vfs::create_dir(&full).is_ok()
                {
                    durable_dir(&full);
                    self.written.insert(text.as_bytes().to_vec());
                    let _ = save_as(&full.join("inside.md"), text.as_bytes(), Save::Atomic);
                }
            }
            Step::FolderToFile { dev, path, text } => {
                let full = self.full(*dev, path);
                if vfs::symlink_metadata(&full).is_ok_and(|m| m.is_dir())
                    && vfs::remove_dir_all(&full).is_ok()
                {
                    durable_dir(&full);
                    self.written.insert(text.as_bytes().to_vec());
                    let _ = save_as(&full, text.as_bytes(), Save::Atomic);
                }
            }
            Step::Sync { .. }
            | Step::Wait { .. }
            | Step::Mount { .. }
            | Step::RestartServer
            | Step::BitRot { .. } => {}
        }
    }

    /// A sync round of device `dev`, without faults.
    pub fn sync(&mut self, dev: usize) -> RoundOutcome {
        self.sync_with(dev, &Faults::default())
    }

    /// A sync round of device `dev`, with the crashes and network faults the step arms.
    pub fn sync_with(&mut self, dev: usize, faults: &Faults) -> RoundOutcome {
        let Faults {
            crash, hub_crash, ..
        } = *faults;
        self.counts.rounds += 1;
        let d = &self.devices[dev];
        if let Some((at, _)) = crash {
            d.machine.fs.crash_after(at);
        }
        if let Some((at, _)) = hub_crash {
            self.hub.fs.fail_after(at);
        }
        let (vault_dir, hub_dir) = (d.vault.clone(), self.hub_dir.clone());
        let (device_fs, hub_fs) = (d.machine.fs.clone(), self.hub.fs.clone());
        let dead = || device_fs.is_dead() || hub_fs.is_dead();
        let opts = SyncOptions {
            lock_wait: std::time::Duration::ZERO,
            full_verify: self.full_verify,
            allow_mass_delete: self.settling && self.told_mass_delete.contains(&dev),
            ..SyncOptions::default()
        };
        let (ran, struck, compacted, restarted) = match &self.server {
            None => {
                let ran = quietly(
                    || {
                        let vault = LocalVault::open(&vault_dir).map_err(|e| e.to_string())?;
                        let hub = FolderHub::open(&hub_dir).map_err(|e| e.to_string())?;
                        sync(&vault, &hub, &opts).map_err(|e| e.to_string())
                    },
                    dead,
                );
                (ran, false, false, false)
            }
            Some(server) => {
                let hub = ServerHub::new(server, dev, faults.net, faults.compact_at);
                let ran = quietly(
                    || {
                        let vault = LocalVault::open(&vault_dir).map_err(|e| e.to_string())?;
                        sync(&vault, &hub, &opts).map_err(|e| e.to_string())
                    },
                    dead,
                );
                (ran, hub.struck(), hub.compacted(), hub.restarted())
            }
        };
        self.counts.net_faults += u64::from(struck);
        self.counts.compactions += u64::from(compacted);
        self.counts.server_restarts += u64::from(restarted);
        let d = &self.devices[dev];
        d.machine.fs.disarm();
        // A crash point reached on another thread of the round (the scan hands a large file's
        // chunks to the hub from one) kills the whole device just the same, though the round's
        // own thread only saw that thread fail.
        let ran = if d.machine.fs.is_dead() { Err(()) } else { ran };
        let outcome = match ran {
            Ok(Ok(report)) => {
                if std::env::var_os("VAULT_SIM_TRACE").is_some() {
                    for s in &report.skipped {
                        eprintln!("     skipped {s:?}");
                    }
                    for w in &report.warnings {
                        eprintln!("     warning {w}");
                    }
                }
                self.counts.rounds_ok += 1;
                self.told_full_verify |= report
                    .skipped
                    .iter()
                    .any(|s| s.message.contains("--full-verify"));
                self.last_skipped = report.skipped;
                RoundOutcome::Synced
            }
            Ok(Err(e)) => {
                self.told_full_verify |= e.contains("--full-verify");
                if e.contains("--allow-mass-delete") {
                    self.told_mass_delete.insert(dev);
                }
                RoundOutcome::Failed(e)
            }
            Err(()) => {
                self.counts.device_crashes += 1;
                let pending = d.machine.fs.pending();
                // Half the crashes lose everything not yet durable; the others keep a prefix.
                let keep = crash.map_or(0, |(_, f)| {
                    pending * usize::from(f.saturating_sub(128)) / 128
                });
                d.machine.fs.restart(keep);
                RoundOutcome::Crashed
            }
        };
        if self.hub.fs.is_dead() {
            self.counts.hub_crashes += 1;
            let pending = self.hub.fs.pending();
            let keep = hub_crash.map_or(0, |(_, f)| pending * usize::from(f) / 256);
            self.hub.fs.restart(keep);
            // The server ran on the machine that went down: it starts again over what its
            // disk kept.
            if let Some(server) = &self.server {
                server.restart();
                self.counts.server_restarts += 1;
            }
        }
        self.hub.fs.disarm();
        outcome
    }

    /// Put every fault right: drives back, files readable again, the network's held requests
    /// delivered.
    pub fn heal(&mut self) {
        if let Some(server) = &self.server {
            server.deliver_held();
        }
        for d in &mut self.devices {
            d.machine.fs.set_capacity(u64::MAX);
            if d.has_mount && !d.mounted {
                let _ = d.machine.fs.remount(Path::new("vault/media"));
                d.mounted = true;
            }
            let files = d
                .machine
                .fs
                .files_under(Path::new("vault"))
                .unwrap_or_default();
            for path in files.keys() {
                let full = d.vault.join(path);
                if vfs::metadata(&full).is_ok_and(|m| m.mode & 0o400 == 0) {
                    let _ = vfs::set_mode(&full, 0o644);
                }
            }
        }
    }

    /// Do what the last round's messages ask of device `dev`'s user: a link in the way is
    /// removed, a file or a folder in the way is renamed aside under a name of its own (its
    /// notes then sync under the new name). Says whether anything was done.
    pub fn resolve_skipped(&mut self, dev: usize) -> bool {
        let mut acted = false;
        for skipped in std::mem::take(&mut self.last_skipped) {
            let path = self.full(dev, skipped.path.as_str());
            let rel = path.strip_prefix(&self.devices[dev].vault).unwrap_or(&path);
            let mut at = self.devices[dev].vault.clone();
            for part in rel.components() {
                at.push(part);
                let Ok(meta) = vfs::symlink_metadata(&at) else {
                    break;
                };
                let in_the_way = if at == path {
                    match skipped.reason {
                        vault::apply::SkipKind::FolderInTheWay => meta.is_dir(),
                        vault::apply::SkipKind::FileInTheWay => meta.is_file(),
                        _ => false,
                    }
                } else {
                    !meta.is_dir()
                };
                if meta.is_symlink() {
                    acted |= vfs::remove_file(&at).is_ok();
                    durable_dir(&at);
                    break;
                }
                if in_the_way {
                    self.asides += 1;
                    let mut aside = at.clone().into_os_string();
                    aside.push(format!("-aside{}", self.asides));
                    acted |= vfs::rename(&at, &aside).is_ok();
                    durable_dir(&at);
                    break;
                }
            }
        }
        acted
    }

    /// The files of device `dev`'s vault (not `.vault/`), as its disk holds them now.
    pub fn files(&self, dev: usize) -> BTreeMap<PathBuf, Vec<u8>> {
        let d = &self.devices[dev];
        d.machine
            .fs
            .files_under(Path::new("vault"))
            .unwrap_or_default()
            .into_iter()
            .filter(|(p, _)| !p.starts_with(".vault"))
            .collect()
    }
}

/// What a careful tool does after removing or moving a name: the folder's entries durable, so
/// a crash of the device later does not undo the user's own change (which sync is not
/// answerable for).
fn durable_dir(full: &Path) {
    if let Some(dir) = full.parent() {
        let _ = vfs::sync_dir(dir);
    }
}

/// The bytes a [`Step::Large`] saves, given what the file holds now (`old`): its change
/// applied to a large file, or a new large file. Expanded from `seed`, so a run replays.
pub fn large_bytes(old: Option<Vec<u8>>, seed: u64, change: Change) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fresh = |len: usize| {
        let mut out = vec![0u8; len];
        rng.fill_bytes(&mut out);
        out
    };
    let threshold = vault::content::CHUNKED_FROM as usize;
    let old = old.filter(|o| o.len() >= threshold);
    let (mut bytes, change) = match (old, change) {
        (Some(old), change) => (old, change),
        // Nothing large to edit there: the user saves a new attachment.
        (None, Change::New { extra }) => return fresh(threshold + extra as usize),
        (None, _) => return fresh(threshold + 4096),
    };
    let at = |len: usize, at: u16| len * usize::from(at) / 65536;
    match change {
        Change::New { extra } => bytes = fresh(threshold + extra as usize),
        Change::Overwrite { at: pos, len } => {
            let start = at(bytes.len(), pos).min(bytes.len() - usize::from(len));
            let new = fresh(usize::from(len));
            bytes[start..start + new.len()].copy_from_slice(&new);
        }
        Change::Insert { at: pos, len } => {
            let start = at(bytes.len(), pos);
            bytes.splice(start..start, fresh(usize::from(len)));
        }
        Change::Append { len } => bytes.extend(fresh(usize::from(len))),
    }
    bytes
}

/// Save `bytes` at `full` the way `save` does, durably (the editor fsyncs).
fn save_as(full: &Path, bytes: &[u8], save: Save) -> std::io::Result<()> {
    let dir = full.parent().unwrap_or(Path::new("/"));
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // An editor whose save fails (a full disk) removes its temp file and says so.
    let write_new = |at: &Path| -> std::io::Result<()> {
        let written = vfs::File::create(at).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        if written.is_err() {
            let _ = vfs::remove_file(at);
        }
        written
    };
    match save {
        Save::InPlace => {
            let mut f = vfs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(full)?;
            let written = f.write_all(bytes);
            // Even a failed save is on the disk as it was left (the world keeps users' steps
            // durable; sync answers for what it does after).
            f.sync_all()?;
            written?;
        }
        Save::Atomic => {
            let tmp = dir.join(format!(".{name}.swp"));
            write_new(&tmp)?;
            vfs::rename(&tmp, full)?;
        }
        Save::JetBrains => {
            let tmp = dir.join(format!("{name}___jb_tmp___"));
            let old = dir.join(format!("{name}___jb_old___"));
            write_new(&tmp)?;
            let had_old = vfs::rename(full, &old).is_ok();
            vfs::rename(&tmp, full)?;
            if had_old {
                vfs::remove_file(&old)?;
            }
        }
        Save::Gio => {
            let tmp = dir.join(".goutputstream-SIM001");
            write_new(&tmp)?;
            vfs::rename(&tmp, full)?;
        }
    }
    vfs::sync_dir(dir)
}
