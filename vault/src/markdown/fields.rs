//! The fields of one task line: Obsidian Tasks emoji fields, Dataview inline fields, tags.
//!
//! Fields are found anywhere in the text after the checkbox, not only at its end, so a task edited
//! by hand with a tag after its due date still has its due date. Text inside code spans never
//! holds a field or a tag: it is what the writer wanted shown literally.

use std::ops::Range;

use jiff::civil::Date;

/// Obsidian Tasks priorities, most urgent first, so sorting by priority puts urgent tasks first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Highest,
    High,
    Medium,
    Low,
    Lowest,
}

impl Priority {
    /// The name the Dataview form and the command line use.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Highest => "highest",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
            Priority::Lowest => "lowest",
        }
    }

    /// The emoji the Tasks plugin writes.
    pub fn emoji(self) -> &'static str {
        match self {
            Priority::Highest => "🔺",
            Priority::High => "⏫",
            Priority::Medium => "🔼",
            Priority::Low => "🔽",
            Priority::Lowest => "⏬",
        }
    }

    /// Reads a Dataview `priority::` value; `Ok(None)` for the explicit "no priority" words.
    pub fn from_name(name: &str) -> Result<Option<Priority>, UnknownPriority> {
        Ok(Some(match name.to_ascii_lowercase().as_str() {
            "highest" => Priority::Highest,
            "high" => Priority::High,
            "medium" => Priority::Medium,
            "low" => Priority::Low,
            "lowest" => Priority::Lowest,
            "normal" | "none" | "" => return Ok(None),
            _ => return Err(UnknownPriority(name.to_owned())),
        }))
    }
}

/// A priority name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority {0:?} (highest, high, medium, low, lowest)")]
pub struct UnknownPriority(pub String);

/// The dated fields a task can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    Due,
    Scheduled,
    Start,
    Created,
    Done,
    Cancelled,
}

impl DateField {
    fn name(self) -> &'static str {
        match self {
            DateField::Due => "due",
            DateField::Scheduled => "scheduled",
            DateField::Start => "start",
            DateField::Created => "created",
            DateField::Done => "done",
            DateField::Cancelled => "cancelled",
        }
    }
}

/// What a field marker introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Date(DateField),
    Priority(Priority),
    /// Dataview's `priority::`, whose value names the priority.
    NamedPriority,
    Recurrence,
}

/// The Tasks plugin's emoji (with the alternatives it also reads).
fn emoji_kind(c: char) -> Option<Kind> {
    Some(match c {
        '📅' | '📆' | '🗓' => Kind::Date(DateField::Due),
        '⏳' | '⌛' => Kind::Date(DateField::Scheduled),
        '🛫' => Kind::Date(DateField::Start),
        '➕' => Kind::Date(DateField::Created),
        '✅' => Kind::Date(DateField::Done),
        '❌' => Kind::Date(DateField::Cancelled),
        '🔺' => Kind::Priority(Priority::Highest),
        '⏫' => Kind::Priority(Priority::High),
        '🔼' => Kind::Priority(Priority::Medium),
        '🔽' => Kind::Priority(Priority::Low),
        '⏬' => Kind::Priority(Priority::Lowest),
        '🔁' => Kind::Recurrence,
        _ => return None,
    })
}

/// Dataview keys for the same fields.
fn dataview_kind(key: &str) -> Option<Kind> {
    Some(match key.to_ascii_lowercase().as_str() {
        "due" => Kind::Date(DateField::Due),
        "scheduled" => Kind::Date(DateField::Scheduled),
        "start" => Kind::Date(DateField::Start),
        "created" => Kind::Date(DateField::Created),
        "completion" => Kind::Date(DateField::Done),
        "cancelled" => Kind::Date(DateField::Cancelled),
        "priority" => Kind::NamedPriority,
        "repeat" => Kind::Recurrence,
        _ => return None,
    })
}

/// When a task is due and how urgent it is: the fields a task list sorts and filters by.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Planning {
    pub due: Option<Date>,
    pub scheduled: Option<Date>,
    pub start: Option<Date>,
    pub created: Option<Date>,
    pub done: Option<Date>,
    pub cancelled: Option<Date>,
    pub priority: Option<Priority>,
    /// The rule as written (`every week when done`).
    pub recurrence: Option<String>,
}

/// Everything read from the text after a checkbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub planning: Planning,
    /// Tags without `#`, in order of appearance, each once.
    pub tags: Vec<String>,
    /// The text with the recognised fields taken out (tags stay: they are words of the text).
    pub description: String,
    /// Byte ranges of the recognised fields in the text (for editors of the line).
    pub spans: Vec<Range<usize>>,
    /// Fields that looked meant but could not be read; they stay in the description.
    pub warnings: Vec<String>,
}

impl Fields {
    fn date_slot(&mut self, field: DateField) -> &mut Option<Date> {
        match field {
            DateField::Due => &mut self.planning.due,
            DateField::Scheduled => &mut self.planning.scheduled,
            DateField::Start => &mut self.planning.start,
            DateField::Created => &mut self.planning.created,
            DateField::Done => &mut self.planning.done,
            DateField::Cancelled => &mut self.planning.cancelled,
        }
    }
}

/// Reads `YYYY-MM-DD` exactly; jiff alone would accept other ISO 8601 shapes that the Tasks
/// plugin does not write.
pub fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    let digits = |r: Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) {
        return None;
    }
    if !digits(8..10) {
        return None;
    }
    let year: i16 = text[0..4].parse().ok()?;
    let month: i8 = text[5..7].parse().ok()?;
    let day: i8 = text[8..10].parse().ok()?;
    Date::new(year, month, day).ok()
}

/// A day as a person types it in a filter: `YYYY-MM-DD` ([`parse_date`]), or `today`,
/// `tomorrow`, `yesterday` relative to `today` (any case). Shared by `syncd tasks --due-before`
/// and the server's web view, so both read the same days.
pub fn parse_day(text: &str, today: Date) -> Option<Date> {
    match text.trim().to_ascii_lowercase().as_str() {
        "today" => Some(today),
        "tomorrow" => today.tomorrow().ok(),
        "yesterday" => today.yesterday().ok(),
        _ => parse_date(text.trim()),
    }
}

/// A character that can be part of a tag (Obsidian: letters, digits, `_`, `-`, `/`).
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '/')
}

/// Reads the fields of `text`; bytes inside `code_spans` (ranges into `text`) are never fields.
pub fn parse_fields(text: &str, code_spans: &[Range<usize>]) -> Fields {
    // Code spans become 0x01 bytes, which are neither field markers, brackets, `#` nor
    // whitespace; the byte length is kept, so offsets found here index `text`.
    let mut bytes = text.as_bytes().to_vec();
    for span in code_spans {
        let span = span.start.min(bytes.len())..span.end.min(bytes.len());
        bytes[span].fill(1);
    }
    let masked = String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned());

    let mut fields = Fields::default();
    let mut pos = 0;
    while let Some(c) = masked[pos..].chars().next() {
        let found = match c {
            '#' => {
                scan_tag(&masked, pos, &mut fields);
                None
            }
            '[' | '(' => scan_dataview(&masked, pos, c, &mut fields),
            _ => emoji_kind(c).and_then(|kind| scan_emoji(&masked, pos, c, kind, &mut fields)),
        };
        match found {
            Some(end) => {
                fields.spans.push(pos..end);
                pos = end;
            }
            None => pos += c.len_utf8(),
        }
    }

    let mut last = 0;
    let mut pieces = Vec::new();
    for span in fields
        .spans
        .iter()
        .chain(std::iter::once(&(text.len()..text.len())))
    {
        pieces.push(text[last..span.start].trim());
        last = span.end;
    }
    fields.description = pieces
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    fields
}

fn scan_tag(masked: &str, pos: usize, fields: &mut Fields) {
    // `#` after a word character or `/` is part of a URL or an anchor, not a tag.
    if masked[..pos]
        .chars()
        .next_back()
        .is_some_and(|c| !c.is_whitespace())
    {
        return;
    }
    let rest = &masked[pos + 1..];
    let len = rest.find(|c: char| !is_tag_char(c)).unwrap_or(rest.len());
    let tag = rest[..len].trim_end_matches('/');
    if tag.chars().any(|c| !c.is_ascii_digit() && c != '/') && !fields.tags.iter().any(|t| t == tag)
    {
        fields.tags.push(tag.to_owned());
    }
}

/// Reads an emoji field at `pos`; returns where the field ends when it was understood.
fn scan_emoji(masked: &str, pos: usize, c: char, kind: Kind, f: &mut Fields) -> Option<usize> {
    let mut end = pos + c.len_utf8();
    if masked[end..].starts_with('\u{fe0f}') {
        end += '\u{fe0f}'.len_utf8();
    }
    let value_start =
        end + masked[end..].len() - masked[end..].trim_start_matches([' ', '\t']).len();
    let rest = &masked[value_start..];
    match kind {
        Kind::Priority(p) => set_priority(f, p).then_some(end),
        Kind::NamedPriority => None,
        Kind::Date(field) => {
            let token = &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())];
            set_date(f, field, token, &c.to_string()).then_some(value_start + token.len())
        }
        Kind::Recurrence => {
            // The Tasks plugin's own rule: letters, digits, commas, spaces and `!`.
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ',' | ' ' | '!')))
                .unwrap_or(rest.len());
            set_recurrence(f, rest[..len].trim_end(), "🔁")
                .then(|| value_start + rest[..len].trim_end().len())
        }
    }
}

/// Reads a Dataview `[key:: value]` or `(key:: value)` field at `pos`.
fn scan_dataview(masked: &str, pos: usize, open: char, f: &mut Fields) -> Option<usize> {
    let close = if open == '[' { ']' } else { ')' };
    let inner_start = pos + 1;
    let inner_len = masked[inner_start..].find([close, '[', '('])?;
    if !masked[inner_start + inner_len..].starts_with(close) {
        return None;
    }
    let inner = &masked[inner_start..inner_start + inner_len];
    let (key, value) = inner.split_once("::")?;
    let kind = dataview_kind(key.trim())?;
    let value = value.trim();
    let end = inner_start + inner_len + 1;
    let marker = format!("{}::", key.trim());
    let ok = match kind {
        Kind::Date(field) => set_date(f, field, value, &marker),
        Kind::Priority(p) => set_priority(f, p),
        Kind::NamedPriority => match Priority::from_name(value) {
            Ok(Some(p)) => set_priority(f, p),
            Ok(None) => true,
            Err(e) => {
                f.warnings.push(e.to_string());
                false
            }
        },
        Kind::Recurrence => set_recurrence(f, value, &marker),
    };
    ok.then_some(end)
}

fn set_date(f: &mut Fields, field: DateField, token: &str, marker: &str) -> bool {
    let Some(date) = parse_date(token) else {
        f.warnings.push(format!(
            "{marker} {token:?} is not a {} date of the form YYYY-MM-DD; kept as text",
            field.name()
        ));
        return false;
    };
    let slot = f.date_slot(field);
    if slot.is_some() {
        f.warnings.push(format!(
            "second {} date {token}; the first one counts",
            field.name()
        ));
        return false;
    }
    *slot = Some(date);
    true
}

fn set_priority(f: &mut Fields, p: Priority) -> bool {
    if f.planning.priority.is_some() {
        f.warnings.push(format!(
            "second priority {}; the first one counts",
            p.as_str()
        ));
        return false;
    }
    f.planning.priority = Some(p);
    true
}

fn set_recurrence(f: &mut Fields, rule: &str, marker: &str) -> bool {
    if rule.is_empty() {
        f.warnings
            .push(format!("{marker} without a rule; kept as text"));
        return false;
    }
    if f.planning.recurrence.is_some() {
        f.warnings
            .push(format!("second recurrence {rule:?}; the first one counts"));
        return false;
    }
    f.planning.recurrence = Some(rule.to_owned());
    true
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
