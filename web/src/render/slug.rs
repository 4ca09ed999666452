//! Heading ids: the same slug for a heading and for a link to it (`[[Note#My Heading]]`,
//! `[[#My Heading]]`), so heading links land whatever the case and punctuation of the link.

use std::collections::HashMap;

/// The id of a heading with `text`: lower-cased; letters and digits (any script) kept;
/// spaces, `-` and `_` become one `-`; other punctuation dropped. Empty: `section`.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut dash = false;
    for c in text.trim().chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(c.to_lowercase());
        } else if c.is_whitespace() || c == '-' || c == '_' {
            dash = true;
        }
    }
    if out.is_empty() {
        out.push_str("section");
    }
    out
}

/// The id an `^id` block reference becomes (`[[Note#^id]]` links to it).
pub fn block_id(id: &str) -> String {
    format!("block-{id}")
}

/// The anchor a link's fragment (`Heading`, `Parent#Child`, `^block`) points at.
pub fn fragment(frag: &str) -> String {
    let last = frag.rsplit('#').next().unwrap_or(frag);
    match last.strip_prefix('^') {
        Some(block) => block_id(block),
        None => slug(last),
    }
}

/// Unique ids for the headings of one page: the second "Notes" heading is `notes-1`.
#[derive(Default)]
pub struct Slugger {
    seen: HashMap<String, usize>,
}

impl Slugger {
    pub fn unique(&mut self, text: &str) -> String {
        let base = slug(text);
        let n = self.seen.entry(base.clone()).or_insert(0);
        let id = if *n == 0 { base } else { format!("{base}-{n}") };
        *n += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (text, want) in [
            ("Goals", "goals"),
            ("My  Heading", "my-heading"),
            (" Trailing space ", "trailing-space"),
            ("What's new?", "whats-new"),
            ("a_b-c d", "a-b-c-d"),
            ("日本語 の 見出し", "日本語-の-見出し"),
            ("Ünïcödé", "ünïcödé"),
            ("!!!", "section"),
            ("<script>alert(1)</script>", "scriptalert1script"),
        ] {
            assert_eq!(slug(text), want, "{text}");
        }
    }

    #[test]
    fn fragments_and_duplicates() {
        assert_eq!(fragment("Goals"), "goals");
        assert_eq!(fragment("Plan#Goals"), "goals");
        assert_eq!(fragment("^abc-1"), "block-abc-1");
        let mut s = Slugger::default();
        assert_eq!(s.unique("Notes"), "notes");
        assert_eq!(s.unique("notes"), "notes-1");
        assert_eq!(s.unique("Other"), "other");
    }
}
