//! Running one child process and measuring it: wall time from spawn to reap, and its peak
//! resident memory from `wait4`'s `rusage` (the child's own, and that of any of its children it
//! waited for, as Linux reports it).
//!
//! Linux carries a parent's memory into a child's `ru_maxrss` across `exec` (the peak of the
//! address space the child started from: the parent's high-water mark for a `vfork`/
//! `posix_spawn`, its current size for a `fork`). The benchmark process itself grows (the
//! generator, the file comparisons), so it never starts a measured program itself: it starts a
//! copy of itself as a small launcher (`--vault-bench-launch`), which spawns the program, times
//! it, reaps it with `wait4` and writes what it measured to a file. A measured peak is
//! therefore at least the launcher's own (about the size of a child running `true`, printed in
//! the header), never the benchmark's.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One finished child process.
#[derive(Debug)]
pub struct Proc {
    pub what: String,
    pub wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
    /// The exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Proc {
    /// The process, or an error with what it printed unless it exited 0.
    pub fn ok(self) -> Result<Proc> {
        if self.code == Some(0) {
            return Ok(self);
        }
        bail!(
            "`{}` {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            match self.code {
                Some(code) => format!("exited {code}"),
                None => "was killed by a signal".to_string(),
            },
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// The last lines of a long output.
fn tail(text: &str) -> &str {
    const KEEP: usize = 4000;
    if text.len() <= KEEP {
        return text;
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Where children's stdout and stderr go while they run (files, not pipes, so that nothing
/// has to be read concurrently while a child is timed).
pub struct Runner {
    logs: PathBuf,
}

impl Runner {
    pub fn new(logs: &Path) -> Result<Runner> {
        std::fs::create_dir_all(logs)
            .with_context(|| format!("cannot create `{}`", logs.display()))?;
        Ok(Runner {
            logs: logs.to_path_buf(),
        })
    }

    /// Run `cmd` to its end, timed from spawn to reap (by the launcher). An exit code other
    /// than 0 is not an error here (see [`Proc::ok`]); failing to start it is.
    pub fn run(&self, cmd: Command) -> Result<Proc> {
        let what = describe(&cmd);
        let out_path = self.logs.join("stdout");
        let err_path = self.logs.join("stderr");
        let report_path = self.logs.join("measured");
        let out = File::create(&out_path).context("creating the stdout log")?;
        let err = File::create(&err_path).context("creating the stderr log")?;
        let _ = std::fs::remove_file(&report_path);

        let mut launcher = Command::new(std::env::current_exe().context("locating the bench")?);
        launcher
            .arg(LAUNCH)
            .arg(&report_path)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => launcher.env(key, value),
                None => launcher.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            launcher.current_dir(dir);
        }
        let status = launcher
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .with_context(|| format!("cannot start the launcher for `{what}`"))?;
        let stderr = read_lossy(&err_path)?;
        let measured = std::fs::read_to_string(&report_path).unwrap_or_default();
        let fields: Vec<u64> = measured
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [wall_ns, max_rss_kib, exited, code] = fields[..] else {
            bail!("cannot start `{what}` ({status}):\n{}", tail(&stderr));
        };
        Ok(Proc {
            what,
            wall: Duration::from_nanos(wall_ns),
            max_rss_kib,
            code: (exited == 1).then(|| i32::try_from(code).unwrap_or(-1)),
            stdout: read_lossy(&out_path)?,
            stderr,
        })
    }

    /// [`Runner::run`], then [`Proc::ok`].
    pub fn run_ok(&self, cmd: Command) -> Result<Proc> {
        self.run(cmd)?.ok()
    }
}

/// The first argument that makes the bench a launcher: `LAUNCH REPORT PROGRAM ARGS...`.
pub const LAUNCH: &str = "--vault-bench-launch";

/// The launcher: run PROGRAM ARGS (inheriting stdio, environment and folder), time it from
/// spawn to reap, and write `wall_ns max_rss_kib exited code` to REPORT (`exited` 1 and the
/// exit code, or 0 and the signal).
pub fn launcher(args: &[OsString]) -> std::process::ExitCode {
    let [report, program, rest @ ..] = args else {
        eprintln!("usage: {LAUNCH} REPORT PROGRAM [ARGS...]");
        return std::process::ExitCode::from(64);
    };
    let measured = (|| -> Result<String> {
        let start = Instant::now();
        // Reaped by wait4, which std's `Child::wait` cannot do: it drops the rusage.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(program)
            .args(rest)
            .spawn()
            .with_context(|| format!("cannot start `{}`", program.to_string_lossy()))?;
        let (status, usage) = wait4(child.id())?;
        let wall = start.elapsed();
        let (exited, code) = if libc::WIFEXITED(status) {
            (1, libc::WEXITSTATUS(status))
        } else {
            (0, libc::WTERMSIG(status))
        };
        Ok(format!(
            "{} {} {exited} {code}\n",
            wall.as_nanos(),
            usage.ru_maxrss
        ))
    })();
    match measured.and_then(|text| Ok(std::fs::write(report, text)?)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Wait for the child `pid` and take its status and resource usage.
fn wait4(pid: u32) -> Result<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).context("a child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes; `pid` is our own unreaped child.
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            return Ok((status, usage));
        }
        let err = io::Error::last_os_error();
        if got == -1 && err.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return Err(err).context("wait4 on a child process");
    }
}

fn read_lossy(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `program arg arg …` for messages.
fn describe(cmd: &Command) -> String {
    let mut text = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The times of the runs of one figure, and what they are summarised as.
#[derive(Debug, Clone, Default)]
pub struct Times(pub Vec<Duration>);

impl Times {
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }

    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }

    /// The middle run (the mean of the two middle ones for an even count).
    pub fn median(&self) -> Duration {
        let v = self.sorted();
        match v.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2,
        }
    }
}

/// Flush every dirty page to disk (untimed, before each timed side).
pub fn settle_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Milliseconds, for the JSON figures.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Three decimals, for ratios in the JSON figures.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `min / median / max` in one unit, chosen by the median.
pub fn span(t: &Times) -> String {
    let med = t.median();
    let (unit, scale) = if med >= Duration::from_secs(1) {
        ("s", 1.0)
    } else {
        ("ms", 1000.0)
    };
    let f = |d: Duration| format!("{:.1}", d.as_secs_f64() * scale);
    format!("{} / {} / {} {unit}", f(t.min()), f(med), f(t.max()))
}
