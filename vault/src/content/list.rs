//! The `vault-chunks 1` object: which pieces, in order, make a large file.
//!
//! ```text
//! vault-chunks 1
//! c <chunk id> <length>        a chunk (a blob of <length> bytes), or
//! l <list id> <length>         a group: a `vault-chunks` list of chunks covering <length> bytes
//! ```
//!
//! Every line of one list has the same letter. A list of `l` lines is a file's top list; the
//! lists it names hold only `c` lines (two levels at most, so a hostile hub cannot make a
//! reader recurse). Like trees, one value has exactly one encoding: canonical decimal, no
//! empty list, no zero length, final newline.

use std::fmt::Write as _;

use super::{MAX_LIST_ENTRIES, MAX_PIECE_ACCEPTED};
use crate::id::ObjectId;
use crate::object::{Kind, Object, ObjectError};

const HEADER: &str = "vault-chunks 1";

/// Whether a list names chunks (blobs) or groups (lists of chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Chunks,
    Groups,
}

/// One entry: the id of a chunk or group and how many bytes of the file it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub id: ObjectId,
    pub len: u64,
}

/// A decoded `vault-chunks` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkList {
    pub level: Level,
    pub pieces: Vec<Piece>,
}

/// Why a list's bytes are not a list.
pub type ListError = ObjectError;

impl ChunkList {
    /// The number of bytes of the file this list covers.
    pub fn len(&self) -> u64 {
        self.pieces.iter().map(|p| p.len).sum()
    }

    /// A decoded list is never empty; this is for the lint's sake.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let letter = match self.level {
            Level::Chunks => 'c',
            Level::Groups => 'l',
        };
        let mut s = String::with_capacity(16 + self.pieces.len() * 75);
        s.push_str(HEADER);
        s.push('\n');
        for p in &self.pieces {
            let _ = writeln!(s, "{letter} {} {}", p.id, p.len);
        }
        s.into_bytes()
    }

    pub fn to_object(&self) -> Object {
        Object {
            kind: Kind::Chunks,
            bytes: self.encode(),
        }
    }

    /// Decode and check a list: header, one letter throughout, ids, lengths (chunks at most
    /// [`MAX_PIECE_ACCEPTED`]), at most [`MAX_LIST_ENTRIES`] entries, no overflow.
    pub fn decode(bytes: &[u8]) -> Result<ChunkList, ListError> {
        let bad = |line: usize, reason: &str| ObjectError::Malformed {
            what: "chunk list",
            line,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8"))?;
        let body = text
            .strip_prefix(HEADER)
            .and_then(|t| t.strip_prefix('\n'))
            .ok_or_else(|| bad(1, "missing `vault-chunks 1` header"))?;
        if body.is_empty() {
            return Err(bad(2, "a list names at least one piece"));
        }
        if !body.ends_with('\n') {
            return Err(bad(0, "missing final newline"));
        }
        let mut level = None;
        let mut pieces = Vec::new();
        let mut total: u64 = 0;
        // Lines end at `\n` only (`str::lines` also took `\r\n`: two encodings of one list).
        for (i, line) in body.split_terminator('\n').enumerate() {
            let n = i + 2;
            if pieces.len() == MAX_LIST_ENTRIES {
                return Err(bad(n, "too many entries"));
            }
            let mut f = line.split(' ');
            let (Some(letter), Some(id), Some(len), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad(n, "expected 3 fields"));
            };
            let this = match letter {
                "c" => Level::Chunks,
                "l" => Level::Groups,
                _ => return Err(bad(n, "entry kind is not `c` or `l`")),
            };
            if *level.get_or_insert(this) != this {
                return Err(bad(n, "a list names either chunks or groups, not both"));
            }
            let id: ObjectId = id.parse().map_err(|_| bad(n, "bad object id"))?;
            let len: u64 = len
                .parse()
                .ok()
                .filter(|l: &u64| *l > 0 && l.to_string() == len)
                .ok_or_else(|| bad(n, "length is not a positive canonical number"))?;
            if this == Level::Chunks && len > MAX_PIECE_ACCEPTED {
                return Err(bad(n, "chunk is larger than 16 MiB"));
            }
            total = total
                .checked_add(len)
                .ok_or_else(|| bad(n, "lengths overflow"))?;
            pieces.push(Piece { id, len });
        }
        Ok(ChunkList {
            level: level.expect("a non-empty body has a first line"),
            pieces,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(n: u8, len: u64) -> Piece {
        Piece {
            id: ObjectId::of(&[n]),
            len,
        }
    }

    /// Found by fuzzing (fixtures/fuzz/object/): `\r\n` line endings decoded to the same list
    /// as `\n`, so one list had two encodings and two ids.
    #[test]
    fn chunk_list_with_crlf_line_endings_is_refused() {
        let list = ChunkList {
            level: Level::Chunks,
            pieces: vec![piece(1, 65536), piece(2, 7)],
        };
        let text = String::from_utf8(list.encode()).unwrap();
        let crlf = format!("{}\r\n", text.trim_end_matches('\n'));
        assert!(ChunkList::decode(crlf.as_bytes()).is_err());
        let header_lf = text.replace('\n', "\r\n").replacen("\r\n", "\n", 1);
        assert!(ChunkList::decode(header_lf.as_bytes()).is_err());
    }

    #[test]
    fn round_trips_and_is_canonical() {
        let list = ChunkList {
            level: Level::Chunks,
            pieces: vec![piece(1, 65536), piece(2, 7)],
        };
        let bytes = list.encode();
        assert_eq!(ChunkList::decode(&bytes).unwrap(), list);
        assert_eq!(list.len(), 65543);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("vault-chunks 1\nc "));
        assert!(text.ends_with(" 7\n"));
    }

    #[test]
    fn refuses_what_is_not_canonical_or_safe() {
        let id = ObjectId::of(b"x");
        let cases = [
            "vault-chunks 2\nc {id} 1\n".to_string(),
            "vault-chunks 1\n".to_string(),
            format!("vault-chunks 1\nc {id} 1"),
            format!("vault-chunks 1\nc {id} 01\n"),
            format!("vault-chunks 1\nc {id} 0\n"),
            format!("vault-chunks 1\nc {id} +1\n"),
            format!("vault-chunks 1\nc {id} 1 extra\n"),
            format!("vault-chunks 1\nx {id} 1\n"),
            format!("vault-chunks 1\nc {id} 1\nl {id} 1\n"),
            format!("vault-chunks 1\nc {id} {}\n", MAX_PIECE_ACCEPTED + 1),
            format!("vault-chunks 1\nl {id} {}\nl {id} {}\n", u64::MAX, 1),
            format!("vault-chunks 1\nc {} 1\n", &id.to_string()[1..]),
        ];
        for case in cases {
            assert!(
                ChunkList::decode(case.as_bytes()).is_err(),
                "accepted {case:?}"
            );
        }
        let big_group = format!("vault-chunks 1\nl {id} {}\n", MAX_PIECE_ACCEPTED * 4);
        assert_eq!(
            ChunkList::decode(big_group.as_bytes()).unwrap().level,
            Level::Groups
        );
    }
}
