//! `syncd revisions`, `syncd revisions prune` and `syncd restore`: the versions kept in
//! `.revisions/`.

use anyhow::{Context, Result, bail};
use vault::VaultPath;
use vault::history::At;
use vault::local::{LocalVault, MASS_DELETE_MIN_FILES};
use vault::restore::{self, FileOutcome, RestoreReport};
use vault::revisions::PrunePolicy;

use super::{open_hub, open_vault, optional_vault_path, vault_path};
use crate::cli::{PruneArgs, RestoreArgs, RevisionsAction, RevisionsArgs, VaultOpt};
use crate::exit;
use crate::output::{self, count, line, utc_time};

/// `syncd restore PATH --at SNAPSHOT|TIME`: a file or folder from the history.
fn restore_at(vault: &LocalVault, args: &RestoreArgs, at: &At) -> Result<u8> {
    let path = vault_path(vault, &args.revision)?;
    let hub = open_hub(vault)?;
    let report = restore::restore_at(vault, hub.as_ref(), &path, at)
        .with_context(|| format!("cannot restore `{path}` from the history"))?;
    if args.json {
        output::json(&report)?;
    } else {
        let mut out = String::new();
        let from = format!(
            "snapshot {} ({}, {})",
            report.snapshot.short(),
            utc_time(report.time_ns),
            report.device_name
        );
        let single = matches!(report.files.as_slice(), [f] if f.path == path);
        if report.restored == 0 && report.failed == 0 {
            line!(
                out,
                "`{path}` is already as it was at {from}; nothing changed"
            );
        } else if single && report.restored == 1 {
            line!(out, "restored `{path}` as it was at {from}");
        } else if report.restored > 0 {
            let n = count(report.restored as u64, "file", "files");
            line!(out, "restored {n} of `{path}` as at {from}:");
        }
        for f in &report.files {
            match (f.outcome, &f.kept_current, &f.error) {
                (FileOutcome::Restored, Some(kept), _) if single => {
                    line!(out, "the version that was there is kept at `{kept}`")
                }
                (FileOutcome::Restored, Some(kept), _) => {
                    line!(out, "  {}  (the version there is kept at `{kept}`)", f.path)
                }
                (FileOutcome::Restored, None, _) if single => {}
                (FileOutcome::Restored, None, _) => line!(out, "  {}", f.path),
                (FileOutcome::Failed, _, Some(e)) => line!(out, "  {}  NOT restored: {e}", f.path),
                _ => {}
            }
        }
        if report.unchanged > 0 && report.restored + report.failed > 0 {
            let n = count(report.unchanged as u64, "file was", "files were");
            line!(out, "{n} already as at that snapshot");
        }
        if report.restored > 0 {
            line!(out, "Run `syncd sync` to publish it.");
        }
        output::emit(&out)?;
    }
    if report.failed > 0 {
        bail!(
            "{} of `{path}` could not be restored (listed above with the reason); the others were",
            count(report.failed as u64, "file", "files")
        );
    }
    Ok(exit::OK)
}

/// One revision, as `--json` shows it.
#[derive(serde::Serialize)]
struct Listed<'a> {
    path: &'a VaultPath,
    original: &'a VaultPath,
    time_ns: i64,
    device: &'a str,
}

#[derive(serde::Serialize)]
struct Listing<'a> {
    revisions: Vec<Listed<'a>>,
    unknown_revisions: &'a [VaultPath],
}

pub fn run(args: RevisionsArgs) -> Result<u8> {
    if let Some(RevisionsAction::Prune(prune)) = args.action {
        return self::prune(prune, &args.vault.opt(), args.json);
    }
    let vault = open_vault(&args.vault.opt())?;
    let of = optional_vault_path(&vault, args.path.as_deref())?;
    let list = restore::list(&vault, of.as_ref())
        .with_context(|| format!("cannot list the revisions in `{}`", vault.root().display()))?;
    if args.json {
        output::json(&Listing {
            revisions: list
                .revisions
                .iter()
                .map(|r| Listed {
                    path: &r.path,
                    original: &r.original,
                    time_ns: r.time_ns,
                    device: &r.device,
                })
                .collect(),
            unknown_revisions: &list.unknown,
        })?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    if list.revisions.is_empty() && list.unknown.is_empty() {
        line!(
            out,
            "no revisions{}",
            of.map(|p| format!(" of `{p}`")).unwrap_or_default()
        );
    }
    for r in &list.revisions {
        line!(
            out,
            "{}  (of {}, {}, from {})",
            r.path,
            r.original,
            utc_time(r.time_ns),
            r.device
        );
    }
    for p in &list.unknown {
        line!(out, "{p}  (unknown origin)");
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

#[derive(serde::Serialize)]
struct Pruned<'a> {
    dry_run: bool,
    removed: &'a [VaultPath],
}

fn prune(args: PruneArgs, vault: &VaultOpt, json: bool) -> Result<u8> {
    let vault = open_vault(vault)?;
    let of = optional_vault_path(&vault, args.path.as_deref())?;
    let policy = match (args.keep, args.older_than) {
        (Some(keep), _) => PrunePolicy::KeepNewest(keep),
        (None, Some(age)) => {
            PrunePolicy::OlderThan(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX))
        }
        // clap requires one of the two.
        (None, None) => PrunePolicy::KeepNewest(usize::MAX),
    };
    let removed = restore::prune(&vault, policy, of.as_ref(), args.dry_run)
        .with_context(|| format!("cannot prune the revisions in `{}`", vault.root().display()))?;
    if json {
        output::json(&Pruned {
            dry_run: args.dry_run,
            removed: &removed,
        })?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    let n = count(removed.len() as u64, "revision", "revisions");
    if removed.is_empty() {
        line!(out, "nothing to prune");
    } else if args.dry_run {
        line!(out, "would remove {n} (dry run, nothing removed):");
    } else {
        line!(out, "removed {n}:");
    }
    for p in &removed {
        line!(out, "  {p}");
    }
    if !removed.is_empty() && !args.dry_run {
        line!(
            out,
            "Run `syncd sync` to remove them from the hub and the other devices."
        );
        if removed.len() >= MASS_DELETE_MIN_FILES {
            line!(
                out,
                "That many deletions at once may look like a lost folder to sync: if it refuses, run `syncd sync --allow-mass-delete`."
            );
        }
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

pub fn restore(args: RestoreArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    if let Some(at) = &args.at {
        return restore_at(&vault, &args, at);
    }
    let revision = vault_path(&vault, &args.revision)?;
    // The hub only serves the history that names who wrote the version kept (a restore
    // works offline, naming it after this device then).
    let hub = super::open_hub(&vault).ok();
    let report: RestoreReport = restore::restore(&vault, hub.as_deref(), &revision)
        .with_context(|| format!("cannot restore `{revision}`"))?;
    if args.json {
        output::json(&report)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    if report.already_current {
        line!(
            out,
            "`{}` already holds the content of `{}`; nothing changed",
            report.original,
            report.revision
        );
    } else {
        line!(
            out,
            "restored `{}` from `{}`",
            report.original,
            report.revision
        );
        if let Some(kept) = &report.kept_current {
            line!(out, "the version that was there is kept at `{kept}`");
        }
        line!(out, "Run `syncd sync` to publish it.");
    }
    output::emit(&out)?;
    Ok(exit::OK)
}
