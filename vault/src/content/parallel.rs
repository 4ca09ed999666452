//! Cutting and hashing one large file on every core, with exactly the chunks one pass makes.
//!
//! Why: one pass over a 1 GiB file costs about 0.7 s of FastCDC's gear hash and 0.35 s of
//! blake3 on one core here, the largest part of uploading it; the scan runs it before anything
//! else can start.
//!
//! How: the file is split into segments (starts aligned to [`MAX_CHUNK`]), and each segment is
//! cut and hashed on its own as if a chunk began at its start. Content-defined cut points
//! depend only on where the current chunk began and the bytes after it, so the one-pass
//! sequence of chunks and a segment's meet at the first cut point they share and are the same
//! from there on. Stitching walks the segments in order: where the sequence so far ends at a
//! chunk start of the next segment, that segment's chunks follow as they are; otherwise the
//! file is cut from where the sequence ends, one chunk at a time, until it reaches one of the
//! segment's chunk starts (for noise, within a chunk or two; at worst, through the segment,
//! which is what one pass costs). The result is the one-pass result, whatever the data.

use crate::vfs::File;
use std::io::{self, Read};

use rayon::prelude::*;

use super::MAX_CHUNK;
use super::chunker::{ChunkRef, Chunker, ContentPlan, plan_reader, plan_reader_with};
use super::sink::{ChunkSink, NoSink};
use crate::id::ObjectId;

/// Files from this size on are cut on several cores (smaller ones gain too little for the
/// stitching and the threads).
pub const PARALLEL_FROM: u64 = 64 << 20;

/// Segments are at least this long, so stitching (a chunk or two per segment) stays a small
/// part of the work.
const MIN_SEGMENT: u64 = 32 << 20;

/// A reader of `file` from `pos` on, by positioned reads (the file's own offset is not used,
/// so several readers share one open file).
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The chunks of `file` from `start` on, as if a chunk began there, until one ends at or after
/// `end` (or the file ends). They are handed to `sink` (while it is open), except the first of
/// a segment that does not start the file: that one is seldom a chunk of the one-pass plan
/// (stitching replaces it), and the plan's chunks a sink misses are sent by the upload.
fn cut_segment(
    file: &File,
    start: u64,
    end: u64,
    sink: &dyn ChunkSink,
) -> io::Result<Vec<ChunkRef>> {
    let mut chunker = Chunker::new(ReadAt { file, pos: start });
    let mut chunks = Vec::new();
    while let Some(chunk) = chunker.next_chunk()? {
        let offset = start + chunk.offset;
        let len = chunk.bytes.len() as u64;
        let id = ObjectId::of(chunk.bytes);
        if (start == 0 || !chunks.is_empty()) && sink.open() {
            sink.take(id, chunk.bytes);
        }
        chunks.push(ChunkRef {
            id,
            offset,
            len: len as u32,
        });
        if offset + len >= end {
            break;
        }
    }
    Ok(chunks)
}

/// Where segments start: 0, then every `segment` bytes (a multiple of [`MAX_CHUNK`]).
fn segment_starts(size: u64, segment: u64) -> Vec<u64> {
    (0..size.div_ceil(segment)).map(|i| i * segment).collect()
}

/// Cut `file` from `cursor` on as one pass would, appending to `out`, until `enough` says so
/// of the end of the last chunk (or the file ends); returns that end.
fn cut_from(
    file: &File,
    mut cursor: u64,
    out: &mut Vec<ChunkRef>,
    mut enough: impl FnMut(u64) -> bool,
) -> io::Result<u64> {
    let mut chunker = Chunker::new(ReadAt { file, pos: cursor });
    while let Some(chunk) = chunker.next_chunk()? {
        let len = chunk.bytes.len() as u64;
        out.push(ChunkRef {
            id: ObjectId::of(chunk.bytes),
            offset: cursor,
            len: len as u32,
        });
        cursor += len;
        if enough(cursor) {
            break;
        }
    }
    Ok(cursor)
}

/// The one-pass chunk sequence from the segments' own sequences (see the module docs).
fn stitch(file: &File, segments: Vec<Vec<ChunkRef>>) -> io::Result<Vec<ChunkRef>> {
    let mut out: Vec<ChunkRef> = Vec::new();
    let end_of = |out: &[ChunkRef]| out.last().map_or(0, |c| c.offset + u64::from(c.len));
    for segment in segments {
        let cursor = end_of(&out);
        let Some(last) = segment.last() else { continue };
        let last_end = last.offset + u64::from(last.len);
        if cursor >= last_end {
            continue;
        }
        // Cut from where the sequence ends until it meets one of the segment's chunk starts.
        let join = |at: u64| segment.binary_search_by_key(&at, |c| c.offset).ok();
        let mut meet = join(cursor);
        if meet.is_none() && cursor >= segment[0].offset {
            cut_from(file, cursor, &mut out, |end| {
                meet = join(end);
                meet.is_some() || end >= last_end
            })?;
        }
        if let Some(at) = meet {
            out.extend_from_slice(&segment[at..]);
        }
    }
    // The last segment ran to the end of the file; only a file that grew while it was read
    // (which the scan notices by its stat) can have more: cut that as one pass would.
    let cursor = end_of(&out);
    cut_from(file, cursor, &mut out, |_| false)?;
    Ok(out)
}

/// [`plan_reader`] of `file` (read from its start, by positioned reads), on several cores when
/// it has at least [`PARALLEL_FROM`] bytes; the same plan either way.
pub fn plan_file(file: &File, size_hint: u64) -> io::Result<ContentPlan> {
    plan_file_handing_on(file, size_hint, &NoSink)
}

/// [`plan_file`], handing the chunks it cuts to `sink` (while the sink is open): in one pass,
/// all of them; cut on several cores, all but the first of each segment after the first,
/// which stitching seldom keeps (so what a sink takes is the plan's chunks, and rarely one
/// more: an unreachable chunk on the hub, until gc).
pub fn plan_file_handing_on(
    file: &File,
    size_hint: u64,
    sink: &dyn ChunkSink,
) -> io::Result<ContentPlan> {
    let threads = rayon::current_num_threads() as u64;
    if size_hint < PARALLEL_FROM || threads < 2 {
        return plan_reader_with(ReadAt { file, pos: 0 }, size_hint, |id, bytes| {
            if sink.open() {
                sink.take(id, bytes);
            }
        });
    }
    // Four segments a thread, so a thread busy with other files delays little of this one.
    let segment = size_hint
        .div_ceil(threads * 4)
        .max(MIN_SEGMENT)
        .next_multiple_of(MAX_CHUNK as u64);
    plan_segmented(file, size_hint, segment, sink)
}

/// [`plan_file`] with segments of `segment` bytes (a multiple of [`MAX_CHUNK`]).
fn plan_segmented(
    file: &File,
    size_hint: u64,
    segment: u64,
    sink: &dyn ChunkSink,
) -> io::Result<ContentPlan> {
    let starts = segment_starts(size_hint, segment);
    let segments = starts
        .par_iter()
        .map(|&start| cut_segment(file, start, start + segment, sink))
        .collect::<io::Result<Vec<_>>>()?;
    let chunks = stitch(file, segments)?;
    let size = chunks.last().map_or(0, |c| c.offset + u64::from(c.len));
    if size < super::CHUNKED_FROM {
        // Shrunk while it was read: read it again as one pass would.
        return plan_reader(ReadAt { file, pos: 0 }, size);
    }
    Ok(ContentPlan::chunked(chunks, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::test_bytes::noise;

    fn file_of(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        File::from(f)
    }

    /// Segments of 1, 2 and 3 MiB over files of many shapes give exactly the one-pass plan.
    #[test]
    fn segmented_plans_equal_the_one_pass_plan() {
        let mib = 1 << 20;
        let mut cases: Vec<Vec<u8>> = vec![
            noise(9 * mib + 12_345, 1),
            noise(2 * mib, 2),
            vec![0; 7 * mib + 3],
        ];
        // Zeros (cut at the maximum) between noise, so segments start inside runs of them.
        let mut mixed = noise(3 * mib + 777, 3);
        mixed.extend(vec![0u8; 5 * mib + 1]);
        mixed.extend(noise(4 * mib, 4));
        cases.push(mixed);
        // A repeated block: the same chunks again and again.
        cases.push(noise(700_000, 5).repeat(12));
        for bytes in &cases {
            let file = file_of(bytes);
            let want = plan_reader(&bytes[..], bytes.len() as u64).unwrap();
            for segment in [1, 2, 3] {
                let got = plan_segmented(&file, bytes.len() as u64, segment * mib as u64, &NoSink)
                    .unwrap();
                assert_eq!(
                    got,
                    want,
                    "{} bytes, segments of {segment} MiB",
                    bytes.len()
                );
            }
            assert_eq!(plan_file(&file, bytes.len() as u64).unwrap(), want);
        }
    }

    /// A wrong size hint (the file grew or shrank since its stat) still gives the plan of the
    /// bytes read.
    #[test]
    fn a_stale_size_hint_still_gives_the_bytes_plan() {
        let mib = 1 << 20;
        let bytes = noise(6 * mib + 5, 7);
        let file = file_of(&bytes);
        let want = plan_reader(&bytes[..], 0).unwrap();
        for hint in [4 * mib as u64, 9 * mib as u64] {
            assert_eq!(
                plan_segmented(&file, hint, mib as u64, &NoSink).unwrap(),
                want
            );
        }
        let small = noise(300_000, 8);
        let file = file_of(&small);
        assert_eq!(
            plan_segmented(&file, 5 * mib as u64, mib as u64, &NoSink).unwrap(),
            plan_reader(&small[..], 0).unwrap()
        );
    }
}
