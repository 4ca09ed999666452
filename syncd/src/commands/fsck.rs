//! `syncd fsck`: check this device's `.vault/` (and, with `--hub`, its hub) for missing or
//! damaged data and for what crashes leave behind ([`vault::fsck`]). Read-only, so safe
//! while a sync or the agent runs; `--repair` removes only the project's own temp files past
//! the grace period and locks whose process is gone, never data.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vault::Hub;
use vault::fsck::{self, FsckProgress, Kind, Options, Problem, Report, Severity};
use vault::hub::HubError;

use crate::cli::FsckArgs;
use crate::commands::{is_url, open_folder_hub, open_hub, open_vault};
use crate::output;

pub fn run(args: FsckArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let opts = Options {
        grace: args.grace,
        repair: args.repair,
        now: SystemTime::now(),
    };
    let bar = Bar::new(args.json);
    let hub: Option<Box<dyn Hub>> = if args.hub {
        Some(open_hub(&vault)?)
    } else {
        None
    };
    let device = fsck::device::check(&vault, hub.as_deref(), &opts, &bar)
        .with_context(|| format!("checking the vault `{}`", vault.root().display()));
    let hub_report = match (&hub, device.is_ok()) {
        (Some(hub), true) => Some(check_hub(&vault, hub.as_ref(), &opts, &bar)),
        _ => None,
    };
    bar.finish();
    let device = device?;
    let hub_report = hub_report.transpose()?;
    let clean = device.clean() && hub_report.as_ref().is_none_or(Report::clean);
    if args.json {
        output::json(&Answer {
            clean,
            device: &device,
            hub: hub_report.as_ref(),
        })?;
    } else {
        let mut text = fsck::summary(&device);
        if let Some(h) = &hub_report {
            text.push_str(&fsck::summary(h));
        }
        output::emit(&text)?;
    }
    Ok(if clean {
        crate::exit::OK
    } else {
        crate::exit::DIFFERS
    })
}

/// The `--json` answer.
#[derive(serde::Serialize)]
struct Answer<'a> {
    clean: bool,
    device: &'a Report,
    hub: Option<&'a Report>,
}

/// The hub's check: a hub folder read directly; a server through the Hub trait's full check
/// of its head (every object the head reaches present and re-hashed by the server).
fn check_hub(
    vault: &vault::local::LocalVault,
    hub: &dyn Hub,
    opts: &Options,
    bar: &Bar,
) -> Result<Report> {
    let name = &vault.config().hub;
    if !is_url(name) {
        let folder = open_folder_hub(vault)?;
        return fsck::hub::check(folder.path(), opts, bar)
            .with_context(|| format!("checking the hub folder `{}`", folder.path().display()));
    }
    let mut report = Report {
        target: name.into(),
        ..Report::default()
    };
    let Some(head) = hub
        .head()
        .with_context(|| format!("reading the head of `{name}`"))?
    else {
        return Ok(report);
    };
    bar.phase("asking the server to check its head", 1);
    let problem = |kind, id: vault::ObjectId, what: String| {
        Problem {
        severity: Severity::Damage,
        kind,
        path: name.into(),
        id: Some(id),
        files: Vec::new(),
        what,
        fix: "`syncd verify --full` names the file; `syncd sync --full-verify` on a device that holds it stores a good copy again".into(),
    }
    };
    match hub.tree_of(head, true) {
        Ok(_) => report.snapshots_kept = 1,
        Err(HubError::Missing { ids, .. }) => {
            for id in ids {
                report.problems.push(problem(
                    Kind::MissingObject,
                    id,
                    format!("the server lacks object {} of its head", id.short()),
                ));
            }
        }
        Err(HubError::Damaged { ids, .. }) => {
            for id in ids {
                report.problems.push(problem(
                    Kind::DamagedObject,
                    id,
                    format!(
                        "the server's copy of object {} of its head is damaged",
                        id.short()
                    ),
                ));
            }
        }
        Err(e) => {
            return Err(e).with_context(|| format!("asking `{name}` to check its head"));
        }
    }
    Ok(report)
}

/// A bar of the current phase, on a terminal only (never with --json); revealed after half a
/// second, as a round's bar is, so a small vault's check shows none.
pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    pub(crate) fn new(json: bool) -> Bar {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if json || dumb || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(500));
        Bar(Some(bar))
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl FsckProgress for Bar {
    fn phase(&self, name: &'static str, total: u64) {
        if let Some(b) = &self.0 {
            b.set_message(name);
            b.set_length(total);
            b.set_position(0);
        }
    }

    fn advance(&self, done: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
        }
    }
}
