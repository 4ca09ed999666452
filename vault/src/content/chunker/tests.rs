use std::collections::HashMap;
use std::convert::Infallible;

use super::*;
use crate::content::read::{content_ids, write_content};
use crate::content::{ChunkList, MAX_CHUNK, MIN_CHUNK};
use crate::object::Kind;

use crate::test_bytes::noise;

fn store_of(plan: &ContentPlan, bytes: &[u8]) -> HashMap<ObjectId, Object> {
    let mut store = HashMap::new();
    match &plan.layout {
        Layout::Blob => {
            store.insert(
                plan.id,
                Object {
                    kind: Kind::Blob,
                    bytes: bytes.to_vec(),
                },
            );
        }
        Layout::Chunked { lists, chunks } => {
            for l in lists {
                store.insert(l.id(), l.clone());
            }
            for c in chunks {
                let b = &bytes[c.offset as usize..c.offset as usize + c.len as usize];
                store.insert(
                    c.id,
                    Object {
                        kind: Kind::Blob,
                        bytes: b.to_vec(),
                    },
                );
            }
        }
    }
    store
}

fn read_back(store: &HashMap<ObjectId, Object>, id: ObjectId) -> Vec<u8> {
    let mut fetch = |ids: &[ObjectId]| -> Result<Vec<Object>, Infallible> {
        Ok(ids.iter().filter_map(|i| store.get(i).cloned()).collect())
    };
    let mut out = Vec::new();
    let n = write_content(&mut fetch, id, &mut out).unwrap();
    assert_eq!(n as usize, out.len());
    out
}

#[test]
fn small_files_are_one_blob_with_the_plain_hash() {
    for len in [0usize, 1, 1000, (CHUNKED_FROM - 1) as usize] {
        let bytes = noise(len, 7);
        let plan = plan_reader(&bytes[..], 0).unwrap();
        assert_eq!(plan.id, ObjectId::of(&bytes));
        assert_eq!(plan.size, len as u64);
        assert_eq!(plan.layout, Layout::Blob);
    }
}

#[test]
fn large_files_chunk_within_bounds_and_read_back() {
    let bytes = noise(9 << 20, 3);
    let plan = plan_reader(&bytes[..], bytes.len() as u64).unwrap();
    let Layout::Chunked { lists, chunks } = &plan.layout else {
        panic!("9 MiB must be chunked")
    };
    assert_eq!(plan.size, bytes.len() as u64);
    assert_eq!(plan.id, lists[0].id());
    assert_eq!(lists[0].kind, Kind::Chunks);
    let mut expect = 0;
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c.offset, expect, "chunks are contiguous");
        assert!(c.len as usize <= MAX_CHUNK);
        if i + 1 < chunks.len() {
            assert!(c.len as usize >= MIN_CHUNK);
        }
        expect += c.len as u64;
    }
    assert_eq!(expect, bytes.len() as u64);
    let store = store_of(&plan, &bytes);
    assert_eq!(read_back(&store, plan.id), bytes);
    let mut fetch = |ids: &[ObjectId]| -> Result<Vec<Object>, Infallible> {
        Ok(ids.iter().filter_map(|i| store.get(i).cloned()).collect())
    };
    let (_, pieces) = content_ids(&mut fetch, plan.id).unwrap();
    assert_eq!(pieces.len(), chunks.len());
}

#[test]
fn an_edit_in_the_middle_changes_few_chunks() {
    let bytes = noise(16 << 20, 11);
    let mut edited = bytes.clone();
    edited[8 << 20] ^= 0xff;
    let ids = |b: &[u8]| -> std::collections::HashSet<ObjectId> {
        match plan_reader(b, 0).unwrap().layout {
            Layout::Chunked { chunks, .. } => chunks.iter().map(|c| c.id).collect(),
            Layout::Blob => unreachable!(),
        }
    };
    let before = ids(&bytes);
    let after = ids(&edited);
    let new = after.difference(&before).count();
    assert!(new <= 2, "{new} new chunks for one changed byte");
    // Inserting bytes near the start shifts everything after, yet boundaries resynchronise.
    let mut inserted = bytes[..1000].to_vec();
    inserted.extend_from_slice(b"inserted text");
    inserted.extend_from_slice(&bytes[1000..]);
    let shifted = ids(&inserted);
    assert!(shifted.difference(&before).count() <= 2);
}

#[test]
fn many_chunks_make_two_levels_and_read_back() {
    // Zero bytes cut at MAX_CHUNK every time: identical chunks, one id, so groups close at
    // GROUP_MAX only if the id does not start with 0; use noise with a long length instead.
    let bytes = noise(300 << 20, 5);
    let plan = plan_reader(&bytes[..], 0).unwrap();
    let Layout::Chunked { lists, .. } = &plan.layout else {
        panic!()
    };
    let top = ChunkList::decode(&lists[0].bytes).unwrap();
    assert_eq!(top.level, crate::content::Level::Groups);
    assert_eq!(top.pieces.len() + 1, lists.len());
    assert_eq!(top.len(), bytes.len() as u64);
    let store = store_of(&plan, &bytes);
    assert!(read_back(&store, plan.id) == bytes);
}

#[test]
fn a_damaged_chunk_is_an_error_not_bytes() {
    let bytes = noise(3 << 20, 9);
    let plan = plan_reader(&bytes[..], 0).unwrap();
    let mut store = store_of(&plan, &bytes);
    let Layout::Chunked { chunks, .. } = &plan.layout else {
        panic!()
    };
    store.get_mut(&chunks[1].id).unwrap().bytes[5] ^= 1;
    let mut fetch = |ids: &[ObjectId]| -> Result<Vec<Object>, Infallible> {
        Ok(ids.iter().filter_map(|i| store.get(i).cloned()).collect())
    };
    let mut out = Vec::new();
    assert!(write_content(&mut fetch, plan.id, &mut out).is_err());
}

/// A measurement, not a check: `cargo test -p vault --release --lib chunk_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn chunk_speed() {
    let bytes = noise(512 << 20, 1);
    let t = std::time::Instant::now();
    let plan = plan_reader(&bytes[..], 0).unwrap();
    let chunked = t.elapsed();
    let t = std::time::Instant::now();
    let whole = ObjectId::of(&bytes);
    let hashed = t.elapsed();
    println!(
        "512 MiB: chunked+hashed {chunked:?}, blake3 alone {hashed:?} ({whole} vs {})",
        plan.id
    );
}

/// A reader that gives `good` bytes, then fails.
struct FailingAfter<'a> {
    good: &'a [u8],
}

impl Read for FailingAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good.is_empty() {
            return Err(io::Error::other("the disk went away"));
        }
        let n = buf.len().min(self.good.len());
        buf[..n].copy_from_slice(&self.good[..n]);
        self.good = &self.good[n..];
        Ok(n)
    }
}

#[test]
fn the_reused_note_buffer_never_leaks_one_file_into_the_next() {
    // One thread, in turn: a note larger than the buffer kept, a tiny one, a large file (its
    // first bytes leave with it), a failed read, an empty file, a small one.
    let big_note = noise(300 << 10, 3);
    let large = noise(CHUNKED_FROM as usize + 12_345, 4);
    let small = b"- [ ] water the plants\n".to_vec();
    let id_of = |bytes: &[u8]| plan_reader(bytes, bytes.len() as u64).unwrap();

    let p = id_of(&big_note);
    assert_eq!(
        (p.id, p.size),
        (ObjectId::of(&big_note), big_note.len() as u64)
    );
    let p = id_of(b"hi");
    assert_eq!((p.id, p.size), (ObjectId::of(b"hi"), 2));
    let p = id_of(&large);
    assert!(matches!(p.layout, Layout::Chunked { .. }));
    assert_eq!(p.size, large.len() as u64);
    assert_eq!(
        p.id,
        plan_reader(&large[..], 0).unwrap().id,
        "the size hint changes nothing"
    );
    let err = plan_reader(FailingAfter { good: &small }, 100).unwrap_err();
    assert_eq!(err.to_string(), "the disk went away");
    let p = id_of(b"");
    assert_eq!((p.id, p.size), (ObjectId::of(b""), 0));
    let p = id_of(&small);
    assert_eq!((p.id, p.size), (ObjectId::of(&small), small.len() as u64));
}
