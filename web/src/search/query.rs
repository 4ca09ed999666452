//! What the user typed, as a query: every word must be found (in the note's name or its text),
//! a word of several tokens (a Japanese word's bigrams, `foo-bar`) and a `"quoted phrase"` as
//! a phrase. The text is never parsed as a query language: quotes are the only syntax, and an
//! unbalanced one simply ends at the end of the text, so no input is a syntax error.

use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

use super::tokenizer::{Mode, tokens};

/// At most this many words of a query count (the rest are ignored).
pub const MAX_PARTS: usize = 16;
/// At most this many tokens of one word or phrase count.
pub const MAX_PHRASE_TOKENS: usize = 32;
/// A hit in the note's name weighs this much more than one in its text.
pub const NAME_BOOST: f32 = 4.0;

/// One word or phrase of a query: its tokens with their positions relative to the first.
pub type Part = Vec<(usize, String)>;

/// The words and phrases of `q`, tokenized as notes are.
pub fn parts(q: &str) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    for (k, chunk) in q.split('"').enumerate() {
        let quoted = k % 2 == 1;
        let pieces: Vec<&str> = if quoted {
            vec![chunk]
        } else {
            chunk.split_whitespace().collect()
        };
        for piece in pieces {
            let toks = tokens(piece, Mode::Query);
            let Some(first) = toks.first().map(|t| t.position) else {
                continue;
            };
            let part: Part = toks
                .into_iter()
                .take(MAX_PHRASE_TOKENS)
                .map(|t| (t.position - first, t.text))
                .collect();
            if !out.contains(&part) {
                out.push(part);
            }
        }
    }
    out.truncate(MAX_PARTS);
    out
}

/// The query of one part in one field: a term, or the phrase of its tokens.
fn in_field(field: Field, part: &Part) -> Box<dyn Query> {
    if let [(_, text)] = part.as_slice() {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::WithFreqs,
        ))
    } else {
        Box::new(PhraseQuery::new_with_offset(
            part.iter()
                .map(|(pos, text)| (*pos, Term::from_field_text(field, text)))
                .collect(),
        ))
    }
}

/// Every part must be found in `name` or `body`; a hit in `name` counts [`NAME_BOOST`] times.
/// `None` when there is nothing to look for.
pub fn build(parts: &[Part], name: Field, body: Field) -> Option<Box<dyn Query>> {
    if parts.is_empty() {
        return None;
    }
    let clauses = parts
        .iter()
        .map(|part| {
            let either: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(in_field(name, part), NAME_BOOST)) as Box<dyn Query>,
                ),
                (Occur::Should, in_field(body, part)),
            ]));
            (Occur::Must, either)
        })
        .collect();
    Some(Box::new(BooleanQuery::new(clauses)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(q: &str) -> Vec<Vec<&'static str>> {
        parts(q)
            .into_iter()
            .map(|p| {
                p.into_iter()
                    .map(|(_, t)| &*Box::leak(t.into_boxed_str()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn words_phrases_and_syntax_characters_are_plain_text() {
        let table: &[(&str, &[&[&str]])] = &[
            ("", &[]),
            ("   ", &[]),
            ("Tokyo meeting", &[&["tokyo"], &["meeting"]]),
            ("\"new sync tool\"", &[&["new", "sync", "tool"]]),
            ("\"unbalanced quote", &[&["unbalanced", "quote"]]),
            (
                "title:foo AND (bar OR baz*)",
                &[&["title", "foo"], &["and"], &["bar"], &["or"], &["baz"]],
            ),
            (
                "<script>alert(1)</script>",
                &[&["script", "alert", "1", "script"]],
            ),
            ("同期ツール", &[&["同期", "期ツ", "ツー", "ール"]]),
            ("東", &[&["東"]]),
            ("foo foo", &[&["foo"]]),
            ("!!! ??", &[]),
        ];
        for (q, want) in table {
            let want: Vec<Vec<&str>> = want.iter().map(|p| p.to_vec()).collect();
            assert_eq!(texts(q), want, "{q}");
        }
    }

    #[test]
    fn positions_keep_the_gaps_between_cjk_runs() {
        // "東京 会議": the index puts 会議 two positions after 東京 (東, 京 each take one).
        assert_eq!(
            parts("\"東京 会議\""),
            vec![vec![(0, "東京".to_string()), (2, "会議".to_string())]]
        );
    }

    #[test]
    fn long_queries_are_bounded() {
        let q = (0..100)
            .map(|k| format!("w{k}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(parts(&q).len(), MAX_PARTS);
        let long = format!("\"{}\"", "a ".repeat(100));
        assert_eq!(parts(&long)[0].len(), MAX_PHRASE_TOKENS);
    }
}
