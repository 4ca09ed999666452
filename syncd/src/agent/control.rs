//! The running agent's control channel: a Unix socket at `.vault/agent.sock`, readable and
//! writable by the owner only, through which `syncd status`, `sync-now`, `pause` and `resume`
//! talk to it. One JSON request line, one JSON answer line (docs/agent.md).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Trigger;

/// File name of the socket inside `.vault/`.
pub const SOCKET_FILE: &str = "agent.sock";

/// What the agent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for a change; the last round succeeded.
    Idle,
    /// A round is running.
    Syncing,
    /// The hub cannot be reached; retrying with backoff.
    Offline,
    /// The last round failed in a way that needs a person (see `last_error`).
    Error,
    /// Paused by `syncd pause`: changes are noticed but not synced.
    Paused,
}

/// The agent's status, as `syncd status --json` shows it under `"agent"`. Fields are only
/// ever added, never renamed or removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub state: State,
    pub pid: u32,
    /// When the agent started (ns since the Unix epoch).
    pub started_ns: i64,
    /// When `state` last changed.
    pub state_since_ns: i64,
    /// When the last successful round ended, and what it did.
    pub last_sync_ns: Option<i64>,
    pub last_outcome: Option<vault::sync::Outcome>,
    /// Rounds run since the agent started (successful or not).
    pub rounds: u64,
    /// Conflicts resolved since the agent started (each kept a revision).
    pub conflicts: u64,
    /// Changes were noticed that no round has synced yet (paused, or waiting to retry).
    pub pending: bool,
    /// The last failure's message, which says what to do; cleared by a successful round.
    pub last_error: Option<String>,
    /// Paused by `syncd pause` (until `syncd resume`), whatever `state` says: a `sync-now`
    /// round of a paused agent shows `syncing` while it runs.
    #[serde(default)]
    pub paused: bool,
}

impl AgentStatus {
    pub fn new(now_ns: i64) -> AgentStatus {
        AgentStatus {
            state: State::Syncing,
            pid: std::process::id(),
            started_ns: now_ns,
            state_since_ns: now_ns,
            last_sync_ns: None,
            last_outcome: None,
            rounds: 0,
            conflicts: 0,
            pending: true,
            last_error: None,
            paused: false,
        }
    }

    pub fn set_state(&mut self, state: State, now_ns: i64) {
        if self.state != state {
            self.state = state;
            self.state_since_ns = now_ns;
        }
    }

    /// Take in a command: the status as it is once the agent has it, which is what the
    /// command's answer (and any `syncd status` after it) shows. `sync-now` and `resume` start
    /// a round at once (after the one running, if any), so the agent is syncing; `pause` lets
    /// a running round finish (the round's end then says paused).
    pub fn apply(&mut self, request: Request, now_ns: i64) {
        match request {
            Request::Status => {}
            Request::SyncNow => self.set_state(State::Syncing, now_ns),
            Request::Pause => {
                self.paused = true;
                if self.state != State::Syncing {
                    self.set_state(State::Paused, now_ns);
                }
            }
            Request::Resume => {
                self.paused = false;
                self.set_state(State::Syncing, now_ns);
            }
        }
    }
}

/// A request on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "cmd")]
pub enum Request {
    Status,
    SyncNow,
    Pause,
    Resume,
}

/// The answer: the status after the request was taken in, or why it was not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why the control channel could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "an agent is already running for this vault (it answers on `{}`); stop it first, or talk to it with `syncd status`", .0.display()
    )]
    AlreadyRunning(PathBuf),
    #[error("no agent is running for this vault (nothing answers on `{}`); start one with `syncd watch`", .0.display())]
    NotRunning(PathBuf),
    #[error("the agent's control socket `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the agent answered something this syncd does not understand: {0}")]
    Protocol(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ControlError + '_ {
    move |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The socket path of the vault whose state folder is `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_FILE)
}

/// Removes the socket file when the agent stops.
pub struct Bound {
    path: PathBuf,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listen on `path` and serve requests on a thread: status answers from `status`, commands
/// become triggers on `tx`. A socket left by a crashed agent is replaced; a live one is not.
pub fn serve(
    path: &Path,
    status: Arc<Mutex<AgentStatus>>,
    tx: Sender<Trigger>,
) -> Result<Bound, ControlError> {
    if UnixStream::connect(path).is_ok() {
        return Err(ControlError::AlreadyRunning(path.to_path_buf()));
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    let listener = UnixListener::bind(path).map_err(io(path))?;
    // Owner only: the channel can pause syncing. `.vault/` itself may be readable by others.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let _ = answer(stream, &status, &tx);
            }
        })
        .map_err(io(path))?;
    Ok(Bound {
        path: path.to_path_buf(),
    })
}

fn answer(
    stream: UnixStream,
    status: &Mutex<AgentStatus>,
    tx: &Sender<Trigger>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?.take(4096)).read_line(&mut line)?;
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Ok(request) => {
            let trigger = match request {
                Request::Status => None,
                Request::SyncNow => Some(Trigger::SyncNow),
                Request::Pause => Some(Trigger::Pause),
                Request::Resume => Some(Trigger::Resume),
            };
            // The status changes here, under its lock, before the loop hears of the command:
            // the answer is the agent's state after the command, never the one before it.
            let current = {
                let mut shared = status.lock().unwrap_or_else(|p| p.into_inner());
                shared.apply(request, vault::statcache::now_ns());
                shared.clone()
            };
            if let Some(t) = trigger {
                let _ = tx.send(t);
            }
            Answer {
                ok: true,
                status: Some(current),
                error: None,
            }
        }
        Err(e) => Answer {
            ok: false,
            status: None,
            error: Some(format!("bad request: {e}")),
        },
    };
    let mut text = serde_json::to_string(&reply).map_err(std::io::Error::other)?;
    text.push('\n');
    (&stream).write_all(text.as_bytes())
}

/// Send `request` to the agent of the vault whose state folder is `state_dir`.
pub fn ask(state_dir: &Path, request: Request) -> Result<AgentStatus, ControlError> {
    let path = socket_path(state_dir);
    let stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NotRunning(path));
        }
        Err(e) => return Err(io(&path)(e)),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io(&path))?;
    let mut text =
        serde_json::to_string(&request).map_err(|e| ControlError::Protocol(e.to_string()))?;
    text.push('\n');
    (&stream).write_all(text.as_bytes()).map_err(io(&path))?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(io(&path))?;
    let answer: Answer =
        serde_json::from_str(line.trim()).map_err(|e| ControlError::Protocol(e.to_string()))?;
    match (answer.ok, answer.status) {
        (true, Some(status)) => Ok(status),
        _ => Err(ControlError::Protocol(
            answer.error.unwrap_or_else(|| "no status".into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(start: State, paused: bool, requests: &[Request]) -> (State, bool) {
        let mut s = AgentStatus::new(1);
        s.set_state(start, 2);
        s.paused = paused;
        for r in requests {
            s.apply(*r, 3);
        }
        (s.state, s.paused)
    }

    #[test]
    fn answers_show_the_state_after_the_command() {
        use Request::*;
        use State::*;
        let cases = [
            (
                "resume a paused agent: it syncs",
                Paused,
                true,
                &[Resume][..],
                (Syncing, false),
            ),
            (
                "sync-now on an idle agent",
                Idle,
                false,
                &[SyncNow],
                (Syncing, false),
            ),
            (
                "sync-now on a paused agent stays paused",
                Paused,
                true,
                &[SyncNow],
                (Syncing, true),
            ),
            ("pause an idle agent", Idle, false, &[Pause], (Paused, true)),
            (
                "pause lets a running round finish",
                Syncing,
                false,
                &[Pause],
                (Syncing, true),
            ),
            (
                "pause then resume",
                Idle,
                false,
                &[Pause, Resume],
                (Syncing, false),
            ),
            (
                "status changes nothing",
                Offline,
                false,
                &[Status],
                (Offline, false),
            ),
        ];
        for (what, start, paused, requests, want) in cases {
            assert_eq!(after(start, paused, requests), want, "{what}");
        }
    }
}
