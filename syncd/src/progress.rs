//! How far a long round has got, for people: on a terminal a bar per phase (items, bytes, time
//! left) on stderr, cleared when the round ends so the summary follows; elsewhere (a service,
//! a pipe, a script reading `--json` from stdout) a log line at most every few seconds of a
//! long phase. Short rounds show neither: the first sync of a large vault is what this is for,
//! and an agent's everyday one-note round must stay silent.
//!
//! The numbers come from `vault::progress` calls; everything that decides what to say (is a
//! line due, how much time is left, the line's text) is a pure function below.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vault::progress::{Amount, Phase, Progress};

/// Milliseconds between two progress lines of one phase (and the least a phase must last to
/// get one); a bar appears after the smaller of this and [`REVEAL_AFTER`]. Tests set it low.
pub const INTERVAL_ENV: &str = "VAULT_SYNC_PROGRESS_INTERVAL_MS";

/// Often enough that a service's log shows a long sync is alive, rarely enough not to flood it.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How long a round runs before its bars are drawn: a round that ends sooner (almost all of
/// them) never flickers a bar over the terminal.
const REVEAL_AFTER: Duration = Duration::from_millis(500);

/// The interval from [`INTERVAL_ENV`], else [`DEFAULT_INTERVAL`]; a value that is not a
/// number of milliseconds is ignored (progress is never worth failing a sync over).
pub fn interval_from_env() -> Duration {
    std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

/// Progress for a one-shot command (`syncd sync`): bars when stderr is a terminal that can
/// draw them, log lines otherwise. Call [`Display::finish`] when the round is over.
pub fn for_command() -> Display {
    let interval = interval_from_env();
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    if std::io::stderr().is_terminal() && !dumb {
        Display::Bars(Bars::new(REVEAL_AFTER.min(interval)))
    } else {
        Display::Lines(Arc::new(Lines::new(interval)))
    }
}

/// Progress for the agent: log lines only, even on a terminal, where a bar would be torn by
/// the agent's own log output between rounds.
pub fn for_agent() -> Arc<dyn Progress> {
    Arc::new(Lines::new(interval_from_env()))
}

/// One of the two ways of showing progress.
pub enum Display {
    Bars(Arc<Bars>),
    Lines(Arc<Lines>),
}

impl Display {
    /// The observer to put in `SyncOptions::progress`.
    pub fn observer(&self) -> Arc<dyn Progress> {
        match self {
            Display::Bars(b) => b.clone(),
            Display::Lines(l) => l.clone(),
        }
    }

    /// The round is over (done or failed): remove whatever is still drawn.
    pub fn finish(self) {
        if let Display::Bars(b) = self {
            b.finish();
        }
    }
}

/// What a phase counts, as people say it.
fn noun(phase: Phase) -> (&'static str, &'static str) {
    match phase {
        Phase::Scanning => ("hashing", "files"),
        Phase::Downloading => ("downloading", "objects"),
        Phase::Applying => ("applying", "files"),
        Phase::Uploading => ("uploading", "objects"),
    }
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The unit that suits `total` bytes (decimal units, as disks and network speeds are given);
/// `None`: plain bytes.
fn unit_for(total: u64) -> Option<(&'static str, f64)> {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    UNITS.into_iter().find(|&(_, size)| total as f64 >= size)
}

/// `45.1 of 171.0 MB`: both in the unit that suits the total.
pub fn bytes_of(done: u64, total: u64) -> String {
    match unit_for(total) {
        Some((unit, size)) => {
            format!(
                "{:.1} of {:.1} {unit}",
                done as f64 / size,
                total as f64 / size
            )
        }
        None => format!("{done} of {total} bytes"),
    }
}

/// `171.0 MB`.
pub fn bytes(n: u64) -> String {
    match unit_for(n) {
        Some((unit, size)) => format!("{:.1} {unit}", n as f64 / size),
        None => format!("{n} bytes"),
    }
}

/// `12 s`, `3 min 5 s`, `2 h 10 min`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{s} s"),
    }
}

/// Time left at the rate so far: `None` until something was done (no rate yet).
pub fn eta(done: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if done == 0 {
        return None;
    }
    let left = total.saturating_sub(done) as f64;
    Some(Duration::from_secs_f64(
        elapsed.as_secs_f64() * left / done as f64,
    ))
}

/// Whether a phase that began `since_begin` ago, last logged `since_line` ago (never:
/// `None`), should log now: only once it has lasted an interval, then once per interval.
pub fn due(since_begin: Duration, since_line: Option<Duration>, interval: Duration) -> bool {
    since_begin >= interval && since_line.is_none_or(|d| d >= interval)
}

/// The text of a progress line: `uploading: 1,234 of 20,000 objects, 45.1 of 171.0 MB, about
/// 12 s left`, or at the end `..., done in 14 s`. A count past its total (the plan's estimate
/// was short) is shown as the total.
pub fn line(
    phase: Phase,
    done: Amount,
    total: Option<Amount>,
    elapsed: Duration,
    ended: bool,
) -> String {
    let (verb, items) = noun(phase);
    let mut out = String::new();
    match total {
        None => {
            let _ = write!(out, "{verb}: {} {items}", thousands(done.items));
            if done.bytes > 0 {
                let _ = write!(out, ", {}", bytes(done.bytes));
            }
        }
        Some(t) => {
            let total_items = t.items.max(done.items);
            let total_bytes = t.bytes.max(done.bytes);
            let _ = write!(
                out,
                "{verb}: {} of {} {items}",
                thousands(done.items),
                thousands(total_items)
            );
            if total_bytes > 0 {
                let _ = write!(out, ", {}", bytes_of(done.bytes, total_bytes));
            }
            let left = if total_bytes > 0 {
                eta(done.bytes, total_bytes, elapsed)
            } else {
                eta(done.items, total_items, elapsed)
            };
            if let (false, Some(left)) = (ended, left.filter(|l| !l.is_zero())) {
                let _ = write!(out, ", about {} left", duration(left));
            }
        }
    }
    if ended {
        let _ = write!(out, ", done in {}", duration(elapsed));
    }
    out
}

/// A phase's counts so far.
#[derive(Debug, Clone, Copy)]
struct Tally {
    total: Option<Amount>,
    done: Amount,
    began: Instant,
    last_line: Option<Instant>,
}

/// Log lines (`tracing::info!`), at most one per interval and phase, only for phases that last
/// at least an interval; such a phase also logs a last line with its final counts.
#[derive(Debug)]
pub struct Lines {
    interval: Duration,
    phases: Mutex<[Option<Tally>; 4]>,
}

impl Lines {
    pub fn new(interval: Duration) -> Lines {
        Lines {
            interval,
            phases: Mutex::new([None; 4]),
        }
    }

    fn phases(&self) -> MutexGuard<'_, [Option<Tally>; 4]> {
        // A panic elsewhere while holding it leaves plain counters: still usable.
        self.phases.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Progress for Lines {
    fn begin(&self, phase: Phase, total: Option<Amount>) {
        self.phases()[phase.index()] = Some(Tally {
            total,
            done: Amount::default(),
            began: Instant::now(),
            last_line: None,
        });
    }

    fn advance(&self, phase: Phase, by: Amount) {
        let now = Instant::now();
        let due_tally = {
            let mut phases = self.phases();
            let Some(t) = phases[phase.index()].as_mut() else {
                return;
            };
            t.done.items += by.items;
            t.done.bytes += by.bytes;
            let since_line = t.last_line.map(|l| now - l);
            if !due(now - t.began, since_line, self.interval) {
                return;
            }
            t.last_line = Some(now);
            *t
        };
        let text = line(
            phase,
            due_tally.done,
            due_tally.total,
            now - due_tally.began,
            false,
        );
        tracing::info!("{text}");
    }

    fn end(&self, phase: Phase) {
        let Some(t) = self.phases()[phase.index()].take() else {
            return;
        };
        let elapsed = t.began.elapsed();
        if t.last_line.is_some() || elapsed >= self.interval {
            tracing::info!("{}", line(phase, t.done, t.total, elapsed, true));
        }
    }
}

/// A bar and the count of items it shows beside its position (which counts bytes).
struct Bar {
    bar: ProgressBar,
    items: Arc<AtomicU64>,
    /// The position counts bytes, else items.
    by_bytes: bool,
}

/// indicatif bars on stderr, one per running phase, drawn only once the round has lasted a
/// moment (see [`REVEAL_AFTER`]).
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<[Option<Bar>; 4]>,
    /// Wakes the thread that reveals the bars, to stop it.
    reveal: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Bars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bars").finish_non_exhaustive()
    }
}

impl Bars {
    fn new(reveal_after: Duration) -> Arc<Bars> {
        // Shown from the start (no delay asked for), or revealed by a thread once the round
        // has lasted `reveal_after`.
        if reveal_after.is_zero() {
            return Arc::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new([None, None, None, None]),
                reveal: Mutex::new(None),
            });
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let (stop, stopped) = mpsc::channel::<()>();
        let shown = multi.clone();
        let thread = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(reveal_after) {
                shown.set_draw_target(ProgressDrawTarget::stderr());
            }
        });
        Arc::new(Bars {
            multi,
            bars: Mutex::new([None, None, None, None]),
            reveal: Mutex::new(Some((stop, thread))),
        })
    }

    fn bars(&self) -> MutexGuard<'_, [Option<Bar>; 4]> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self) {
        let reveal = self.reveal.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, thread)) = reveal {
            let _ = stop.send(());
            let _ = thread.join();
        }
        for bar in self.bars().iter_mut().filter_map(Option::take) {
            bar.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// The style of a bar for a phase with a total: `{items}` is the item count, kept outside the
/// bar's position (which counts bytes when there are any, for the rate and time left).
fn bar_style(
    items: &Arc<AtomicU64>,
    total_items: u64,
    noun: &'static str,
    by_bytes: bool,
) -> ProgressStyle {
    let counter = items.clone();
    let template = if by_bytes {
        "{prefix:>11} [{bar:25}] {items}, {decimal_bytes}/{decimal_total_bytes}, {eta} left"
    } else {
        "{prefix:>11} [{bar:25}] {items}, {eta} left"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .with_key(
            "items",
            move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let done = counter.load(Ordering::Relaxed);
                let _ = write!(
                    w,
                    "{}/{} {noun}",
                    thousands(done),
                    thousands(total_items.max(done))
                );
            },
        )
}

impl Progress for Bars {
    fn begin(&self, phase: Phase, total: Option<Amount>) {
        let (verb, noun) = noun(phase);
        let items = Arc::new(AtomicU64::new(0));
        let (bar, by_bytes) = match total {
            Some(t) => {
                let by_bytes = t.bytes > 0;
                let len = if by_bytes { t.bytes } else { t.items };
                let bar =
                    ProgressBar::new(len).with_style(bar_style(&items, t.items, noun, by_bytes));
                (bar, by_bytes)
            }
            None => {
                let style = ProgressStyle::with_template("{spinner} {prefix} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bar = ProgressBar::new_spinner().with_style(style);
                bar.enable_steady_tick(Duration::from_millis(120));
                (bar, false)
            }
        };
        let bar = self.multi.add(bar.with_prefix(verb));
        // Drawn once as the phase begins (when the bars are shown): updates are drawn at most
        // 20 times a second, and a phase that ends within one such interval after a busy one
        // (a small upload after hashing many files) would otherwise never appear.
        bar.force_draw();
        let old = self.bars()[phase.index()].replace(Bar {
            bar,
            items,
            by_bytes,
        });
        if let Some(old) = old {
            old.bar.finish_and_clear();
        }
    }

    fn advance(&self, phase: Phase, by: Amount) {
        let bars = self.bars();
        let Some(b) = bars[phase.index()].as_ref() else {
            return;
        };
        b.items.fetch_add(by.items, Ordering::Relaxed);
        b.bar.inc(if b.by_bytes { by.bytes } else { by.items });
        if b.bar.length().is_some_and(|len| b.bar.position() > len) {
            b.bar.set_length(b.bar.position());
        }
    }

    fn end(&self, phase: Phase) {
        let old = self.bars()[phase.index()].take();
        if let Some(old) = old {
            old.bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234), "1,234");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(bytes_of(45_100_000, 171_000_000), "45.1 of 171.0 MB");
        assert_eq!(bytes_of(0, 2_500_000_000), "0.0 of 2.5 GB");
        assert_eq!(bytes_of(12, 900), "12 of 900 bytes");
        assert_eq!(bytes_of(1_500, 3_000), "1.5 of 3.0 kB");
        assert_eq!(bytes(171_000_000), "171.0 MB");
        assert_eq!(bytes(12), "12 bytes");
        assert_eq!(duration(Duration::from_millis(12_400)), "12 s");
        assert_eq!(duration(185 * S), "3 min 5 s");
        assert_eq!(duration(7_800 * S), "2 h 10 min");
    }

    #[test]
    fn time_left_follows_the_rate_so_far() {
        assert_eq!(eta(0, 100, 10 * S), None, "no rate yet");
        assert_eq!(eta(25, 100, 10 * S), Some(30 * S));
        assert_eq!(eta(100, 100, 10 * S), Some(Duration::ZERO));
        assert_eq!(
            eta(120, 100, 10 * S),
            Some(Duration::ZERO),
            "past the estimate"
        );
    }

    #[test]
    fn a_line_is_due_only_in_a_long_phase_and_once_per_interval() {
        let every = 5 * S;
        assert!(!due(4 * S, None, every), "a short phase says nothing");
        assert!(due(5 * S, None, every));
        assert!(
            !due(7 * S, Some(2 * S), every),
            "at most one line per interval"
        );
        assert!(due(10 * S, Some(5 * S), every));
        assert!(
            due(Duration::ZERO, None, Duration::ZERO),
            "interval 0: every step"
        );
    }

    #[test]
    fn lines_say_counts_bytes_and_time() {
        let total = Some(Amount::new(20_000, 171_000_000));
        assert_eq!(
            line(
                Phase::Uploading,
                Amount::new(1_234, 45_100_000),
                total,
                4 * S,
                false
            ),
            "uploading: 1,234 of 20,000 objects, 45.1 of 171.0 MB, about 11 s left"
        );
        assert_eq!(
            line(
                Phase::Uploading,
                Amount::new(20_000, 171_000_000),
                total,
                15 * S,
                true
            ),
            "uploading: 20,000 of 20,000 objects, 171.0 of 171.0 MB, done in 15 s"
        );
        assert_eq!(
            line(
                Phase::Uploading,
                Amount::new(5, 10),
                Some(Amount::new(5, 10)),
                S,
                false
            ),
            "uploading: 5 of 5 objects, 10 of 10 bytes",
            "nothing left is not a time left"
        );
        assert_eq!(
            line(
                Phase::Applying,
                Amount::new(3, 0),
                Some(Amount::new(10, 0)),
                S,
                false
            ),
            "applying: 3 of 10 files, about 2 s left"
        );
        assert_eq!(
            line(
                Phase::Downloading,
                Amount::new(12, 500),
                Some(Amount::new(10, 400)),
                S,
                true
            ),
            "downloading: 12 of 12 objects, 500 of 500 bytes, done in 1 s",
            "an estimate that was short shows the real count"
        );
        assert_eq!(
            line(
                Phase::Scanning,
                Amount::new(20_000, 5_000_000),
                Some(Amount::new(20_000, 5_000_000)),
                6 * S,
                true
            ),
            "hashing: 20,000 of 20,000 files, 5.0 of 5.0 MB, done in 6 s"
        );
        assert_eq!(
            line(Phase::Uploading, Amount::new(3, 2_000), None, 6 * S, false),
            "uploading: 3 objects, 2.0 kB",
            "a phase whose total is not known"
        );
        assert_eq!(
            line(
                Phase::Downloading,
                Amount::default(),
                Some(Amount::new(5, 10)),
                S,
                false
            ),
            "downloading: 0 of 5 objects, 0 of 10 bytes"
        );
    }

    #[test]
    fn log_lines_count_and_forget_phases() {
        // Interval 0: every step is due, so the tallies can be checked through `phases`.
        let lines = Lines::new(Duration::ZERO);
        lines.advance(Phase::Uploading, Amount::new(1, 1));
        assert!(lines.phases().iter().all(Option::is_none), "no phase begun");
        lines.begin(Phase::Uploading, Some(Amount::new(3, 30)));
        lines.advance(Phase::Uploading, Amount::new(1, 10));
        lines.advance(Phase::Uploading, Amount::new(2, 20));
        let t = lines.phases()[Phase::Uploading.index()].unwrap();
        assert_eq!(t.done, Amount::new(3, 30));
        assert!(t.last_line.is_some());
        lines.end(Phase::Uploading);
        assert!(lines.phases()[Phase::Uploading.index()].is_none());
        // A phase that begins again starts from zero.
        lines.begin(Phase::Uploading, Some(Amount::new(3, 30)));
        let t = lines.phases()[Phase::Uploading.index()].unwrap();
        assert_eq!(t.done, Amount::default());
    }
}
