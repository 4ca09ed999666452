//! `syncd log` (the snapshots on the hub, those that changed one file, or the files deleted)
//! and `syncd show` (a file as it was at a snapshot or time), and `syncd history export` (the
//! history as a git repository, `vault_git`).

use std::io::Write;

use anyhow::{Context, Result};
use vault::history::{self, FileChange, HistoryError};

use super::{open_hub, open_vault, optional_vault_path, vault_path};
use crate::cli::{HistoryExportArgs, LogArgs, ShowArgs};
use crate::exit;
use crate::output::{self, line, utc_time};

pub fn run(args: LogArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub = open_hub(&vault)?;
    let path = optional_vault_path(&vault, args.path.as_deref())?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let context = || {
        format!(
            "cannot read the history on the hub `{}`",
            vault.config().hub
        )
    };
    if args.deleted {
        let deleted =
            history::deleted(&vault, hub.as_ref(), path.as_ref(), limit).with_context(context)?;
        return print_deleted(&deleted, path.as_ref(), args.json);
    }
    let entries = history::log(&vault, hub.as_ref(), path.as_ref(), limit).with_context(context)?;
    if args.json {
        output::json(&entries)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    if entries.is_empty() {
        match &path {
            Some(p) => line!(out, "no snapshot on the hub changed `{p}`"),
            None => line!(
                out,
                "the hub has no snapshots yet; run `syncd sync` to make the first"
            ),
        }
    }
    for e in &entries {
        let what = match &e.change {
            None if e.parents.len() > 1 => format!("merge of {} snapshots", e.parents.len()),
            None => String::new(),
            Some(change) => change_text(change),
        };
        let mut text = format!(
            "{}  {}  {}  {what}",
            e.snapshot.short(),
            utc_time(e.time_ns),
            e.device_name
        );
        if let Some(base) = e.compared_with {
            text = format!(
                "{}  (since {}: the snapshots between were thinned)",
                text.trim_end(),
                base.short()
            );
        }
        if !e.kept {
            text = format!(
                "{}  (files not kept: thinned by the retention policy)",
                text.trim_end()
            );
        }
        line!(out, "{}", text.trim_end());
    }
    if entries.iter().any(|e| !e.kept) {
        line!(
            out,
            "Snapshots marked \"files not kept\" stay in the history, but the hub no longer holds their files (`syncd hub retention` shows the policy)."
        );
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

fn print_deleted(
    deleted: &[history::Deletion],
    path: Option<&vault::VaultPath>,
    json: bool,
) -> Result<u8> {
    if json {
        output::json(&deleted)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    if deleted.is_empty() {
        match path {
            Some(p) => line!(
                out,
                "no snapshot on the hub deleted `{p}` or a file under it"
            ),
            None => line!(out, "no snapshot on the hub deleted a file"),
        }
    }
    for d in deleted {
        let what = match &d.renamed_to {
            Some(to) => format!("renamed {} to {to}", d.path),
            None => format!("deleted {}", d.path),
        };
        line!(
            out,
            "{}  {}  {}  {what}  (before: {})",
            d.snapshot.short(),
            utc_time(d.time_ns),
            d.device_name,
            d.before.short()
        );
    }
    if deleted.iter().any(|d| d.renamed_to.is_none()) {
        line!(
            out,
            "To bring one back: syncd restore PATH --at BEFORE (the snapshot in parentheses)."
        );
    }
    output::emit(&out)?;
    Ok(exit::OK)
}

pub fn show(args: ShowArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let path = vault_path(&vault, &args.path)?;
    let hub = open_hub(&vault)?;
    // The bytes as they are: a note, an image, anything, a large file streamed chunk by
    // chunk; a closed pipe (`| head`) is fine.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let shown = history::show_to(&vault, hub.as_ref(), &path, &args.at, &mut stdout)
        .and_then(|shown| stdout.flush().map(|()| shown).map_err(HistoryError::Write));
    match shown {
        Ok(_) => Ok(exit::OK),
        Err(HistoryError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(HistoryError::Write(e)) => Err(e).context("cannot write to standard output"),
        Err(e) => Err(e).with_context(|| format!("cannot show `{path}` from the history")),
    }
}

fn change_text(change: &FileChange) -> String {
    match change {
        FileChange::Added {
            renamed_from: Some(from),
            ..
        } => format!("renamed from {from}"),
        FileChange::Added { .. } => "added".to_string(),
        FileChange::Modified { .. } => "modified".to_string(),
        FileChange::Deleted {
            renamed_to: Some(to),
            ..
        } => format!("renamed to {to}"),
        FileChange::Deleted { .. } => "deleted".to_string(),
    }
}

pub fn export(vault: &crate::cli::VaultOpt, args: HistoryExportArgs) -> Result<u8> {
    let vault = open_vault(vault)?;
    let hub = open_hub(&vault)?;
    let head = hub
        .head()
        .with_context(|| format!("cannot read the hub `{}`", vault.config().hub))?;
    let options = vault_git::ExportOptions {
        include_revisions: args.include_revisions,
        ..Default::default()
    };
    let mut shown = crate::progress_count::CountProgress::new("exporting", "snapshots", args.json);
    let report = vault_git::export_with_progress(hub.as_ref(), head, &args.to, options, &mut |p| {
        shown.update(p.done, p.total)
    });
    shown.finish();
    let report = report
        .with_context(|| format!("cannot export the history into `{}`", args.to.display()))?;
    let commit = report.head.map(|c| c.to_string());
    if args.json {
        output::json(&serde_json::json!({
            "to": args.to,
            "head": commit,
            "branch": vault_git::export::BRANCH,
            "written": report.written,
            "thinned": report.thinned,
            "moved": report.moved,
            "packed": report.packed,
        }))?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    match &commit {
        None => line!(out, "the hub has no snapshots yet; nothing to export"),
        Some(c) => line!(
            out,
            "exported into `{}`: {} new commit(s), `main` at {}{}",
            args.to.display(),
            report.written,
            &c[..12],
            if report.moved { "" } else { " (unchanged)" }
        ),
    }
    if report.thinned > 0 {
        line!(
            out,
            "{} snapshot(s) whose files the hub no longer keeps (the retention policy) have no commit of their own; their children follow on from the snapshots before them",
            report.thinned
        );
    }
    if report.packed > 0 {
        line!(out, "{} object(s) packed", report.packed);
    }
    if commit.is_some() {
        line!(
            out,
            "read it with `git --git-dir {} log -p`, or `git clone {0}`",
            args.to.display()
        );
    }
    output::emit(&out)?;
    Ok(exit::OK)
}
