//! The `syncd` command line: a thin shell over the `vault` library. Commands live in
//! [`commands`], one module per command family; everything they print goes through [`output`].
//! Errors are `anyhow` chains with context here; the library's own errors say what happened,
//! to which path, and what to do.

pub mod agent;
mod cli;
mod commands;
pub mod http_hub;
mod output;
mod progress;
mod progress_count;
pub mod tls_explain;
pub mod tls_verify;
#[cfg(feature = "tray")]
mod tray;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Exit codes, as `syncd --help` documents them.
pub mod exit {
    pub const OK: u8 = 0;
    /// Any error; the message says what to do.
    pub const ERROR: u8 = 1;
    /// Verification failed: the folder and the hub differ.
    pub const DIFFERS: u8 = 2;
    /// The round completed, but some paths were skipped, or a folder's deletions held back,
    /// and need the user (`sync`: the report lists them, each with what to do).
    pub const SKIPPED: u8 = 3;
    /// Bad arguments.
    pub const USAGE: u8 = 64;
}

/// Run `syncd` with the process's arguments.
pub fn main() -> ExitCode {
    tune_malloc();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version requests go to stdout and succeed.
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    // The agent reports what it does as it goes; one-shot commands print a summary instead.
    let default_level = match cli.command {
        cli::Command::Watch(_) => "info",
        // Progress lines of a long round are the exception: they say the command is alive.
        _ => "warn,syncd::progress=info",
    };
    init_tracing(default_level);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(exit_code_of(&e))
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: `default_level` and above).
fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn exit_code_of(err: &anyhow::Error) -> u8 {
    let verify_failed = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<vault::sync::SyncError>(),
            Some(vault::sync::SyncError::VerifyFailed { .. })
        )
    });
    if verify_failed {
        exit::DIFFERS
    } else {
        exit::ERROR
    }
}

/// Keep the chunks of large files (64 KiB - 1 MiB, a batch of them at a time) on the heap:
/// by default glibc maps each allocation above 128 KiB on its own and unmaps it when freed, so
/// every chunk of a download paid fresh page faults (a 1 GiB download spent 40% of its time
/// faulting pages in: 3.2 s, 2.0 s with these). Freed memory returns to the system once 16 MiB
/// of it sit at the heap's top, so an idle agent keeps little. One arena for every thread:
/// each of the scan's, the stat cache's and the upload's threads otherwise got its own, whose
/// free memory the others could not reuse (a first upload of 100,000 notes peaked 15 MiB
/// higher, no faster on 2 cores).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
