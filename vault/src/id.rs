//! Object ids: the blake3 hash of an object's bytes.
//!
//! One fixed id type, as the whole format uses one hash. Ids print as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

/// The blake3 hash of an object's canonical bytes (for a blob: the file's bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub [u8; 32]);

impl ObjectId {
    /// Hash `bytes` into an id.
    pub fn of(bytes: &[u8]) -> ObjectId {
        ObjectId(*blake3::hash(bytes).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        self.hex_digits().to_string()
    }

    /// The 64 hex digits without allocating (trees encode one per entry).
    pub(crate) fn hex_digits(&self) -> HexDigits {
        let mut buf = [0u8; 64];
        // 32 bytes always fit in 64 digits.
        let _ = hex::encode_to_slice(self.0, &mut buf);
        HexDigits(buf)
    }

    /// The first 12 hex digits, for human-facing output.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

/// Lowercase hex digits of an id, on the stack.
pub(crate) struct HexDigits([u8; 64]);

impl HexDigits {
    pub(crate) fn as_str(&self) -> &str {
        // Hex digits are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for HexDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.hex_digits().fmt(f)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.short())
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not an object id (expected 64 lowercase hex digits)")]
pub struct ParseIdError {
    pub text: String,
}

impl FromStr for ObjectId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseIdError {
            text: s.chars().take(80).collect(),
        };
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
        Ok(ObjectId(out))
    }
}

impl serde::Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ObjectId::of(b"hello");
        assert_eq!(id.to_hex().parse::<ObjectId>().unwrap(), id);
        assert_eq!(
            id.to_hex(),
            "ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
        );
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "zz", &"A".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad:?} must not parse");
        }
    }
}
