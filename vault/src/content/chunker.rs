//! Cutting a file into chunks and naming it, reading it once, in bounded memory.

use std::cell::RefCell;
use std::io::{self, Read};

use fastcdc::v2020::{Normalization, cut, select_masks};

use super::list::{ChunkList, Level, Piece};
use super::{AVG_CHUNK, CHUNKED_FROM, GROUP_MAX, MAX_CHUNK, MIN_CHUNK};
use crate::id::ObjectId;
use crate::object::Object;

/// How much of the file the chunker holds at once: a few maximal chunks, so a cut point is
/// always found inside the window and the bytes moved on a refill stay under one chunk.
const WINDOW: usize = 4 * MAX_CHUNK;

/// One chunk: where it starts in the file and its bytes (valid until the next call).
#[derive(Debug)]
pub struct Chunk<'a> {
    pub offset: u64,
    pub bytes: &'a [u8],
}

/// FastCDC over a reader with a fixed window of [`WINDOW`] bytes.
pub struct Chunker<R> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
    masks: (u64, u64),
}

impl<R: Read> Chunker<R> {
    pub fn new(source: R) -> Self {
        Self::with_prefix(Vec::new(), source)
    }

    /// A chunker whose first bytes were already read into `prefix` (at most [`WINDOW`]).
    pub fn with_prefix(mut prefix: Vec<u8>, source: R) -> Self {
        let end = prefix.len();
        debug_assert!(end <= WINDOW);
        prefix.resize(WINDOW.max(end), 0);
        Chunker {
            source,
            buf: prefix,
            start: 0,
            end,
            offset: 0,
            eof: false,
            masks: select_masks(AVG_CHUNK, Normalization::Level1),
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset + (self.end - self.start) as u64
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end < self.buf.len() {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next chunk, or `None` at the end of the reader.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk<'_>>> {
        if !self.eof && self.end - self.start < MAX_CHUNK {
            self.fill()?;
        }
        let available = &self.buf[self.start..self.end];
        if available.is_empty() {
            return Ok(None);
        }
        let (mask_s, mask_l) = self.masks;
        let (_, len) = cut(
            available,
            MIN_CHUNK,
            AVG_CHUNK,
            MAX_CHUNK,
            mask_s,
            mask_l,
            mask_s << 1,
            mask_l << 1,
        );
        // `cut` returns at least one byte for a non-empty slice; guard anyway, as an endless
        // loop would be the price of a mistake here.
        let len = len.clamp(1, available.len());
        let chunk = Chunk {
            offset: self.offset,
            bytes: &self.buf[self.start..self.start + len],
        };
        self.start += len;
        self.offset += len as u64;
        Ok(Some(chunk))
    }
}

/// Where a chunk of a file lies and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    pub id: ObjectId,
    pub offset: u64,
    pub len: u32,
}

/// What a file's bytes are as objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One blob: the bytes themselves.
    Blob,
    /// Chunks listed by `lists`: the top list first (its id is the file's id), then the groups
    /// (none when the top names the chunks itself).
    Chunked {
        lists: Vec<Object>,
        chunks: Vec<ChunkRef>,
    },
}

/// A file's id and size and how its bytes become objects, from one read of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentPlan {
    pub id: ObjectId,
    pub size: u64,
    pub layout: Layout,
}

/// Collects chunk ids into groups and the top list, in order.
#[derive(Default)]
pub struct ListBuilder {
    group: Vec<Piece>,
    groups: Vec<(Piece, Object)>,
}

impl ListBuilder {
    pub fn push(&mut self, id: ObjectId, len: u64) {
        self.group.push(Piece { id, len });
        if id.as_bytes()[0] == 0 || self.group.len() == GROUP_MAX {
            self.close_group();
        }
    }

    fn close_group(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let list = ChunkList {
            level: Level::Chunks,
            pieces: std::mem::take(&mut self.group),
        };
        let object = list.to_object();
        let piece = Piece {
            id: object.id(),
            len: list.len(),
        };
        self.groups.push((piece, object));
    }

    /// The list objects, top first. `None` if no chunk was pushed.
    pub fn finish(mut self) -> Option<Vec<Object>> {
        self.close_group();
        match self.groups.len() {
            0 => None,
            1 => Some(vec![self.groups.pop()?.1]),
            _ => {
                let top = ChunkList {
                    level: Level::Groups,
                    pieces: self.groups.iter().map(|(p, _)| *p).collect(),
                };
                let mut lists = Vec::with_capacity(self.groups.len() + 1);
                lists.push(top.to_object());
                lists.extend(self.groups.into_iter().map(|(_, o)| o));
                Some(lists)
            }
        }
    }
}

/// The largest buffer [`plan_reader_with`] keeps for the next note on its thread.
const KEPT_HEAD: usize = 256 << 10;

/// Read `source` once and say what its bytes are as objects. `size_hint` (the file's size from
/// its stat) only sizes the first buffer; the bytes read decide.
pub fn plan_reader(source: impl Read, size_hint: u64) -> io::Result<ContentPlan> {
    plan_reader_with(source, size_hint, |_, _| {})
}

/// [`plan_reader`], calling `on_chunk` with each chunk of a large file (its id and bytes) as it
/// is cut.
pub fn plan_reader_with(
    mut source: impl Read,
    size_hint: u64,
    mut on_chunk: impl FnMut(ObjectId, &[u8]),
) -> io::Result<ContentPlan> {
    // A note is read into its thread's reused buffer: a scan hashes thousands of notes on
    // every core, and an allocation for each made the threads take turns on the lock of
    // syncd's one malloc arena (about 60,000 context switches in a first upload of 100,000
    // notes).
    thread_local! {
        static HEAD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let head = HEAD.with_borrow_mut(|head| {
        head.clear();
        head.reserve(size_hint.min(CHUNKED_FROM) as usize + 1);
        let read = (&mut source).take(CHUNKED_FROM).read_to_end(head);
        let outcome = match read {
            Ok(_) if (head.len() as u64) < CHUNKED_FROM => Ok(Err(ContentPlan {
                id: ObjectId::of(head),
                size: head.len() as u64,
                layout: Layout::Blob,
            })),
            // A large file's first bytes go with it.
            Ok(_) => Ok(Ok(std::mem::take(head))),
            Err(e) => Err(e),
        };
        // One a few large notes grew is not kept.
        if head.capacity() > KEPT_HEAD {
            *head = Vec::new();
        }
        outcome
    })?;
    let head = match head {
        Ok(head) => head,
        Err(blob) => return Ok(blob),
    };
    let mut chunker = Chunker::with_prefix(head, source);
    let mut chunks = Vec::new();
    while let Some(chunk) = chunker.next_chunk()? {
        let id = ObjectId::of(chunk.bytes);
        on_chunk(id, chunk.bytes);
        chunks.push(ChunkRef {
            id,
            offset: chunk.offset,
            len: chunk.bytes.len() as u32,
        });
    }
    Ok(ContentPlan::chunked(chunks, chunker.bytes_read()))
}

impl ContentPlan {
    /// The plan of a file of `size` bytes (at least [`CHUNKED_FROM`]) cut into `chunks`.
    pub fn chunked(chunks: Vec<ChunkRef>, size: u64) -> ContentPlan {
        let mut builder = ListBuilder::default();
        for c in &chunks {
            builder.push(c.id, u64::from(c.len));
        }
        let lists = builder
            .finish()
            .expect("at least CHUNKED_FROM bytes make at least one chunk");
        ContentPlan {
            id: lists[0].id(),
            size,
            layout: Layout::Chunked { lists, chunks },
        }
    }
}

/// The id of the bytes of `source` and how many were read (what `scan` records for a file).
pub fn content_id(source: impl Read, size_hint: u64) -> io::Result<(ObjectId, u64)> {
    let plan = plan_reader(source, size_hint)?;
    Ok((plan.id, plan.size))
}

#[cfg(test)]
mod tests;
