//! How far a long round has got, for whoever shows it (a progress bar, log lines). The library
//! only counts; drawing and deciding when to say something is the caller's business.
//!
//! A round tells its observer when a [`Phase`] begins (with what it will do, when the plan
//! knows that up front), what each step did, and when the phase ends. Calls come once per
//! object, file or batch, from whichever thread did the work, so an observer must be cheap and
//! thread-safe (atomic counters, or a short lock); it is never asked for anything, so it cannot
//! change what the round does.

/// The parts of a round that can take long, in the order a round runs them. Downloading and
/// applying overlap when nothing is deleted (apply fetches the next batch while it writes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The hashing of the files the stat cache cannot vouch for (files, bytes read). It begins
    /// once the walk has found them, with their count and size as its total.
    Scanning,
    /// Blobs the plan writes that no local file holds (objects, bytes received).
    Downloading,
    /// The plan's actions on the folder (actions handled, bytes written).
    Applying,
    /// Objects the hub lacks: blobs, trees and the snapshot (objects, bytes sent).
    Uploading,
}

impl Phase {
    /// Every phase, in [`Phase::index`] order.
    pub const ALL: [Phase; 4] = [
        Phase::Scanning,
        Phase::Downloading,
        Phase::Applying,
        Phase::Uploading,
    ];

    /// A small index, so observers can keep per-phase state in an array.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A count of items (files, objects, actions) and of their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub items: u64,
    pub bytes: u64,
}

impl Amount {
    pub fn new(items: u64, bytes: u64) -> Amount {
        Amount { items, bytes }
    }
}

/// Receives a round's progress. `Debug` so that [`crate::sync::SyncOptions`] stays `Debug`.
///
/// The counts of a phase start at zero at each [`Progress::begin`] (a round that starts over
/// begins its phases again). `done` may pass `total` in rare cases (a local copy that changed
/// and had to be downloaded after all); observers should then treat `done` as the total.
/// A round that fails part-way does not end its phase: the caller knows when the round ended.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// `phase` starts; `total` is all it will do, when known up front.
    fn begin(&self, phase: Phase, total: Option<Amount>);
    /// `done` more of `phase` happened.
    fn advance(&self, phase: Phase, done: Amount);
    /// `phase` is over.
    fn end(&self, phase: Phase);
}

/// The observer of a round that has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: Phase, _: Option<Amount>) {}
    fn advance(&self, _: Phase, _: Amount) {}
    fn end(&self, _: Phase) {}
}
