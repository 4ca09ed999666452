//! Progress of a one-shot command that counts one kind of item (`syncd history export`: the
//! snapshots it converts): a bar on a terminal once the work has lasted half a second, a line
//! on stderr every few seconds elsewhere, nothing for `--json` or work that ends sooner.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{interval_from_env, thousands};

/// How long work runs before a bar is drawn.
const REVEAL_AFTER: Duration = Duration::from_millis(500);

pub struct CountProgress {
    /// What is done (`exporting`) and what is counted (`snapshots`).
    doing: &'static str,
    items: &'static str,
    started: Instant,
    terminal: bool,
    quiet: bool,
    interval: Duration,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl CountProgress {
    /// `quiet`: show nothing (the command prints JSON for a script).
    pub fn new(doing: &'static str, items: &'static str, quiet: bool) -> CountProgress {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        CountProgress {
            doing,
            items,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal() && !dumb,
            quiet,
            interval: interval_from_env(),
            bar: None,
            last_line: None,
        }
    }

    /// `done` of `total` items so far.
    pub fn update(&mut self, done: usize, total: usize) {
        if self.quiet || total == 0 {
            return;
        }
        let elapsed = self.started.elapsed();
        if self.terminal {
            if self.bar.is_none() && elapsed >= REVEAL_AFTER.min(self.interval) {
                let bar =
                    ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
                let template = format!(
                    "{} {{pos}}/{{len}} {} {{wide_bar}} {{eta}}",
                    self.doing, self.items
                );
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    bar.set_style(style);
                }
                self.bar = Some(bar);
            }
            if let Some(bar) = &self.bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            return;
        }
        let since = self.last_line.map_or(elapsed, |t| t.elapsed());
        if since >= self.interval {
            eprintln!(
                "{}: {} of {} {}",
                self.doing,
                thousands(done as u64),
                thousands(total as u64),
                self.items
            );
            self.last_line = Some(Instant::now());
        }
    }

    /// The work is over: remove the bar, so the summary follows.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
