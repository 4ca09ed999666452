//! Listing and changing tasks in real vault folders.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use jiff::civil::date;

use super::*;
use crate::local::LocalVault;
use crate::markdown::TaskId;

fn vault_with(files: &[(&str, &str)]) -> (tempfile::TempDir, LocalVault) {
    let dir = tempfile::tempdir().unwrap();
    let vault = LocalVault::init(dir.path(), "/nonexistent-hub", "test").unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    (dir, vault)
}

fn descriptions(tasks: &Selection<'_>) -> Vec<String> {
    tasks
        .iter()
        .map(|t| format!("{}:{} {}", t.path, t.task.line, t.task.description))
        .collect()
}

fn read(dir: &tempfile::TempDir, path: &str) -> String {
    fs::read_to_string(dir.path().join(path)).unwrap()
}

#[test]
fn a_listing_reads_only_notes_whose_content_it_has_not_seen() {
    let (dir, vault) = vault_with(&[
        ("a.md", "- [ ] one\n- [x] two\n"),
        ("b/c.md", "- [ ] three\n"),
        ("b/copy.md", "- [ ] three\n"),
        ("plain.txt", "- [ ] not a note\n"),
        (".revisions/a.2026-01-01T00-00-00Z.other.md", "- [ ] old\n"),
        ("ignored/x.md", "- [ ] ignored\n"),
        (".syncignore", "ignored/\n"),
    ]);
    let cold = list(&vault).unwrap();
    assert_eq!(
        descriptions(&cold.select(&TaskQuery {
            state: StateFilter::All,
            ..TaskQuery::default()
        })),
        [
            "a.md:1 one",
            "a.md:2 two",
            "b/c.md:1 three",
            "b/copy.md:1 three"
        ]
    );
    assert_eq!(cold.stats.notes, 3);
    // The copy has the same content: read once, listed twice with ids of its own path.
    assert_eq!(cold.stats.notes_parsed, 2);
    let all = cold.all();
    assert_ne!(all[2].task.id, all[3].task.id);

    let warm = list(&vault).unwrap();
    assert_eq!(
        (warm.stats.notes_parsed, warm.stats.notes_from_index),
        (0, 3)
    );
    assert_eq!(warm.all(), all);

    fs::write(dir.path().join("b/c.md"), "- [ ] three\n- [ ] four\n").unwrap();
    let after_edit = list(&vault).unwrap();
    assert_eq!(after_edit.stats.notes_parsed, 1);
    assert_eq!(after_edit.all().len(), 5);
}

#[test]
fn a_damaged_index_is_rebuilt_and_said() {
    let (dir, vault) = vault_with(&[("a.md", "- [ ] one\n")]);
    list(&vault).unwrap();
    let index = dir.path().join(".vault").join(index::INDEX_FILE);
    fs::write(&index, b"VSTASKS\0garbage that is not an index at all").unwrap();
    let listed = list(&vault).unwrap();
    assert_eq!(listed.stats.notes_parsed, 1);
    assert!(listed.warnings.iter().any(|w| w.contains("task index")));
    assert_eq!(list(&vault).unwrap().stats.notes_parsed, 0);
}

#[test]
fn notes_that_cannot_be_read_as_text_are_warnings() {
    let (dir, vault) = vault_with(&[("good.md", "- [ ] ok\n")]);
    fs::write(dir.path().join("latin1.md"), b"- [ ] caf\xe9\n").unwrap();
    fs::write(
        dir.path().join("bad-yaml.md"),
        "---\ntags: [\n---\n- [ ] x\n",
    )
    .unwrap();
    let listed = list(&vault).unwrap();
    assert_eq!(listed.all().len(), 2);
    let warnings: Vec<String> = listed
        .note_warnings()
        .iter()
        .map(|(p, w)| format!("{p}: {w}"))
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("bad-yaml.md: line 1: front matter ignored"));
    assert!(warnings[1].starts_with("latin1.md: line 1: not UTF-8"));
}

#[test]
fn done_and_undo_change_one_line_and_give_the_new_id() {
    let text = "# Home\r\n\r\n- [ ] fix the door  \r\n- [ ] call 📅 2026-12-01\r\n";
    let (dir, vault) = vault_with(&[("home.md", text)]);
    let listed = list(&vault).unwrap().all();
    let typed = listed[0].task.id.short().to_uppercase();
    let done = complete(&vault, &typed, date(2026, 11, 24)).unwrap();
    assert_eq!(
        read(&dir, "home.md"),
        "# Home\r\n\r\n- [x] fix the door ✅ 2026-11-24  \r\n- [ ] call 📅 2026-12-01\r\n"
    );
    assert!(done.task.is_done() && done.next.is_none());
    assert_eq!(done.before.as_ref().unwrap().id, listed[0].task.id);
    assert_ne!(done.task.id, listed[0].task.id);

    // The old id is gone; the new one undoes it, byte for byte.
    assert!(matches!(
        complete(&vault, listed[0].task.id.short(), date(2026, 11, 24)),
        Err(TaskError::UnknownId(_))
    ));
    assert!(matches!(
        complete(&vault, done.task.id.short(), date(2026, 11, 24)),
        Err(TaskError::Edit {
            source: crate::markdown::EditError::AlreadyDone { .. },
            ..
        })
    ));
    let undone = reopen(&vault, done.task.id.as_str()).unwrap();
    assert_eq!(read(&dir, "home.md"), text);
    assert_eq!(undone.task.id, listed[0].task.id);
}

#[test]
fn a_recurring_task_done_gets_its_next_occurrence_above() {
    let (dir, vault) = vault_with(&[("r.md", "- [ ] water plants 🔁 every week 📅 2026-11-24\n")]);
    let id = list(&vault).unwrap().all()[0].task.id;
    let change = complete(&vault, id.short(), date(2026, 11, 24)).unwrap();
    assert_eq!(
        read(&dir, "r.md"),
        "- [ ] water plants 🔁 every week 📅 2026-12-01\n\
         - [x] water plants 🔁 every week 📅 2026-11-24 ✅ 2026-11-24\n"
    );
    assert_eq!(change.task.line, 2);
    assert!(change.task.is_done());
    let next = change.next.unwrap();
    assert_eq!((next.line, next.planning.due), (1, Some(date(2026, 12, 1))));
}

#[test]
fn ids_that_are_malformed_unknown_or_ambiguous_change_nothing() {
    // Two lines whose ids share their first 7 characters (found by search: 35 bits collide
    // after about 2^17.5 tries).
    let mut seen: HashMap<String, String> = HashMap::new();
    let (first, second) = (0u32..)
        .find_map(|n| {
            let line = format!("- [ ] task {n}");
            let short = TaskId::new("same.md", &line, 0).short().to_owned();
            seen.insert(short, line.clone()).map(|other| (other, line))
        })
        .unwrap();
    let text = format!("{first}\n{second}\n");
    let (dir, vault) = vault_with(&[("same.md", &text)]);
    let ids: Vec<TaskId> = list(&vault)
        .unwrap()
        .all()
        .iter()
        .map(|t| t.task.id)
        .collect();
    assert_eq!(ids[0].short(), ids[1].short());

    let err = complete(&vault, ids[0].short(), date(2026, 1, 1)).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, TaskError::Ambiguous { count: 2, .. }),
        "{message}"
    );
    assert!(message.contains(ids[0].as_str()) && message.contains(ids[1].as_str()));
    for bad in ["abc", "abcdefgh1", "abcdefghijklmnopq", "abc defg"] {
        assert!(
            matches!(reopen(&vault, bad), Err(TaskError::BadId(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        reopen(&vault, "zzzzzzz"),
        Err(TaskError::UnknownId(_))
    ));
    assert_eq!(read(&dir, "same.md"), text);

    // The whole id picks one of them.
    complete(&vault, ids[1].as_str(), date(2026, 1, 1)).unwrap();
    assert_eq!(
        read(&dir, "same.md"),
        format!("{first}\n{} ✅ 2026-01-01\n", second.replace("[ ]", "[x]"))
    );
}

#[test]
fn a_change_keeps_the_notes_permissions() {
    let (dir, vault) = vault_with(&[("private.md", "- [ ] secret\n")]);
    let full = dir.path().join("private.md");
    fs::set_permissions(&full, fs::Permissions::from_mode(0o600)).unwrap();
    let id = list(&vault).unwrap().all()[0].task.id;
    complete(&vault, id.short(), date(2026, 1, 1)).unwrap();
    let mode = fs::metadata(&full).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No temp file is left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".vault")
        .collect();
    assert_eq!(names, ["private.md"]);
}

#[test]
fn add_appends_to_a_note_or_creates_it_with_its_folders() {
    let (dir, vault) = vault_with(&[("Inbox.md", "# Inbox\r\n- [ ] first")]);
    let inbox = VaultPath::new("Inbox.md").unwrap();
    let line = crate::markdown::new_task_line(
        "buy milk",
        Some(date(2026, 12, 1)),
        Some(crate::markdown::Priority::High),
    );
    let added = add(&vault, &inbox, &line).unwrap();
    assert_eq!(
        read(&dir, "Inbox.md"),
        "# Inbox\r\n- [ ] first\r\n- [ ] buy milk ⏫ 📅 2026-12-01\r\n"
    );
    assert_eq!((added.task.line, added.created), (3, false));
    assert_eq!(added.task.planning.due, Some(date(2026, 12, 1)));
    let listed = list(&vault)
        .unwrap()
        .resolve(added.task.id.short())
        .unwrap();
    assert_eq!(listed.task, added.task);

    let new = VaultPath::new("Projects/New/Plan.md").unwrap();
    let added = add(&vault, &new, "- [ ] sketch").unwrap();
    assert!(added.created);
    assert_eq!(read(&dir, "Projects/New/Plan.md"), "- [ ] sketch\n");
}

#[test]
fn add_refuses_what_would_not_be_a_task_in_a_note() {
    let (dir, vault) = vault_with(&[("code.md", "```\nopen fence\n"), ("a.txt", "x\n")]);
    let p = |s: &str| VaultPath::new(s).unwrap();
    assert!(matches!(
        add(&vault, &p("code.md"), "- [ ] lost"),
        Err(TaskError::NotATaskThere(_))
    ));
    assert!(matches!(
        add(&vault, &p("a.txt"), "- [ ] x"),
        Err(TaskError::NotANote(_))
    ));
    assert!(matches!(
        add(&vault, &p(".revisions/a.md"), "- [ ] x"),
        Err(TaskError::NotANote(_))
    ));
    assert!(matches!(
        add(&vault, &p("a.md"), "- [ ]  "),
        Err(TaskError::EmptyTask)
    ));
    assert_eq!(read(&dir, "code.md"), "```\nopen fence\n");
    assert!(!dir.path().join("a.md").exists());
}

#[test]
fn writes_never_follow_links_out_of_the_vault() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("n.md"), "- [ ] outside\n").unwrap();
    let (dir, vault) = vault_with(&[]);
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("n.md"), dir.path().join("file.md")).unwrap();
    let p = |s: &str| VaultPath::new(s).unwrap();
    assert!(matches!(
        add(&vault, &p("linked/n.md"), "- [ ] x"),
        Err(TaskError::Blocked { .. })
    ));
    assert!(matches!(
        add(&vault, &p("file.md"), "- [ ] x"),
        Err(TaskError::Blocked { .. })
    ));
    assert_eq!(
        fs::read_to_string(outside.path().join("n.md")).unwrap(),
        "- [ ] outside\n"
    );
    // Links are not listed either (the scan skips them).
    assert!(list(&vault).unwrap().all().is_empty());
}

#[test]
fn a_listing_is_in_task_order_and_filters_as_the_query_says() {
    // More tasks than one window of reading back, spread over notes, dates and priorities,
    // with ties that only the path and line break.
    let mut files = Vec::new();
    for n in 0..120 {
        let mut text = String::from("---\ntags: [area/x]\n---\n");
        for t in 0..40 {
            let due = match (n + t) % 4 {
                0 => String::new(),
                k => format!(" 📅 2026-12-0{k}"),
            };
            let priority = ["", " ⏫", " 🔽", " 🔺"][(n * 7 + t) % 4];
            let status = if (n + t) % 3 == 0 { "x" } else { " " };
            let tag = if t % 5 == 0 { " #work" } else { "" };
            text.push_str(&format!("- [{status}] task {n}.{t}{tag}{priority}{due}\n"));
        }
        files.push((format!("n{:03}/note.md", n % 7 * 100 + n), text));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let (_dir, vault) = vault_with(&refs);
    let listing = list(&vault).unwrap();
    let all = listing.all();
    assert_eq!(all.len(), 120 * 40);
    for query in [
        TaskQuery::default(),
        TaskQuery {
            state: StateFilter::All,
            ..TaskQuery::default()
        },
        TaskQuery {
            state: StateFilter::Done,
            due_before: Some(date(2026, 12, 3)),
            ..TaskQuery::default()
        },
        TaskQuery {
            tag: Some("work".into()),
            ..TaskQuery::default()
        },
        TaskQuery {
            tag: Some("#Area".into()),
            path: Some(PathFilter::new("n1*").unwrap()),
            ..TaskQuery::default()
        },
    ] {
        let mut expected: Vec<ListedTask> = all
            .iter()
            .filter(|t| query.wants_note(&t.path) && query.wants(&t.task))
            .cloned()
            .collect();
        expected.sort_by(|a, b| task_order((&a.path, &a.task), (&b.path, &b.task)));
        let selected = listing.select(&query);
        assert_eq!(selected.len(), expected.len(), "{query:?}");
        assert!(!expected.is_empty(), "{query:?}");
        assert_eq!(selected.to_vec(), expected, "{query:?}");
    }
}
