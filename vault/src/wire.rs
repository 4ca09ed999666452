//! The object stream of the HTTP hub protocol (docs/protocol.md): objects back to back, each
//! with a small header, in one request or response body, so an upload or a download of a
//! batch is one stream and never one request per object.
//!
//! ```text
//! per object:  kind      u8   (object::Kind: 1 blob, 2 tree, 3 snapshot)
//!              encoding  u8   (0 = raw bytes; other values reserved: end-to-end encrypted
//!                              objects will have their own, and a hub then stores and checks
//!                              the ciphertext it is given)
//!              length    u64  little-endian
//!              bytes     `length` bytes
//! ```
//!
//! Ids are not sent: the receiver computes each object's id from its bytes, so a stream can
//! never store bytes under a wrong id. Decoding refuses unknown kinds and encodings, lengths
//! beyond the bytes at hand, and a truncated header, before anything is used.

use std::io::{BufRead, Read, Write};

use crate::object::{Kind, Object};

/// Bytes of the header before each object.
pub const HEADER_LEN: usize = 1 + 1 + 8;
/// The only encoding today: the object's bytes as they are.
pub const ENCODING_RAW: u8 = 0;
/// MIME type of an object stream.
pub const CONTENT_TYPE: &str = "application/vnd.vault-sync.objects";
/// The request header naming the upload an object stream belongs to (a large file's chunks,
/// stored at the upload's commit; docs/protocol.md).
pub const UPLOAD_HEADER: &str = "x-vault-upload";

/// Why an object stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("object stream cut short in the header of object {index} (at byte {at})")]
    TruncatedHeader { index: usize, at: usize },
    #[error("object {index} claims {length} bytes, but only {left} follow")]
    TruncatedObject {
        index: usize,
        length: u64,
        left: usize,
    },
    #[error("object {index} has unknown kind {kind}")]
    UnknownKind { index: usize, kind: u8 },
    #[error("object {index} uses encoding {encoding}, which this version cannot read; upgrade")]
    UnknownEncoding { index: usize, encoding: u8 },
    #[error("object stream broke off while reading object {index}: {detail}")]
    Read { index: usize, detail: String },
}

impl WireError {
    /// Whether the stream itself broke (a connection cut), as opposed to a malformed stream.
    pub fn is_transient(&self) -> bool {
        matches!(self, WireError::Read { .. })
    }
}

/// Append `objects` to `out` as a stream.
pub fn encode_into(out: &mut Vec<u8>, objects: &[Object]) {
    out.reserve(
        objects
            .iter()
            .map(|o| HEADER_LEN + o.bytes.len())
            .sum::<usize>(),
    );
    for o in objects {
        out.push(o.kind as u8);
        out.push(ENCODING_RAW);
        out.extend_from_slice(&(o.bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&o.bytes);
    }
}

/// The length of the stream of `objects`.
pub fn encoded_len(objects: &[Object]) -> u64 {
    objects
        .iter()
        .map(|o| (HEADER_LEN + o.bytes.len()) as u64)
        .sum()
}

/// The header that precedes `o`'s bytes in a stream (for writers that send the bytes
/// themselves, without copying them into one buffer).
pub fn header(o: &Object) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0] = o.kind as u8;
    header[1] = ENCODING_RAW;
    header[2..].copy_from_slice(&(o.bytes.len() as u64).to_le_bytes());
    header
}

/// Write the stream of `objects` to `out` without building it in memory first (an upload
/// then holds each object once, not twice).
pub fn encode_to(mut out: impl Write, objects: &[Object]) -> std::io::Result<()> {
    for o in objects {
        out.write_all(&header(o))?;
        out.write_all(&o.bytes)?;
    }
    out.flush()
}

/// `objects` as a stream.
pub fn encode(objects: &[Object]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, objects);
    out
}

/// The objects of a whole stream, in order.
pub fn decode(bytes: &[u8]) -> Result<Vec<Object>, WireError> {
    decode_buffered(bytes)
}

/// Largest buffer reserved up front for one object: a length is only a claim until the bytes
/// arrive, so a hostile one must not make us allocate what it says.
const MAX_RESERVE: u64 = 64 << 20;

/// [`decode`] reading from `reader` as the bytes arrive (a response body), so a download holds
/// each object once rather than the whole stream and then its objects.
pub fn decode_from<R: Read>(reader: R) -> Result<Vec<Object>, WireError> {
    decode_with(reader, |reader, length, bytes| {
        reader.take(length).read_to_end(bytes)
    })
}

/// [`decode_from`] a reader that holds the bytes already (a body gathered in pieces, a
/// slice): each object's bytes are copied from its pieces into their buffer, which is never
/// zeroed first. `read_to_end` zeroes the room it reads into: on `vault-server` that was 6%
/// of an upload's CPU.
pub fn decode_buffered<R: BufRead>(reader: R) -> Result<Vec<Object>, WireError> {
    decode_with(reader, |reader, length, bytes| {
        let mut left = length;
        while left > 0 {
            let piece = reader.fill_buf()?;
            if piece.is_empty() {
                break;
            }
            let n = piece.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            bytes.extend_from_slice(&piece[..n]);
            reader.consume(n);
            left -= n as u64;
        }
        Ok((length - left) as usize)
    })
}

/// The stream's framing, with `read_body(reader, length, bytes)` appending up to `length`
/// bytes of one object to `bytes` (fewer only at the end of the stream); how many.
fn decode_with<R: Read>(
    mut reader: R,
    mut read_body: impl FnMut(&mut R, u64, &mut Vec<u8>) -> std::io::Result<usize>,
) -> Result<Vec<Object>, WireError> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let index = out.len();
        let broke = |e: std::io::Error| WireError::Read {
            index,
            detail: e.to_string(),
        };
        let mut header = [0u8; HEADER_LEN];
        let got = read_up_to(&mut reader, &mut header).map_err(broke)?;
        if got == 0 {
            return Ok(out);
        }
        if got < HEADER_LEN {
            return Err(WireError::TruncatedHeader { index, at });
        }
        let kind = Kind::from_byte(header[0]).ok_or(WireError::UnknownKind {
            index,
            kind: header[0],
        })?;
        if header[1] != ENCODING_RAW {
            return Err(WireError::UnknownEncoding {
                index,
                encoding: header[1],
            });
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&header[2..HEADER_LEN]);
        let length = u64::from_le_bytes(len);
        let mut bytes = Vec::with_capacity(length.min(MAX_RESERVE) as usize);
        let n = read_body(&mut reader, length, &mut bytes).map_err(broke)?;
        if (n as u64) < length {
            return Err(WireError::TruncatedObject {
                index,
                length,
                left: n,
            });
        }
        out.push(Object { kind, bytes });
        at += HEADER_LEN + n;
    }
}

/// Fill `buf` from `reader` until it is full or the stream ends; how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects() -> Vec<Object> {
        vec![
            Object {
                kind: Kind::Blob,
                bytes: b"# A note\n".to_vec(),
            },
            Object {
                kind: Kind::Blob,
                bytes: Vec::new(),
            },
            Object {
                kind: Kind::Tree,
                bytes: b"vault-tree 1\n".to_vec(),
            },
        ]
    }

    #[test]
    fn round_trip_and_layout() {
        let bytes = encode(&objects());
        assert_eq!(bytes.len(), 3 * HEADER_LEN + 9 + 13);
        assert_eq!(&bytes[..HEADER_LEN], &[1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), objects());
        assert_eq!(decode(&[]).unwrap(), Vec::<Object>::new());
        let mut written = Vec::new();
        encode_to(&mut written, &objects()).unwrap();
        assert_eq!(written, bytes);
        assert_eq!(encoded_len(&objects()), bytes.len() as u64);
    }

    /// Hands out one byte per read, then fails after `fail_after` bytes if set.
    struct Trickle<'a> {
        bytes: &'a [u8],
        fail_after: Option<usize>,
        given: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.fail_after == Some(self.given) {
                return Err(std::io::Error::other("connection reset"));
            }
            let Some((first, rest)) = self.bytes.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = *first;
            self.bytes = rest;
            self.given += 1;
            Ok(1)
        }
    }

    #[test]
    fn a_stream_read_in_pieces_decodes_and_a_broken_one_is_transient() {
        let good = encode(&objects());
        let trickle = Trickle {
            bytes: &good,
            fail_after: None,
            given: 0,
        };
        assert_eq!(decode_from(trickle).unwrap(), objects());
        let broken = Trickle {
            bytes: &good,
            fail_after: Some(HEADER_LEN + 3),
            given: 0,
        };
        let err = decode_from(broken).unwrap_err();
        assert!(matches!(err, WireError::Read { index: 0, .. }), "{err}");
        assert!(err.is_transient());
        assert!(!decode(&good[..5]).unwrap_err().is_transient());
    }

    #[test]
    fn a_stream_held_in_pieces_decodes_across_them_and_a_short_one_is_refused() {
        let good = encode(&objects());
        for cut in [1, HEADER_LEN, HEADER_LEN + 4, good.len() - 1] {
            let pieces = (&good[..cut]).chain(&good[cut..]);
            assert_eq!(decode_buffered(pieces).unwrap(), objects(), "cut at {cut}");
        }
        let trickle = Trickle {
            bytes: &good,
            fail_after: None,
            given: 0,
        };
        let small = std::io::BufReader::with_capacity(3, trickle);
        assert_eq!(decode_buffered(small).unwrap(), objects());
        let broken = Trickle {
            bytes: &good,
            fail_after: Some(HEADER_LEN + 3),
            given: 0,
        };
        let err = decode_buffered(std::io::BufReader::with_capacity(2, broken)).unwrap_err();
        assert!(matches!(err, WireError::Read { index: 0, .. }), "{err}");
        let short = (&good[..HEADER_LEN + 4]).chain(&good[..0]);
        assert!(matches!(
            decode_buffered(short),
            Err(WireError::TruncatedObject {
                index: 0,
                left: 4,
                ..
            })
        ));
    }

    #[test]
    fn damaged_streams_are_refused() {
        let good = encode(&objects());
        assert_eq!(
            decode(&good[..5]),
            Err(WireError::TruncatedHeader { index: 0, at: 0 })
        );
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(WireError::TruncatedObject { index: 2, .. })
        ));
        let mut kind = good.clone();
        kind[0] = 9;
        assert_eq!(
            decode(&kind),
            Err(WireError::UnknownKind { index: 0, kind: 9 })
        );
        let mut encoding = good.clone();
        encoding[1] = 1;
        assert_eq!(
            decode(&encoding),
            Err(WireError::UnknownEncoding {
                index: 0,
                encoding: 1
            })
        );
        let mut huge = good;
        huge[2..10].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode(&huge),
            Err(WireError::TruncatedObject { index: 0, .. })
        ));
    }

    proptest::proptest! {
        /// Any byte string decodes to objects or to an error, never a panic; what decodes
        /// encodes back to the same bytes.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(objects) = decode(&bytes) {
                proptest::prop_assert_eq!(encode(&objects), bytes);
            }
        }
    }
}
