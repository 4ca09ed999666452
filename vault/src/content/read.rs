//! Writing a file's bytes out of its objects, a batch of chunks at a time.
//!
//! The source is any `fetch(ids) -> objects` (a hub's `get`, a store, the history's reader):
//! every object it returns is hash-checked against the id asked for, lists are decoded with
//! their limits, and lengths are checked against the list, so a damaged or hostile source makes
//! an error, never wrong bytes. At most [`BATCH_BYTES`] of chunks (plus one list) are held.

use std::collections::HashMap;
use std::io::{self, Write};

use rayon::prelude::*;

use super::list::{ChunkList, Level, Piece};
use crate::id::ObjectId;
use crate::object::{Kind, Object, ObjectError, verify};

/// Where objects come from: asked for ids, returns those objects (in any order).
pub type Fetch<'a, E> = dyn FnMut(&[ObjectId]) -> Result<Vec<Object>, E> + 'a;

/// How many bytes of chunks one fetch asks for.
pub const BATCH_BYTES: u64 = 8 << 20;

/// Why a file's bytes could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// The source failed (missing, damaged, unreachable...).
    #[error(transparent)]
    Source(E),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("object {0} was asked for but not sent")]
    NotSent(ObjectId),
    #[error("object {id} is a {kind:?}, which cannot be a file's content")]
    NotContent { id: ObjectId, kind: Kind },
    #[error("piece {id} holds {actual} bytes, its list says {expected}")]
    Length {
        id: ObjectId,
        expected: u64,
        actual: u64,
    },
    #[error("writing the file's bytes: {0}")]
    Write(#[source] io::Error),
}

/// Ask `fetch` for `ids` and return the objects in the same order, each checked against its id
/// (hashed once here: what comes back is known by its hash, so callers need not hash again).
fn fetch_checked<E>(
    fetch: &mut Fetch<'_, E>,
    ids: &[ObjectId],
) -> Result<Vec<Object>, ReadError<E>> {
    // Where each id is last wanted: its object moves there, earlier repeats get copies.
    let mut last: HashMap<ObjectId, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        last.insert(*id, i);
    }
    let mut unique: Vec<ObjectId> = last.keys().copied().collect();
    unique.sort_unstable();
    let objects = fetch(&unique).map_err(ReadError::Source)?;
    // A batch of chunks is megabytes: hashed on every core.
    let mut got: HashMap<ObjectId, Object> = objects.into_par_iter().map(|o| (o.id(), o)).collect();
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let object = if last[id] == i {
                got.remove(id)
            } else {
                got.get(id).cloned()
            };
            object.ok_or(ReadError::NotSent(*id))
        })
        .collect()
}

fn decode_list(id: ObjectId, object: &Object) -> Result<ChunkList, ObjectError> {
    verify(id, object.kind, Kind::Chunks, &object.bytes)?;
    ChunkList::decode(&object.bytes)
}

/// The chunks (in file order) a top list names, fetching its groups one at a time through
/// `on_group` so a caller can also keep them (a copy between hubs needs the list objects).
pub fn chunk_pieces<E>(
    fetch: &mut Fetch<'_, E>,
    top: &ChunkList,
    on_group: &mut dyn FnMut(&Object),
) -> Result<Vec<Piece>, ReadError<E>> {
    match top.level {
        Level::Chunks => Ok(top.pieces.clone()),
        Level::Groups => {
            let mut chunks = Vec::new();
            for group in &top.pieces {
                let object = fetch_checked(fetch, &[group.id])?.remove(0);
                let list = decode_list(group.id, &object)?;
                if list.level != Level::Chunks {
                    return Err(ObjectError::Malformed {
                        what: "chunk list",
                        line: 0,
                        reason: "a group names groups (two levels at most)".into(),
                    }
                    .into());
                }
                if list.len() != group.len {
                    return Err(ReadError::Length {
                        id: group.id,
                        expected: group.len,
                        actual: list.len(),
                    });
                }
                on_group(&object);
                chunks.extend(list.pieces);
            }
            Ok(chunks)
        }
    }
}

/// Every object file `id` is made of beyond itself: for a chunked file its groups (as objects)
/// and its chunks (as pieces); for a blob nothing. Reads only lists, never chunk bytes, but
/// fetches `id` itself, so callers that can tell a blob from a list without its bytes (a pack
/// index) should call it only for lists.
pub fn content_ids<E>(
    fetch: &mut Fetch<'_, E>,
    id: ObjectId,
) -> Result<(Vec<Object>, Vec<Piece>), ReadError<E>> {
    let top = fetch_checked(fetch, &[id])?.remove(0);
    if top.kind == Kind::Blob {
        verify(id, top.kind, Kind::Blob, &top.bytes)?;
        return Ok((Vec::new(), Vec::new()));
    }
    let list = decode_list(id, &top)?;
    let mut groups = Vec::new();
    let chunks = chunk_pieces(fetch, &list, &mut |g| groups.push(g.clone()))?;
    Ok((groups, chunks))
}

/// Write the bytes of file `id` to `out`: a blob as it is, a chunk list chunk by chunk, in
/// batches of about [`BATCH_BYTES`]. Returns the number of bytes written.
pub fn write_content<E>(
    fetch: &mut Fetch<'_, E>,
    id: ObjectId,
    out: &mut dyn Write,
) -> Result<u64, ReadError<E>> {
    let top = fetch_checked(fetch, &[id])?.remove(0);
    match top.kind {
        Kind::Blob => {
            verify(id, top.kind, Kind::Blob, &top.bytes)?;
            out.write_all(&top.bytes).map_err(ReadError::Write)?;
            return Ok(top.bytes.len() as u64);
        }
        Kind::Chunks => {}
        kind => return Err(ReadError::NotContent { id, kind }),
    }
    let list = decode_list(id, &top)?;
    drop(top);
    let mut written = 0;
    match list.level {
        Level::Chunks => written += write_chunks(fetch, &list.pieces, out)?,
        Level::Groups => {
            for group in &list.pieces {
                let one = ChunkList {
                    level: Level::Groups,
                    pieces: vec![*group],
                };
                let pieces = chunk_pieces(fetch, &one, &mut |_| {})?;
                written += write_chunks(fetch, &pieces, out)?;
            }
        }
    }
    Ok(written)
}

fn write_chunks<E>(
    fetch: &mut Fetch<'_, E>,
    pieces: &[Piece],
    out: &mut dyn Write,
) -> Result<u64, ReadError<E>> {
    let mut written = 0;
    let mut rest = pieces;
    while !rest.is_empty() {
        let mut take = 0;
        let mut bytes = 0;
        while take < rest.len() && (take == 0 || bytes + rest[take].len <= BATCH_BYTES) {
            bytes += rest[take].len;
            take += 1;
        }
        let (batch, later) = rest.split_at(take);
        let ids: Vec<ObjectId> = batch.iter().map(|p| p.id).collect();
        let objects = fetch_checked(fetch, &ids)?;
        for (piece, object) in batch.iter().zip(&objects) {
            // Its hash was checked as it arrived.
            if object.kind != Kind::Blob {
                return Err(ObjectError::WrongKind {
                    id: piece.id,
                    expected: Kind::Blob,
                    actual: object.kind,
                }
                .into());
            }
            if object.bytes.len() as u64 != piece.len {
                return Err(ReadError::Length {
                    id: piece.id,
                    expected: piece.len,
                    actual: object.bytes.len() as u64,
                });
            }
            out.write_all(&object.bytes).map_err(ReadError::Write)?;
            written += piece.len;
        }
        rest = later;
    }
    Ok(written)
}
