//! A running `syncd watch` for the agent tests: spawned on a device, its log collected, stopped
//! with a signal.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Device;

pub struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// `syncd watch --vault <device>`, logging at `info`.
    pub fn start(device: &Device) -> Agent {
        Agent::spawn(device.command("watch", &[]))
    }

    /// A `syncd watch` the caller prepared (more options, its environment), logging at `info`.
    pub fn spawn(mut command: Command) -> Agent {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning syncd watch");
        let stderr = child.stderr.take().expect("the agent's stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let agent = Agent { child, log };
        agent.wait_for_log("agent started");
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Wait (up to 30 s) for a log line containing `text`.
    pub fn wait_for_log(&self, text: &str) {
        eventually(Duration::from_secs(30), || {
            self.log().iter().any(|l| l.contains(text))
        })
        .unwrap_or_else(|()| {
            panic!(
                "the agent never logged {text:?}:\n{}",
                self.log().join("\n")
            )
        });
    }

    /// SIGTERM, then its exit status (within 30 s).
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the agent did not stop on SIGTERM:\n{}",
            self.log().join("\n")
        );
    }
}

impl Agent {
    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `check` every 10 ms until it holds (Ok) or `limit` passes (Err).
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> Result<Duration, ()> {
    let start = Instant::now();
    loop {
        if check() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
