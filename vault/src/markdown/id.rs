//! Task ids: short names a person can type, derived from the task line itself.
//!
//! An id is the lowercase RFC 4648 base32 of the first bytes of
//! `blake3(path + "\0" + line + "\0" + n)`, where `path` is the note's vault path, `line` the
//! whole task line without its line ending (indentation, list marker and checkbox included) and
//! `n` the decimal count of identical task lines before it in the same note (0 for the first).
//! Nothing is stored in the note, so the id stays the same exactly as long as the line's bytes
//! and the note's path do; any edit of the line (done, a new due date, a typo fixed) gives a new
//! id, which is what lets a command refuse to change a line it no longer recognises.
//!
//! The id holds 16 characters (80 bits); it is shown by its first [`SHORT_LEN`] (35 bits). Among
//! 100,000 tasks two short forms collide with a probability of about 15 %, so whoever resolves a
//! typed id across a vault must treat a prefix matching several tasks as ambiguous and ask for
//! more characters, as git does with object ids.

use std::fmt;

/// Characters of an id as stored.
pub const FULL_LEN: usize = 16;
/// Characters of an id as shown.
pub const SHORT_LEN: usize = 7;

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The id of a task line (see the module docs for how it is formed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId([u8; FULL_LEN]);

impl TaskId {
    /// The id of the `occurrence`-th (from 0) task line equal to `line` in the note at `path`.
    pub fn new(path: &str, line: &str, occurrence: usize) -> TaskId {
        let mut hasher = blake3::Hasher::new();
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(line.as_bytes());
        hasher.update(b"\0");
        hasher.update(occurrence.to_string().as_bytes());
        let hash = hasher.finalize();
        let bytes = hash.as_bytes();
        // 16 characters of 5 bits are exactly the first 10 bytes.
        let bits = bytes[..10]
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let mut out = [0u8; FULL_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (FULL_LEN - 1 - i);
            *slot = ALPHABET[((bits >> shift) & 31) as usize];
        }
        TaskId(out)
    }

    /// All 16 characters.
    pub fn as_str(&self) -> &str {
        // Only ALPHABET bytes are ever stored, which are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The form shown to people.
    pub fn short(&self) -> &str {
        &self.as_str()[..SHORT_LEN]
    }

    /// Whether a typed id names this one: at least the short form, any case, surrounding
    /// spaces ignored; longer prefixes disambiguate.
    pub fn matches(&self, typed: &str) -> bool {
        let typed = typed.trim();
        typed.len() >= SHORT_LEN
            && typed.len() <= FULL_LEN
            && typed
                .bytes()
                .zip(self.0)
                .all(|(t, c)| t.to_ascii_lowercase() == c)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// As its 16 characters (the task index and `--json` output keep the whole id).
impl serde::Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TaskId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes: [u8; FULL_LEN] = text
            .as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; FULL_LEN]| b.iter().all(|c| ALPHABET.contains(c)))
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a task id")))?;
        Ok(TaskId(bytes))
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_fixed_for_fixed_input() {
        // Frozen: a change here renames every task id users have seen.
        let id = TaskId::new("notes/a.md", "- [ ] buy milk", 0);
        let hash = blake3::hash(b"notes/a.md\0- [ ] buy milk\x000");
        let bits = hash.as_bytes()[..10]
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        let expected: String = (0..FULL_LEN)
            .map(|i| ALPHABET[((bits >> (5 * (FULL_LEN - 1 - i))) & 31) as usize] as char)
            .collect();
        assert_eq!(id.as_str(), expected);
        assert_eq!(id.short(), &expected[..SHORT_LEN]);
        assert_eq!(id.to_string(), &expected[..SHORT_LEN]);
        assert!(id.as_str().bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn every_input_part_changes_the_id() {
        let base = TaskId::new("a.md", "- [ ] x", 0);
        assert_eq!(base, TaskId::new("a.md", "- [ ] x", 0));
        assert_ne!(base, TaskId::new("b.md", "- [ ] x", 0), "path");
        assert_ne!(base, TaskId::new("a.md", "- [x] x", 0), "line");
        assert_ne!(base, TaskId::new("a.md", "- [ ] x", 1), "occurrence");
        // The separator keeps "a.md" + "x" apart from "a.m" + "dx".
        assert_ne!(TaskId::new("a.m", "d", 0), TaskId::new("a.", "md", 0));
    }

    #[test]
    fn matches_short_long_and_any_case() {
        let id = TaskId::new("a.md", "- [ ] x", 0);
        let full = id.as_str().to_owned();
        assert!(id.matches(&full));
        assert!(id.matches(&full[..SHORT_LEN]));
        assert!(id.matches(&full[..10].to_uppercase()));
        assert!(id.matches(&format!(" {} ", &full[..SHORT_LEN])));
        assert!(!id.matches(&full[..SHORT_LEN - 1]), "too short");
        assert!(!id.matches(&format!("{full}a")), "too long");
        let other = TaskId::new("a.md", "- [ ] y", 0);
        assert!(!id.matches(other.short()));
    }
}
