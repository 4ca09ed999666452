//! `syncd log`: the snapshots on the hub, newest first, or those that changed one file.

use anyhow::{Context, Result};
use vault::history::{self, FileChange};

use super::{open_hub, open_vault, optional_vault_path};
use crate::cli::LogArgs;
use crate::exit;
use crate::output::{self, line, utc_time};

pub fn run(args: LogArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub = open_hub(&vault)?;
    let path = optional_vault_path(&vault, args.path.as_deref())?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let entries = history::log(&vault, hub.as_ref(), path.as_ref(), limit).with_context(|| {
        format!(
            "cannot read the history on the hub `{}`",
            vault.config().hub
        )
    })?;
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
        let text = format!(
            "{}  {}  {}  {what}",
            e.snapshot.short(),
            utc_time(e.time_ns),
            e.device_name
        );
        line!(out, "{}", text.trim_end());
    }
    output::emit(&out)?;
    Ok(exit::OK)
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
