//! A vault's history as a git repository: each snapshot a commit whose tree holds the
//! snapshot's files (large files whole), so `git log -p`, `git blame` and any git tool read
//! the history of the notes.
//!
//! The conversion is a function of the snapshots alone (device, time, parents, files), so the
//! same snapshot becomes the same commit on any device and any run; a second export writes
//! only the snapshots that are new since ([`map`]). Every object and ref is written with
//! gix; nothing here runs `git`.

mod changes;
pub mod dumb;
pub mod export;
pub mod map;
pub mod notes;
pub mod pack;
mod trees;

pub use export::{ExportOptions, ExportProgress, ExportReport, export, export_with_progress};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Hub(#[from] vault::hub::HubError),
    #[error("reading the vault's history: {0}")]
    History(String),
    #[error(
        "`{0}` is not an empty folder nor a git repository an earlier export made; choose a new folder"
    )]
    NotExport(std::path::PathBuf),
    #[error("writing the git repository `{path}`: {detail}")]
    Git {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("writing `{path}`: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
