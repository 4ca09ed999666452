//! What of a note is indexed: its name and the text a reader sees, not its markdown syntax
//! (`**`, `[[`, `#`, link targets, raw HTML tags), so that syntax neither matches queries nor
//! fills the snippets. The text is kept (stored in the index) for the snippets.

use pulldown_cmark::{Event, Options, Parser, TagEnd};
use vault::paths::VaultPath;

/// Only so much of a note's text is indexed (a larger note is found by its beginning).
pub const MAX_TEXT_BYTES: usize = 512 * 1024;
/// Files larger than this are indexed by name only (not read).
pub const MAX_NOTE_BYTES: u64 = 4 * 1024 * 1024;

/// Whether `path` is a note the index holds: markdown, outside `.revisions/` and hidden
/// folders (`.obsidian/`, `.trash/`).
pub fn is_note(path: &VaultPath) -> bool {
    vault::markdown::is_task_source(path) && !path.as_str().split('/').any(|s| s.starts_with('.'))
}

/// The note's name: its file name without `.md`.
pub fn note_name(path: &VaultPath) -> &str {
    let file = path.file_name();
    match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file,
    }
}

/// The folder a note is in (`""` at the root).
pub fn folder_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(folder, _)| folder)
}

/// The readable text of a markdown note: its text, code and front matter, one line per block,
/// without markup; raw HTML reduced to the text between its tags.
pub fn plain_text(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_WIKILINKS;
    let mut out = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str(&t)
            }
            Event::Html(h) | Event::InlineHtml(h) => strip_tags(&h, &mut out),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak | Event::Rule => out.push('\n'),
            Event::End(end) => match end {
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Superscript
                | TagEnd::Subscript
                | TagEnd::Link
                | TagEnd::Image => {}
                TagEnd::TableCell => out.push(' '),
                _ => out.push('\n'),
            },
            _ => {}
        }
        if out.len() > MAX_TEXT_BYTES {
            break;
        }
    }
    tidy(&out)
}

/// The text of an HTML fragment between its tags (comments and tags dropped).
fn strip_tags(html: &str, out: &mut String) {
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
}

/// Lines trimmed, runs of spaces and empty lines collapsed, cut at [`MAX_TEXT_BYTES`] (on a
/// character boundary).
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_none() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        for (k, w) in words.enumerate() {
            if k > 0 {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    if out.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_dropped_and_text_kept() {
        let table: &[(&str, &str)] = &[
            (
                "# Title\n\nSome **bold** and _em_ text.",
                "Title\nSome bold and em text.",
            ),
            (
                "See [[Projects/Plan]] and [[日記/2026-12-01|the diary]].",
                "See Projects/Plan and the diary.",
            ),
            ("A [link](https://example.com/x?y=1) here", "A link here"),
            (
                "- [ ] Write the report\n- [x] Done",
                "Write the report\nDone",
            ),
            (
                "---\ntags: [plan, work]\n---\n# Plan",
                "tags: [plan, work]\nPlan",
            ),
            ("| a | b |\n|---|---|\n| c | d |", "a b\nc d"),
            ("Use `cargo test` now", "Use cargo test now"),
            ("```\nfn main() {}\n```", "fn main() {}"),
            ("line one\nline two", "line one line two"),
            ("", ""),
        ];
        for (md, want) in table {
            assert_eq!(plain_text(md), *want, "{md}");
        }
    }

    #[test]
    fn raw_html_keeps_only_its_text() {
        let text = plain_text("<div onclick=\"x()\">hello <b>there</b></div>\n\nafter");
        assert!(!text.contains('<') && !text.contains("onclick"), "{text}");
        assert!(text.contains("hello") && text.contains("there") && text.contains("after"));
        // Escaped or code HTML is text, kept as written (the snippet escapes it).
        assert_eq!(plain_text("`<script>`"), "<script>");
    }

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let md = "日本語のテキスト。".repeat(MAX_TEXT_BYTES / 9);
        let text = plain_text(&md);
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert!(text.ends_with(|c: char| c != '\u{FFFD}'));
    }

    #[test]
    fn notes_are_markdown_outside_revisions_and_hidden_folders() {
        let p = |s: &str| VaultPath::new(s).unwrap();
        assert!(is_note(&p("a/b.md")));
        assert!(is_note(&p("日記/2026-12-01.md")));
        assert!(!is_note(&p("a/b.png")));
        assert!(!is_note(&p(".revisions/b.md")));
        assert!(!is_note(&p(".obsidian/x.md")));
        assert_eq!(note_name(&p("a/My Note.md")), "My Note");
        assert_eq!(folder_of("a/b/c.md"), "a/b");
        assert_eq!(folder_of("c.md"), "");
    }
}
