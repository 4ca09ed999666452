//! A file's content as objects: one blob for a small file, content-defined chunks for a large one.
//!
//! A file's id is a pure function of its bytes, so every device names the same bytes the same
//! way without asking anyone:
//! - below [`CHUNKED_FROM`] bytes, the id is blake3 of the bytes (the file is one blob);
//! - from [`CHUNKED_FROM`] on, the bytes are cut by FastCDC ([`chunker`]) into chunks (blobs),
//!   listed by a [`Kind::Chunks`] object ([`list`]), and the id is that list's id.
//!
//! Why: an edit inside a large file changes one or two chunks, so only those (and a small
//! list) travel and are stored; identical chunks in other files and versions are stored once;
//! and no code path needs a whole large file in memory: it is read and written chunk by chunk
//! ([`read::write_content`]). The list is split in two levels for very large files (groups of
//! chunks whose boundaries depend on the chunks' ids, so an edit changes one group and the top),
//! which keeps what an edit stores small whatever the file's size.
//!
//! Readers never rely on the size rule: the kind of the object an id names says how to read it,
//! so a large file an older version stored whole (as one blob) reads as before.

pub mod chunker;
pub mod list;
pub mod owners;
pub mod parallel;
pub mod read;
pub mod sink;
pub mod whole;

pub use chunker::{Chunk, ChunkRef, Chunker, ContentPlan, content_id, plan_reader};
pub use list::{ChunkList, Level, ListError, Piece};
pub use parallel::{plan_file, plan_file_handing_on};
pub use read::{Fetch, ReadError, content_ids, write_content};
pub use sink::{ChunkSink, NoSink};
pub use whole::objects_of;

use crate::object::Kind;

/// Files of at least this many bytes are chunked; smaller files are one blob. Part of the
/// format: changing it would change the ids of files, so it never changes.
pub const CHUNKED_FROM: u64 = 1 << 20;

/// FastCDC's minimum, average and maximum chunk sizes (normalisation level 1, the crate's
/// default gear table). Part of the format like [`CHUNKED_FROM`]. Chosen by measurement
/// (docs/performance.md, "Large files"): 256 KiB on average keeps a one-byte edit of a 1 GB
/// file well under 1 MiB sent (the chunk plus a group list of ~18 KiB), while 1 GB is only
/// about 4,000 chunks (200 KiB of pack headers).
pub const MIN_CHUNK: usize = 64 << 10;
pub const AVG_CHUNK: usize = 256 << 10;
pub const MAX_CHUNK: usize = 1 << 20;

/// A group of chunks ends after a chunk whose id starts with a zero byte (1 in 256 on
/// average), or at this many chunks.
pub const GROUP_MAX: usize = 1024;

/// What a reader accepts (hostile hubs): chunks up to 16 MiB (other writers may choose larger
/// chunks, memory stays bounded) and lists of up to 65,536 entries (about 5 MiB of text).
pub const MAX_PIECE_ACCEPTED: u64 = 16 << 20;
pub const MAX_LIST_ENTRIES: usize = 1 << 16;

/// Whether `kind` can be the object a file's id names.
pub fn is_file_kind(kind: Kind) -> bool {
    matches!(kind, Kind::Blob | Kind::Chunks)
}
