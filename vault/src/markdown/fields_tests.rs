use super::*;

fn d(text: &str) -> Date {
    parse_date(text).expect("test date")
}

#[test]
fn parse_day_reads_dates_and_days_relative_to_today() {
    let today = d("2026-12-31");
    assert_eq!(parse_day("today", today), Some(today));
    assert_eq!(parse_day("Tomorrow", today), Some(d("2027-01-01")));
    assert_eq!(parse_day("yesterday", today), Some(d("2026-12-30")));
    assert_eq!(parse_day(" 2026-02-01 ", today), Some(d("2026-02-01")));
    assert_eq!(parse_day("2026-02-30", today), None);
    assert_eq!(parse_day("next week", today), None);
}

#[test]
fn parse_date_accepts_only_real_yyyy_mm_dd() {
    type Ymd = (i16, i8, i8);
    let cases: &[(&str, Option<Ymd>)] = &[
        ("2026-12-01", Some((2026, 12, 1))),
        ("2024-02-29", Some((2024, 2, 29))),
        ("2025-02-29", None),
        ("2026-13-01", None),
        ("2026-1-01", None),
        ("20261201", None),
        ("2026-12-01T10:00", None),
        ("２０２６-12-01", None),
        ("", None),
        ("abcd-ef-gh", None),
    ];
    for (text, want) in cases {
        let want = want.map(|(y, m, dd)| Date::new(y, m, dd).unwrap());
        assert_eq!(parse_date(text), want, "{text:?}");
    }
}

/// One row: what the text after a checkbox reads as.
struct Row {
    name: &'static str,
    text: &'static str,
    description: &'static str,
    due: Option<&'static str>,
    priority: Option<Priority>,
    recurrence: Option<&'static str>,
    tags: &'static [&'static str],
    warnings: usize,
}

const ROW: Row = Row {
    name: "",
    text: "",
    description: "",
    due: None,
    priority: None,
    recurrence: None,
    tags: &[],
    warnings: 0,
};

#[test]
fn fields_table() {
    let rows = [
        Row {
            name: "plain",
            text: "buy milk",
            description: "buy milk",
            ..ROW
        },
        Row {
            name: "emoji due",
            text: "pay rent 📅 2026-12-01",
            description: "pay rent",
            due: Some("2026-12-01"),
            ..ROW
        },
        Row {
            name: "due without space, alternative emoji",
            text: "pay rent 📆2026-12-01",
            description: "pay rent",
            due: Some("2026-12-01"),
            ..ROW
        },
        Row {
            name: "field in the middle",
            text: "pay 📅 2026-12-01 rent",
            description: "pay rent",
            due: Some("2026-12-01"),
            ..ROW
        },
        Row {
            name: "malformed due stays text",
            text: "pay rent 📅 2026-13-45",
            description: "pay rent 📅 2026-13-45",
            warnings: 1,
            ..ROW
        },
        Row {
            name: "due without date",
            text: "pay rent 📅",
            description: "pay rent 📅",
            warnings: 1,
            ..ROW
        },
        Row {
            name: "second due ignored",
            text: "x 📅 2026-01-01 📅 2026-02-02",
            description: "x 📅 2026-02-02",
            due: Some("2026-01-01"),
            warnings: 1,
            ..ROW
        },
        Row {
            name: "priorities",
            text: "urgent ⏫ thing",
            description: "urgent thing",
            priority: Some(Priority::High),
            ..ROW
        },
        Row {
            name: "highest",
            text: "a 🔺",
            description: "a",
            priority: Some(Priority::Highest),
            ..ROW
        },
        Row {
            name: "medium",
            text: "a 🔼",
            description: "a",
            priority: Some(Priority::Medium),
            ..ROW
        },
        Row {
            name: "low",
            text: "a 🔽",
            description: "a",
            priority: Some(Priority::Low),
            ..ROW
        },
        Row {
            name: "lowest",
            text: "a ⏬",
            description: "a",
            priority: Some(Priority::Lowest),
            ..ROW
        },
        Row {
            name: "recurrence up to the next field",
            text: "water plants 🔁 every week when done 📅 2026-12-01",
            description: "water plants",
            due: Some("2026-12-01"),
            recurrence: Some("every week when done"),
            ..ROW
        },
        Row {
            name: "recurrence stops at a tag",
            text: "standup 🔁 every weekday #work",
            description: "standup #work",
            recurrence: Some("every weekday"),
            tags: &["work"],
            ..ROW
        },
        Row {
            name: "recurrence without rule",
            text: "standup 🔁",
            description: "standup 🔁",
            warnings: 1,
            ..ROW
        },
        Row {
            name: "dataview square",
            text: "pay rent [due:: 2026-12-01] [priority:: high] [repeat:: every month]",
            description: "pay rent",
            due: Some("2026-12-01"),
            priority: Some(Priority::High),
            recurrence: Some("every month"),
            ..ROW
        },
        Row {
            name: "dataview round, key case",
            text: "pay rent (Due:: 2026-12-01)",
            description: "pay rent",
            due: Some("2026-12-01"),
            ..ROW
        },
        Row {
            name: "dataview unknown key stays text",
            text: "read [author:: Tolkien]",
            description: "read [author:: Tolkien]",
            ..ROW
        },
        Row {
            name: "dataview bad date",
            text: "read [due:: soon]",
            description: "read [due:: soon]",
            warnings: 1,
            ..ROW
        },
        Row {
            name: "dataview bad priority",
            text: "read [priority:: urgent]",
            description: "read [priority:: urgent]",
            warnings: 1,
            ..ROW
        },
        Row {
            name: "dataview normal priority",
            text: "read [priority:: normal]",
            description: "read",
            ..ROW
        },
        Row {
            name: "markdown link is not a field",
            text: "see [docs](http://x/#a)",
            description: "see [docs](http://x/#a)",
            ..ROW
        },
        Row {
            name: "tags",
            text: "#home fix #nested/tag sink #home",
            description: "#home fix #nested/tag sink #home",
            tags: &["home", "nested/tag"],
            ..ROW
        },
        Row {
            name: "not tags: numbers, url fragments, mid-word",
            text: "issue #123 see http://x/#a and a#b #2024/01",
            description: "issue #123 see http://x/#a and a#b #2024/01",
            ..ROW
        },
        Row {
            name: "tag ends at punctuation, trailing slash dropped",
            text: "(see #todo/, #done.)",
            description: "(see #todo/, #done.)",
            tags: &["todo", "done"],
            ..ROW
        },
        Row {
            name: "non-latin tags",
            text: "купить молоко #дом #日本語",
            description: "купить молоко #дом #日本語",
            tags: &["дом", "日本語"],
            ..ROW
        },
        Row {
            name: "emoji with variation selector",
            text: "a ⏳\u{fe0f} 2026-01-02",
            description: "a",
            ..ROW
        },
    ];
    for row in rows {
        let got = parse_fields(row.text, &[]);
        let name = row.name;
        assert_eq!(got.description, row.description, "{name}: description");
        assert_eq!(got.planning.due, row.due.map(d), "{name}: due");
        assert_eq!(got.planning.priority, row.priority, "{name}: priority");
        assert_eq!(
            got.planning.recurrence.as_deref(),
            row.recurrence,
            "{name}: recurrence"
        );
        assert_eq!(got.tags, row.tags, "{name}: tags");
        assert_eq!(
            got.warnings.len(),
            row.warnings,
            "{name}: warnings {:?}",
            got.warnings
        );
        for span in &got.spans {
            assert!(row.text.is_char_boundary(span.start) && row.text.is_char_boundary(span.end));
        }
    }
}

#[test]
fn every_date_field() {
    let f = parse_fields(
        "t ⏳ 2026-01-01 🛫 2026-01-02 ➕ 2026-01-03 ✅ 2026-01-04 ❌ 2026-01-05",
        &[],
    );
    assert_eq!(f.description, "t");
    assert_eq!(f.planning.scheduled, Some(d("2026-01-01")));
    assert_eq!(f.planning.start, Some(d("2026-01-02")));
    assert_eq!(f.planning.created, Some(d("2026-01-03")));
    assert_eq!(f.planning.done, Some(d("2026-01-04")));
    assert_eq!(f.planning.cancelled, Some(d("2026-01-05")));
    let f = parse_fields(
        "t [scheduled:: 2026-01-01] [start:: 2026-01-02] [created:: 2026-01-03] \
         [completion:: 2026-01-04] [cancelled:: 2026-01-05]",
        &[],
    );
    assert_eq!(f.description, "t");
    assert_eq!(
        [
            f.planning.scheduled,
            f.planning.start,
            f.planning.created,
            f.planning.done,
            f.planning.cancelled
        ],
        [
            "2026-01-01",
            "2026-01-02",
            "2026-01-03",
            "2026-01-04",
            "2026-01-05"
        ]
        .map(|s| Some(d(s)))
    );
    assert!(f.warnings.is_empty());
}

#[test]
fn code_spans_hide_fields_and_tags() {
    let text = "run `make #all 📅 2026-01-01` then #ship 📅 2026-02-02";
    let start = text.find('`').unwrap();
    let end = text[start + 1..].find('`').unwrap() + start + 2;
    let span = start..end;
    let f = parse_fields(text, std::slice::from_ref(&span));
    assert_eq!(f.tags, ["ship"]);
    assert_eq!(f.planning.due, Some(d("2026-02-02")));
    assert_eq!(f.description, "run `make #all 📅 2026-01-01` then #ship");
}
