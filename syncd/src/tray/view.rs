//! What the tray shows, decided from the agent's status alone. Kept apart from D-Bus so that
//! every state, and every menu it allows, is checked by a unit test; the glue in `mod.rs`
//! only copies a [`View`] into ksni.

use std::path::PathBuf;

use jiff::tz::TimeZone;

use crate::agent::control::{AgentStatus, State};

/// What stays the same while the tray runs.
#[derive(Debug, Clone)]
pub struct Context {
    /// The vault folder's name: what the user calls the vault.
    pub vault_name: String,
    /// Opened by "Open vault folder".
    pub root: PathBuf,
    /// The vault-server the vault syncs through, opened by "Open web view"; none for a hub
    /// folder, which has no web view.
    pub web_url: Option<String>,
    /// `syncd tray` runs on its own and can be quit; the tray of `syncd watch --tray` lives
    /// and ends with its agent, so it offers no quit.
    pub standalone: bool,
    /// Times are shown in the user's zone (tests pass UTC).
    pub tz: TimeZone,
}

/// What a menu item does when clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SyncNow,
    Pause,
    Resume,
    OpenWebView,
    OpenFolder,
    Quit,
}

/// One line of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Text that cannot be clicked: the state, for trays that show no tooltip (GNOME's).
    Label(String),
    Item {
        label: &'static str,
        icon: &'static str,
        action: Action,
        enabled: bool,
    },
    Separator,
}

/// How loudly the icon asks for attention (StatusNotifierItem's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Active,
    /// A person has to act: the agent stopped, or a round failed in a way retrying won't fix.
    NeedsAttention,
}

/// Everything the tray shows at one moment. Compared with the last one shown, so D-Bus
/// hears of a change only when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// A freedesktop icon name, which every icon theme has.
    pub icon: &'static str,
    pub urgency: Urgency,
    pub title: String,
    pub tooltip_title: String,
    /// May hold the markup subset of the StatusNotifierItem spec, so text from elsewhere (an
    /// error message) is escaped.
    pub tooltip: String,
    pub menu: Vec<Entry>,
}

/// What the tray shows for the agent's `status` (`None`: no agent answers on the socket).
pub fn view(status: Option<&AgentStatus>, ctx: &Context) -> View {
    let (icon, urgency, state) = match status.map(|s| s.state) {
        None => ("process-stop", Urgency::NeedsAttention, "not running"),
        Some(State::Idle) => ("emblem-default", Urgency::Active, "up to date"),
        Some(State::Syncing) => ("emblem-synchronizing", Urgency::Active, "syncing"),
        Some(State::Offline) => ("network-offline", Urgency::Active, "offline, retrying"),
        Some(State::Error) => ("dialog-error", Urgency::NeedsAttention, "error"),
        Some(State::Paused) => ("media-playback-pause", Urgency::Active, "paused"),
    };
    let name = &ctx.vault_name;
    let mut lines = Vec::new();
    match status {
        None => lines.push(
            "The agent is not running: start it with `syncd watch` (checked every few seconds)."
                .to_string(),
        ),
        Some(s) => {
            lines.push(match s.last_sync_ns {
                Some(t) => format!("last sync {}", short_time(t, &ctx.tz)),
                None => "no successful sync yet".to_string(),
            });
            if s.pending {
                lines.push("changes waiting to be synced".to_string());
            }
            if is_paused(s) {
                lines.push("paused: changes are noticed but not synced".to_string());
            }
            if let Some(e) = &s.last_error {
                lines.push(format!("last error: {e}"));
            }
        }
    }
    let running = status.is_some();
    let paused = status.is_some_and(is_paused);
    let mut menu = vec![
        Entry::Label(mnemonic_safe(&format!("{name}: {state}"))),
        Entry::Separator,
        Entry::Item {
            label: "Sync now",
            icon: "view-refresh",
            action: Action::SyncNow,
            enabled: running,
        },
        if paused {
            Entry::Item {
                label: "Resume",
                icon: "media-playback-start",
                action: Action::Resume,
                enabled: running,
            }
        } else {
            Entry::Item {
                label: "Pause",
                icon: "media-playback-pause",
                action: Action::Pause,
                enabled: running,
            }
        },
        Entry::Separator,
    ];
    if ctx.web_url.is_some() {
        menu.push(Entry::Item {
            label: "Open web view",
            icon: "web-browser",
            action: Action::OpenWebView,
            enabled: true,
        });
    }
    menu.push(Entry::Item {
        label: "Open vault folder",
        icon: "folder",
        action: Action::OpenFolder,
        enabled: true,
    });
    if ctx.standalone {
        menu.push(Entry::Separator);
        menu.push(Entry::Item {
            label: "Quit tray",
            icon: "application-exit",
            action: Action::Quit,
            enabled: true,
        });
    }
    View {
        icon,
        urgency,
        title: format!("Vault Sync: {name} ({state})"),
        tooltip_title: format!("{name}: {state}"),
        tooltip: escape_markup(&lines.join("\n")),
        menu,
    }
}

/// Paused until a resume, also while a sync-now round of the paused agent runs (its `state` is
/// `syncing` then, and the menu must still offer Resume). An agent older than the `paused`
/// field says so only in `state`.
fn is_paused(s: &AgentStatus) -> bool {
    s.paused || s.state == State::Paused
}

/// `2026-11-24 14:02`: seconds would make the tooltip change every round for nothing.
fn short_time(ns: i64, tz: &TimeZone) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(t) => t
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => "at an impossible time".to_string(),
    }
}

/// Menu labels treat `_` as the mark of an access key; a vault named `my_notes` must show as
/// it is.
fn mnemonic_safe(text: &str) -> String {
    text.replace('_', "__")
}

fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            vault_name: "notes".into(),
            root: PathBuf::from("/home/u/notes"),
            web_url: None,
            standalone: false,
            tz: TimeZone::UTC,
        }
    }

    /// 2026-11-24 01:49:15 UTC.
    const T: i64 = 1_795_484_955_000_000_000;

    fn status(state: State) -> AgentStatus {
        let mut s = AgentStatus::new(T);
        s.set_state(state, T);
        s.pending = false;
        s.last_sync_ns = Some(T);
        s
    }

    fn items(v: &View) -> Vec<(&'static str, bool)> {
        v.menu
            .iter()
            .filter_map(|e| match e {
                Entry::Item { label, enabled, .. } => Some((*label, *enabled)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_state_has_its_icon_and_words() {
        for (state, icon, words, urgency) in [
            (State::Idle, "emblem-default", "up to date", Urgency::Active),
            (
                State::Syncing,
                "emblem-synchronizing",
                "syncing",
                Urgency::Active,
            ),
            (
                State::Offline,
                "network-offline",
                "offline, retrying",
                Urgency::Active,
            ),
            (
                State::Error,
                "dialog-error",
                "error",
                Urgency::NeedsAttention,
            ),
            (
                State::Paused,
                "media-playback-pause",
                "paused",
                Urgency::Active,
            ),
        ] {
            let v = view(Some(&status(state)), &ctx());
            assert_eq!(v.icon, icon, "{state:?}");
            assert_eq!(v.urgency, urgency, "{state:?}");
            assert_eq!(v.title, format!("Vault Sync: notes ({words})"));
            assert_eq!(v.tooltip_title, format!("notes: {words}"));
            assert_eq!(v.menu[0], Entry::Label(format!("notes: {words}")));
            assert!(
                v.tooltip.starts_with("last sync 2026-11-24 01:49"),
                "{}",
                v.tooltip
            );
        }
    }

    #[test]
    fn a_missing_agent_is_shown_and_its_commands_are_disabled() {
        let v = view(None, &ctx());
        assert_eq!(v.icon, "process-stop");
        assert_eq!(v.urgency, Urgency::NeedsAttention);
        assert_eq!(v.title, "Vault Sync: notes (not running)");
        assert!(v.tooltip.contains("`syncd watch`"), "{}", v.tooltip);
        assert_eq!(
            items(&v),
            [
                ("Sync now", false),
                ("Pause", false),
                ("Open vault folder", true)
            ]
        );
    }

    #[test]
    fn pause_or_resume_whichever_applies() {
        let running = view(Some(&status(State::Idle)), &ctx());
        assert_eq!(
            items(&running),
            [
                ("Sync now", true),
                ("Pause", true),
                ("Open vault folder", true)
            ]
        );
        let mut paused_status = status(State::Paused);
        paused_status.paused = true;
        let paused = view(Some(&paused_status), &ctx());
        assert_eq!(
            items(&paused),
            [
                ("Sync now", true),
                ("Resume", true),
                ("Open vault folder", true)
            ]
        );
        assert!(paused.tooltip.contains("paused: changes are noticed"));
        // A sync-now round of the paused agent: syncing, and still to be resumed.
        paused_status.set_state(State::Syncing, T);
        let sync_now = view(Some(&paused_status), &ctx());
        assert_eq!(sync_now.icon, "emblem-synchronizing");
        assert_eq!(items(&sync_now), items(&paused));
        assert!(sync_now.tooltip.contains("paused: changes are noticed"));
        // An agent from before the `paused` field says it in its state only.
        assert_eq!(
            items(&view(Some(&status(State::Paused)), &ctx())),
            items(&paused)
        );
    }

    #[test]
    fn web_view_only_through_a_server_and_quit_only_on_its_own() {
        let mut c = ctx();
        c.web_url = Some("https://sync.example:7878".into());
        c.standalone = true;
        let v = view(Some(&status(State::Idle)), &c);
        let actions: Vec<Action> = v
            .menu
            .iter()
            .filter_map(|e| match e {
                Entry::Item { action, .. } => Some(*action),
                _ => None,
            })
            .collect();
        assert_eq!(
            actions,
            [
                Action::SyncNow,
                Action::Pause,
                Action::OpenWebView,
                Action::OpenFolder,
                Action::Quit
            ]
        );
        assert_eq!(v.menu.last(), Some(&items_entry(&v, Action::Quit)));
    }

    fn items_entry(v: &View, action: Action) -> Entry {
        v.menu
            .iter()
            .find(|e| matches!(e, Entry::Item { action: a, .. } if *a == action))
            .cloned()
            .expect("the item")
    }

    #[test]
    fn the_tooltip_says_what_is_waiting_and_what_failed_escaped() {
        let mut s = status(State::Error);
        s.last_sync_ns = None;
        s.pending = true;
        s.last_error = Some("refused: 12 of 20 files <deleted> & more; run `syncd sync`".into());
        let v = view(Some(&s), &ctx());
        assert_eq!(
            v.tooltip,
            "no successful sync yet\nchanges waiting to be synced\nlast error: refused: 12 of \
             20 files &lt;deleted&gt; &amp; more; run `syncd sync`"
        );
        // A successful round clears the error, and with it the line.
        let ok = view(Some(&status(State::Idle)), &ctx());
        assert_eq!(ok.tooltip, "last sync 2026-11-24 01:49");
    }

    #[test]
    fn times_follow_the_zone_and_underscores_survive_the_menu() {
        let mut c = ctx();
        c.vault_name = "my_notes".into();
        c.tz = TimeZone::fixed(jiff::tz::offset(2));
        let v = view(Some(&status(State::Idle)), &c);
        assert_eq!(v.tooltip, "last sync 2026-11-24 03:49");
        assert_eq!(v.menu[0], Entry::Label("my__notes: up to date".into()));
        assert_eq!(v.title, "Vault Sync: my_notes (up to date)");
    }

    #[test]
    fn an_unchanged_status_gives_an_equal_view_and_a_change_does_not() {
        let a = view(Some(&status(State::Idle)), &ctx());
        assert_eq!(a, view(Some(&status(State::Idle)), &ctx()));
        let mut later = status(State::Idle);
        later.last_sync_ns = Some(T + 120 * 1_000_000_000);
        assert_ne!(a, view(Some(&later), &ctx()));
        // Another round within the same minute shows nothing new: no D-Bus traffic for it.
        let mut same_minute = status(State::Idle);
        same_minute.rounds += 1;
        same_minute.last_sync_ns = Some(T + 10 * 1_000_000_000);
        assert_eq!(a, view(Some(&same_minute), &ctx()));
    }
}
