//! Tests of [`super::RefFile`], including real concurrent threads and processes.

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use super::*;
use std::time::{Instant, SystemTime};

fn id(n: &str) -> ObjectId {
    ObjectId::of(n.as_bytes())
}

#[test]
fn missing_file_reads_as_none_and_write_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("refs/head"));
    assert_eq!(r.read().unwrap(), None);
    r.write(id("a")).unwrap();
    assert_eq!(r.read().unwrap(), Some(id("a")));
    assert_eq!(
        fs::read_to_string(r.path()).unwrap(),
        format!("{}\n", id("a"))
    );
    r.write(id("b")).unwrap();
    assert_eq!(r.read().unwrap(), Some(id("b")));
}

#[test]
fn garbage_is_a_clear_error_naming_the_file() {
    let good = id("x").to_hex();
    for (why, content) in [
        ("empty", String::new()),
        ("no newline", good.clone()),
        ("upper case", format!("{}\n", good.to_uppercase())),
        ("short", format!("{}\n", &good[..63])),
        ("two lines", format!("{good}\n{good}\n")),
        ("crlf", format!("{good}\r\n")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let r = RefFile::new(dir.path().join("head"));
        fs::write(r.path(), content).unwrap();
        let err = r.read().unwrap_err();
        assert!(matches!(err, RefError::Garbage { .. }), "{why}: {err:?}");
        assert!(
            err.to_string().contains(&r.path().display().to_string()),
            "{why}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("head"));
    fs::write(r.path(), [0xff, 0xfe, 0]).unwrap();
    assert!(matches!(r.read(), Err(RefError::Garbage { .. })));
}

#[test]
fn compare_and_swap_follows_old_value() {
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("head"));
    assert_eq!(
        r.compare_and_swap(None, id("a")).unwrap(),
        CasOutcome::Updated
    );
    assert_eq!(
        r.compare_and_swap(None, id("b")).unwrap(),
        CasOutcome::Conflict {
            actual: Some(id("a"))
        }
    );
    assert_eq!(
        r.compare_and_swap(Some(id("z")), id("b")).unwrap(),
        CasOutcome::Conflict {
            actual: Some(id("a"))
        }
    );
    assert_eq!(
        r.compare_and_swap(Some(id("a")), id("b")).unwrap(),
        CasOutcome::Updated
    );
    assert_eq!(r.read().unwrap(), Some(id("b")));
    assert!(!r.lock_path().exists(), "lock left behind");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["head"], "stray files left");
}

#[test]
fn fresh_lock_held_by_another_writer_times_out_with_locked() {
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("head"));
    fs::write(r.lock_path(), "sometoken\npid 4242\n").unwrap();
    let start = Instant::now();
    let err = r.compare_and_swap(None, id("a")).unwrap_err();
    assert!(start.elapsed() >= LOCK_WAIT);
    let RefError::Locked { ref holder, .. } = err else {
        panic!("expected Locked, got {err:?}")
    };
    assert_eq!(holder, "pid 4242");
    assert!(err.to_string().contains("head.lock"), "{err}");
    assert!(
        r.lock_path().exists(),
        "a fresh lock of another writer must not be removed"
    );
    assert_eq!(r.read().unwrap(), None);
}

#[test]
fn stale_lock_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("head"));
    fs::write(r.lock_path(), "deadtoken\npid 1\n").unwrap();
    let old = SystemTime::now() - STALE_LOCK_AGE - Duration::from_secs(30);
    filetime::set_file_mtime(r.lock_path(), filetime::FileTime::from_system_time(old)).unwrap();
    let start = Instant::now();
    assert_eq!(
        r.compare_and_swap(None, id("a")).unwrap(),
        CasOutcome::Updated
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(r.read().unwrap(), Some(id("a")));
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["head"], "lock or stale copy left behind");
}

/// A `syncd` killed while it held the lock: the next writer on this machine must not wait a
/// minute for it.
#[test]
fn lock_of_a_dead_local_process_is_broken_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("head"));
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    fs::write(
        r.lock_path(),
        format!("deadtoken\npid {dead}\nhost {}\n", host_name()),
    )
    .unwrap();
    let start = Instant::now();
    assert_eq!(
        r.compare_and_swap(None, id("a")).unwrap(),
        CasOutcome::Updated
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(!r.lock_path().exists());
}

/// A fresh lock whose holder is alive, or on another machine, or unknown, is waited for.
#[test]
fn lock_of_a_live_or_remote_process_is_not_judged_dead() {
    let me = std::process::id();
    let host = host_name();
    assert!(
        !holder_is_gone(&format!("t\npid {me}\nhost {host}\n")),
        "alive"
    );
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    assert!(holder_is_gone(&format!("t\npid {dead}\nhost {host}\n")));
    assert!(
        !holder_is_gone(&format!("t\npid {dead}\nhost another-{host}\n")),
        "another machine's pid says nothing here"
    );
    assert!(
        !holder_is_gone(&format!("t\npid {dead}\n")),
        "no host recorded"
    );
    assert!(!holder_is_gone("t\npid x\nhost h\n"));
}

#[test]
fn guard_does_not_remove_a_lock_it_no_longer_owns() {
    let dir = tempfile::tempdir().unwrap();
    let r = RefFile::new(dir.path().join("head"));
    let guard = r.lock().unwrap();
    // Someone broke our lock as stale and took it.
    fs::write(r.lock_path(), "othertoken\npid 7\n").unwrap();
    assert!(matches!(
        guard.check_still_ours(),
        Err(RefError::Locked { .. })
    ));
    drop(guard);
    assert_eq!(
        fs::read_to_string(r.lock_path()).unwrap(),
        "othertoken\npid 7\n"
    );
}

/// Threads start each round together from the same head: exactly one CAS wins.
#[test]
fn threads_racing_one_round_have_exactly_one_winner() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head");
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let r = RefFile::new(path);
                let mut wins = Vec::new();
                for round in 0..ROUNDS {
                    // Everyone reads the head the previous round left, then all swap at once.
                    let old = r.read().unwrap();
                    barrier.wait();
                    let new = id(&format!("{t}/{round}"));
                    let outcome = r.compare_and_swap(old, new).unwrap();
                    barrier.wait();
                    let head = r.read().unwrap().unwrap();
                    if outcome == CasOutcome::Updated {
                        assert_eq!(head, new);
                        wins.push(round);
                    } else {
                        assert_eq!(outcome, CasOutcome::Conflict { actual: Some(head) });
                    }
                    barrier.wait();
                }
                wins
            })
        })
        .collect();
    let mut winners_per_round = [0usize; ROUNDS];
    for h in handles {
        for round in h.join().unwrap() {
            winners_per_round[round] += 1;
        }
    }
    assert_eq!(
        winners_per_round, [1; ROUNDS],
        "a round had no winner or several"
    );
}

/// Each worker adds `per_worker` links `old -> new` with retry; record them in `log`.
fn cas_loop(r: &RefFile, worker: &str, per_worker: usize) -> Vec<(Option<ObjectId>, ObjectId)> {
    let mut log = Vec::new();
    for i in 0..per_worker {
        let new = id(&format!("{worker}/{i}"));
        let mut old = r.read().unwrap();
        loop {
            match r.compare_and_swap(old, new).unwrap() {
                CasOutcome::Updated => break,
                CasOutcome::Conflict { actual } => old = actual,
            }
        }
        log.push((old, new));
    }
    log
}

/// The winners' links must form one chain from `None` through every update: no lost update,
/// no two winners from the same old value.
fn assert_one_chain(links: &[(Option<ObjectId>, ObjectId)], head: Option<ObjectId>) {
    let mut next: HashMap<Option<ObjectId>, ObjectId> = HashMap::new();
    for (old, new) in links {
        assert!(
            next.insert(*old, *new).is_none(),
            "two winners swapped from {old:?}"
        );
    }
    let mut at = None;
    let mut steps = 0;
    while let Some(n) = next.get(&at) {
        at = Some(*n);
        steps += 1;
    }
    assert_eq!(
        steps,
        links.len(),
        "the chain skips updates: some were lost"
    );
    assert_eq!(at, head);
}

#[test]
fn threads_hammering_cas_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head");
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || cas_loop(&RefFile::new(path), &format!("t{t}"), 25))
        })
        .collect();
    let links: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(links.len(), 150);
    assert_one_chain(&links, RefFile::new(path).read().unwrap());
}

const WORKER_ENV: &str = "VAULT_REFS_CAS_WORKER";

/// Not a test on its own: the body of one worker process of
/// `processes_hammering_cas_lose_no_update` (does nothing unless started by it).
#[test]
fn cas_worker_process() {
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (ref_path, out, name) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let links = cas_loop(&RefFile::new(ref_path), name, 20);
    let text: String = links
        .iter()
        .map(|(o, n)| {
            format!(
                "{} {n}\n",
                o.map(|o| o.to_hex()).unwrap_or_else(|| "-".into())
            )
        })
        .collect();
    fs::write(out, text).unwrap();
}

#[test]
fn processes_hammering_cas_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let ref_path = dir.path().join("head");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            let out = dir.path().join(format!("log{p}"));
            let spec = format!("{}|{}|p{p}", ref_path.display(), out.display());
            let child = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "refs::tests::cas_worker_process",
                    "--test-threads=1",
                    "-q",
                ])
                .env(WORKER_ENV, spec)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut links = Vec::new();
    for (mut child, out) in children {
        assert!(child.wait().unwrap().success(), "worker process failed");
        for line in fs::read_to_string(out).unwrap().lines() {
            let (o, n) = line.split_once(' ').unwrap();
            links.push(((o != "-").then(|| o.parse().unwrap()), n.parse().unwrap()));
        }
    }
    assert_eq!(links.len(), 80, "a worker did not finish its updates");
    assert_one_chain(&links, RefFile::new(&ref_path).read().unwrap());
}
