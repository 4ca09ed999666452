//! The Vault Sync core: everything about one vault and its history, with no networking.
//!
//! Pure decisions (path rules, ignore rules, reconcile, revision names) take data and return
//! data; I/O happens at the edges (`scan`, `apply`, `store`, `folder_hub`, `sync`). See
//! `docs/architecture.md` for the map.

pub mod apply;
pub mod content;
pub mod crash_hook;
pub mod duration;
pub mod filestat;
pub mod folder_hub;
pub mod folders;
pub mod fsck;
pub mod fsutil;
pub mod history;
pub mod hub;
pub mod hub_copy;
pub mod hub_gc;
pub mod hub_write;
pub mod id;
pub mod ignore_rules;
pub mod local;
pub mod markdown;
pub mod object;
pub mod paths;
pub mod progress;
pub mod reconcile;
pub mod refs;
pub mod restore;
pub mod retention;
pub mod revisions;
pub mod scan;
pub mod statcache;
pub mod store;
pub mod sync;
pub mod tasks;
#[cfg(test)]
mod test_bytes;
#[cfg(test)]
mod test_hub;
pub mod vfs;
pub mod wire;

pub use hub::{CasOutcome, Hub, HubError};
pub use id::ObjectId;
pub use object::{FileMeta, FlatTree, Kind, Object};
pub use paths::VaultPath;
