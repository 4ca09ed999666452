//! `syncd hub gc`: compact the vault's hub folder and remove what no kept snapshot reaches
//! ([`vault::hub_gc`]); for a server hub, say that the server does it.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vault::hub_gc::{self, GcProgress, Options};

use crate::cli::HubGcArgs;
use crate::commands::{is_url, open_folder_hub, open_vault};
use crate::output;

pub(super) fn run(args: HubGcArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let hub = &vault.config().hub;
    if is_url(hub) {
        bail!(
            "this vault's hub is the server `{hub}`: a vault-server compacts its vaults by itself after devices push, and its operator can run `vault-server gc --data DIR --user USER --vault VAULT`; `syncd hub gc` is for a hub folder"
        );
    }
    let folder = open_folder_hub(&vault)?;
    let root = folder.path().to_path_buf();
    let bar = Bar::new(args.json);
    let report = hub_gc::run(&root, &Options::gc(args.grace, args.dry_run), &bar)
        .with_context(|| format!("cleaning the hub folder `{}`", root.display()));
    bar.finish();
    let report = report?;
    if args.json {
        output::json(&Named {
            hub,
            report: &report,
        })?;
    } else {
        output::emit(&hub_gc::summary(&root.display().to_string(), &report))?;
    }
    Ok(crate::exit::OK)
}

/// The `--json` answer: which hub (as the vault's config names it), then the counts.
#[derive(serde::Serialize)]
struct Named<'a> {
    hub: &'a str,
    #[serde(flatten)]
    report: &'a hub_gc::Report,
}

/// A bar of the bytes copied into the new pack, on a terminal only (and never with --json,
/// whose reader wants stdout clean; the bar is on stderr anyway).
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new(json: bool) -> Bar {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if json || dumb || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("copying {bar:30} {bytes}/{total_bytes} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bar(Some(bar))
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl GcProgress for Bar {
    fn copying(&self, done: u64, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
            b.set_position(done);
        }
    }
}
