use super::*;
use vault::markdown::parse_note;
use vault::tasks::{PathFilter, StateFilter, task_order};

/// Notes and the tag names they were numbered in, as `build` makes them.
fn notes(list: &[(&str, &str)]) -> (Vec<NoteAt>, TagNames) {
    let mut tags = TagNames::default();
    let notes = list
        .iter()
        .map(|(path, text)| {
            let path = VaultPath::new(path).unwrap();
            NoteAt {
                note: Arc::new(LooseNote::parse(&path, text.as_bytes()).number(&mut tags)),
                blob: ObjectId::of(text.as_bytes()),
                path,
            }
        })
        .filter(|n| n.note.len() > 0)
        .collect();
    (notes, tags)
}

fn head(list: &[(&str, &str)]) -> HeadTasks {
    let (notes, tags) = notes(list);
    HeadTasks::new(None, notes, tags)
}

fn descriptions(s: &Selection) -> Vec<String> {
    s.rows.iter().map(|r| r.task.description.clone()).collect()
}

fn all() -> TaskQuery {
    TaskQuery {
        state: StateFilter::All,
        ..TaskQuery::default()
    }
}

#[test]
fn tasks_come_in_syncd_order_and_the_rest_is_counted() {
    let tasks = head(&[
        ("a.md", "- [ ] undated\n- [x] done 📅 2026-01-01\n"),
        (
            "b.md",
            "- [ ] late 📅 2026-12-09\n- [ ] early 📅 2026-12-01\n",
        ),
    ]);
    assert_eq!(tasks.len(), 4);
    let open = tasks.select(&TaskQuery::default(), 10);
    assert_eq!(descriptions(&open), ["early", "late", "undated"]);
    assert_eq!(open.more, 0);
    let first = tasks.select(&TaskQuery::default(), 1);
    assert_eq!(descriptions(&first), ["early"]);
    assert_eq!(first.more, 2);
    assert_eq!(descriptions(&tasks.select(&all(), 10))[0], "done");
}

#[test]
fn a_content_at_two_paths_has_each_paths_ids() {
    let text = "- [ ] same\n";
    let tasks = head(&[("a.md", text), ("b/c.md", text)]);
    let rows = tasks.select(&TaskQuery::default(), 10).rows;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let expect = parse_note(&row.path, text).tasks[0].id;
        assert_eq!(row.task.id, expect);
        let found = tasks.find(row.path.as_str(), row.task.id.as_str()).unwrap();
        assert_eq!(found.task.line, 1);
    }
    assert_ne!(rows[0].task.id, rows[1].task.id);
    assert!(tasks.find("a.md", rows[1].task.id.as_str()).is_none());
    assert!(tasks.find("nope.md", rows[0].task.id.as_str()).is_none());
}

#[test]
fn an_update_orders_as_a_new_build_does() {
    let before = [
        ("a.md", "- [ ] a1 📅 2026-12-03\n- [ ] a2\n"),
        ("b.md", "- [ ] b1 📅 2026-12-01\n- [x] b2 ✅ 2026-01-01\n"),
        ("c.md", "- [ ] c1 🔺\n"),
        ("d.md", "- [ ] d1 📅 2026-12-02\n"),
    ];
    let after = [
        ("a.md", "- [ ] a1 📅 2026-12-03\n- [ ] a2\n"),
        (
            "b.md",
            "- [x] b1 📅 2026-12-01 ✅ 2026-12-05\n- [ ] b3 📅 2026-12-02\n",
        ),
        ("bb.md", "- [ ] new 📅 2026-11-01\n"),
        ("d.md", "- [ ] d1 📅 2026-12-02\n"),
    ];
    let prev = head(&before);
    let (notes_after, tags) = notes(&after);
    let updated = HeadTasks::update(&prev, None, notes_after, tags);
    let rebuilt = head(&after);
    let ids = |h: &HeadTasks| -> Vec<String> {
        h.select(&all(), 100)
            .rows
            .iter()
            .map(|r| format!("{}:{}", r.path, r.task.description))
            .collect()
    };
    assert_eq!(ids(&updated), ids(&rebuilt));
    assert_eq!(
        ids(&updated),
        [
            "bb.md:new",
            "b.md:b1",
            "b.md:b3",
            "d.md:d1",
            "a.md:a1",
            "a.md:a2"
        ]
    );
}

#[test]
fn the_path_filter_takes_folders() {
    let tasks = head(&[("a.md", "- [ ] top\n"), ("projects/p.md", "- [ ] deep\n")]);
    let q = TaskQuery {
        path: Some(PathFilter::new("projects").unwrap()),
        ..TaskQuery::default()
    };
    assert_eq!(descriptions(&tasks.select(&q, 10)), ["deep"]);
}

/// A small deterministic vault: statuses, dates, priorities, tags of the task and of the
/// note, equal lines, notes without tasks.
fn generated(n: usize) -> Vec<(String, String)> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % m
    };
    let statuses = [" ", "x", "/", "-", "?", "X"];
    let prios = ["", " ⏫", " 🔼", " 🔽", " 🔺", " ⏬"];
    let tags = ["", " #work", " #work/meeting", " #Home", " #x"];
    (0..n)
        .map(|i| {
            let mut text = String::new();
            if next(4) == 0 {
                text.push_str("---\ntags: [home, proj/a]\n---\n");
            }
            for _ in 0..next(6) {
                let due = match next(3) {
                    0 => String::new(),
                    _ => format!(" 📅 2026-12-{:02}", 1 + next(5)),
                };
                text.push_str(&format!(
                    "- [{}] task {}{}{}{}\n",
                    statuses[next(6) as usize],
                    next(3),
                    due,
                    prios[next(6) as usize],
                    tags[next(5) as usize]
                ));
                if next(5) == 0 {
                    text.push_str("some text\n");
                }
            }
            (format!("f{}/n{i:03}.md", i % 7), text)
        })
        .collect()
}

#[test]
fn a_generated_vault_lists_what_full_parses_list_in_the_same_order() {
    let mut vault = generated(300);
    vault.sort();
    let list: Vec<(&str, &str)> = vault
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let tasks = head(&list);
    let full: Vec<(VaultPath, Task)> = vault
        .iter()
        .flat_map(|(p, t)| {
            let path = VaultPath::new(p).unwrap();
            parse_note(&path, t)
                .tasks
                .into_iter()
                .map(move |task| (path.clone(), task))
        })
        .collect();
    assert!(full.len() > 300);
    let mut sorted: Vec<&(VaultPath, Task)> = full.iter().collect();
    sorted.sort_by(|a, b| task_order((&a.0, &a.1), (&b.0, &b.1)));
    let mut queries = Vec::new();
    for state in [StateFilter::Open, StateFilter::Done, StateFilter::All] {
        for due_before in [None, jiff::civil::Date::new(2026, 12, 3).ok()] {
            for tag in [None, Some("work"), Some("home"), Some("proj"), Some("X")] {
                for path in [None, Some("f3")] {
                    queries.push(TaskQuery {
                        state,
                        due_before,
                        tag: tag.map(String::from),
                        path: path.map(|p| PathFilter::new(p).unwrap()),
                    });
                }
            }
        }
    }
    for q in &queries {
        let expect: Vec<(String, Task)> = sorted
            .iter()
            .filter(|(p, t)| q.wants_note(p) && q.wants(t))
            .map(|(p, t)| (p.to_string(), t.clone()))
            .collect();
        for limit in [10, 10_000] {
            let got = tasks.select(q, limit);
            let rows: Vec<(String, Task)> = got
                .rows
                .iter()
                .map(|r| (r.path.to_string(), r.task.clone()))
                .collect();
            let shown = expect.len().min(limit);
            assert_eq!(rows, expect[..shown], "{q:?}");
            assert_eq!(got.more, expect.len() - shown);
        }
    }
    for (path, task) in &full {
        let found = tasks.find(path.as_str(), task.id.as_str()).unwrap();
        assert_eq!(&found.task, task);
    }
}
