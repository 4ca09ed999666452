//! Progress of long rounds through the real `syncd` binary: with stderr not a terminal, log
//! lines whose counts grow to the round's real totals while `--json` stdout stays one report;
//! on a terminal (a pty from `script`), a bar; in the agent, log lines. The interval between
//! lines is set to 0 through `VAULT_SYNC_PROGRESS_INTERVAL_MS`, so every step logs and the
//! test does not depend on how fast this machine is.

mod common;

use std::process::Command;

use common::agent::Agent;
use common::{Device, World};

const INTERVAL: &str = "VAULT_SYNC_PROGRESS_INTERVAL_MS";

/// Notes with distinct contents, plus three 4 MB attachments (more than one upload pack);
/// returns how many files.
fn fill(d: &Device, notes: usize) -> u64 {
    for i in 0..notes {
        let text = format!("# note {i}\n\n{}\n", "words ".repeat(i % 40));
        d.write(&format!("f{}/n{i}.md", i % 9), &text, 1_000 + i as i64);
    }
    for k in 0..3u8 {
        let path = d.path(&format!("attachments/big{k}.bin"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![k; 4_000_000]).unwrap();
    }
    notes as u64 + 3
}

/// One parsed progress line: `<verb>: A of B <noun>, <bytes>[, about .. left | , done in ..]`.
#[derive(Debug)]
struct Progress {
    done: u64,
    total: u64,
    /// `45.1 of 171.0 MB` (absent when the phase moves no bytes).
    bytes: Option<String>,
    ended: bool,
}

fn number(s: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// The `verb` lines of a log, in order.
fn progress_lines(log: &str, verb: &str) -> Vec<Progress> {
    let key = format!("{verb}: ");
    log.lines()
        .filter_map(|l| l.split_once(&key).map(|(_, rest)| rest))
        .map(|rest| {
            let mut parts = rest.split(", ");
            let counts = parts.next().unwrap();
            let words: Vec<&str> = counts.split(' ').collect();
            assert_eq!(words[1], "of", "{rest}");
            let bytes = parts
                .next()
                .filter(|p| !p.starts_with("about") && !p.starts_with("done"))
                .map(str::to_string);
            Progress {
                done: number(words[0]),
                total: number(words[2]),
                bytes,
                ended: rest.contains("done in"),
            }
        })
        .collect()
}

/// Counts never go down, the total never changes, and the last line is the end of the phase
/// at exactly `total` objects and `bytes` bytes.
fn assert_grows_to(lines: &[Progress], total: u64, bytes: u64, what: &str) {
    assert_counts_grow_to(lines, total, what);
    // The line's unit suits the total; both sides of `of` are the whole amount.
    let mb = bytes as f64 / 1e6;
    assert!(
        (1.0..1000.0).contains(&mb),
        "{what}: pick other sizes ({bytes})"
    );
    assert_eq!(
        lines.last().unwrap().bytes.as_deref(),
        Some(format!("{mb:.1} of {mb:.1} MB").as_str()),
        "{what}"
    );
}

/// The item counts of [`assert_grows_to`], without the bytes.
fn assert_counts_grow_to(lines: &[Progress], total: u64, what: &str) {
    assert!(
        lines.iter().filter(|l| !l.ended).count() >= 2,
        "{what}: not reported step by step: {lines:?}"
    );
    for w in lines.windows(2) {
        assert!(w[0].done <= w[1].done, "{what}: counts went down: {w:?}");
    }
    assert!(lines.iter().all(|l| l.total == total), "{what}: {lines:?}");
    let last = lines.last().unwrap();
    assert!(last.ended && last.done == total, "{what}: {last:?}");
    assert!(
        lines[..lines.len() - 1].iter().all(|l| !l.ended),
        "{what}: ended twice"
    );
}

#[test]
fn a_long_round_logs_progress_to_its_totals_and_json_stays_one_report() {
    let w = World::new();
    let a = w.device("laptop");
    let files = fill(&a, 1_500);
    a.init();
    let up = a
        .command("sync", &["--json"])
        .env(INTERVAL, "0")
        .output()
        .unwrap();
    common::assert_success(&up, "the first sync");
    let stderr = String::from_utf8_lossy(&up.stderr);
    // Exactly one JSON document on stdout, nothing else.
    let report: vault::sync::SyncReport = serde_json::from_slice(&up.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one report ({e}); stderr:\n{stderr}"));
    let s = &report.stats;
    assert_eq!(s.files_scanned, files);
    // The upload counts what the round planned to send: every file (a large one as one item,
    // however many chunks it became), the 11 folders' trees (f0-f8, attachments, the root)
    // and the snapshot; its bytes are the files' bytes as read and the trees'. The chunks of
    // the three large files repeat one byte, so the hub is sent fewer bytes than that.
    let uploads = progress_lines(&stderr, "uploading");
    assert_counts_grow_to(&uploads, files + 11 + 1, "uploading");
    assert!(
        s.objects_sent > files + 12,
        "chunks and lists are objects too: {s:?}"
    );
    let read = up_blob_bytes(&a) as f64 / 1e6;
    let shown = uploads.last().unwrap().bytes.clone().unwrap();
    let (done, total) = shown
        .trim_end_matches(" MB")
        .split_once(" of ")
        .map(|(d, t)| (d.parse::<f64>().unwrap(), t.parse::<f64>().unwrap()))
        .unwrap();
    assert!(
        done == total && (read..read + 0.5).contains(&total),
        "uploading: {shown} for {read:.1} MB of files"
    );
    assert!((s.bytes_sent as f64) < read * 1e6 * 0.75, "{s:?}");
    // The scan hashes every file of a first sync, counted against the total the walk found.
    let mb = up_blob_bytes(&a) as f64 / 1e6;
    let scanned = format!("hashing: 1,503 of 1,503 files, {mb:.1} of {mb:.1} MB, done in");
    assert_eq!(
        stderr.lines().filter(|l| l.contains(&scanned)).count(),
        1,
        "{stderr}"
    );
    assert!(
        progress_lines(&stderr, "downloading").is_empty(),
        "{stderr}"
    );

    // A second device joins: downloads, then writes every file.
    let b = w.device("desktop");
    b.init();
    let down = b
        .command("sync", &["--json"])
        .env(INTERVAL, "0")
        .output()
        .unwrap();
    common::assert_success(&down, "the joining sync");
    let stderr = String::from_utf8_lossy(&down.stderr);
    let report: vault::sync::SyncReport = serde_json::from_slice(&down.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one report ({e}); stderr:\n{stderr}"));
    assert_eq!(report.stats.files_written, files);
    // Every blob is distinct; the hashes of what was written are the bytes uploaded as blobs.
    let blob_bytes = up_blob_bytes(&a);
    assert_grows_to(
        &progress_lines(&stderr, "downloading"),
        files,
        blob_bytes,
        "downloading",
    );
    assert_grows_to(
        &progress_lines(&stderr, "applying"),
        files,
        blob_bytes,
        "applying",
    );
    assert!(progress_lines(&stderr, "uploading").is_empty(), "{stderr}");

    // At the default interval (5 s) a round this small says nothing.
    a.write("one more.md", "a small change", 99_999);
    let quiet = a.run("sync", &["--json"]).ok();
    quiet.report();
    assert!(
        !quiet.stderr.contains("uploading") && !quiet.stderr.contains("hashing"),
        "{}",
        quiet.stderr
    );
}

/// The bytes of every file of `d` (each distinct, so the blobs of the vault).
fn up_blob_bytes(d: &Device) -> u64 {
    d.files().values().map(|b| b.len() as u64).sum()
}

#[test]
fn the_agent_logs_progress_of_its_first_round() {
    let w = World::new();
    let a = w.device("laptop");
    let files = fill(&a, 300);
    a.init().sync();
    let b = w.device("desktop");
    b.init();
    let mut command = b.command("watch", &[]);
    command.env(INTERVAL, "0");
    let agent = Agent::spawn(command);
    agent.wait_for_log("synced");
    let log = agent.log().join("\n");
    assert_grows_to(
        &progress_lines(&log, "downloading"),
        files,
        up_blob_bytes(&a),
        "the agent's download",
    );
    agent.stop();
}

#[test]
fn on_a_terminal_a_bar_is_drawn_then_cleared_before_the_summary() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to give syncd a terminal");
        return;
    }
    let w = World::new();
    let a = w.device("laptop");
    fill(&a, 1_500);
    a.init();
    // `script` runs the command on a new pty: its stdout and stderr are that terminal, and
    // everything drawn on it comes back on script's stdout.
    let syncd = a.command("sync", &[]);
    let mut line = shell_quote(syncd.get_program().to_str().unwrap());
    for arg in syncd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(arg.to_str().unwrap()));
    }
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (k, v) in syncd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = script
        .env(INTERVAL, "0")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    // Deterministic however fast or loaded the machine: with the interval at 0 the bars are
    // shown from the round's start (no reveal thread to wait for), and each phase's bar is
    // drawn as the phase begins, whatever the 20-a-second limit on redraws left of the
    // previous phase (the upload after hashing 1,503 files took two redraws, or none).
    for phase in ["hashing [", "uploading ["] {
        assert!(
            screen.contains(phase),
            "no {phase:?} bar was drawn:\n{screen}"
        );
    }
    assert!(screen.contains(" objects, "), "{screen}");
    // The summary comes after the last bar, and no log line was printed instead of the bar.
    let summary = screen
        .rfind("pushed changes to the hub")
        .expect("the summary");
    assert!(screen.rfind("uploading [").unwrap() < summary, "{screen}");
    assert!(!screen.contains("uploading: "), "{screen}");
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
