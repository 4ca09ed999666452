//! YAML front matter: where it is, and the note-level tags in it.
//!
//! Only what editors agree on counts as front matter: a `---` line at the very start of the file
//! (after an optional UTF-8 byte order mark) up to the next `---` or `...` line. Anything else
//! that looks like it is ordinary markdown (a `---` later in a note is a thematic break).

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// The front matter block of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatter {
    /// Bytes of the YAML between the fences (may be empty).
    pub yaml: Range<usize>,
    /// Where the markdown after the closing fence (and its line ending) starts.
    pub body_start: usize,
}

/// Length of a UTF-8 byte order mark at the start of `text`, so callers can skip it.
pub fn bom_len(text: &str) -> usize {
    if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

/// Finds the front matter block; `None` when the note has none or its block is never closed
/// (then the `---` is markdown, as editors show it).
pub fn locate(text: &str) -> Option<FrontMatter> {
    let start = bom_len(text);
    let mut lines = LineIter { text, pos: start };
    let (first, _) = lines.next()?;
    if text[first].trim_end_matches([' ', '\t']) != "---" {
        return None;
    }
    let yaml_start = lines.pos;
    for (line, next) in lines {
        let fence = text[line.clone()].trim_end_matches([' ', '\t']);
        if fence == "---" || fence == "..." {
            return Some(FrontMatter {
                yaml: yaml_start..line.start,
                body_start: next,
            });
        }
    }
    None
}

/// Lines of `text` from `pos` on, each as (content without its ending, start of the next line).
struct LineIter<'a> {
    text: &'a str,
    pos: usize,
}

impl Iterator for LineIter<'_> {
    type Item = (Range<usize>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text.as_bytes()[self.pos..];
        let (content, ending) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => (rest.len(), 0),
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (i, 2),
            Some(i) => (i, 1),
        };
        let line = self.pos..self.pos + content;
        self.pos += content + ending;
        Some((line, self.pos))
    }
}

/// The note-level tags of a front matter block (`tags:` or `tag:`), without `#`.
///
/// Malformed YAML or a `tags` value of the wrong shape is an `Err` with a message for the note's
/// warnings: a note with broken front matter still has its tasks.
pub fn tags(yaml: &str) -> Result<Vec<String>, String> {
    if yaml.trim().is_empty() {
        return Ok(Vec::new());
    }
    let fields: Fields = serde_saphyr::from_str(yaml).map_err(|e| {
        // The first line says what went wrong; the rest is a source excerpt we do not need.
        let message = e.to_string();
        message.lines().next().unwrap_or("unreadable").to_owned()
    })?;
    let mut out = Vec::new();
    for list in [fields.tags, fields.tag].into_iter().flatten() {
        for tag in list.0 {
            let tag = tag.trim_start_matches('#');
            if !tag.is_empty() && !out.iter().any(|t| t == tag) {
                out.push(tag.to_owned());
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    tags: Option<TagList>,
    #[serde(default)]
    tag: Option<TagList>,
}

/// Tags as people write them: a YAML list, or one string separated by commas and/or spaces.
struct TagList(Vec<String>);

impl<'de> Deserialize<'de> for TagList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TagListVisitor)
    }
}

struct TagListVisitor;

fn split_tags(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

impl<'de> Visitor<'de> for TagListVisitor {
    type Value = TagList;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tag, a list of tags or a comma separated string of tags")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<TagList, E> {
        Ok(TagList(split_tags(v).collect()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TagList, E> {
        Ok(TagList(vec![v.to_string()]))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TagList, E> {
        Ok(TagList(vec![v.to_string()]))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<TagList, E> {
        Ok(TagList(vec![v.to_string()]))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<TagList, E> {
        Ok(TagList(vec![v.to_string()]))
    }

    fn visit_unit<E: de::Error>(self) -> Result<TagList, E> {
        Ok(TagList(Vec::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<TagList, E> {
        Ok(TagList(Vec::new()))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<TagList, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TagList, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Option<TagScalar>>()? {
            if let Some(TagScalar(text)) = item {
                out.extend(split_tags(&text));
            }
        }
        Ok(TagList(out))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<TagList, A::Error> {
        Err(de::Error::custom(
            "tags is a mapping, expected a list of tags",
        ))
    }
}

/// One list entry: any scalar, as text (`- 2024` is a tag too).
struct TagScalar(String);

impl<'de> Deserialize<'de> for TagScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = deserializer.deserialize_any(ScalarOnly)?;
        Ok(TagScalar(list))
    }
}

struct ScalarOnly;

impl<'de> Visitor<'de> for ScalarOnly {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tag")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(de::Error::custom("a tag in the list is itself a list"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<String, A::Error> {
        Err(de::Error::custom("a tag in the list is a mapping"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_only_a_block_at_the_start() {
        // (name, text, (yaml, body start))
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, usize)>);
        let cases: &[Case] = &[
            ("plain note", "# Title\n---\nx\n---\n", None),
            (
                "lf block",
                "---\ntags: a\n---\nbody",
                Some(("tags: a\n", 16)),
            ),
            (
                "crlf block",
                "---\r\ntags: a\r\n---\r\nbody",
                Some(("tags: a\r\n", 19)),
            ),
            ("dots close", "---\na: 1\n...\nbody", Some(("a: 1\n", 13))),
            ("empty block", "---\n---\n", Some(("", 8))),
            (
                "bom before",
                "\u{feff}---\na: 1\n---\n",
                Some(("a: 1\n", 16)),
            ),
            ("never closed", "---\na: 1\n", None),
            ("space before fence", " ---\na: 1\n---\n", None),
            ("closed at eof", "---\na: 1\n---", Some(("a: 1\n", 12))),
        ];
        for (name, text, want) in cases {
            let got = locate(text).map(|fm| (&text[fm.yaml], fm.body_start));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn tags_in_every_shape() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "block list",
                "tags:\n  - work\n  - home/garden\n",
                &["work", "home/garden"],
            ),
            ("flow list", "tags: [work, '#urgent']", &["work", "urgent"]),
            ("comma string", "tags: work, home", &["work", "home"]),
            ("space string", "tags: work home", &["work", "home"]),
            ("single tag key", "tag: solo", &["solo"]),
            (
                "both keys, deduplicated",
                "tags: [a, b]\ntag: b",
                &["a", "b"],
            ),
            ("number tag", "tags: [2024]", &["2024"]),
            ("null tags", "tags:\n", &[]),
            ("no tags", "title: x\n", &[]),
            (
                "other keys ignored",
                "title: x\nlist: {a: 1}\ntags: t",
                &["t"],
            ),
            ("japanese", "tags: [日本語, проект]", &["日本語", "проект"]),
        ];
        for (name, yaml, want) in cases {
            let want: Vec<String> = want.iter().map(ToString::to_string).collect();
            assert_eq!(tags(yaml), Ok(want), "{name}");
        }
    }

    #[test]
    fn malformed_yaml_is_an_error_message_not_a_panic() {
        for (name, yaml) in [
            ("unclosed flow", "tags: [a, b\n"),
            ("bad indentation", "tags:\n  - a\n - b\n"),
            ("tags mapping", "tags: {a: 1}\n"),
            ("not a mapping", "- just\n- a list\n"),
            ("tab indentation", "tags:\n\t- a\n"),
        ] {
            let got = tags(yaml);
            assert!(got.is_err(), "{name}: {got:?}");
            assert!(!got.unwrap_err().is_empty(), "{name}");
        }
    }
}
