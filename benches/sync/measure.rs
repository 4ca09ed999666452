//! Running one child process and measuring it: wall time from spawn to reap, and its peak
//! resident memory from `wait4`'s `rusage` (the child's own, and that of any of its children it
//! waited for, as Linux reports it).

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

    /// Run `cmd` to its end, timed from spawn to reap. An exit code other than 0 is not an error
    /// here (see [`Proc::ok`]); failing to start it is.
    pub fn run(&self, mut cmd: Command) -> Result<Proc> {
        let what = describe(&cmd);
        let out_path = self.logs.join("stdout");
        let err_path = self.logs.join("stderr");
        let out = File::create(&out_path).context("creating the stdout log")?;
        let err = File::create(&err_path).context("creating the stderr log")?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);

        let start = Instant::now();
        // Reaped below by wait4, which std's `Child::wait` cannot do: it drops the rusage.
        #[allow(clippy::zombie_processes)]
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start `{what}`"))?;
        let (status, usage) = wait4(child.id())?;
        let wall = start.elapsed();

        let code = if libc::WIFEXITED(status) {
            Some(libc::WEXITSTATUS(status))
        } else {
            None
        };
        Ok(Proc {
            what,
            wall,
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
            code,
            stdout: read_lossy(&out_path)?,
            stderr: read_lossy(&err_path)?,
        })
    }

    /// [`Runner::run`], then [`Proc::ok`].
    pub fn run_ok(&self, cmd: Command) -> Result<Proc> {
        self.run(cmd)?.ok()
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
