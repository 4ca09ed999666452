//! The agent behind `syncd watch`: rounds start on their own when a file in the vault changes
//! (a burst of saves is one round), when the hub announces a new snapshot, and every few
//! minutes as a safety net against missed events. Failures are retried with capped, jittered
//! backoff; being offline is an ordinary state, logged once when it starts and once when it
//! ends.
//!
//! Each round is the same `vault::sync::sync` that `syncd sync` runs, so everything it
//! guarantees (atomic writes, revisions, verification) holds here too.

pub mod policy;
pub mod remote;

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use vault::Hub;
use vault::local::LocalVault;
use vault::sync::{self, SyncOptions, SyncReport};

use policy::{Backoff, Debounce, is_relevant};
use remote::{KnownHead, RemoteSource};

/// Why the agent wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Something in the vault folder changed.
    Local,
    /// The watcher lost events (queue overflow): everything must be looked at.
    Rescan,
    /// The hub has a snapshot this device has not seen.
    Remote,
    /// SIGTERM or ctrl-c: finish the round in progress, then stop.
    Stop,
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
    #[error("cannot install the SIGTERM/ctrl-c handler: {0}")]
    Signals(#[from] ctrlc::Error),
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
    let _local = watch_folder(vault.root(), tx.clone())?;
    let known: KnownHead = Arc::new(Mutex::new(vault.base().ok().flatten()));
    let _remote =
        remote::listen(source, known.clone(), tx.clone()).map_err(|source| AgentError::Watch {
            path: vault.root().to_path_buf(),
            source,
        })?;
    let stop = tx.clone();
    ctrlc::set_handler(move || {
        let _ = stop.send(Trigger::Stop);
    })?;
    tracing::info!(vault = %vault.root().display(), hub = %hub.describe(), "agent started");
    Agent {
        vault,
        hub,
        opts,
        known,
        failures: 0,
        offline_since: None,
        last_error: None,
    }
    .serve(&rx);
    tracing::info!("agent stopped");
    Ok(())
}

/// Watch the vault folder; every relevant event becomes a trigger.
fn watch_folder(
    root: &Path,
    tx: Sender<Trigger>,
) -> Result<notify::RecommendedWatcher, AgentError> {
    let owned = root.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let trigger = match res {
            Ok(event) if event.need_rescan() => Some(Trigger::Rescan),
            Ok(event) => event
                .paths
                .iter()
                .any(|p| is_relevant(&owned, p))
                .then_some(Trigger::Local),
            Err(e) => {
                tracing::warn!("file watcher: {e}; rescanning the vault");
                Some(Trigger::Rescan)
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
        .map_err(|source| AgentError::Watch {
            path: root.to_path_buf(),
            source,
        })?;
    Ok(watcher)
}

struct Agent<'a> {
    vault: &'a LocalVault,
    hub: &'a dyn Hub,
    opts: &'a AgentOptions,
    known: KnownHead,
    /// Consecutive failed rounds.
    failures: u32,
    offline_since: Option<Instant>,
    last_error: Option<String>,
}

impl Agent<'_> {
    fn serve(&mut self, rx: &Receiver<Trigger>) {
        // Every wake-up ends in a round, except a failed round's retry that is not due yet.
        let mut retry_at: Option<Instant> = None;
        loop {
            if retry_at.is_none_or(|t| Instant::now() >= t) {
                retry_at = self.round();
            }
            let timeout = match retry_at {
                Some(t) => t.saturating_duration_since(Instant::now()),
                None => self.opts.safety_interval,
            };
            match rx.recv_timeout(timeout) {
                Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Trigger::Local | Trigger::Rescan) => {
                    if !self.settle(rx) {
                        return;
                    }
                    // A change is news: try at once even while backing off.
                    retry_at = None;
                }
                Ok(Trigger::Remote) => retry_at = None,
                // The safety-net round, or a retry now due.
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Wait for a burst of file events to end (see [`Debounce`]); false on a stop.
    fn settle(&self, rx: &Receiver<Trigger>) -> bool {
        let first = Instant::now();
        let mut last = first;
        while let Some(wait) = self.opts.debounce.wait(first.elapsed(), last.elapsed()) {
            match rx.recv_timeout(wait) {
                Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return false,
                Ok(_) => last = Instant::now(),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        true
    }

    /// One round; when to retry if it failed.
    fn round(&mut self) -> Option<Instant> {
        match sync::sync(self.vault, self.hub, &self.opts.sync) {
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
        self.last_error = None;
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
                "synced"
            );
        } else {
            tracing::debug!(ms = s.duration_ms, "nothing to sync");
        }
        for c in &report.conflicts {
            tracing::warn!(
                "conflict on `{}`: the other version is at `{}`",
                c.path,
                c.revision
            );
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
