//! The hub protocol as a trait. One sync algorithm ([`crate::sync`]) runs against any hub: the
//! folder hub in [`crate::folder_hub`], and the HTTP hub in `syncd` (a `vault-server`).
//!
//! Rules every implementation keeps (the conformance tests in `folder_hub` check them):
//! - `put` stores the objects durably before returning, as one pack (one write, not one per
//!   object); objects it already has are skipped.
//! - `get` returns each requested object with its kind; it never invents bytes, but callers
//!   still verify every object against its id ([`crate::object::verify`]), since a hub may be
//!   damaged or hostile.
//! - `cas_head(old, new)` moves `head` only if it is still `old`, atomically with respect to
//!   every other writer of the same hub, and only if the hub holds `new` and everything it
//!   references. It may check only what `new` adds to `old` (which was checked when it became
//!   head): checking a whole vault after every edit would cost more than the edit.
//! - `get` of an object whose stored copy is damaged fails with [`HubError::Damaged`] naming
//!   every damaged id of the request (and only those), so a caller can ask again without them;
//!   `put` of an object the hub holds only a damaged copy of stores the good copy, which the
//!   hub serves from then on.
//! - `tree_hash` is computed by the hub from its own data: it re-hashes the trees reachable from
//!   `head` and checks that every blob they name is present (or remembers doing so for this
//!   head); `verify_tree` does it again from scratch and re-hashes every blob's bytes too,
//!   failing with [`HubError::Missing`] or [`HubError::Damaged`] naming what it found.

use crate::id::ObjectId;
use crate::object::{Object, ObjectError};

/// Result of a compare-and-swap of the hub's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// `head` now points at the new snapshot.
    Updated,
    /// Someone else moved `head` first; it is now `actual`.
    Conflict { actual: Option<ObjectId> },
}

/// Why a hub operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error("hub at `{hub}`: {source}")]
    Io {
        hub: String,
        #[source]
        source: crate::fsutil::PathIoError,
    },
    #[error(
        "`{0}` is not a Vault Sync hub (it is a non-empty folder without `vault-hub.json`); choose an empty or new folder"
    )]
    NotAHub(String),
    #[error(
        "hub at `{hub}` uses format {found}, this syncd understands formats up to {supported}; upgrade syncd"
    )]
    UnsupportedFormat {
        hub: String,
        found: u32,
        supported: u32,
    },
    #[error("hub at `{hub}` lacks {} object(s), first {}; run `syncd sync` on a device that has them to repair it", .ids.len(), .ids.first().map(|i| i.short()).unwrap_or_default())]
    Missing { hub: String, ids: Vec<ObjectId> },
    #[error("hub at `{hub}` holds damaged data: {detail}")]
    Corrupt { hub: String, detail: String },
    /// The hub's copies of these objects are damaged (their bytes no longer hash to their
    /// ids). Each fails only what needs it: storing a good copy again (`put`) repairs it.
    #[error("hub at `{hub}` holds damaged copies of {} object(s), first {}; `syncd sync --full-verify` on a device that has them stores good copies", .ids.len(), .ids.first().map(|i| i.short()).unwrap_or_default())]
    Damaged { hub: String, ids: Vec<ObjectId> },
    #[error("hub at `{hub}` refused the new head: {detail}")]
    Refused { hub: String, detail: String },
    #[error(
        "hub at `{hub}` is locked by another writer (`{lock}`); if no sync is running, delete that file"
    )]
    Locked { hub: String, lock: String },
    #[error("hub at `{hub}` cannot be reached: {detail}")]
    Unreachable { hub: String, detail: String },
    /// The connection could not be made secure (the server's certificate is not trusted,
    /// expired, for another name, or the port does not speak TLS). Not transient: it stays so
    /// until someone changes a certificate or a setting, which `detail` names.
    #[error("cannot connect securely to the hub at `{hub}`: {detail}")]
    Insecure { hub: String, detail: String },
    #[error("hub at `{hub}` refused this device: {detail}")]
    Unauthorized { hub: String, detail: String },
    #[error("hub at `{hub}` answered something this syncd does not understand: {detail}")]
    Protocol { hub: String, detail: String },
    #[error("hub at `{hub}` refused the request: {detail}")]
    Rejected { hub: String, detail: String },
    #[error(transparent)]
    Object(#[from] ObjectError),
}

impl HubError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HubError::Io { .. } | HubError::Locked { .. } | HubError::Unreachable { .. }
        )
    }
}

/// A place where a vault's history lives and devices meet.
pub trait Hub {
    /// Where the hub is, for messages (a folder path or a URL).
    fn describe(&self) -> String;
    /// The current head snapshot, or `None` for a new, empty hub.
    fn head(&self) -> Result<Option<ObjectId>, HubError>;
    /// Which of `ids` the hub does not hold.
    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError>;
    /// Store `objects` durably (as one pack).
    fn put(&self, objects: &[Object]) -> Result<(), HubError>;
    /// Fetch objects; fails with [`HubError::Missing`] if any is absent.
    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError>;
    /// Move head from `old` to `new` if it is still `old`.
    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError>;
    /// The root tree id of `snapshot`, verified from the hub's own data: every object under
    /// it is there ([`HubError::Missing`] names those that are not). With `full`, computed
    /// from scratch, trusting nothing the hub remembers, every object's bytes re-hashed, blobs
    /// included (for `syncd verify` and `--full-verify`). A round verifies the snapshot it
    /// settled on, not whatever head another device has published since: a device following a
    /// busy hub would otherwise never finish a round.
    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError>;
    /// [`Hub::tree_of`] the head; `None` for an empty hub.
    fn tree_hash(&self) -> Result<Option<ObjectId>, HubError> {
        self.head()?.map(|h| self.tree_of(h, false)).transpose()
    }
    /// [`Hub::tree_hash`] computed from scratch (see `full` in [`Hub::tree_of`]).
    fn verify_tree(&self) -> Result<Option<ObjectId>, HubError> {
        self.head()?.map(|h| self.tree_of(h, true)).transpose()
    }
    /// The hub's clock, in nanoseconds since the Unix epoch (for the clock-skew check).
    fn time_ns(&self) -> Result<i64, HubError>;
    /// Housekeeping after a round moved head: a folder hub merges its packs when it has many
    /// (`crate::hub_gc`); a server does that by itself. Never fails the round.
    fn after_publish(&self) {}
    /// Start storing one upload's objects batch after batch (a large file's chunks): the hub
    /// may gather them into fewer, larger writes than one [`Hub::put`] each. By default every
    /// batch is one `put`.
    fn put_stream(&self) -> Box<dyn PutStream + '_> {
        Box::new(PutEach(self))
    }
}

/// The objects of one upload, stored batch after batch ([`Hub::put_stream`]). Each object
/// comes with the id its writer computed from these very bytes (a hub that trusts its writer,
/// a folder on this machine, need not hash them again; every read re-hashes anyway).
///
/// What was put is durable once [`PutStream::finish`] returns; some of it may be earlier, so
/// an upload cut off midway keeps part of what it sent. Objects become visible to
/// [`Hub::missing`] and [`Hub::get`] only once durable: put what refers to them (lists,
/// trees, snapshots) after `finish`.
pub trait PutStream {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError>;
    fn finish(self: Box<Self>) -> Result<(), HubError>;
}

/// The default [`PutStream`]: one [`Hub::put`] per batch.
pub(crate) struct PutEach<'a, H: ?Sized>(pub(crate) &'a H);

impl<H: Hub + ?Sized> PutStream for PutEach<'_, H> {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError> {
        let objects: Vec<Object> = objects.into_iter().map(|(_, o)| o).collect();
        self.0.put(&objects)
    }

    fn finish(self: Box<Self>) -> Result<(), HubError> {
        Ok(())
    }
}
