//! The search index's tokenizer, the same for notes and for what the user types.
//!
//! Words of alphabetic scripts (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Hangul…)
//! are runs of letters, digits and combining marks, NFKC-normalised and lowercased, so `Café`,
//! `ПРИВЕТ` and a fullwidth `ＡＢＣ` are found as `café`, `привет`, `abc`. Chinese and Japanese
//! have no spaces between words, so a run of Han, Hiragana and Katakana becomes overlapping
//! character bigrams (`東京都` -> `東京`, `京都`) at consecutive positions: a word of any length
//! is the phrase of its bigrams. When indexing, each CJK character is also emitted alone at the
//! position of its bigram, so a one-character query (`東`) finds it too; a query emits only
//! bigrams (a one-character run: the character), so `東京` does not match every `東`.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The name the tokenizer is registered under in every index.
pub const NAME: &str = "vault_words";

/// What the tokens are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A note: bigrams and single characters for CJK runs.
    Index,
    /// A query: bigrams only (a one-character run: the character).
    Query,
}

/// Chinese and Japanese script characters, which are not separated by spaces.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3005}'..='\u{3007}'   // 々 〆 〇
        | '\u{3040}'..='\u{309F}' // Hiragana
        | '\u{30A0}'..='\u{30FF}' // Katakana (with ー)
        | '\u{31F0}'..='\u{31FF}' // Katakana phonetic extensions
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{F900}'..='\u{FAFF}' // compatibility ideographs
        | '\u{FF66}'..='\u{FF9F}' // halfwidth Katakana
        | '\u{20000}'..='\u{3134F}' // extensions B–G
    )
}

/// A character that belongs to a word of an alphabetic script.
fn is_word(c: char) -> bool {
    !is_cjk(c) && (c.is_alphanumeric() || is_combining_mark(c))
}

/// How a word's text is indexed: NFKC, then lowercase.
fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

/// The tokens of `text`, with byte offsets into it and positions.
pub fn tokens(text: &str, mode: Mode) -> Vec<Token> {
    let mut out = Vec::new();
    let mut position = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if is_cjk(c) {
            let mut run: Vec<(usize, char)> = Vec::new();
            while let Some(&(i, c)) = chars.peek()
                && is_cjk(c)
            {
                run.push((i, c));
                chars.next();
            }
            let end = chars.peek().map_or(text.len(), |&(i, _)| i);
            position = cjk_run(text, &run, end, position, mode, &mut out);
        } else if is_word(c) {
            let mut end = text.len();
            while let Some(&(i, c)) = chars.peek() {
                if !is_word(c) {
                    end = i;
                    break;
                }
                chars.next();
            }
            out.push(token(start, end, position, fold(&text[start..end])));
            position += 1;
        } else {
            chars.next();
        }
    }
    out
}

/// The tokens of one CJK run (`run`: byte offset and char; `end`: the byte after it); the
/// position after it.
fn cjk_run(
    text: &str,
    run: &[(usize, char)],
    end: usize,
    first: usize,
    mode: Mode,
    out: &mut Vec<Token>,
) -> usize {
    let at = |k: usize| run.get(k).map_or(end, |&(i, _)| i);
    if run.len() == 1 {
        out.push(token(at(0), at(1), first, fold(&text[at(0)..at(1)])));
        return first + 1;
    }
    for k in 0..run.len() {
        let position = first + k;
        if mode == Mode::Index {
            out.push(token(
                at(k),
                at(k + 1),
                position,
                fold(&text[at(k)..at(k + 1)]),
            ));
        }
        if k + 1 < run.len() {
            out.push(token(
                at(k),
                at(k + 2),
                position,
                fold(&text[at(k)..at(k + 2)]),
            ));
        }
    }
    first + run.len()
}

fn token(from: usize, to: usize, position: usize, text: String) -> Token {
    Token {
        offset_from: from,
        offset_to: to,
        position,
        text,
        position_length: 1,
    }
}

/// [`tokens`] as a tantivy tokenizer (always [`Mode::Index`]: tantivy uses it to index notes
/// and to find the words of a snippet).
#[derive(Clone, Default)]
pub struct VaultTokenizer;

pub struct VaultTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for VaultTokenizer {
    type TokenStream<'a> = VaultTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VaultTokenStream {
        VaultTokenStream {
            tokens: tokens(text, Mode::Index),
            next: 0,
        }
    }
}

impl TokenStream for VaultTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, position) of each token.
    fn words(text: &str, mode: Mode) -> Vec<(String, usize)> {
        tokens(text, mode)
            .into_iter()
            .map(|t| (t.text, t.position))
            .collect()
    }

    fn texts(text: &str, mode: Mode) -> Vec<String> {
        tokens(text, mode).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn alphabetic_words_are_lowercased_and_split_at_punctuation() {
        let table: &[(&str, &[&str])] = &[
            ("Hello, World!", &["hello", "world"]),
            (
                "**bold** and [[Link|alias]]",
                &["bold", "and", "link", "alias"],
            ),
            (
                "https://example.com/a_b?x=1",
                &["https", "example", "com", "a", "b", "x", "1"],
            ),
            ("2026-12-01", &["2026", "12", "01"]),
            ("Café CRÈME", &["café", "crème"]),
            ("ПРИВЕТ мир", &["привет", "мир"]),
            ("ΣΟΦΙΑ", &["σοφια"]),
            ("مرحبا بالعالم", &["مرحبا", "بالعالم"]),
            ("שלום", &["שלום"]),
            ("ＡＢＣ１２", &["abc12"]),
            ("", &[]),
            ("  ... --- !!! ", &[]),
        ];
        for (text, want) in table {
            assert_eq!(texts(text, Mode::Index), *want, "{text}");
            assert_eq!(texts(text, Mode::Query), *want, "{text}");
        }
    }

    #[test]
    fn combining_marks_stay_in_their_word_and_compose() {
        // e + COMBINING ACUTE is the same word as é; Arabic harakat and Devanagari vowel
        // signs do not split a word.
        assert_eq!(texts("cafe\u{301} noir", Mode::Query), ["café", "noir"]);
        assert_eq!(texts("كَتَبَ الدرس", Mode::Query), ["كَتَبَ", "الدرس"]);
        assert_eq!(texts("नमस्ते दुनिया", Mode::Query), ["नमस्ते", "दुनिया"]);
    }

    #[test]
    fn cjk_runs_become_bigrams_with_single_characters_when_indexing() {
        assert_eq!(
            words("東京都", Mode::Index),
            [
                ("東".into(), 0),
                ("東京".into(), 0),
                ("京".into(), 1),
                ("京都".into(), 1),
                ("都".into(), 2)
            ]
        );
        assert_eq!(
            words("東京都", Mode::Query),
            [("東京".into(), 0), ("京都".into(), 1)]
        );
        assert_eq!(words("東", Mode::Query), [("東".into(), 0)]);
        assert_eq!(words("東", Mode::Index), [("東".into(), 0)]);
    }

    #[test]
    fn japanese_kana_and_kanji_form_one_run_and_punctuation_ends_it() {
        assert_eq!(
            texts("同期ツール。会議", Mode::Query),
            ["同期", "期ツ", "ツー", "ール", "会議"]
        );
        // Halfwidth katakana are folded to fullwidth.
        assert_eq!(texts("ﾂｰﾙ", Mode::Query), ["ツー", "ール"]);
    }

    #[test]
    fn mixed_scripts_get_consecutive_positions() {
        // A CJK run takes one position per character (its last one holds only the single
        // character when indexing).
        assert_eq!(
            words("Sync同期ツールv2 мир", Mode::Query),
            [
                ("sync".into(), 0),
                ("同期".into(), 1),
                ("期ツ".into(), 2),
                ("ツー".into(), 3),
                ("ール".into(), 4),
                ("v2".into(), 6),
                ("мир".into(), 7)
            ]
        );
    }

    #[test]
    fn a_query_is_the_phrase_of_the_bigrams_at_the_same_relative_positions() {
        // 同期ツール inside a sentence: its query bigrams appear in the indexed tokens at
        // consecutive positions.
        let note = tokens("新しい同期ツールについて", Mode::Index);
        let query = tokens("同期ツール", Mode::Query);
        let first = note
            .iter()
            .find(|t| t.text == query[0].text)
            .unwrap()
            .position;
        for (k, q) in query.iter().enumerate() {
            assert!(
                note.iter()
                    .any(|t| t.text == q.text && t.position == first + k),
                "{}",
                q.text
            );
        }
    }

    #[test]
    fn offsets_point_at_the_original_text() {
        let text = "Ünïcode 東京!";
        for t in tokens(text, Mode::Index) {
            let slice = &text[t.offset_from..t.offset_to];
            assert_eq!(fold(slice), t.text);
        }
    }
}
