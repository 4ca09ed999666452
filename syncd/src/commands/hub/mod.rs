//! `syncd hub set` (move an existing vault to another hub, its history along, or change how it
//! connects to the server it uses) and `syncd hub show`.
//!
//! The order of a move is what keeps it safe: the old hub is only read; the new hub is joined
//! (a folder created, or a server logged in to) and given the history ([`vault::hub_copy`]);
//! only then does `.vault/` change: the graft, the token, the config (each written atomically),
//! and base forgotten when the new hub cannot hold it. A failure before that leaves `.vault/`
//! as it was, and the objects already copied only spare the next attempt some work.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use vault::folder_hub::FolderHub;
use vault::hub_copy::{CopyReport, LocalCopies, copy_history, history_contains};
use vault::local::{LocalVault, ServerConfig, VaultConfig};
use vault::{CasOutcome, Hub, HubError, ObjectId};

use super::init::hub_folder;
use super::{is_url, open_vault, server_hub, watch};
use crate::cli::{HubArgs, HubCommand, HubSetArgs, ServerArgs};
use crate::exit;
use crate::http_hub::Server;
use crate::output;

mod gc;
mod report;
mod retention;
use report::summary;

/// How long `hub set` waits for a round of another syncd to finish.
const LOCK_WAIT: Duration = Duration::from_secs(30);

pub fn run(args: HubArgs) -> Result<u8> {
    match args.into_command() {
        HubCommand::Set(args) => set(args),
        HubCommand::Show(args) => report::show(args),
        HubCommand::Gc(args) => gc::run(args),
        HubCommand::Retention(args) => retention::run(args),
    }
}

/// Where the new hub is.
enum Target {
    Folder(PathBuf),
    Server(String),
}

/// What the new hub was, and so what `hub set` did (`case` in `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum Case {
    /// The current server: only the connection settings changed.
    Settings,
    /// The new hub was empty: its head is now the old hub's.
    Empty,
    /// It held this history already (another device moved first).
    Contains,
    /// Its history was part of this one: its head moved forward to the old hub's.
    Behind,
    /// It holds another history: the next round joins the two (`.vault/graft`).
    Graft,
    /// `--no-history`: nothing copied.
    NoHistory,
    /// The old hub held no snapshot: nothing to copy.
    NothingToCopy,
}

/// What `hub set` did, for the summary and `--json`.
#[derive(Debug, serde::Serialize)]
struct Moved {
    vault: PathBuf,
    from: String,
    to: String,
    case: Case,
    copied: CopyReport,
    /// The old hub's head, whose history was copied.
    old_head: Option<String>,
    /// The new hub's head afterwards.
    new_head: Option<String>,
    base_kept: bool,
    next_sync: String,
}

fn set(args: HubSetArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    if let Some(agent) = watch::agent_status(&vault)? {
        bail!(
            "an agent (pid {}) is syncing `{}` with its current hub; stop it first (Ctrl-C in its terminal, or `syncd service uninstall --vault {}` if it runs as a service), run `syncd hub set` again, then start it again: it then syncs with the new hub",
            agent.pid,
            vault.root().display(),
            vault.root().display()
        );
    }
    // No round may interleave: the config, base and graft change together.
    let _lock = vault.lock(LOCK_WAIT)?;
    let text = args.hub.to_string_lossy().into_owned();
    let target = if is_url(&text) {
        Target::Server(text.trim_end_matches('/').to_string())
    } else {
        if args.server.any() {
            bail!("{}; `{text}` is a folder", super::SERVER_ONLY_OPTIONS);
        }
        Target::Folder(hub_folder(vault.root(), Some(&args.hub))?)
    };
    let moved = match &target {
        Target::Server(url) if same_server(&vault, url, &args.server) => {
            settings_only(vault, url, &args.server)?
        }
        Target::Folder(path) if same_folder(&vault, path) => bail!(
            "`{}` already syncs with the hub `{}`; nothing to change",
            vault.root().display(),
            path.display()
        ),
        _ => move_to(vault, &target, &args)?,
    };
    if args.json {
        output::json(&moved)?;
    } else {
        output::emit(&summary(&moved))?;
    }
    Ok(exit::OK)
}

/// The same server and vault as now (a vault name not given means the current one).
fn same_server(vault: &LocalVault, url: &str, args: &ServerArgs) -> bool {
    let config = vault.config();
    // Without its [server] table the vault cannot say which account and vault it used: it
    // joins again (`--no-history` then keeps base when the server's vault holds it).
    is_url(&config.hub)
        && config.server.is_some()
        && config.hub.trim_end_matches('/') == url
        && args.vault_name.as_deref().is_none_or(|name| {
            config
                .server
                .as_ref()
                .is_some_and(|server| server.vault == name)
        })
}

/// The folder the vault syncs with now is `path` (compared with links resolved).
fn same_folder(vault: &LocalVault, path: &Path) -> bool {
    let hub = &vault.config().hub;
    if is_url(hub) {
        return false;
    }
    let current = vault.root().join(hub);
    match (current.canonicalize(), path.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => current == path,
    }
}

/// The current server with other connection settings: the token is kept when it still
/// works with them, else a new one needs the password. Nothing is copied.
fn settings_only(mut vault: LocalVault, url: &str, args: &ServerArgs) -> Result<Moved> {
    let old = server_hub::settings(&vault)?.clone();
    let mut config = old.clone();
    if let Some(user) = &args.user {
        config.user = user.clone();
    }
    server_hub::apply_connection(&args.connection, &mut config)?;
    // A TLS failure here is about the options just given: its fix is another --ca-cert.
    let server = Server::new(url, &config)?.joining();
    if args.setup_token.is_some() {
        bail!(
            "--setup-token creates a server's first account; `{url}` is this vault's server already, so it has one: log in with --password-stdin"
        );
    }
    let token = if args.password_stdin {
        let password = server_hub::read_password(true)?;
        let creds = server
            .login(&config.user, &password, &vault.config().device_name)
            .with_context(|| format!("cannot log in to `{url}` as `{}`", config.user))?;
        // A login is a new device on the server: `syncd status` names the new one.
        config.device = Some(creds.device);
        Some(creds.token)
    } else {
        let Some(token) = vault.token()? else {
            bail!("this device has no token for `{url}`; pass the password with --password-stdin");
        };
        match server.whoami(&token) {
            Ok(who) if who.user == config.user => None,
            Ok(who) => bail!(
                "this device's token belongs to `{}`, not `{}`; pass the password of `{}` with --password-stdin",
                who.user,
                config.user,
                config.user
            ),
            Err(e @ HubError::Unauthorized { .. }) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "this device's token no longer works on `{url}`; pass the password with --password-stdin to log in again (nothing was changed)"
                )));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot reach `{url}` with the new settings; nothing was changed"
                )));
            }
        }
    };
    if let Some(token) = &token {
        vault.save_token(token)?;
    }
    let mut whole = vault.config().clone();
    whole.server = Some(config);
    vault.set_config(whole)?;
    Ok(Moved {
        vault: vault.root().to_path_buf(),
        from: vault.config().hub.clone(),
        to: url.to_string(),
        case: Case::Settings,
        copied: CopyReport::default(),
        old_head: None,
        new_head: None,
        base_kept: true,
        next_sync: format!(
            "an ordinary one, with the new connection settings{}",
            if token.is_some() {
                " and a new token"
            } else {
                " (the token still works and was kept)"
            }
        ),
    })
}

/// The new hub opened (and joined), with what goes into the config.
struct Opened {
    hub: Box<dyn Hub>,
    text: String,
    server: Option<(ServerConfig, String)>,
    joined: Option<server_hub::Joined>,
}

fn open_new(vault: &LocalVault, target: &Target, args: &ServerArgs) -> Result<Opened> {
    match target {
        Target::Folder(path) => {
            let hub = FolderHub::open(path)
                .with_context(|| format!("cannot use `{}` as the hub", path.display()))?;
            let text = path.to_str().with_context(|| {
                format!(
                    "the hub path `{}` is not valid UTF-8; choose another folder",
                    path.display()
                )
            })?;
            Ok(Opened {
                hub: Box::new(hub),
                text: text.to_string(),
                server: None,
                joined: None,
            })
        }
        Target::Server(url) => {
            let joined = server_hub::join(vault.root(), url, &vault.config().device_name, args)?;
            Ok(Opened {
                hub: Box::new(joined.hub.clone()),
                text: url.clone(),
                server: Some((joined.config.clone(), joined.creds.token.clone())),
                joined: Some(joined),
            })
        }
    }
}

/// The vault's current hub, to be read only, and its head. A folder hub that is not there is
/// refused before anything would create it.
fn old_hub(vault: &LocalVault) -> Result<(Box<dyn Hub>, Option<ObjectId>)> {
    let config = vault.config();
    let way_out = format!(
        "if it is gone for good, move without the history: `syncd hub set NEW_HUB --no-history --vault {}` (the next sync then merges this folder into the new hub, nothing deleted)",
        vault.root().display()
    );
    let hub: Box<dyn Hub> = if is_url(&config.hub) {
        Box::new(
            server_hub::open(vault).with_context(|| {
                format!("cannot open the current hub `{}`; {way_out}", config.hub)
            })?,
        )
    } else {
        let path = vault.root().join(&config.hub);
        if !path.join(vault::folder_hub::MARKER_FILE).is_file() {
            bail!(
                "the current hub folder `{}` is not there (no `{}`), so its history cannot be copied; if it is on a drive or share that is not mounted, mount it and try again; {way_out}",
                path.display(),
                vault::folder_hub::MARKER_FILE
            );
        }
        Box::new(
            FolderHub::open(&path)
                .with_context(|| format!("cannot open the current hub `{}`", path.display()))?,
        )
    };
    let head = hub.head().with_context(|| {
        format!(
            "cannot read the history of the current hub `{}`; if it is only down for now, try again later; {way_out}",
            config.hub
        )
    })?;
    Ok((hub, head))
}

fn move_to(mut vault: LocalVault, target: &Target, args: &HubSetArgs) -> Result<Moved> {
    let from = vault.config().hub.clone();
    // The old hub first: an unreachable one is refused before any login or new folder.
    let old = if args.no_history {
        None
    } else {
        Some(old_hub(&vault)?)
    };
    // A join of two histories not yet published: the old hub's head does not reach the
    // grafted history, so moving on now would leave it behind.
    if let (Some(_), Some(graft)) = (&old, vault.graft()?) {
        bail!(
            "`{}` has not yet published the join of its history ({}) with the one of `{from}`; run `syncd sync --vault {}` first, then `syncd hub set` again. Nothing was changed",
            vault.root().display(),
            graft.short(),
            vault.root().display()
        );
    }
    let opened = open_new(&vault, target, &args.server)?;
    let new = opened.hub.as_ref();
    let to = opened.text.clone();
    let base = vault.base()?;
    let mut copied = CopyReport::default();
    let mut graft = None;
    let mut base_kept = true;
    let mut old_head_id = None;
    let (case, new_head, next_sync);
    let new_notes = "merges this folder into the new hub as a new device would: nothing deleted, differing files kept as conflicts with revisions".to_string();
    match old {
        None | Some((_, None)) => {
            // No history to copy (--no-history, or an old hub without a snapshot). Base stays
            // only if the new hub holds it; otherwise the next round merges as a new device.
            base_kept = match base {
                Some(b) => new.missing(&[b])?.is_empty(),
                None => false,
            };
            case = if old.is_none() {
                Case::NoHistory
            } else {
                Case::NothingToCopy
            };
            new_head = new.head()?;
            next_sync = if base_kept {
                "an ordinary one".to_string()
            } else if new_head.is_none() {
                "uploads this folder".to_string()
            } else {
                new_notes
            };
        }
        Some((old_hub, Some(old_head))) => {
            old_head_id = Some(old_head);
            // Joining another history starts from the old hub's head: a device that has not
            // synced its last changes would otherwise publish older versions over them.
            if base != Some(old_head) && would_graft(old_hub.as_ref(), new, old_head)? {
                bail!(behind_message(&vault, &from, base, old_head));
            }
            let display = crate::progress::for_command();
            let result = copy_history(
                old_hub.as_ref(),
                new,
                old_head,
                &LocalCopies::of_vault(&vault),
                display.observer().as_ref(),
            );
            display.finish();
            copied = result.with_context(|| {
                format!("cannot copy the history of `{from}` to `{to}`; nothing in `.vault/` was changed")
            })?;
            let (c, head) = settle(new, old_head)?;
            if c == Case::Graft && base != Some(old_head) {
                bail!(behind_message(&vault, &from, base, old_head));
            }
            case = c;
            new_head = head;
            if c == Case::Graft {
                graft = Some(old_head);
            }
            next_sync = match c {
                Case::Graft => "merges this vault into the new hub's other notes: nothing deleted, differing files kept as conflicts with revisions, identical ones not sent again; its snapshot joins both histories".to_string(),
                _ => "an ordinary one".to_string(),
            };
        }
    }
    // Only now does `.vault/` change: graft, token, config, then base.
    if let Some(g) = graft {
        vault.set_graft(g)?;
    } else {
        vault.clear_graft()?;
    }
    let mut config: VaultConfig = vault.config().clone();
    config.hub = opened.text.clone();
    config.server = None;
    if let Some((server, token)) = &opened.server {
        vault.save_token(token)?;
        config.server = Some(server.clone());
    }
    vault.set_config(config)?;
    if opened.server.is_none() {
        vault.remove_token()?;
    }
    if !base_kept {
        vault.forget_base()?;
    }
    if let Some(joined) = &opened.joined {
        joined.tell();
    }
    Ok(Moved {
        vault: vault.root().to_path_buf(),
        from,
        to,
        case,
        copied,
        old_head: old_head_id.map(|h| h.to_string()),
        new_head: new_head.map(|h| h.to_string()),
        base_kept: base_kept && base.is_some(),
        next_sync,
    })
}

/// Whether the new hub holds a history that neither contains `old_head` nor is contained in
/// it (reading the old hub's snapshots only).
fn would_graft(old: &dyn Hub, new: &dyn Hub, old_head: ObjectId) -> Result<bool> {
    let Some(head) = new.head()? else {
        return Ok(false);
    };
    Ok(!history_contains(new, head, old_head)? && !history_contains(old, old_head, head)?)
}

fn behind_message(
    vault: &LocalVault,
    from: &str,
    base: Option<ObjectId>,
    old_head: ObjectId,
) -> String {
    format!(
        "the new hub holds other notes, and this device has not synced the current hub's last changes (its last sync is {}, `{from}` is at {}); run `syncd sync --vault {}` first, so that the merge with the new hub starts from them, then `syncd hub set` again. Nothing was changed",
        base.map_or("none".to_string(), |b| b.short()),
        old_head.short(),
        vault.root().display()
    )
}

/// After the copy: make the new hub's head hold the old history when it can (an empty hub
/// takes the old head; a hub behind it moves forward to it), else it is a graft. Returns the
/// case and the new hub's head. Another device moving that head meanwhile is decided again.
fn settle(new: &dyn Hub, old_head: ObjectId) -> Result<(Case, Option<ObjectId>)> {
    for _ in 0..5 {
        let head = new.head()?;
        let (case, from) = match head {
            None => (Case::Empty, None),
            Some(h) if history_contains(new, h, old_head)? => return Ok((Case::Contains, Some(h))),
            Some(h) if history_contains(new, old_head, h)? => (Case::Behind, Some(h)),
            Some(h) => return Ok((Case::Graft, Some(h))),
        };
        match new.cas_head(from, old_head)? {
            CasOutcome::Updated => return Ok((case, Some(old_head))),
            CasOutcome::Conflict { .. } => continue,
        }
    }
    bail!(
        "the new hub `{}` kept changing while its head was being set; try again",
        new.describe()
    )
}
