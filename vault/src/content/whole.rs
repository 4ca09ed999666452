//! A file's objects from bytes already in memory: for the callers that hold a file whole by
//! nature (an edit made in the web view, a test), never for files read from disk.

use super::chunker::{Layout, plan_reader};
use crate::id::ObjectId;
use crate::object::{Kind, Object};

/// The id of `bytes` as a file and every object it is made of, children before parents
/// (chunks, then groups, then the top list; or the one blob), so a hub given them in this
/// order never holds a list without its chunks.
pub fn objects_of(bytes: &[u8]) -> (ObjectId, Vec<Object>) {
    let plan = plan_reader(bytes, bytes.len() as u64).expect("reading memory cannot fail");
    match plan.layout {
        Layout::Blob => (
            plan.id,
            vec![Object {
                kind: Kind::Blob,
                bytes: bytes.to_vec(),
            }],
        ),
        Layout::Chunked { lists, chunks } => {
            let mut out: Vec<Object> = chunks
                .iter()
                .map(|c| Object {
                    kind: Kind::Blob,
                    bytes: bytes[c.offset as usize..c.offset as usize + c.len as usize].to_vec(),
                })
                .collect();
            out.extend(lists.into_iter().rev());
            (plan.id, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{CHUNKED_FROM, content_id};

    #[test]
    fn ids_agree_with_the_scan_and_children_come_first() {
        let small = vec![7u8; 10];
        let (id, objects) = objects_of(&small);
        assert_eq!(id, ObjectId::of(&small));
        assert_eq!(objects.len(), 1);
        let big: Vec<u8> = (0..CHUNKED_FROM as usize * 3)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let (id, objects) = objects_of(&big);
        assert_eq!(id, content_id(&big[..], 0).unwrap().0);
        let last = objects.last().unwrap();
        assert_eq!((last.kind, last.id()), (Kind::Chunks, id));
        assert!(objects.iter().any(|o| o.kind == Kind::Blob));
    }
}
