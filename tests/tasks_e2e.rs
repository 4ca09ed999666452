//! End-to-end tests of `syncd tasks` and `syncd task add|done|undo`: the real binary on real
//! folders (copies of `fixtures/tasks/`), checked on the files' bytes and against what the
//! `vault` library's parser reads in them, then through the sync, by hand and by agents.

mod common;
mod tasks_support;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use common::agent::{Agent, eventually};
use common::{World, assert_converged, wait_past_racy_margin};
use jiff::ToSpan;
use serde_json::{Value, json};
use tasks_support::*;
use vault::VaultPath;
use vault::markdown::{Task, TaskId, parse_note};

#[test]
fn listing_the_fixture_vault_shows_what_the_parser_reads_with_the_documented_fields() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let notes = parsed_notes(&v.d.root);
    let every = parsed_tasks(&v.d.root);
    assert!(every.len() > 20, "the fixture has many tasks: {every:?}");

    let all = v.list(&["--all"]);
    for t in tasks_of(&all) {
        let keys: BTreeSet<&str> = t.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, BTreeSet::from(TASK_KEYS), "{t}");
        let id = t["id"].as_str().unwrap();
        assert_eq!(id.len(), 16, "{t}");
        let base32 = |b: u8| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b);
        assert!(id.bytes().all(base32), "{t}");
        assert_eq!(t["short_id"].as_str().unwrap(), &id[..7], "{t}");
    }
    // Every task of every note exactly as the library reads it, nothing else, most urgent
    // first: by due date (undated last), then priority (none between medium and low), then
    // path and line.
    let urgency = |p: &Value| {
        let order = ["highest", "high", "medium", "", "low", "lowest"];
        order.iter().position(|n| p.as_str().unwrap_or("") == *n)
    };
    let mut expected: Vec<Value> = every.iter().map(|(p, t)| expected_json(p, t)).collect();
    expected.sort_by_key(|x| {
        let due = x["due"].as_str().map(str::to_owned);
        let place = (x["path"].as_str().unwrap().to_owned(), x["line"].as_u64());
        (due.is_none(), due, urgency(&x["priority"]), place)
    });
    assert_eq!(tasks_of(&all), &expected);
    let warnings = expected_warnings(&notes);
    assert_eq!(all["note_warnings"], warnings);
    let broken = select(&warnings, |w| w["path"] == "broken-front-matter.md");
    assert_has(broken[0], json!({"line": 1}));
    let message = broken[0]["message"].as_str().unwrap();
    assert!(message.starts_with("front matter ignored:"), "{message}");

    // A few tasks concretely (found by path and line).
    let concrete = json!([
        {"path": "formats.md", "line": 10, "column": 3, "depth": 0, "status": " ",
         "state": "todo", "description": "due and priority #work",
         "text": "due and priority 📅 2026-03-01 ⏫ #work", "due": "2026-03-01",
         "priority": "high", "done": null, "recurrence": null, "tags": ["work"]},
        {"path": "formats.md", "line": 11, "description": "every field", "created": "2026-01-01",
         "start": "2026-01-02", "scheduled": "2026-01-03", "due": "2026-01-04",
         "priority": "medium"},
        {"path": "formats.md", "line": 12, "recurrence": "every week when done"},
        {"path": "formats.md", "line": 13, "recurrence": "every 2 days", "priority": "lowest"},
        {"path": "formats.md", "line": 19, "depth": 2, "column": 7, "status": "/",
         "state": "in_progress", "tags": ["deep"]},
        {"path": "formats.md", "line": 8, "status": "-", "state": "cancelled",
         "cancelled": "2026-02-01"},
        {"path": "formats.md", "line": 9, "status": "?", "state": "other"},
        {"path": "formats.md", "line": 4, "status": "x", "state": "done", "done": "2026-01-05"},
        {"path": "formats.md", "line": 5, "status": "X", "state": "done"},
        {"path": "crlf.md", "line": 6, "text": "first 📅 2026-05-01", "tags": ["windows"]},
        {"path": "projects/Inbox.MARKDOWN", "line": 11, "text": "quoted task",
         "tags": ["inbox", "later"]},
        {"path": "unicode.md", "line": 8, "tags": ["買い物", "日本語", "проект"]},
    ]);
    for want in concrete.as_array().unwrap() {
        let at = select(&all["tasks"], |t| {
            t["path"] == want["path"] && t["line"] == want["line"]
        });
        assert_eq!(at.len(), 1, "{want}");
        assert_has(at[0], want.clone());
    }
    let same = select(&all["tasks"], |t| t["text"] == "same line");
    assert!(
        same.len() == 2 && same[0]["id"] != same[1]["id"],
        "{same:?}"
    );

    // Code blocks, HTML, comments, `.txt` files and kept revisions give no task.
    let code = select(&all["tasks"], |t| t["path"] == "code.md");
    assert_eq!(code.len(), 1, "{code:?}");
    assert_eq!(code[0]["text"], "the only task `- [ ] code span`");
    let revisions: Vec<_> = fs::read_dir(v.d.path(".revisions")).unwrap().collect();
    assert_eq!(revisions.len(), 1);
    let kept = fs::read_to_string(revisions[0].as_ref().unwrap().path()).unwrap();
    let in_revision = parse_note(&VaultPath::new("r.md").unwrap(), &kept);
    assert!(
        in_revision.tasks.len() > 10,
        "the kept revision does hold tasks"
    );
    for t in tasks_of(&all) {
        let path = t["path"].as_str().unwrap();
        assert!(
            !path.starts_with(".revisions/") && !path.ends_with(".txt"),
            "{t}"
        );
    }
}

#[test]
fn filters_select_by_status_due_date_tag_and_path() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let every = parsed_tasks(&v.d.root);
    let expect = |keep: &dyn Fn(&str, &Task) -> bool| -> BTreeSet<String> {
        let kept = every.iter().filter(|(p, t)| keep(p, t));
        kept.map(|(_, t)| t.id.as_str().to_owned()).collect()
    };
    let got = |extra: &[&str]| -> BTreeSet<String> { v.ids(extra).into_iter().collect() };
    let open = |t: &Task| t.status == ' ' || t.status == '/';

    let default = got(&[]);
    assert_eq!(
        default,
        expect(&|_, t| open(t)),
        "the default lists open tasks"
    );
    assert_eq!(got(&["--open"]), default);
    assert!(default.contains(&v.id("formats.md", "ordered paren in progress")));
    let done = got(&["--done"]);
    assert_eq!(done, expect(&|_, t| t.status == 'x' || t.status == 'X'));
    assert!(done.contains(&v.id("formats.md", "plus upper done")));
    assert_eq!(got(&["--all"]).len(), every.len());

    // Strictly before the day, on a day one task is due.
    let day = jiff::civil::date(2026, 3, 1);
    let due = got(&["--due-before", "2026-03-01"]);
    let before_day = |t: &Task| t.planning.due.is_some_and(|d| d < day);
    assert_eq!(due, expect(&|_, t| open(t) && before_day(t)));
    assert!(due.contains(&v.id("formats.md", "every field"))); // due 2026-01-04
    assert!(!due.contains(&v.id("formats.md", "due and priority"))); // due that day
    assert!(got(&["--due-before", "2026-03-02"]).contains(&v.id("formats.md", "due and priority")));

    for (want, one) in [
        ("NESTED", ("formats.md", "tags #nested/tag")),
        ("#nested/Tag", ("formats.md", "tags #nested/tag")),
        ("Windows", ("crlf.md", "first")),
        ("inbox", ("projects/Inbox.MARKDOWN", "loose one")),
    ] {
        let tagged = got(&["--all", "--tag", want]);
        let wanted = expect(&|_, t| t.tags.iter().any(|tag| tag_matches(want, tag)));
        assert_eq!(tagged, wanted, "--tag {want}");
        assert!(tagged.contains(&v.id(one.0, one.1)), "--tag {want}");
    }
    assert!(got(&["--all", "--tag", "nest"]).is_empty()); // `nest` is not `nested`

    let inbox: fn(&str) -> bool = |p| p.starts_with("projects/");
    let globs = [
        ("projects", inbox),
        ("proj*", inbox),
        ("**/*.MARKDOWN", inbox),
        ("*.md", |p| !p.contains('/') && p.ends_with(".md")),
        ("c*", |p| p.starts_with('c')),
    ];
    for (glob, keep) in globs {
        let selected = got(&["--all", "--path", glob]);
        assert!(!selected.is_empty(), "--path {glob}");
        assert_eq!(selected, expect(&|p, _| keep(p)), "--path {glob}");
    }
    assert!(got(&["--all", "--path", "*.MARKDOWN"]).is_empty()); // `*` stays in its folder
    let combined = "--tag windows --path crlf.md --due-before 2026-05-02";
    let combined = got(&combined.split(' ').collect::<Vec<_>>());
    assert_eq!(
        combined,
        BTreeSet::from([v.id("crlf.md", "first")]),
        "options combine"
    );

    // The human form: one line per task in the same order, short id first, `path:line` last.
    let human = v.syncd(&["tasks"]).ok();
    let listed = v.list(&[]);
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(lines.len(), tasks_of(&listed).len(), "{}", human.stdout);
    for (line, t) in lines.iter().zip(tasks_of(&listed)) {
        let id = t["short_id"].as_str().unwrap();
        let status = t["status"].as_str().unwrap();
        assert!(line.starts_with(&format!("{id}  [{status}] ")), "{line}");
        let place = format!("  {}:{}", t["path"].as_str().unwrap(), t["line"]);
        assert!(line.ends_with(&place), "{line}");
    }
    let warning = "warning: broken-front-matter.md:1: front matter ignored";
    assert!(human.stderr.contains(warning), "{}", human.stderr);
}

#[test]
fn a_warm_listing_parses_only_the_notes_that_changed() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let n = parsed_notes(&v.d.root).len() as u64;
    // notes, notes parsed, notes from the index
    let stats = |l: &Value| {
        ["notes", "notes_parsed", "notes_from_index"].map(|k| l["stats"][k].as_u64().unwrap())
    };
    assert_eq!(stats(&v.list(&[])), [n, n, 0], "cold");
    let warm = v.list(&[]);
    assert_eq!(stats(&warm), [n, 0, n], "{warm:#}");

    let text = v.text("unicode.md") + "- [ ] added by hand #later\n";
    v.write("unicode.md", &text);
    let edited = v.list(&["--tag", "later"]);
    assert_eq!(stats(&edited), [n, 1, n - 1], "{edited:#}");
    assert_eq!(
        select(&edited["tasks"], |t| t["text"] == "added by hand #later").len(),
        1
    );
    assert_eq!(stats(&v.list(&[])), [n, 0, n]);

    // Once a sync has recorded the stat cache, a listing reads no file at all.
    v.d.sync();
    wait_past_racy_margin();
    v.d.sync();
    let quiet = v.list(&[]);
    assert_eq!(quiet["stats"]["files_hashed"], 0, "{quiet:#}");
    assert_eq!(stats(&quiet), [n, 0, n], "{quiet:#}");

    // The index is a cache: a damaged one is a warning, and every note is read again.
    fs::write(v.d.path(".vault/tasks"), b"not an index").unwrap();
    let rebuilt = v.list(&[]);
    assert_eq!(stats(&rebuilt), [n, n, 0]);
    let warnings = rebuilt["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("task index")),
        "{warnings:?}"
    );
    assert_eq!(tasks_of(&rebuilt), tasks_of(&quiet));
}

#[test]
fn done_then_undo_gives_back_the_same_bytes_in_crlf_and_unicode_notes() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let lines = [
        ("crlf.md", "first", "- [ ] first 📅 2026-05-01\r\n"),
        (
            "unicode.md",
            "牛乳",
            "- [ ] 牛乳を買う 📅 2026-06-01 #買い物\n",
        ),
        (
            "unicode.md",
            "naïve",
            "  - [ ] ÉLÈVE naïve café #français\n",
        ),
    ];
    for (path, needle, line) in lines {
        let original = v.bytes(path);
        let text = v.text(path);
        assert!(text.contains(line), "{path} holds {line:?}");
        let done = done_checked(&v, path, needle, |today| {
            let (body, ending) = line.split_at(line.trim_end().len());
            let new = format!("{body} ✅ {today}{ending}").replacen("[ ]", "[x]", 1);
            text.replacen(line, &new, 1)
        });
        assert_eq!(done["next"], Value::Null);
        let new_id = done["task"]["id"].as_str().unwrap();
        let undone = v.syncd(&["task", "undo", new_id, "--json"]).ok().json();
        assert_eq!(
            undone["task"]["id"], done["previous_id"],
            "the same line again"
        );
        assert_eq!(v.bytes(path), original, "{path}: done then undo");
    }
    // The done date goes before trailing spaces, which stay.
    let text = v.text("crlf.md");
    let (x, open) = ("  - [x] nested done  \r\n", "  - [ ] nested done  \r\n");
    v.syncd(&["task", "undo", &v.id("crlf.md", "nested done")])
        .ok();
    let undone = text.replacen(x, open, 1);
    assert_eq!(v.text("crlf.md"), undone);
    done_checked(&v, "crlf.md", "nested done", |today| {
        undone.replacen(open, &format!("  - [x] nested done ✅ {today}  \r\n"), 1)
    });
    // A last line without a line ending gets none; the human output says how to sync.
    let text = v.text("crlf.md");
    let human = v.syncd(&["task", "done", &v.id("crlf.md", "last without newline")]);
    let human = human.ok();
    assert!(human.stdout.starts_with("done: "), "{}", human.stdout);
    assert!(
        human.stdout.contains(SYNC_HINT),
        "no agent runs: {}",
        human.stdout
    );
    let head = text.strip_suffix("- [/] last without newline").unwrap();
    let after = v.text("crlf.md");
    let tail = after.strip_prefix(head).expect("the lines above unchanged");
    assert!(
        tail.starts_with("- [x] last without newline ✅ 20"),
        "{tail:?}"
    );
    assert!(!tail.ends_with('\n'), "no line ending added: {tail:?}");
    // Undo of a done task in a note with a byte order mark.
    let text = v.text("unicode.md");
    let id = v.id("unicode.md", "party prep");
    let undone = v.syncd(&["task", "undo", &id, "--json"]).ok().json();
    assert_eq!(undone["task"]["done"], Value::Null);
    let expected = text.replacen(
        "- [x] 🎉 party prep 🎂 ✅ 2026-06-02\n",
        "- [ ] 🎉 party prep 🎂\n",
        1,
    );
    assert_eq!(v.text("unicode.md"), expected);
    assert!(expected.starts_with('\u{feff}'));
}

#[test]
fn done_on_a_recurring_task_inserts_its_next_occurrence_above() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let line = "- [ ] water plants 🔁 every week when done 📅 2026-03-10\n";
    let text = v.text("formats.md");
    let old = v.find("formats.md", "water plants");
    let out = done_checked(&v, "formats.md", "water plants", |today| {
        let next = today.checked_add(7.days()).unwrap();
        let new = format!(
            "- [ ] water plants 🔁 every week when done 📅 {next}\n\
             - [x] water plants 🔁 every week when done 📅 2026-03-10 ✅ {today}\n"
        );
        text.replacen(line, &new, 1)
    });
    assert_has(&out["next"], json!({"line": old["line"], "state": "todo"}));
    assert_eq!(
        out["task"]["line"].as_u64(),
        old["line"].as_u64().map(|l| l + 1)
    );

    // Not `when done`: the next due date counts from the old one; the Dataview form too.
    let line = "- [ ] dataview [due:: 2026-04-01] (priority:: lowest) [repeat:: every 2 days]\n";
    let text = v.text("formats.md");
    let out = done_checked(&v, "formats.md", "dataview", |today| {
        let new = format!(
            "- [ ] dataview [due:: 2026-04-03] (priority:: lowest) [repeat:: every 2 days]\n\
             - [x] dataview [due:: 2026-04-01] (priority:: lowest) [repeat:: every 2 days] \
             ✅ {today}\n"
        );
        text.replacen(line, &new, 1)
    });
    assert_has(
        &out["next"],
        json!({"due": "2026-04-03", "priority": "lowest"}),
    );
}

#[test]
fn refused_commands_exit_1_say_why_and_change_nothing() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    // Links out of the vault (a folder, a note) into a folder `refused` does not look at.
    let away = tempfile::tempdir().unwrap();
    fs::write(away.path().join("outside.md"), "- [ ] away\n").unwrap();
    std::os::unix::fs::symlink(away.path(), v.d.path("outside")).unwrap();
    std::os::unix::fs::symlink(away.path().join("outside.md"), v.d.path("outside.md")).unwrap();
    let ids = v.ids(&["--all"]);
    assert!(select(&v.list(&["--all"])["tasks"], |t| t["text"] == "away").is_empty());
    let unknown = ["aaaaaaa", "bbbbbbb", "ccccccc", "ddddddd"]
        .into_iter()
        .find(|u| !ids.iter().any(|id| id.starts_with(u)))
        .unwrap();
    let open = v.id("formats.md", "plain dash");
    let done = v.id("formats.md", "star done");
    let cancelled = v.id("formats.md", "cancelled thing");
    let no_task = format!("no task has the id `{unknown}`");
    let too_long = format!("{}a", ids[0]);
    let cases: &[(&[&str], &str)] = &[
        (&["task", "done", unknown], &no_task),
        (&["task", "undo", unknown], &no_task),
        (&["task", "done", "abc"], "`abc` is not a task id"),
        (&["task", "done", "abcdef1"], "is not a task id"),
        (&["task", "done", "abcdefgh!"], "is not a task id"),
        (&["task", "done", ""], "is not a task id"),
        (&["task", "done", &too_long], "is not a task id"),
        (&["task", "undo", &open], "is not done"),
        (&["task", "done", &done], "already done"),
        (&["task", "done", &cancelled], "is cancelled"),
        (&["task", "add", " "], "the task text is empty"),
    ];
    for (args, message) in cases {
        refused(&v, args, message);
    }
    for (note, message) in [
        ("notes.txt", "cannot hold tasks"),
        ("new.txt", "cannot hold tasks"),
        (".revisions/r.md", "cannot hold tasks"),
        ("../x.md", "could leave the vault"),
        (".vault/x.md", "points into `.vault/`"),
        ("/tmp/x.md", "outside the vault"),
        ("outside/x.md", "symbolic link"),
        ("outside.md", "symbolic link"),
    ] {
        refused(&v, &["task", "add", "x", "--note", note], message);
    }
    assert!(!w.path().join("x.md").exists() && !v.d.path(".vault/x.md").exists());
    let away_files: Vec<_> = fs::read_dir(away.path()).unwrap().collect();
    assert_eq!(away_files.len(), 1, "nothing written through the links");
    assert_eq!(
        fs::read_to_string(away.path().join("outside.md")).unwrap(),
        "- [ ] away\n"
    );

    // An id listed before its line was edited names nothing any more.
    let text = v.text("formats.md");
    v.write(
        "formats.md",
        &text.replacen("plain dash", "plain dash, edited", 1),
    );
    refused(
        &v,
        &["task", "done", &open],
        &format!("no task has the id `{open}`"),
    );
}

#[test]
fn add_appends_to_the_inbox_the_configured_inbox_or_a_named_note() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let run = v
        .syncd(&["task", "add", "Call", "the", "dentist", "#health"])
        .ok();
    assert!(run.stdout.starts_with("added: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("created the note `Inbox.md`"),
        "{}",
        run.stdout
    );
    assert_eq!(v.text("Inbox.md"), "- [ ] Call the dentist #health\n");
    let out = v.syncd(&["task", "add", "second", "--json"]).ok().json();
    assert_eq!(
        (&out["created"], &out["previous_id"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(
        v.text("Inbox.md"),
        "- [ ] Call the dentist #health\n- [ ] second\n"
    );
    assert_eq!(out["task"]["id"], v.id("Inbox.md", "second").as_str());
    assert_eq!(v.find("Inbox.md", "dentist")["tags"], json!(["health"]));

    let config = v.d.path(".vault/config.toml");
    let toml = fs::read_to_string(&config).unwrap() + "\n[tasks]\ninbox = \"Projects/Todo.md\"\n";
    fs::write(&config, toml).unwrap();
    let add = "task add Buy milk --due tomorrow --priority high --json";
    let (run, days) = around_today(|| v.syncd(&add.split(' ').collect::<Vec<_>>()));
    let out = run.ok().json();
    assert_has(
        &out,
        json!({"created": true, "agent_running": false, "next": null}),
    );
    let written = v.text("Projects/Todo.md");
    let tomorrow = days
        .iter()
        .map(|d| d.tomorrow().unwrap())
        .find(|t| written == format!("- [ ] Buy milk ⏫ 📅 {t}\n"))
        .unwrap_or_else(|| panic!("{written:?} (today {days:?})"));
    assert_has(
        &out["task"],
        json!({"path": "Projects/Todo.md", "line": 1, "description": "Buy milk",
               "priority": "high", "due": tomorrow.to_string(), "state": "todo"}),
    );
    assert_eq!(
        v.text("Inbox.md").lines().count(),
        2,
        "the old inbox is left alone"
    );

    let crlf = v.text("crlf.md");
    v.syncd(&["task", "add", "on", "windows", "--note", "crlf.md"])
        .ok();
    assert_eq!(v.text("crlf.md"), format!("{crlf}\r\n- [ ] on windows\r\n"));
    assert_eq!(v.find("crlf.md", "on windows")["tags"], json!(["windows"]));
}

#[test]
fn a_task_done_on_one_device_reaches_the_other_by_sync() {
    let w = World::new();
    let (a, b) = synced_pair(&w);
    let id = a.id("formats.md", "plain dash");
    assert_eq!(
        b.id("formats.md", "plain dash"),
        id,
        "ids do not depend on the device"
    );
    let done = a.syncd(&["task", "done", &id, "--json"]).ok().json();
    a.d.sync();
    b.d.sync();
    assert_eq!(b.bytes("formats.md"), a.bytes("formats.md"));
    assert_eq!(b.find("formats.md", "plain dash")["id"], done["task"]["id"]);
    assert_converged(&[&a.d, &b.d]);
}

#[test]
fn a_task_done_against_a_hand_edit_elsewhere_keeps_both_versions() {
    let w = World::new();
    let (a, b) = synced_pair(&w);
    a.syncd(&["task", "done", &a.id("formats.md", "ordered dot")])
        .ok();
    let done_version = a.text("formats.md");
    let hand_version = b
        .text("formats.md")
        .replacen("ordered dot", "ordered dot, Friday", 1);
    b.write("formats.md", &hand_version);
    assert_ne!(done_version, hand_version);

    a.d.sync();
    let report = b.d.sync();
    assert_eq!(report.conflicts.len(), 1, "{report:?}");
    a.d.sync();
    for d in [&a.d, &b.d] {
        d.sync();
    }
    assert_converged(&[&a.d, &b.d]);
    let kept = a.text("formats.md");
    assert!(kept == done_version || kept == hand_version, "{kept}");
    let lost = if kept == done_version {
        &hand_version
    } else {
        &done_version
    };
    for d in [&a.d, &b.d] {
        let revisions = d.revisions_holding(lost);
        assert_eq!(revisions.len(), 1, "{}: {:?}", d.name, d.files().keys());
        assert!(
            revisions[0].starts_with(".revisions/formats."),
            "{revisions:?}"
        );
    }
    // The version kept in `.revisions/` is not listed: formats.md's tasks are the winner's.
    let listed = a.list(&["--all"]);
    let paths: BTreeSet<&str> = tasks_of(&listed)
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().all(|p| !p.starts_with(".revisions")),
        "{paths:?}"
    );
    let winner = parse_note(&VaultPath::new("formats.md").unwrap(), &kept);
    assert_eq!(
        a.ids(&["--all", "--path", "formats.md"]).len(),
        winner.tasks.len()
    );
}

#[test]
fn with_agents_running_a_task_change_reaches_the_other_device_by_itself() {
    let w = World::new();
    let a = Vault::fixture(&w, "laptop");
    let b = Vault::empty(&w, "desktop");
    let agent_a = Agent::start(&a.d);
    let agent_b = Agent::start(&b.d);
    let limit = Duration::from_secs(20);
    let same = || fs::read(a.d.path("formats.md")).ok() == fs::read(b.d.path("formats.md")).ok();
    eventually(limit, same).expect("the fixture reaches the desktop");
    let original = a.bytes("formats.md");

    let run = a
        .syncd(&["task", "done", &a.id("formats.md", "plain dash")])
        .ok();
    assert!(run.stdout.starts_with("done: "), "{}", run.stdout);
    assert!(
        !run.stdout.contains(SYNC_HINT),
        "the agent syncs it: {}",
        run.stdout
    );
    assert_ne!(a.bytes("formats.md"), original);
    eventually(limit, same).unwrap_or_else(|()| {
        panic!(
            "the desktop never got the change:\n{}",
            b.text("formats.md")
        )
    });
    let on_b = b.find("formats.md", "plain dash");
    assert_eq!(on_b["state"], "done");

    // And back from the other device.
    let id = on_b["id"].as_str().unwrap();
    let out = b.syncd(&["task", "undo", id, "--json"]).ok().json();
    assert_eq!(out["agent_running"], true);
    eventually(limit, || a.bytes("formats.md") == original)
        .unwrap_or_else(|()| panic!("the laptop never got the undo:\n{}", a.text("formats.md")));
    assert!(agent_a.stop().success());
    assert!(agent_b.stop().success());
    assert_converged(&[&a.d, &b.d]);
}

#[test]
fn an_ambiguous_short_id_is_refused_with_the_candidates_and_a_longer_one_works() {
    // Two task lines of one note whose ids share their first 7 characters, found with the
    // library's ids (35 bits: a million lines hold a few such pairs).
    let mut seen = std::collections::HashMap::new();
    let (i, j) = (0..4_000_000u32)
        .find_map(|j| {
            let id = TaskId::new("same.md", &format!("- [ ] task {j}"), 0);
            seen.insert(id.short().to_owned(), j).map(|i| (i, j))
        })
        .expect("a shared short id");
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    v.write("same.md", &format!("- [ ] task {i}\n- [ ] task {j}\n"));
    let (first, second) = (
        v.id("same.md", &format!("task {i}")),
        v.id("same.md", &format!("task {j}")),
    );
    assert_eq!(first[..7], second[..7]);
    let both = format!("it starts 2 task ids ({first} in same.md:1, {second} in same.md:2)");
    refused(&v, &["task", "done", &first[..7]], &both);
    let longer = (8..=16).find(|&n| first[..n] != second[..n]).unwrap();
    v.syncd(&["task", "done", &second[..longer]]).ok();
    assert!(
        v.text("same.md")
            .starts_with(&format!("- [ ] task {i}\n- [x] task {j} ✅ "))
    );
}

#[test]
fn a_new_note_named_from_a_subfolder_is_made_there_and_never_outside_the_vault() {
    let w = World::new();
    let v = Vault::fixture(&w, "laptop");
    let run_in = |dir: &str, note: &str| {
        let root = v.d.root.display().to_string();
        w.command(&["task", "add", "x", "--note", note, "--vault", &root])
            .current_dir(v.d.path(dir))
            .output()
            .unwrap()
    };
    assert!(run_in("projects", "new.md").status.success());
    assert_eq!(v.text("projects/new.md"), "- [ ] x\n");
    assert!(run_in("projects", "../top.md").status.success());
    assert_eq!(v.text("top.md"), "- [ ] x\n");
    for outside in ["../../out.md", "sub/../../../out.md", "../.vault/x.md"] {
        let out = run_in("projects", outside);
        assert_eq!(out.status.code(), Some(1), "{outside}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not name a file"));
    }
    assert!(!v.d.root.parent().unwrap().join("out.md").exists());
    assert!(!v.d.path(".vault/x.md").exists());
}
