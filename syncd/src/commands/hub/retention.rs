//! `syncd hub retention`: the hub's history retention policy (vault::retention), shown or
//! set, with what it would keep now. Only a folder hub's policy is set here: a server's is the
//! operator's (`vault-server retention`), and syncd cannot read it.

use anyhow::{Context, Result, bail};
use vault::retention::{self, Policy, Preview};

use crate::cli::HubRetentionArgs;
use crate::commands::{is_url, open_folder_hub, open_vault};
use crate::exit;
use crate::output::{self, line};

/// What the command did, for people and `--json`.
#[derive(Debug, serde::Serialize)]
struct Shown {
    hub: String,
    policy: Policy,
    description: String,
    /// Whether the policy was written to the hub (false: shown, or `--dry-run`).
    changed: bool,
    dry_run: bool,
    preview: Preview,
}

pub(super) fn run(args: HubRetentionArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub_text = vault.config().hub.clone();
    if is_url(&hub_text) {
        bail!(
            "`{}` syncs with the server `{hub_text}`: its history retention is set on the server by its operator, `vault-server retention --data DIR --user USER --vault VAULT [--keep-all | --thin ...]` (docs/server.md)",
            vault.root().display()
        );
    }
    let hub = open_folder_hub(&vault)?;
    let root = hub.path().to_path_buf();
    let current = retention::load(&root)
        .with_context(|| format!("reading the retention policy of the hub `{hub_text}`"))?;
    let asked = args
        .request()
        .policy(&current)
        .map_err(anyhow::Error::msg)?;
    let policy = asked.clone().unwrap_or(current.clone());
    let changed = !args.dry_run && asked.as_ref().is_some_and(|p| *p != current);
    if changed {
        retention::save(&root, &policy)
            .with_context(|| format!("setting the retention policy of the hub `{hub_text}`"))?;
    }
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let preview = retention::preview(&hub, &policy, now)
        .with_context(|| format!("reading the history on the hub `{hub_text}`"))?;
    let shown = Shown {
        hub: root.display().to_string(),
        description: policy.describe(),
        policy,
        changed,
        dry_run: args.dry_run,
        preview,
    };
    if args.json {
        output::json(&shown)?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    let verb = match (asked.is_some(), args.dry_run, changed) {
        (false, _, _) => "retention",
        (true, true, _) => "retention (not set: --dry-run)",
        (true, false, true) => "retention set",
        (true, false, false) => "retention (unchanged)",
    };
    line!(out, "hub:       `{}`", shown.hub);
    line!(out, "{verb}: {}", shown.description);
    line!(out, "history:   {}", shown.preview.summary());
    if matches!(shown.policy, Policy::Thin(_)) {
        line!(
            out,
            "Thinned snapshots stay in `syncd log` (marked \"files not kept\"); the current files and .revisions/ are always kept."
        );
    }
    output::emit(&out)?;
    Ok(exit::OK)
}
