//! Hearing of new snapshots on the hub without polling on a timer: a long poll on a server
//! (`changes?since=`), a file watch on a hub folder's `refs/`. Either sends
//! [`Trigger::RemoteHead`] (server) or [`Trigger::Remote`] (hub folder) when the head may
//! differ from the one the agent last agreed on.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use vault::ObjectId;

use super::Trigger;
use super::policy::Backoff;
use crate::http_hub::HttpHub;

/// Where new snapshots are announced.
pub enum RemoteSource {
    Server(HttpHub),
    /// A hub folder: its head lives in `refs/`.
    Folder(PathBuf),
}

/// The head the agent last agreed on with the hub, shared with the listener so that the
/// agent's own pushes do not wake it.
pub type KnownHead = Arc<Mutex<Option<ObjectId>>>;

/// How long one long poll waits (the server answers at most after 60 s).
const LONG_POLL: Duration = Duration::from_secs(50);

/// How often, at most, the listener tries again while the server cannot be reached. Far
/// below the agent's own backoff cap: a failed connection costs nothing, and the first poll
/// that succeeds is what ends an outage (a laptop back on the network after a week syncs
/// within seconds, not after the agent's next five-minute retry).
const PROBE_CAP: Duration = Duration::from_secs(10);

/// Start listening; the returned guard keeps a folder watch alive.
pub fn listen(
    source: RemoteSource,
    known: KnownHead,
    tx: Sender<Trigger>,
) -> notify::Result<Option<notify::RecommendedWatcher>> {
    match source {
        RemoteSource::Server(hub) => {
            std::thread::Builder::new()
                .name("remote-changes".into())
                .spawn(move || long_poll(&hub, &known, &tx))
                .map_err(|e| notify::Error::generic(&e.to_string()))?;
            Ok(None)
        }
        RemoteSource::Folder(hub) => {
            let refs = hub.join("refs");
            let mut watcher =
                notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                    // Every round reads the head: only a write to `refs/` is news.
                    if res.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                        let _ = tx.send(Trigger::Remote);
                    }
                })?;
            watcher.watch(&refs, RecursiveMode::NonRecursive)?;
            Ok(Some(watcher))
        }
    }
}

fn long_poll(hub: &HttpHub, known: &KnownHead, tx: &Sender<Trigger>) {
    let backoff = Backoff {
        cap: PROBE_CAP,
        ..Backoff::default()
    };
    let mut failures = 0u32;
    let known_now = || *known.lock().unwrap_or_else(|p| p.into_inner());
    // The head this listener last heard of; the next poll waits for anything else.
    let mut heard = known_now();
    loop {
        match hub.wait_for_change(heard, LONG_POLL) {
            Ok(head) => {
                // Reachable again: the agent may be waiting out a long backoff with changes
                // of its own to push, so that is news even if the head did not move.
                let back = failures > 0;
                failures = 0;
                // The agent's own push comes back here too: it is no news (the agent checks
                // again, as its round may not have ended yet).
                let trigger = if back {
                    Some(Trigger::Reachable)
                } else {
                    (head != heard && head != known_now()).then_some(Trigger::RemoteHead(head))
                };
                if trigger.is_some_and(|t| tx.send(t).is_err()) {
                    return;
                }
                heard = head;
            }
            Err(e) => {
                failures += 1;
                tracing::debug!("waiting for changes on the hub: {e}");
                // The main loop notices an outage on its own rounds; this one only waits.
                std::thread::sleep(backoff.delay(failures, super::random_unit()));
            }
        }
    }
}
