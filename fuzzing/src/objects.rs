//! Objects as a hub or another device hands them over: trees, snapshots and chunk lists
//! (`vault::object`, `vault::content::list`), and the object stream of the HTTP protocol
//! (`vault::wire`).

use std::io::Read;

use vault::content::list::ChunkList;
use vault::object::{EntryKind, Snapshot, Tree};
use vault::paths::validate_name;

/// Tree, snapshot and chunk-list decoding. Whatever decodes has exactly one encoding, the bytes
/// it came from (docs/format.md: "each tree has exactly one encoding and one id"): otherwise
/// one tree would have two ids, and a re-encoded tree would not be the object its parent names.
/// Every name of a tree is a valid single path component (a top-level name like `c:x`, which
/// VaultPath refuses as a drive, is refused later, when `flatten` forms paths); a list's lengths add up.
pub fn object(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    if let Ok(tree) = Tree::decode(data) {
        assert_eq!(
            tree.encode(),
            data,
            "a decoded tree re-encodes to other bytes"
        );
        for (name, entry) in &tree.entries {
            validate_name(name).expect("a decoded tree holds a name VaultPath refuses");
            if let EntryKind::Dir(id) = entry {
                assert_eq!(id.to_hex().parse::<vault::ObjectId>().ok(), Some(*id));
            }
        }
        assert_eq!(Tree::decode(&tree.encode()).ok(), Some(tree));
    }
    if let Ok(snapshot) = Snapshot::decode(data) {
        assert_eq!(
            snapshot.encode(),
            data,
            "a decoded snapshot re-encodes to other bytes"
        );
        assert_eq!(Snapshot::decode(&snapshot.encode()).ok(), Some(snapshot));
    }
    if let Ok(list) = ChunkList::decode(data) {
        assert_eq!(
            list.encode(),
            data,
            "a decoded chunk list re-encodes to other bytes"
        );
        assert!(!list.pieces.is_empty());
        let total = list
            .pieces
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(p.len));
        assert_eq!(total, Some(list.len()), "a decoded list's lengths overflow");
        assert_eq!(ChunkList::decode(&list.encode()).ok(), Some(list));
    }
}

/// The object stream: the slice decoder and the streaming one (a response body read as it
/// arrives, one byte at a time here) agree, whatever decodes re-encodes to the same bytes, and
/// a length field only claims bytes: a stream of a few bytes claiming gigabytes is refused
/// without reserving them (the fuzzer's memory limit catches a reservation).
pub fn wire(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    let whole = vault::wire::decode(data);
    let streamed = vault::wire::decode_from(OneByte(data));
    assert_eq!(whole, streamed, "slice and stream decoders disagree");
    if let Ok(objects) = whole {
        assert_eq!(vault::wire::encode(&objects), data);
        assert_eq!(vault::wire::encoded_len(&objects), data.len() as u64);
        let mut written = Vec::new();
        vault::wire::encode_to(&mut written, &objects).expect("writing to memory");
        assert_eq!(written, data);
        for o in &objects {
            // The receiver computes ids itself: the id is the bytes' hash, nothing else.
            assert_eq!(o.id(), vault::ObjectId::of(&o.bytes));
        }
    }
}

/// A reader that hands over one byte per call, as a slow connection might.
struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}
