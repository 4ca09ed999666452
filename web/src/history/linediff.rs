//! A readable line diff of two versions of a file (pure): unified hunks with a few lines of
//! context, each line numbered on its side. Binary content (a NUL byte, or not UTF-8) is not
//! diffed; the page says so. Huge inputs are cut off by a deadline inside `similar` rather
//! than tying up the server.

use std::time::Duration;

use similar::{ChangeTag, TextDiff};

/// Lines of context around each change.
pub const CONTEXT: usize = 3;
/// Longest a diff may compute before `similar` falls back to a coarser answer.
const DEADLINE: Duration = Duration::from_millis(300);
/// Larger files are not diffed line by line (the page offers both downloads).
pub const MAX_DIFF_BYTES: usize = 4 * 1024 * 1024;

/// What a line of a hunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Same,
    Ins,
    Del,
}

/// One line of a hunk, without its line break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub old_no: Option<usize>,
    pub new_no: Option<usize>,
    pub text: String,
}

impl Line {
    /// The CSS class of the line (`.diff .ins/.del` in static/style.css).
    pub fn class(&self) -> &'static str {
        match self.kind {
            LineKind::Same => "same",
            LineKind::Ins => "ins",
            LineKind::Del => "del",
        }
    }

    /// The unified-diff marker.
    pub fn marker(&self) -> &'static str {
        match self.kind {
            LineKind::Same => " ",
            LineKind::Ins => "+",
            LineKind::Del => "-",
        }
    }

    pub fn old_label(&self) -> String {
        self.old_no.map(|n| n.to_string()).unwrap_or_default()
    }

    pub fn new_label(&self) -> String {
        self.new_no.map(|n| n.to_string()).unwrap_or_default()
    }
}

/// A run of changed lines with their context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// `@@ -a,b +c,d @@`
    pub header: String,
    pub lines: Vec<Line>,
}

/// The diff of two versions, as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineDiff {
    /// The same bytes.
    Same,
    /// One side is not text: not diffed.
    Binary,
    /// Too large to diff here.
    TooLarge,
    Hunks {
        hunks: Vec<Hunk>,
        added: usize,
        removed: usize,
    },
}

fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// The diff from `old` to `new` (either may be empty: a file that did not exist).
pub fn line_diff(old: &[u8], new: &[u8]) -> LineDiff {
    if old == new {
        return LineDiff::Same;
    }
    if !is_text(old) || !is_text(new) {
        return LineDiff::Binary;
    }
    if old.len() > MAX_DIFF_BYTES || new.len() > MAX_DIFF_BYTES {
        return LineDiff::TooLarge;
    }
    let (old, new) = (
        std::str::from_utf8(old).unwrap_or_default(),
        std::str::from_utf8(new).unwrap_or_default(),
    );
    let diff = TextDiff::configure().timeout(DEADLINE).diff_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let mut hunks = Vec::new();
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (o, n) = (first.old_range().start, first.new_range().start);
        let (o_end, n_end) = (last.old_range().end, last.new_range().end);
        let header = format!("@@ -{},{} +{},{} @@", o + 1, o_end - o, n + 1, n_end - n);
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Same,
                    ChangeTag::Insert => {
                        added += 1;
                        LineKind::Ins
                    }
                    ChangeTag::Delete => {
                        removed += 1;
                        LineKind::Del
                    }
                };
                let text = change.value();
                let text = text.strip_suffix('\n').unwrap_or(text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                lines.push(Line {
                    kind,
                    old_no: change.old_index().map(|i| i + 1),
                    new_no: change.new_index().map(|i| i + 1),
                    text: text.to_string(),
                });
            }
        }
        hunks.push(Hunk { header, lines });
    }
    LineDiff::Hunks {
        hunks,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_is_a_deletion_and_an_insertion_with_context() {
        let old = b"one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n";
        let new = b"one\ntwo\nthree\nfour\nFIVE\nsix\nseven\neight\nnine\n";
        let LineDiff::Hunks {
            hunks,
            added,
            removed,
        } = line_diff(old, new)
        else {
            panic!("not a diff");
        };
        assert_eq!((added, removed), (1, 1));
        assert_eq!(hunks.len(), 1);
        assert_eq!(hunks[0].header, "@@ -2,7 +2,7 @@");
        let kinds: Vec<(&str, &str)> = hunks[0]
            .lines
            .iter()
            .map(|l| (l.marker(), l.text.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (" ", "two"),
                (" ", "three"),
                (" ", "four"),
                ("-", "five"),
                ("+", "FIVE"),
                (" ", "six"),
                (" ", "seven"),
                (" ", "eight"),
            ]
        );
        assert_eq!(hunks[0].lines[3].old_no, Some(5));
        assert_eq!(hunks[0].lines[4].new_no, Some(5));
        assert_eq!(hunks[0].lines[4].class(), "ins");
    }

    #[test]
    fn far_apart_changes_are_separate_hunks() {
        let old: String = (1..=40).map(|i| format!("{i}\n")).collect();
        let new = old
            .replace("\n5\n", "\nfive\n")
            .replace("\n35\n", "\nthirty-five\n");
        let LineDiff::Hunks { hunks, .. } = line_diff(old.as_bytes(), new.as_bytes()) else {
            panic!("not a diff");
        };
        assert_eq!(hunks.len(), 2);
    }

    #[test]
    fn same_binary_and_new_files() {
        assert_eq!(line_diff(b"a\n", b"a\n"), LineDiff::Same);
        assert_eq!(line_diff(b"a\n", b"\x00\x01"), LineDiff::Binary);
        assert_eq!(line_diff(b"\xff\xfe", b"a"), LineDiff::Binary);
        let LineDiff::Hunks { added, removed, .. } = line_diff(b"", b"x\ny\n") else {
            panic!("not a diff");
        };
        assert_eq!((added, removed), (2, 0));
    }
}
