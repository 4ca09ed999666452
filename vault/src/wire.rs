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

use crate::object::{Kind, Object};

/// Bytes of the header before each object.
pub const HEADER_LEN: usize = 1 + 1 + 8;
/// The only encoding today: the object's bytes as they are.
pub const ENCODING_RAW: u8 = 0;
/// MIME type of an object stream.
pub const CONTENT_TYPE: &str = "application/vnd.vault-sync.objects";

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

/// `objects` as a stream.
pub fn encode(objects: &[Object]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(&mut out, objects);
    out
}

/// The objects of a whole stream, in order.
pub fn decode(mut bytes: &[u8]) -> Result<Vec<Object>, WireError> {
    let mut out = Vec::new();
    let mut at = 0;
    while !bytes.is_empty() {
        let index = out.len();
        if bytes.len() < HEADER_LEN {
            return Err(WireError::TruncatedHeader { index, at });
        }
        let kind = Kind::from_byte(bytes[0]).ok_or(WireError::UnknownKind {
            index,
            kind: bytes[0],
        })?;
        if bytes[1] != ENCODING_RAW {
            return Err(WireError::UnknownEncoding {
                index,
                encoding: bytes[1],
            });
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[2..HEADER_LEN]);
        let length = u64::from_le_bytes(len);
        let rest = &bytes[HEADER_LEN..];
        let n = usize::try_from(length)
            .ok()
            .filter(|&n| n <= rest.len())
            .ok_or(WireError::TruncatedObject {
                index,
                length,
                left: rest.len(),
            })?;
        out.push(Object {
            kind,
            bytes: rest[..n].to_vec(),
        });
        bytes = &rest[n..];
        at += HEADER_LEN + n;
    }
    Ok(out)
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
