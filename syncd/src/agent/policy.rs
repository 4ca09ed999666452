//! The agent's timing decisions as pure functions of data: when a burst of file events is over,
//! and how long to wait after a failure. The loop in `agent` only applies them.

use std::path::Path;
use std::time::Duration;

/// How file events are coalesced into one round: the round starts once the folder has been
/// quiet for `quiet`, or `max_wait` after the first event of a burst, whichever comes first
/// (an editor saving every keystroke still syncs at least every `max_wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    pub quiet: Duration,
    pub max_wait: Duration,
}

impl Default for Debounce {
    fn default() -> Debounce {
        // An atomic save (temp file, rename) is a few events within a millisecond or two;
        // 150 ms covers editors that write, then chmod, then rename, and keeps propagation
        // well under a second.
        Debounce {
            quiet: Duration::from_millis(150),
            max_wait: Duration::from_secs(2),
        }
    }
}

impl Debounce {
    /// How long to wait from now for more events, given the time since the burst's first
    /// event and since its last one; `None` when the round should start now.
    pub fn wait(&self, since_first: Duration, since_last: Duration) -> Option<Duration> {
        let quiet_left = self.quiet.saturating_sub(since_last);
        let max_left = self.max_wait.saturating_sub(since_first);
        let left = quiet_left.min(max_left);
        (!left.is_zero()).then_some(left)
    }
}

/// Exponential backoff with full jitter (AWS's "full jitter"): the n-th consecutive failure
/// waits a uniformly random time up to `base * 2^n`, capped at `cap`. Randomness spreads the
/// retries of many devices after a server restart; the cap keeps an offline laptop trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 for the first), with `unit` a
    /// random number in [0, 1). Never less than a tenth of `base`: no busy loop.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << exp).min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0)).max(self.base / 10)
    }
}

/// Whether a changed path can matter to the vault: not in a `.vault/` folder (the agent's own
/// state, or at any depth another vault's, which never syncs), and not a temporary file the
/// sync itself writes (those are renamed into place a moment later, which is its own event).
pub fn is_relevant(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    if rel.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(vault::paths::is_state_dir)
    }) {
        return false;
    }
    !path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(vault::fsutil::is_own_temp_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_waits_for_quiet_but_never_past_the_cap() {
        let d = Debounce {
            quiet: 150 * MS,
            max_wait: 2000 * MS,
        };
        assert_eq!(d.wait(Duration::ZERO, Duration::ZERO), Some(150 * MS));
        assert_eq!(d.wait(100 * MS, 40 * MS), Some(110 * MS));
        assert_eq!(d.wait(400 * MS, 150 * MS), None);
        // Events keep coming: the cap starts the round anyway.
        assert_eq!(d.wait(1950 * MS, Duration::ZERO), Some(50 * MS));
        assert_eq!(d.wait(2000 * MS, Duration::ZERO), None);
        assert_eq!(d.wait(5000 * MS, Duration::ZERO), None);
    }

    #[test]
    fn backoff_grows_to_its_cap_and_never_spins() {
        let b = Backoff {
            base: 500 * MS,
            cap: Duration::from_secs(300),
        };
        // The largest possible waits double, then stop at the cap.
        let top: Vec<Duration> = (1..=12).map(|n| b.delay(n, 0.999_999)).collect();
        for pair in top.windows(2) {
            assert!(pair[1] >= pair[0], "{top:?}");
        }
        assert!(top[0] <= 500 * MS && top[0] > 499 * MS, "{top:?}");
        assert!(top[1] > 999 * MS, "{top:?}");
        assert_eq!(b.delay(40, 1.0), Duration::from_secs(300));
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(300));
        // Even the unluckiest draw waits a little.
        assert_eq!(b.delay(1, 0.0), 50 * MS);
        assert_eq!(b.delay(20, 0.0), 50 * MS);
        // Jitter spreads the waits.
        assert!(b.delay(8, 0.25) < b.delay(8, 0.75));
    }

    #[test]
    fn the_agents_own_files_are_not_changes() {
        let root = Path::new("/v");
        assert!(is_relevant(root, Path::new("/v/notes/a.md")));
        assert!(is_relevant(root, Path::new("/v")));
        assert!(!is_relevant(root, Path::new("/v/.vault/index")));
        assert!(!is_relevant(root, Path::new("/v/.vault")));
        assert!(!is_relevant(root, Path::new("/elsewhere/a.md")));
        let temp = format!("/v/notes/{}0123456789abcdef", vault::fsutil::TEMP_PREFIX);
        assert!(!is_relevant(root, Path::new(&temp)));
        // Another vault's state deeper down never syncs either (its agent writes there).
        assert!(!is_relevant(root, Path::new("/v/sub/.vault/index")));
        assert!(!is_relevant(root, Path::new("/v/sub/.VAULT")));
        assert!(is_relevant(root, Path::new("/v/sub/.vaults/x.md")));
    }
}
