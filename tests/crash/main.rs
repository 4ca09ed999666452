//! Real-process crash tests (issue 19, part 3; docs/reliability.md "Crash tests and fsck"):
//! real `syncd` and `vault-server` processes killed with SIGKILL at random points of large
//! uploads, downloads and applies of many files (wall-clock delays from a seeded RNG), and at
//! the narrow steps timing cannot hit reliably (a conflict's revision write, a head move)
//! through the test hook `VAULT_SYNC_TEST_CRASH_AT` (vault::crash_hook). After each kill:
//! `syncd fsck --hub` and `vault-server fsck --data DIR` exit 0, every vault file is exactly
//! its old or its new content (never a mix, never missing), and the next sync converges
//! (both devices' files equal, `syncd verify` clean).
//!
//! The seed is printed; `VAULT_CRASH_SEED=N cargo test --test crash` replays the same kill
//! delays (the moment a delay lands on still depends on the machine's speed).

#[path = "../common/mod.rs"]
mod common;

mod folder;
mod fsck_cli;
mod hooks;
mod server;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::{Device, World};

/// The environment variable that sets the seed.
const SEED_ENV: &str = "VAULT_CRASH_SEED";

/// A small seeded generator (splitmix64): the kill delays of a run, replayable by seed.
pub struct Rng(u64);

impl Rng {
    /// The generator of test `name`: the seed from [`SEED_ENV`] or the clock, printed.
    pub fn for_test(name: &str) -> Rng {
        let seed = std::env::var(SEED_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{name}: seed {seed} (replay with {SEED_ENV}={seed})");
        let salt = name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Rng(seed ^ salt)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A delay in `0..max_ms` milliseconds.
    pub fn delay(&mut self, max_ms: u64) -> Duration {
        Duration::from_millis(self.next_u64() % max_ms.max(1))
    }
}

/// SIGKILL `child` after `delay` (at once if it finished before); whether it finished by
/// itself first, and its output.
pub fn kill_after(mut child: Child, delay: Duration) -> (bool, Output) {
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return (true, child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill();
    (finished, child.wait_with_output().unwrap())
}

/// `syncd fsck --hub --json` on `device` exits 0 (clean); its report.
pub fn assert_fsck_clean(device: &Device, when: &str) -> serde_json::Value {
    let run = device.run("fsck", &["--hub", "--json"]);
    assert_eq!(
        run.code,
        Some(0),
        "{when}: syncd fsck of {} found problems:\n{}\n{}",
        device.name,
        run.stdout,
        run.stderr
    );
    run.json()
}

/// `vault-server fsck --data DATA --json` exits 0 (clean).
pub fn assert_server_fsck_clean(data: &Path, when: &str) -> serde_json::Value {
    let out = common::server::server_cmd(&["fsck", "--data", data.to_str().unwrap(), "--json"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{when}: vault-server fsck found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("vault-server fsck --json prints JSON")
}

/// Every file of `now` is exactly its `old` or its `new` content, and every path both hold is
/// there (never a mix, never missing). Paths under `.revisions/` are left to the caller, and
/// the temp files of a killed write are not vault files.
pub fn assert_old_or_new(
    now: &BTreeMap<String, Vec<u8>>,
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
    when: &str,
) {
    for (path, bytes) in now {
        let name = path.rsplit('/').next().unwrap_or(path);
        // A killed write's temp file is no vault file (the next sync removes it; fsck names
        // one nothing would remove).
        if path.starts_with(".revisions/") || vault::fsutil::is_own_temp_name(name) {
            continue;
        }
        assert!(
            old.get(path) == Some(bytes) || new.get(path) == Some(bytes),
            "{when}: `{path}` is neither its old nor its new content ({} bytes)",
            bytes.len()
        );
    }
    for path in old.keys().filter(|p| new.contains_key(*p)) {
        assert!(now.contains_key(path), "{when}: `{path}` went missing");
    }
}

/// Sync `devices` in turn until a round changes nothing, then check they converged.
pub fn converge(devices: &[&Device]) {
    for d in devices.iter().chain(devices.iter()) {
        d.sync();
    }
    common::assert_converged(devices);
}

/// Whether the output is of a process the test hook aborted (SIGABRT, and its line).
pub fn aborted_by_hook(out: &Output, step: &str) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(libc::SIGABRT)
        && String::from_utf8_lossy(&out.stderr).contains(&format!("={step}: aborting here"))
}

/// A world with two devices synced through its hub folder holding `notes` notes.
pub fn folder_pair(world: &World, notes: usize) -> (Device<'_>, Device<'_>) {
    let a = world.device("laptop");
    for i in 0..notes {
        a.write(&note_path(i), &format!("note {i}\n"), i as i64);
    }
    a.init().sync();
    let b = world.device("desktop");
    b.init().sync();
    (a, b)
}

pub fn note_path(i: usize) -> String {
    format!("n{}/note-{i}.md", i % 9)
}
