//! The system-tray icon (`syncd watch --tray`, `syncd tray`; docs/agent.md), built only with
//! the `tray` feature. The tray is one more client of the agent's control socket, like
//! `syncd status`: that way the same code serves the agent in its own process and an agent
//! that runs elsewhere (a service), and the tray can never hold up a round.
//!
//! It shows a freedesktop StatusNotifierItem through ksni, on the session D-Bus. With no
//! session bus at all [`spawn`] fails and the caller decides: the agent goes on without an
//! icon, `syncd tray` stops. A bus without a tray on it yet (no StatusNotifierWatcher) is no
//! failure: at login the agent's service often starts before the desktop's panel, so the icon
//! waits on the bus and registers when a tray appears.

mod view;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ksni::blocking::TrayMethods;

use crate::agent::control::{self, AgentStatus, ControlError, Request};

pub use view::{Action, Context, Entry, Urgency, View, view};

/// A status round trip on the socket costs next to nothing, and a second is as fast as a
/// person looks.
const POLL: Duration = Duration::from_secs(1);
/// Looking for an agent that is not there yet (`syncd tray` started before the service).
const RETRY: Duration = Duration::from_secs(3);
/// `syncd watch --tray` starts the tray as the agent starts: give the agent this long to open
/// its socket before the icon says "not running".
const AGENT_START: Duration = Duration::from_secs(5);
/// A panel that starts with the session is up well within this; a tray still missing after it
/// is worth a warning (the desktop may have none: GNOME without its AppIndicator extension).
const NO_TRAY_WARNING: Duration = Duration::from_secs(60);

/// Why there is no icon (only a missing session bus, or a tray that refuses it: a bus without
/// a tray yet is waited on).
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    #[error(
        "no system tray found: {0}. The icon needs a desktop whose panel shows StatusNotifierItem icons (KDE Plasma, GNOME with the AppIndicator extension, Xfce, waybar, ...), reached through the session D-Bus (DBUS_SESSION_BUS_ADDRESS)"
    )]
    NoHost(#[source] ksni::Error),
}

/// A tray shown on the desktop, kept current by [`Running::serve`].
pub struct Running {
    handle: ksni::blocking::Handle<SyncTray>,
    actions: mpsc::Receiver<Action>,
    state_dir: PathBuf,
    ctx: Context,
    status: Option<AgentStatus>,
    shown: View,
    /// The last failure to reach the agent, said once rather than every second.
    last_problem: Option<String>,
    presence: Arc<Mutex<Presence>>,
    started: Instant,
    /// Whether "still no system tray" was said (once is enough).
    warned_no_tray: bool,
}

/// Where the icon stands with the desktop's tray. Written by ksni's watcher hooks (on its
/// thread), read by [`Running::serve`] to warn when no tray comes at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// In [`spawn`], registering with the tray.
    Starting,
    /// There was no tray at the start; the icon registers when one appears.
    Waiting,
    /// Registered with a tray.
    Shown,
    /// The tray went away (or refused the icon) after it had been shown; it returns with it.
    Gone,
}

fn lock(presence: &Mutex<Presence>) -> std::sync::MutexGuard<'_, Presence> {
    presence.lock().unwrap_or_else(|p| p.into_inner())
}

/// Put the icon on the desktop for the vault whose state folder is `state_dir`. Fails at
/// once when there is no session bus; without a tray on it yet, the icon waits for one.
pub fn spawn(state_dir: &Path, ctx: Context) -> Result<Running, TrayError> {
    let mut last_problem = None;
    let mut status = poll(state_dir, &mut last_problem);
    if !ctx.standalone {
        let start = Instant::now();
        while status.is_none() && start.elapsed() < AGENT_START {
            std::thread::sleep(Duration::from_millis(50));
            status = poll(state_dir, &mut last_problem);
        }
    }
    let shown = view(status.as_ref(), &ctx);
    let (tx, actions) = mpsc::channel();
    let presence = Arc::new(Mutex::new(Presence::Starting));
    let handle = SyncTray {
        view: shown.clone(),
        actions: tx,
        presence: presence.clone(),
    }
    // No tray (yet) is no error: ksni calls `watcher_offline` and registers the icon when a
    // StatusNotifierWatcher appears on the bus. Only a missing bus still fails here.
    .assume_sni_available(true)
    .spawn()
    .map_err(TrayError::NoHost)?;
    {
        // `watcher_offline` ran inside `spawn` if there was no tray; else the icon is shown.
        // Said only now that ksni listens for a tray to appear, so "waiting" is true.
        let mut p = lock(&presence);
        match *p {
            Presence::Starting => *p = Presence::Shown,
            Presence::Waiting => tracing::info!(
                "no system tray yet: waiting for the desktop's panel, the icon appears once it is up"
            ),
            Presence::Shown | Presence::Gone => {}
        }
    }
    Ok(Running {
        handle,
        actions,
        state_dir: state_dir.to_path_buf(),
        ctx,
        status,
        shown,
        last_problem,
        presence,
        started: Instant::now(),
        warned_no_tray: false,
    })
}

impl Running {
    /// Keep the icon current and carry out its menu until "Quit tray" (or until the tray
    /// service is gone).
    pub fn serve(mut self) {
        loop {
            let wait = if self.status.is_some() { POLL } else { RETRY };
            match self.actions.recv_timeout(wait) {
                Ok(Action::Quit) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(action) => self.act(action),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.handle.is_closed() {
                break;
            }
            self.warn_if_no_tray();
            self.status = poll(&self.state_dir, &mut self.last_problem);
            let next = view(self.status.as_ref(), &self.ctx);
            if next != self.shown {
                self.handle.update(|t| t.view = next.clone());
                self.shown = next;
            }
        }
        self.handle.shutdown().wait();
    }

    /// The icon waits for a tray without end, so a desktop that has none would otherwise be
    /// silent (at the default log level): one warning once the panel is clearly not coming.
    fn warn_if_no_tray(&mut self) {
        if !self.warned_no_tray
            && self.started.elapsed() >= NO_TRAY_WARNING
            && *lock(&self.presence) == Presence::Waiting
        {
            self.warned_no_tray = true;
            tracing::warn!(
                "still no system tray after {} s, so no icon; it appears once the desktop's panel shows StatusNotifierItem icons (KDE Plasma, GNOME with the AppIndicator extension, Xfce, waybar, ...)",
                NO_TRAY_WARNING.as_secs()
            );
        }
    }

    fn act(&mut self, action: Action) {
        let request = match action {
            Action::SyncNow => Request::SyncNow,
            Action::Pause => Request::Pause,
            Action::Resume => Request::Resume,
            Action::OpenFolder => return open(&self.ctx.root.display().to_string()),
            Action::OpenWebView => {
                if let Some(url) = &self.ctx.web_url {
                    open(url);
                }
                return;
            }
            Action::Quit => return,
        };
        tracing::info!("tray: {action:?}");
        if let Err(e) = control::ask(&self.state_dir, request) {
            tracing::warn!("the tray's {action:?} did not reach the agent: {e}");
        }
    }
}

/// The agent's status, or `None` when none answers; failures other than "not running" are
/// logged once each.
fn poll(state_dir: &Path, last_problem: &mut Option<String>) -> Option<AgentStatus> {
    match control::ask(state_dir, Request::Status) {
        Ok(status) => {
            *last_problem = None;
            Some(status)
        }
        Err(ControlError::NotRunning(_)) => None,
        Err(e) => {
            let text = e.to_string();
            if last_problem.as_deref() != Some(&text) {
                tracing::warn!("the tray cannot ask the agent for its status: {text}");
                *last_problem = Some(text);
            }
            None
        }
    }
}

/// Open `target` (a folder or a URL) the way the desktop does, without waiting for the
/// program that shows it: the tray's loop must go on.
fn open(target: &str) {
    use std::os::unix::process::CommandExt;
    let spawned = Command::new("xdg-open")
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Its own process group: ctrl-c on the tray's terminal must not close the browser.
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(
                "cannot open `{target}`: running `xdg-open` failed ({e}); install xdg-utils, or open it by hand"
            );
            return;
        }
    };
    let target = target.to_string();
    // Reaped on a thread of its own: xdg-open may wait as long as the browser it started.
    let reaper = std::thread::Builder::new()
        .name("xdg-open".into())
        .spawn(move || match child.wait() {
            Ok(status) if !status.success() => tracing::warn!(
                "`xdg-open {target}` failed ({status}); open it by hand, or set a default application for it"
            ),
            _ => {}
        });
    if let Err(e) = reaper {
        tracing::debug!("xdg-open started, but no thread to wait for it: {e}");
    }
}

/// The ksni side: it only mirrors [`View`] and hands clicks to [`Running::serve`], so no
/// D-Bus call ever waits for the agent.
struct SyncTray {
    view: View,
    actions: Sender<Action>,
    presence: Arc<Mutex<Presence>>,
}

impl ksni::Tray for SyncTray {
    /// A left click opens the menu: the icon has no window to show.
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "vault-sync".into()
    }

    fn title(&self) -> String {
        self.view.title.clone()
    }

    fn status(&self) -> ksni::Status {
        match self.view.urgency {
            Urgency::Active => ksni::Status::Active,
            Urgency::NeedsAttention => ksni::Status::NeedsAttention,
        }
    }

    fn icon_name(&self) -> String {
        self.view.icon.into()
    }

    /// Some trays show this one instead while the status is `NeedsAttention`.
    fn attention_icon_name(&self) -> String {
        self.view.icon.into()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            icon_name: self.view.icon.into(),
            title: self.view.tooltip_title.clone(),
            description: self.view.tooltip.clone(),
            icon_pixmap: Vec::new(),
        }
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::StandardItem;
        self.view
            .menu
            .iter()
            .map(|entry| match entry {
                Entry::Label(text) => StandardItem {
                    label: text.clone(),
                    enabled: false,
                    ..Default::default()
                }
                .into(),
                Entry::Separator => ksni::MenuItem::Separator,
                Entry::Item {
                    label,
                    icon,
                    action,
                    enabled,
                } => {
                    let action = *action;
                    StandardItem {
                        label: (*label).into(),
                        icon_name: (*icon).into(),
                        enabled: *enabled,
                        activate: Box::new(move |t: &mut SyncTray| {
                            let _ = t.actions.send(action);
                        }),
                        ..Default::default()
                    }
                    .into()
                }
            })
            .collect()
    }

    /// A tray appeared on the bus; ksni registers the icon with it right after this (and
    /// calls `watcher_offline` if that fails).
    fn watcher_online(&self) {
        let mut presence = lock(&self.presence);
        if *presence == Presence::Waiting {
            tracing::info!("a system tray appeared; the icon is shown there");
        } else {
            tracing::info!("the system tray is back; the icon is shown again");
        }
        *presence = Presence::Shown;
    }

    /// No tray at the start (the panel may still be starting), or the panel restarted (or the
    /// user turned its tray off): the icon waits for a tray rather than ending.
    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        let mut presence = lock(&self.presence);
        match (*presence, reason) {
            // [`spawn`] says so once it returns.
            (Presence::Starting, reason) => {
                tracing::debug!("no system tray at the start: {}", offline_reason(&reason));
                *presence = Presence::Waiting;
            }
            (_, ksni::OfflineReason::No) => {
                tracing::info!("the system tray went away; the icon returns with it");
                *presence = Presence::Gone;
            }
            (_, reason) => {
                tracing::info!(
                    "the system tray did not take the icon ({}); it is offered again when a tray appears",
                    offline_reason(&reason)
                );
                *presence = Presence::Gone;
            }
        }
        true
    }
}

fn offline_reason(reason: &ksni::OfflineReason) -> String {
    match reason {
        ksni::OfflineReason::Error(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}
