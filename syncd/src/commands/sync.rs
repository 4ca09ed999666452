//! `syncd sync`, `syncd status` and `syncd verify`: the round and the two read-only checks.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use vault::local::{LocalError, LocalVault};
use vault::reconcile::{ConflictKind, Side};
use vault::sync::{self, ChangeKind, Outcome, SyncOptions, SyncReport};

use super::{current_dir, init, open_hub, open_vault, vault_and_hub};
use crate::cli::{StatusArgs, SyncArgs, VerifyArgs};
use crate::exit;
use crate::output::{self, count, file_meta, line, local_time, short};
use crate::progress;

pub fn run(args: SyncArgs) -> Result<u8> {
    let vault = vault_or_init(args.vault.vault.as_deref())?;
    let hub = open_hub(&vault)?;
    // On stderr only: stdout keeps exactly the summary or the one JSON document.
    let display = progress::for_command();
    let opts = SyncOptions {
        allow_mass_delete: args.allow_mass_delete,
        full_verify: args.full_verify,
        republish: args.republish,
        lock_wait: Duration::from_secs(args.lock_wait),
        progress: Some(display.observer()),
        ..SyncOptions::default()
    };
    let result = sync::sync(&vault, hub.as_ref(), &opts);
    display.finish();
    let report =
        result.with_context(|| format!("sync of {} did not complete", vault_and_hub(&vault)))?;
    if args.json {
        output::json(&report)?;
    } else {
        output::emit(&summary(&vault, &report))?;
    }
    if !report.held_back.is_empty() {
        // The rest synced, but the folder and the hub differ until the user acts.
        eprintln!(
            "error: {}",
            sync::guard::held_back_message(&report.held_back)
        );
    }
    // Everything else synced, but these paths need the user: a script should hear of it.
    Ok(
        if report.skipped.is_empty() && report.held_back.is_empty() {
            exit::OK
        } else {
            exit::SKIPPED
        },
    )
}

/// The vault containing `dir` (or the current folder); a folder in no vault is made one, with
/// the default hub and device name, and the user is told so.
fn vault_or_init(dir: Option<&Path>) -> Result<LocalVault> {
    let start = match dir {
        Some(d) => d.to_path_buf(),
        None => current_dir()?,
    };
    match LocalVault::discover(&start) {
        Ok(root) => Ok(LocalVault::open(&root)?),
        Err(LocalError::NotAVault { folder, below }) => {
            if !below.is_empty() {
                // Not made a vault around the vaults it holds: the error names them.
                return Err(LocalError::NotAVault { folder, below }.into());
            }
            let home = dirs::home_dir().and_then(|h| h.canonicalize().ok());
            if folder.parent().is_none() || Some(&folder) == home.as_ref() {
                bail!(
                    "`{}` is not a vault, and a whole home or root folder is not made one automatically; cd into your notes folder, or run `syncd init --vault DIR` if you really mean it",
                    folder.display()
                );
            }
            let made = init::create(&folder, None, None)?;
            let config = made.vault.config();
            eprintln!(
                "initialised `{}` as a new vault, hub: `{}` ({}), device: {}",
                made.vault.root().display(),
                config.hub,
                made.hub_state,
                config.device_name
            );
            Ok(made.vault)
        }
        Err(e) => Err(e.into()),
    }
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::UpToDate => "up to date",
        Outcome::Pulled => "pulled changes from the hub",
        Outcome::Pushed => "pushed changes to the hub",
        Outcome::Merged => "merged changes from both sides",
    }
}

/// A few lines on what a round did.
fn summary(vault: &LocalVault, report: &SyncReport) -> String {
    let s = &report.stats;
    let mut out = String::new();
    line!(
        out,
        "{}: {} (snapshot {}, tree {})",
        vault.root().display(),
        outcome_text(report.outcome),
        short(report.head),
        short(report.tree)
    );
    line!(
        out,
        "  files: {} written, {} deleted, {} moved; {} scanned, {} read",
        s.files_written,
        s.files_deleted,
        s.files_moved,
        s.files_scanned,
        s.files_read
    );
    line!(
        out,
        "  hub: {} sent ({} bytes), {} received ({} bytes)",
        count(s.objects_sent, "object", "objects"),
        s.bytes_sent,
        count(s.objects_received, "object", "objects"),
        s.bytes_received
    );
    for c in &report.conflicts {
        if c.kind == ConflictKind::OlderVersion {
            let from = match c.winner {
                Side::Local => "the hub",
                Side::Remote => "this device",
            };
            line!(
                out,
                "  older version: {from} put back `{}` with an older time than the version it replaced (a restored backup?); the newer state stays, the older version is at `{}` (`syncd restore` brings it back)",
                c.path,
                c.revision
            );
            continue;
        }
        let kept = match c.winner {
            Side::Local => "this device's version",
            Side::Remote => "the hub's version",
        };
        line!(
            out,
            "  conflict: `{}`: kept {kept}; the other is at `{}`",
            c.path,
            c.revision
        );
    }
    for g in &report.held_back {
        line!(out, "  held back: the deletions in {g}");
    }
    for skipped in &report.skipped {
        line!(out, "  skipped: {}", skipped.message);
    }
    for w in &report.warnings {
        line!(out, "  warning: {w}");
    }
    for r in &report.repairs {
        line!(out, "  repaired: {r}");
    }
    line!(
        out,
        "  took {} ms ({})",
        s.duration_ms,
        count(s.attempts, "attempt", "attempts")
    );
    out
}

pub fn status(args: StatusArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let st = sync::status(&vault)
        .with_context(|| format!("cannot read the status of `{}`", vault.root().display()))?;
    let agent = super::watch::agent_status(&vault)?;
    if args.json {
        #[derive(serde::Serialize)]
        struct WithAgent<'a> {
            #[serde(flatten)]
            local: &'a sync::Status,
            /// This device's id on its server hub (`vault-server device list`), `null` for a
            /// folder hub or a config from before it was kept.
            server_device_id: Option<&'a str>,
            /// The running agent's status (`null` when none runs).
            agent: Option<crate::agent::control::AgentStatus>,
        }
        output::json(&WithAgent {
            local: &st,
            server_device_id: vault.config().server_device(),
            agent,
        })?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    line!(out, "vault:   {}", st.vault.display());
    match &vault.config().server {
        Some(server) => line!(
            out,
            "hub:     {} (vault `{}`, account `{}`)",
            st.hub,
            server.vault,
            server.user
        ),
        None => line!(out, "hub:     {}", st.hub),
    }
    line!(out, "device:  {}", super::device_text(vault.config()));
    match st.base {
        Some(base) => line!(out, "base:    snapshot {}", base.short()),
        None => line!(out, "base:    none (never synced)"),
    }
    match &st.last_sync {
        None => line!(out, "last sync: never"),
        Some(last) => match (&last.report, &last.error) {
            (Some(r), _) => line!(
                out,
                "last sync: {}, {}",
                local_time(last.time_ns),
                outcome_text(r.outcome)
            ),
            (None, error) => line!(
                out,
                "last sync: {}, FAILED: {}",
                local_time(last.time_ns),
                error.as_deref().unwrap_or("unknown error")
            ),
        },
    }
    if st.changes.is_empty() {
        line!(out, "no changes since the last sync");
    } else {
        line!(out, "changes not synced yet ({}):", st.changes.len());
        for c in &st.changes {
            let mark = match c.kind {
                ChangeKind::Added => 'A',
                ChangeKind::Modified => 'M',
                ChangeKind::Deleted => 'D',
            };
            line!(out, "  {mark} {}", c.path);
        }
    }
    for p in &st.unreadable {
        line!(out, "unreadable (kept as last synced): {p}");
    }
    // What the last round could not sync (each needs the user; listed until resolved).
    let skipped = st.last_sync.iter().filter_map(|l| l.report.as_ref());
    for s in skipped.flat_map(|r| &r.skipped) {
        line!(out, "skipped: {}", s.message);
    }
    line!(
        out,
        "revisions: {} in .revisions/ (`syncd revisions` lists them)",
        st.revisions
    );
    super::watch::agent_lines(&mut out, agent.as_ref());
    for w in &st.warnings {
        line!(out, "warning: {w}");
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

pub fn verify(args: VerifyArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub = open_hub(&vault)?;
    let report = sync::verify(&vault, hub.as_ref(), args.full)
        .with_context(|| format!("cannot compare {}", vault_and_hub(&vault)))?;
    if args.json {
        output::json(&report)?;
    } else {
        let mut out = String::new();
        let how = if report.full {
            format!(
                "every file hashed, {}",
                count(report.files_hashed, "file", "files")
            )
        } else {
            format!(
                "stat cache trusted, {} hashed",
                count(report.files_hashed, "file", "files")
            )
        };
        for d in &report.hub_damaged {
            let what = damaged_what(&d.paths, d.id);
            if d.here {
                line!(
                    out,
                    "the hub's copy of {what} is damaged; this device has a good copy: run `syncd sync --full-verify` to repair the hub"
                );
            } else {
                line!(
                    out,
                    "the hub's copy of {what} is damaged; a device that has it will repair the hub on its next `syncd sync --full-verify`"
                );
            }
        }
        for d in &report.hub_missing {
            let what = damaged_what(&d.paths, d.id);
            let piece = if d.paths.is_empty() {
                String::new()
            } else {
                format!(" (object {})", d.id.short())
            };
            if d.here {
                line!(
                    out,
                    "the hub lacks data of {what}{piece}; this device has it: run `syncd sync` to repair the hub"
                );
            } else {
                line!(
                    out,
                    "the hub lacks data of {what}{piece}; a device that has it will repair the hub on its next `syncd sync`"
                );
            }
        }
        if report.equal {
            line!(
                out,
                "in sync: the folder and the hub's head {} both have tree {} ({how})",
                short(report.head),
                report.local_tree.short()
            );
        } else if report.differences.is_empty() {
            line!(
                out,
                "otherwise the folder and the hub's head {} agree (tree {}, {how})",
                short(report.head),
                report.local_tree.short()
            );
        } else {
            line!(
                out,
                "the folder (tree {}) and the hub (tree {}) differ in {} ({how}):",
                report.local_tree.short(),
                short(report.hub_tree),
                count(report.differences.len() as u64, "path", "paths")
            );
            for d in &report.differences {
                line!(out, "  {}", d.path);
                line!(out, "    here: {}", file_meta(d.local.as_ref()));
                line!(out, "    hub:  {}", file_meta(d.hub.as_ref()));
            }
            line!(out, "Run `syncd sync` to bring them together.");
        }
        output::emit(&out)?;
    }
    Ok(if report.equal {
        exit::OK
    } else {
        exit::DIFFERS
    })
}

/// How a report names a hub object: the files it belongs to, else its short id.
fn damaged_what(paths: &[impl std::fmt::Display], id: vault::ObjectId) -> String {
    if paths.is_empty() {
        return format!("object {}", id.short());
    }
    paths
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
