//! How a filesystem compares names: exactly (Linux), ignoring case (NTFS, APFS and exFAT as
//! usually formatted), or ignoring case and storing names decomposed (HFS+).

use std::ffi::{OsStr, OsString};

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Names {
    /// Two names are the same only byte for byte.
    Exact,
    /// Case-insensitive, case-preserving; `é` composed and decomposed are the same name too.
    CaseInsensitive,
    /// As [`Names::CaseInsensitive`], and a name is stored decomposed (NFD): a file created as
    /// `café.md` (composed) is listed back as `cafe\u{301}.md`.
    Normalising,
}

impl Names {
    /// The key two names share when this filesystem takes them for the same name.
    pub fn key(self, name: &OsStr) -> OsString {
        match (self, name.to_str()) {
            (Names::Exact, _) | (_, None) => name.to_os_string(),
            (_, Some(s)) => s.nfc().collect::<String>().to_lowercase().into(),
        }
    }

    /// The name as the filesystem stores it when a file is created as `name`.
    pub fn stored(self, name: &OsStr) -> OsString {
        match (self, name.to_str()) {
            (Names::Normalising, Some(s)) => s.nfd().collect::<String>().into(),
            _ => name.to_os_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_as_each_filesystem_does() {
        let (upper, lower) = (OsStr::new("Note.md"), OsStr::new("note.md"));
        assert_ne!(Names::Exact.key(upper), Names::Exact.key(lower));
        assert_eq!(
            Names::CaseInsensitive.key(upper),
            Names::CaseInsensitive.key(lower)
        );
        let (composed, decomposed) = (OsStr::new("caf\u{e9}.md"), OsStr::new("cafe\u{301}.md"));
        assert_eq!(
            Names::Normalising.key(composed),
            Names::Normalising.key(decomposed)
        );
        assert_eq!(Names::Normalising.stored(composed), decomposed);
        assert_eq!(Names::CaseInsensitive.stored(composed), composed);
    }
}
