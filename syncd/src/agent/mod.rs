//! The agent behind `syncd watch`: rounds start on their own when a file in the vault changes
//! (a burst of saves is one round), when the hub announces a new snapshot, and every few
//! minutes as a safety net against missed events. Failures are retried with capped, jittered
//! backoff; being offline is an ordinary state, logged once when it starts and once when it
//! ends.
//!
//! Each round is the same `vault::sync::sync` that `syncd sync` runs, so everything it
//! guarantees (atomic writes, revisions, verification) holds here too.

pub mod control;
pub mod policy;
pub mod remote;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use vault::Hub;
use vault::filestat::FileStat;
use vault::local::LocalVault;
use vault::scan::ScanScope;
use vault::sync::{self, SyncOptions, SyncReport};

use control::{AgentStatus, State};
use policy::{Backoff, Debounce, is_relevant};
use remote::{KnownHead, RemoteSource};
use vault::statcache::{is_racy, is_racy_written, now_ns};

/// Why the agent wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Something in the vault folder changed.
    Local,
    /// The watcher lost events (queue overflow): everything must be looked at.
    Rescan,
    /// The hub's head may have moved (a hub folder's `refs/` changed): news unless it is the
    /// head this device agreed on last (its own push).
    Remote,
    /// The server announced this head: news unless it is this device's own push.
    RemoteHead(Option<vault::ObjectId>),
    /// The server answers again after an outage: retry at once, not after the backoff.
    Reachable,
    /// SIGTERM or ctrl-c: finish the round in progress, then stop.
    Stop,
    /// `syncd sync-now`: a round at once (even while paused or backing off).
    SyncNow,
    /// `syncd pause` / `syncd resume`.
    Pause,
    Resume,
}

/// More changed paths than this between two rounds, and the next round scans everything
/// (cheaper than a scope that is most of the vault, and bounded memory during a huge copy).
const MAX_SCOPED_PATHS: usize = 10_000;

/// What the watcher saw since the agent last looked: the paths, or that it lost track.
#[derive(Debug, Default)]
struct Seen {
    paths: HashSet<PathBuf>,
    /// Events were lost (queue overflow, a watcher error) or too many paths came: scan all.
    everything: bool,
}

type SharedSeen = Arc<Mutex<Seen>>;

/// How a path was when a round last dealt with it: an event that finds it still so is the
/// echo of that round (its own writes, or a late event for a change it already synced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    Absent,
    File(FileStat),
    Folder(FileStat),
}

impl Left {
    /// How `path` is now; `None` for what no echo can be (a symlink, an unreadable path).
    fn now(path: &Path) -> Option<Left> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_file() => Some(Left::File(FileStat::from_metadata(&m))),
            Ok(m) if m.is_dir() => Some(Left::Folder(FileStat::from_metadata(&m))),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Left::Absent),
            Err(_) => None,
        }
    }
}

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub debounce: Debounce,
    pub backoff: Backoff,
    /// A round at least this often even without events, against missed ones.
    pub safety_interval: Duration,
    pub sync: SyncOptions,
}

impl Default for AgentOptions {
    fn default() -> AgentOptions {
        AgentOptions {
            debounce: Debounce::default(),
            backoff: Backoff::default(),
            safety_interval: Duration::from_secs(300),
            sync: SyncOptions::default(),
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "cannot watch `{}` for changes: {source}. If the system's limit of watched folders is too low, raise it: `sudo sysctl fs.inotify.max_user_watches=524288` (and add that line to /etc/sysctl.conf to keep it)", .path.display()
    )]
    Watch {
        path: std::path::PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error(
        "cannot watch `{}` for changes: the system's limit of watched folders \
         (fs.inotify.max_user_watches) is lower than the number of folders in the vault plus \
         those other programs watch. Raise it: `sudo sysctl fs.inotify.max_user_watches=524288`, \
         and add `fs.inotify.max_user_watches=524288` to /etc/sysctl.conf to keep it", .path.display()
    )]
    WatchLimit { path: std::path::PathBuf },
    #[error("cannot install the SIGTERM/ctrl-c handler: {0}")]
    Signals(#[from] ctrlc::Error),
    #[error(transparent)]
    Control(#[from] control::ControlError),
}

/// Give the memory a round freed back to the system. A round of a large vault allocates tens
/// of MiB (trees, the scan, the stat cache) on several threads, and glibc keeps what those
/// threads freed in their arenas; an agent idles for hours between rounds, so what it holds
/// then is what people see in their task manager.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A number in [0, 1) for jitter; quality hardly matters, only that devices differ.
pub fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Run until SIGTERM or ctrl-c.
pub fn run(
    vault: &LocalVault,
    hub: &dyn Hub,
    source: RemoteSource,
    opts: &AgentOptions,
) -> Result<(), AgentError> {
    let (tx, rx) = mpsc::channel();
    let status = Arc::new(Mutex::new(AgentStatus::new(now_ns())));
    // Before anything can see this agent answer (the control socket): a service manager that
    // stops it the moment it is up must get a clean exit, not death by the signal's default.
    let stop = tx.clone();
    ctrlc::set_handler(move || {
        let _ = stop.send(Trigger::Stop);
    })?;
    // Then the socket, so a second agent on the same vault stops here and touches nothing.
    let _control = control::serve(
        &control::socket_path(&vault.state_dir()),
        status.clone(),
        tx.clone(),
    )?;
    let seen = SharedSeen::default();
    let _local = watch_folder(vault.root(), tx.clone(), seen.clone())?;
    let known: KnownHead = Arc::new(Mutex::new(vault.base().ok().flatten()));
    let _remote =
        remote::listen(source, known.clone(), tx.clone()).map_err(|source| AgentError::Watch {
            path: vault.root().to_path_buf(),
            source,
        })?;
    tracing::info!(vault = %vault.root().display(), hub = %hub.describe(), "agent started");
    Agent {
        vault,
        hub,
        opts,
        known,
        status,
        paused: false,
        seen,
        changed: Seen {
            everything: true,
            ..Seen::default()
        },
        own: HashMap::new(),
        deferred: VecDeque::new(),
        failures: 0,
        offline_since: None,
        last_error: None,
        last_skipped: Vec::new(),
    }
    .serve(&rx);
    tracing::info!("agent stopped");
    Ok(())
}

/// Watch the vault folder; every relevant event becomes a trigger, and its paths are noted
/// in `seen` for the next round's scope.
fn watch_folder(
    root: &Path,
    tx: Sender<Trigger>,
    seen: SharedSeen,
) -> Result<notify::RecommendedWatcher, AgentError> {
    let owned = root.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let lost = |seen: &SharedSeen| {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.everything = true;
            seen.paths.clear();
            Some(Trigger::Rescan)
        };
        let trigger = match res {
            Ok(event) if event.need_rescan() => lost(&seen),
            // Reading is not changing: every round (and `syncd status`) reads the folder,
            // and counting that would make each round start the next.
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => None,
            Ok(event) => {
                tracing::trace!(?event, "file event");
                let mut relevant = event.paths.into_iter().filter(|p| is_relevant(&owned, p));
                let first = relevant.next();
                first.map(|first| {
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    if !seen.everything {
                        seen.paths.insert(first);
                        seen.paths.extend(relevant);
                        if seen.paths.len() > MAX_SCOPED_PATHS {
                            seen.everything = true;
                            seen.paths.clear();
                        }
                    }
                    Trigger::Local
                })
            }
            Err(e) => {
                tracing::warn!("file watcher: {e}; rescanning the vault");
                lost(&seen)
            }
        };
        if let Some(t) = trigger {
            let _ = tx.send(t);
        }
    })
    .map_err(|source| AgentError::Watch {
        path: root.to_path_buf(),
        source,
    })?;
    watcher
        .watch(root, RecursiveMode::Recursive)
        .map_err(|source| match source.kind {
            // inotify needs one watch per folder; ENOSPC from inotify_add_watch.
            notify::ErrorKind::MaxFilesWatch => AgentError::WatchLimit {
                path: root.to_path_buf(),
            },
            _ => AgentError::Watch {
                path: root.to_path_buf(),
                source,
            },
        })?;
    Ok(watcher)
}

struct Agent<'a> {
    vault: &'a LocalVault,
    hub: &'a dyn Hub,
    opts: &'a AgentOptions,
    known: KnownHead,
    status: Arc<Mutex<AgentStatus>>,
    paused: bool,
    /// Filled by the watcher.
    seen: SharedSeen,
    /// Changes not synced yet: the next round's scope.
    changed: Seen,
    /// The paths the last round looked at or wrote, as it left them: events that find a path
    /// exactly so are echoes, not news.
    own: HashMap<PathBuf, Left>,
    /// Commands that arrived while a burst of file events was settling.
    deferred: VecDeque<Trigger>,
    /// Consecutive failed rounds.
    failures: u32,
    offline_since: Option<Instant>,
    last_error: Option<String>,
    /// What the last round skipped (see `SyncReport::skipped`), as told to the user.
    last_skipped: Vec<String>,
}

impl Agent<'_> {
    fn serve(&mut self, rx: &Receiver<Trigger>) {
        // Every wake-up ends in a round, except while paused and while a failed round's
        // retry is not due yet.
        let mut retry_at: Option<Instant> = None;
        let mut forced = false;
        let mut wanted = true;
        loop {
            if forced || (wanted && !self.paused && retry_at.is_none_or(|t| Instant::now() >= t)) {
                retry_at = self.round();
                forced = false;
            }
            wanted = true;
            let timeout = match retry_at {
                Some(t) if !self.paused => t.saturating_duration_since(Instant::now()),
                _ => self.opts.safety_interval,
            };
            let next = match self.deferred.pop_front() {
                Some(t) => Ok(t),
                None => rx.recv_timeout(timeout),
            };
            match next {
                Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Trigger::Local | Trigger::Rescan) => {
                    if !self.settle(rx) {
                        return;
                    }
                    if self.collect() {
                        self.update(|s| s.pending = true);
                        // A change is news: try at once even while backing off.
                        retry_at = None;
                    } else {
                        // Only the echo of the last round's own writes.
                        wanted = false;
                    }
                }
                Ok(t @ (Trigger::Remote | Trigger::RemoteHead(_))) => {
                    // The watch and the long poll also tell of this device's own pushes
                    // (often while the round that made them is still running): only a head
                    // it has not agreed on is news.
                    let known = *self.known.lock().unwrap_or_else(|p| p.into_inner());
                    let head = match t {
                        Trigger::RemoteHead(head) => Ok(head),
                        _ => self.hub.head(),
                    };
                    if head.is_ok_and(|head| head == known) {
                        wanted = false;
                    } else {
                        if self.paused {
                            self.update(|s| s.pending = true);
                        }
                        retry_at = None;
                    }
                }
                Ok(Trigger::Reachable) => retry_at = None,
                Ok(Trigger::SyncNow) => forced = true,
                // The control thread already put these commands into the status (see
                // `AgentStatus::apply`); the loop follows them.
                Ok(Trigger::Pause) => {
                    wanted = false;
                    self.paused = true;
                    tracing::info!(
                        "paused: changes are noticed but not synced until `syncd resume`"
                    );
                }
                Ok(Trigger::Resume) => {
                    if self.paused {
                        tracing::info!("resumed");
                    }
                    self.paused = false;
                    retry_at = None;
                }
                // The safety-net round (which looks at everything: events can be missed), or
                // a retry now due.
                Err(RecvTimeoutError::Timeout) => {
                    if retry_at.is_none() {
                        self.changed.everything = true;
                    }
                }
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut AgentStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Wait for a burst of file events to end (see [`Debounce`]). Other triggers that arrive
    /// meanwhile are kept for the loop, in order; false on a stop.
    fn settle(&mut self, rx: &Receiver<Trigger>) -> bool {
        let first = Instant::now();
        let mut last = first;
        while let Some(wait) = self.opts.debounce.wait(first.elapsed(), last.elapsed()) {
            match rx.recv_timeout(wait) {
                Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
                Ok(Trigger::Local | Trigger::Rescan) => last = Instant::now(),
                Ok(other) => self.deferred.push_back(other),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        true
    }

    /// Move what the watcher saw into `changed`, leaving out the echoes of the last round's
    /// own writes; whether anything is left to sync.
    fn collect(&mut self) -> bool {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()));
        let mut news = seen.everything;
        if seen.everything {
            self.changed.everything = true;
        }
        for path in seen.paths {
            if self.is_own_write(&path) {
                tracing::trace!(path = %path.display(), "own write");
                continue;
            }
            news = true;
            if !self.changed.everything {
                self.changed.paths.insert(path);
            }
        }
        if self.changed.paths.len() > MAX_SCOPED_PATHS {
            self.changed.everything = true;
        }
        if self.changed.everything {
            self.changed.paths.clear();
        }
        news
    }

    /// Whether `path` is exactly as the last round left it.
    fn is_own_write(&self, path: &Path) -> bool {
        self.own
            .get(path)
            .is_some_and(|left| Left::now(path).as_ref() == Some(left))
    }

    /// The scope of the next round: what changed since the last one, unless everything must be
    /// looked at. Resets `changed`.
    fn take_scope(&mut self) -> Option<ScanScope> {
        let changed = std::mem::take(&mut self.changed);
        if changed.everything {
            return None;
        }
        ScanScope::from_paths(
            self.vault.root(),
            changed.paths.iter().map(PathBuf::as_path),
        )
    }

    /// Remember how a round left what it looked at (`before`: the scoped paths as they were
    /// just before it scanned, so as it saw them if they are still so) and what it wrote, to
    /// recognise the watcher's echo of it. A file's stat is remembered only if a later write
    /// would change it: on a filesystem with coarse timestamps a same-size save within the
    /// same second keeps the stat (see `vault::statcache::is_racy`), so such a file's events
    /// always count. `started_ns`: when the round began, before `before` was taken.
    fn remember_own_writes(
        &mut self,
        mut before: HashMap<PathBuf, Left>,
        report: &SyncReport,
        started_ns: i64,
    ) {
        before.retain(|_, left| !matches!(left, Left::File(st) if is_racy(st, started_ns)));
        let root = self.vault.root();
        for done in &report.touched {
            let path = done.path.to_fs_path(root);
            match (done.id, done.stat) {
                (Some(_), Some(stat)) if !is_racy_written(&stat, started_ns) => {
                    before.insert(path, Left::File(stat));
                }
                (None, _) => {
                    before.insert(path, Left::Absent);
                }
                // Written, but not confirmed as ours, or with a stat a same-tick save would
                // keep: its events count.
                (Some(_), _) => {
                    before.remove(&path);
                }
            }
            // Folders apply created for it.
            for folder in done.path.to_fs_path(root).ancestors().skip(1) {
                if folder == root || before.contains_key(folder) {
                    break;
                }
                if let Some(left) = Left::now(folder) {
                    before.insert(folder.to_path_buf(), left);
                }
            }
        }
        self.own = before;
    }

    /// One round; when to retry if it failed.
    fn round(&mut self) -> Option<Instant> {
        self.update(|s| s.set_state(State::Syncing, now_ns()));
        self.collect();
        let started_ns = now_ns();
        let before: HashMap<PathBuf, Left> = self
            .changed
            .paths
            .iter()
            .filter_map(|p| Some((p.clone(), Left::now(p)?)))
            .collect();
        let opts = SyncOptions {
            scope: self.take_scope(),
            // Its watcher's echo of this round is told from the user's edits by these.
            report_touched: true,
            ..self.opts.sync.clone()
        };
        let result = sync::sync(self.vault, self.hub, &opts);
        release_freed_memory();
        match &result {
            Ok(report) => self.remember_own_writes(before, report, started_ns),
            Err(_) => {
                // What this round saw may be half done: the next one looks at everything.
                self.changed.everything = true;
                self.own.clear();
            }
        }
        self.update(|s| {
            // Paused meanwhile (the status has it before the loop does): the round's end says so.
            let paused = s.paused;
            s.rounds += 1;
            match &result {
                Ok(report) if !report.held_back.is_empty() => {
                    // The rest synced; the held-back deletions wait for the user (remount, or
                    // `sync --allow-mass-delete`): shown as an error, not retried.
                    s.last_sync_ns = Some(now_ns());
                    s.last_outcome = Some(report.outcome);
                    s.conflicts += report.conflicts.len() as u64;
                    s.pending = true;
                    s.last_error = Some(vault::sync::guard::held_back_message(&report.held_back));
                    s.set_state(if paused { State::Paused } else { State::Error }, now_ns());
                }
                Ok(report) => {
                    s.last_sync_ns = Some(now_ns());
                    s.last_outcome = Some(report.outcome);
                    s.conflicts += report.conflicts.len() as u64;
                    s.pending = false;
                    s.last_error = None;
                    s.set_state(if paused { State::Paused } else { State::Idle }, now_ns());
                }
                Err(e) => {
                    s.pending = true;
                    s.last_error = Some(e.to_string());
                    let state = match (paused, e.is_transient()) {
                        (true, _) => State::Paused,
                        (false, true) => State::Offline,
                        (false, false) => State::Error,
                    };
                    s.set_state(state, now_ns());
                }
            }
        });
        match result {
            Ok(report) => {
                self.succeeded(&report);
                None
            }
            Err(e) => Some(self.failed(&e)),
        }
    }

    fn succeeded(&mut self, report: &SyncReport) {
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = report.head;
        if let Some(since) = self.offline_since.take() {
            tracing::info!(
                "the hub is reachable again after {} s",
                since.elapsed().as_secs()
            );
        }
        self.failures = 0;
        if report.held_back.is_empty() {
            self.last_error = None;
        } else {
            // Said once, not on every round that holds the same folders back; no retry is
            // scheduled: the next change in the folder (or `syncd sync-now`) runs a round.
            let text = vault::sync::guard::held_back_message(&report.held_back);
            if self.last_error.as_deref() != Some(&text) {
                tracing::error!("{text}");
            }
            self.last_error = Some(text);
        }
        let s = &report.stats;
        if s.files_written + s.files_deleted + s.files_moved > 0 || s.objects_sent > 0 {
            tracing::info!(
                outcome = ?report.outcome,
                written = s.files_written,
                deleted = s.files_deleted,
                moved = s.files_moved,
                sent = s.objects_sent,
                conflicts = report.conflicts.len(),
                ms = s.duration_ms,
                scoped = s.scan_scoped,
                "synced"
            );
        } else {
            tracing::debug!(
                ms = s.duration_ms,
                scoped = s.scan_scoped,
                "nothing to sync"
            );
        }
        for c in &report.conflicts {
            tracing::warn!(
                "conflict on `{}`: the other version is at `{}`",
                c.path,
                c.revision
            );
        }
        // Paths that need the user: said when they change, not on every round.
        let skipped: Vec<String> = report.skipped.iter().map(|s| s.message.clone()).collect();
        if skipped != self.last_skipped {
            for message in &skipped {
                tracing::warn!("skipped {message}");
            }
            self.last_skipped = skipped;
        }
    }

    fn failed(&mut self, e: &sync::SyncError) -> Instant {
        self.failures += 1;
        let delay = self.opts.backoff.delay(self.failures, random_unit());
        let text = e.to_string();
        if e.is_transient() {
            if self.offline_since.is_none() {
                self.offline_since = Some(Instant::now());
                tracing::warn!("offline: {text}; retrying with backoff");
            } else {
                tracing::debug!("still offline: {text}");
            }
        } else if self.last_error.as_deref() != Some(&text) {
            // Said once per distinct error: the same failure every few minutes is no news.
            tracing::error!("sync failed: {text}");
        }
        self.last_error = Some(text);
        Instant::now() + delay
    }
}
