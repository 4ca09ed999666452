//! The agent's figures (issue 6): how long a saved note takes to reach another device through
//! two running `syncd watch` agents and a `vault-server` on loopback, and what an idle agent
//! costs (CPU over a quiet stretch, resident memory) on the generated vault.
//!
//! There is no anchor run beside it: Syncthing's default watcher delay alone is 10 s, so the
//! target (a median under one second) is absolute, not a ratio.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::lab::Lab;
use crate::measure::Times;
use crate::measure::{ms, round3};

pub const SERVER: &str = env!("CARGO_BIN_EXE_vault-server");

/// Issue 6's targets, set for a 20,000-note vault: propagation, and the agent's resident
/// memory (held to it when idle at every width, and at its peak up to that width).
pub const PROPAGATION_TARGET: Duration = Duration::from_secs(1);
pub const IDLE_RSS_TARGET_MIB: f64 = 60.0;
/// Issue 18's rule for a wider vault (100,000 notes): every 20,000-note target holds, and
/// every peak stays under 100 MiB.
pub const WIDE_PEAK_TARGET_MIB: f64 = 100.0;
const ISSUE_6_NOTES: usize = 20_000;

/// What the agent's peak is held to in a vault of `notes` notes.
fn peak_target_mib(notes: usize) -> f64 {
    if notes <= ISSUE_6_NOTES {
        IDLE_RSS_TARGET_MIB
    } else {
        WIDE_PEAK_TARGET_MIB
    }
}

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password-not-secret";

/// Longest wait for one note to arrive before the benchmark gives up.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct AgentFigures {
    pub notes: usize,
    /// Write-to-identical-file times, one per write.
    pub propagation: Times,
    /// Ticks (1/100 s) of user + system CPU both agents used over `idle_for`.
    pub idle_ticks: u64,
    pub idle_for: Duration,
    /// Resident memory of each agent after the writes (VmRSS), and its peak (VmHWM), in KiB.
    pub rss_kib: Vec<u64>,
    pub peak_rss_kib: Vec<u64>,
}

impl AgentFigures {
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let median = self.propagation.median();
        if median > PROPAGATION_TARGET {
            out.push(format!(
                "agent: median propagation {:.0} ms is over the {} ms target",
                median.as_secs_f64() * 1000.0,
                PROPAGATION_TARGET.as_millis()
            ));
        }
        let idle = self.rss_kib.iter().copied().max().unwrap_or(0);
        if kib_to_mib(idle) > IDLE_RSS_TARGET_MIB {
            out.push(format!(
                "agent: idle RSS {:.1} MiB is over the {IDLE_RSS_TARGET_MIB} MiB target",
                kib_to_mib(idle)
            ));
        }
        let peak = self.peak_rss_kib.iter().copied().max().unwrap_or(0);
        let peak_target = peak_target_mib(self.notes);
        if kib_to_mib(peak) > peak_target && self.notes >= ISSUE_6_NOTES {
            out.push(format!(
                "agent: peak RSS {:.1} MiB is over the {peak_target} MiB target",
                kib_to_mib(peak)
            ));
        }
        // "About zero": a tick or two of housekeeping over the quiet stretch, per agent.
        if self.idle_ticks > 2 * self.rss_kib.len() as u64 {
            out.push(format!(
                "agent: idle agents used {} CPU ticks in {:.0?} (expected about 0)",
                self.idle_ticks, self.idle_for
            ));
        }
        out
    }

    pub fn table(&self) -> String {
        let t = &self.propagation;
        format!(
            "Agent: two `syncd watch` through vault-server on loopback, {} notes\n\
             \x20 propagation (write -> identical file on the other device), {} writes: \
             min {:.0} ms, median {:.0} ms, max {:.0} ms (target: median < {} ms)\n\
             \x20 idle: {} CPU ticks in {:.0?} for both agents; RSS {} MiB (target < \
             {IDLE_RSS_TARGET_MIB} MiB), peak {} MiB (target < {} MiB)\n",
            self.notes,
            t.0.len(),
            ms(t.min()),
            ms(t.median()),
            ms(t.max()),
            PROPAGATION_TARGET.as_millis(),
            self.idle_ticks,
            self.idle_for,
            list_mib(&self.rss_kib),
            list_mib(&self.peak_rss_kib),
            peak_target_mib(self.notes),
        )
    }

    pub fn json(&self, warnings: &[String]) -> Value {
        let t = &self.propagation;
        json!({
            "scenario": "agent",
            "title": "agent propagation and idle cost",
            "side": crate::scenarios::SYNCD,
            "notes": self.notes,
            "runs": t.0.len(),
            "min_ms": round3(ms(t.min())),
            "median_ms": round3(ms(t.median())),
            "max_ms": round3(ms(t.max())),
            "times_ms": t.0.iter().map(|d| round3(ms(*d))).collect::<Vec<_>>(),
            "target_median_ms": PROPAGATION_TARGET.as_millis() as u64,
            "idle_cpu_ticks": self.idle_ticks,
            "idle_seconds": self.idle_for.as_secs_f64(),
            "rss_mib": self.rss_kib.iter().map(|k| round3(kib_to_mib(*k))).collect::<Vec<_>>(),
            "peak_rss_mib": self.peak_rss_kib.iter().map(|k| round3(kib_to_mib(*k))).collect::<Vec<_>>(),
            "rss_target_mib": IDLE_RSS_TARGET_MIB,
            "peak_rss_target_mib": peak_target_mib(self.notes),
            "warnings": warnings,
        })
    }
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn list_mib(kib: &[u64]) -> String {
    kib.iter()
        .map(|k| format!("{:.1}", kib_to_mib(*k)))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Set up a server, a device holding the generated vault and an empty one that downloads it,
/// start an agent on each, then time `writes` notes from one to the other (alternating
/// directions) and measure the quiet agents.
pub fn measure(lab: &Lab, writes: usize, idle_for: Duration) -> Result<AgentFigures> {
    let (server, url, data) = start_server(lab, "server-data", "agent-server.log")?;
    eprintln!("  preparing two devices on {url}");
    let a = lab.copy_source("agent-a")?;
    let b = lab.fresh("agent-b");
    fs::create_dir_all(&b)?;
    for (vault, device) in [(&a, "bench-a"), (&b, "bench-b")] {
        join(lab, vault, device, &url)?;
        lab.runner.run_ok(lab.syncd_sync(vault))?;
    }
    let agents = [start_agent(lab, &a, "a")?, start_agent(lab, &b, "b")?];
    for (agent, vault) in agents.iter().zip([&a, &b]) {
        agent.wait_for_line("agent started", Duration::from_secs(60))?;
        wait_idle(lab, vault)?;
    }

    let mut times = Times::default();
    for i in 0..writes {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let rel = format!("bench-propagation/note-{i:02}.md");
        let text = format!(
            "# Propagation {i}\n\nWritten at {:?} by the benchmark.\n\n- [ ] read it on the other device\n",
            std::time::SystemTime::now()
        );
        let took = time_arrival(&from.join(&rel), &to.join(&rel), text.as_bytes())?;
        times.0.push(took);
        eprintln!("  write {}/{writes}: {:.0} ms", i + 1, ms(took));
        // The next write starts from two quiet agents, as a person's next save would.
        wait_idle(lab, from)?;
        wait_idle(lab, to)?;
    }

    std::thread::sleep(Duration::from_secs(1));
    let pids: Vec<u32> = agents.iter().map(|p| p.child.id()).collect();
    let before: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum::<Result<u64>>()?;
    std::thread::sleep(idle_for);
    let after: u64 = pids.iter().map(|p| cpu_ticks(*p)).sum::<Result<u64>>()?;
    let mut rss = Vec::new();
    let mut peak = Vec::new();
    for pid in &pids {
        let (now, max) = memory_kib(*pid)?;
        rss.push(now);
        peak.push(max);
    }
    for agent in agents {
        agent.stop()?;
    }
    server.stop()?;
    lab.remove(&[&a, &b, &data])?;
    Ok(AgentFigures {
        notes: lab.summary.notes,
        propagation: times,
        idle_ticks: after.saturating_sub(before),
        idle_for,
        rss_kib: rss,
        peak_rss_kib: peak,
    })
}

/// `syncd init` against the server, with the password on stdin.
/// A release `vault-server` on a free loopback port with the bench's account, its data in the
/// lab's `data` folder and its log in `logs/<log>`: the process, its URL and the data folder.
pub fn start_server(lab: &Lab, data: &str, log: &str) -> Result<(Process, String, PathBuf)> {
    let data = lab.fresh(data);
    let add = run_with_stdin(
        Command::new(SERVER)
            .args(["user", "add", USER, "--data"])
            .arg(&data)
            .arg("--password-stdin"),
        PASSWORD,
    )?;
    ensure!(
        add.status.success(),
        "vault-server user add failed: {}",
        add.stderr
    );
    let server = Process::spawn(
        Command::new(SERVER)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data),
        &lab.path().join("logs").join(log),
    )?;
    let line = server.wait_for_line("listening on ", Duration::from_secs(30))?;
    let url = line
        .split("listening on ")
        .nth(1)
        .map(str::trim)
        .context("the server's address")?
        .to_string();
    Ok((server, url, data))
}

pub fn join(lab: &Lab, vault: &Path, device: &str, url: &str) -> Result<()> {
    let mut cmd = lab.syncd(&[
        "init".as_ref(),
        "--vault".as_ref(),
        vault.as_os_str(),
        "--hub".as_ref(),
        url.as_ref(),
        "--device".as_ref(),
        device.as_ref(),
        "--user".as_ref(),
        USER.as_ref(),
        "--vault-name".as_ref(),
        "bench".as_ref(),
        "--password-stdin".as_ref(),
    ]);
    let out = run_with_stdin(&mut cmd, PASSWORD)?;
    ensure!(
        out.status.success(),
        "syncd init for {device} failed: {}",
        out.stderr
    );
    Ok(())
}

fn start_agent(lab: &Lab, vault: &Path, name: &str) -> Result<Process> {
    let mut cmd = lab.syncd(&["watch".as_ref(), "--vault".as_ref(), vault.as_os_str()]);
    cmd.env("RUST_LOG", "info");
    Process::spawn(
        &mut cmd,
        &lab.path().join("logs").join(format!("agent-{name}.log")),
    )
}

/// Write `text` to `from` (temp file and rename, as editors save) and wait until `to` holds
/// exactly those bytes; the time from the write to that moment.
fn time_arrival(from: &Path, to: &Path, text: &[u8]) -> Result<Duration> {
    let dir = from.parent().context("a note's folder")?;
    fs::create_dir_all(dir)?;
    let temp = dir.join(".bench-save.tmp");
    let start = Instant::now();
    {
        let mut f = fs::File::create(&temp)?;
        f.write_all(text)?;
    }
    fs::rename(&temp, from)?;
    loop {
        if fs::read(to).is_ok_and(|got| got == text) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > ARRIVAL_LIMIT {
            bail!(
                "`{}` did not arrive as `{}` within {ARRIVAL_LIMIT:?}",
                from.display(),
                to.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Wait until the vault's agent reports a finished round and nothing pending.
fn wait_idle(lab: &Lab, vault: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        let out = lab
            .syncd(&[
                "status".as_ref(),
                "--vault".as_ref(),
                vault.as_os_str(),
                "--json".as_ref(),
            ])
            .output()?;
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            let agent = &v["agent"];
            if agent["state"] == "idle" && agent["pending"] == false {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!(
                "the agent of `{}` did not become idle: {}",
                vault.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it start past the ')'.
    let rest = stat.rsplit_once(')').context("/proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is at index N - 3.
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    Ok(utime + stime)
}

/// VmRSS and VmHWM of a process, in KiB.
pub fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    Ok((status_kib(pid, "VmRSS:")?, status_kib(pid, "VmHWM:")?))
}

/// One `name: N kB` field of `/proc/PID/status`, in KiB.
pub fn status_kib(pid: u32, name: &str) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .with_context(|| format!("{name} in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("a number")?
        .parse()?)
}

pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stderr: String,
}

pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Result<Finished> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{input}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    Ok(Finished {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A long-running child (the server, an agent) whose stderr is copied to a log file and
/// watched line by line.
pub struct Process {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl Process {
    pub fn spawn(cmd: &mut Command, log: &Path) -> Result<Process> {
        let mut child = cmd
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut file = fs::File::create(log)?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                let _ = tx.send(line);
            }
        });
        Ok(Process {
            child,
            lines,
            log: log.to_path_buf(),
        })
    }

    pub fn wait_for_line(&self, text: &str, limit: Duration) -> Result<String> {
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return Ok(line),
                Ok(_) => {}
                Err(_) => bail!(
                    "no line with {text:?} within {limit:?}; see `{}`",
                    self.log.display()
                ),
            }
        }
    }

    /// SIGTERM, and an error unless it exits 0 within 30 s.
    pub fn stop(mut self) -> Result<()> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait()? {
                ensure!(
                    status.success(),
                    "a benchmark process exited with {status}; see `{}`",
                    self.log.display()
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        bail!(
            "a benchmark process ignored SIGTERM; see `{}`",
            self.log.display()
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl crate::report::Figures for AgentFigures {
    fn warnings(&self) -> Vec<String> {
        AgentFigures::warnings(self)
    }

    fn json(&self, warnings: &[String]) -> Value {
        AgentFigures::json(self, warnings)
    }

    fn table(&self) -> String {
        AgentFigures::table(self)
    }
}
