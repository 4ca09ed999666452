//! The tasks page and ticking tasks (docs/web.md "Tasks"), through a real server, real
//! `syncd` devices and a real browser: a tick is the same bytes `syncd task done` writes,
//! published as device `web`; a stale tick, a missing CSRF token or a hostile path writes
//! nothing; the filters list what `syncd tasks` lists; task text and tags never run script.

use crate::common::web::{Browser, Page, USER, VAULT, WebClient, WebWorld};
use crate::common::{Device, World};
use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::hub::Hub;

const PLAN: &str = "projects/Plan.md";
const TASKS: &str = "/v/notes/tasks";
const TOGGLE: &str = "/v/notes/tasks/toggle";

/// The head of alice's vault as the server's hub folder holds it.
fn server_head(w: &WebWorld) -> Option<ObjectId> {
    FolderHub::open(&w.data.join("vaults").join(USER).join(VAULT))
        .expect("the server's vault folder")
        .head()
        .expect("the server's head")
}

/// The full id of the task whose description is `description`, as `syncd tasks --all`
/// on `device` lists it.
fn task_id(device: &Device, description: &str) -> String {
    let listing = device.run("tasks", &["--all", "--json"]).ok().json();
    listing["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["description"] == description)
        .unwrap_or_else(|| panic!("no task `{description}` in {listing}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What `syncd task <action> <id>` makes of `text` at `path`, in a vault of its own.
fn syncd_edit(world: &World, name: &str, path: &str, text: &str, action: &str, id: &str) -> String {
    let scratch = world.device(name);
    scratch.init();
    scratch.write(path, text, 10);
    scratch.run("task", &[action, id]).ok();
    scratch.read(path).unwrap()
}

/// The value of the hidden field `name` in the form of the task row `t-{id}`.
fn row_field(page: &Page, id: &str, name: &str) -> String {
    let row = page
        .body
        .find(&format!("id=\"t-{id}\""))
        .unwrap_or_else(|| panic!("no task row {id} in:\n{}", page.body));
    let needle = format!("name=\"{name}\" value=\"");
    let at = row + page.body[row..].find(&needle).unwrap() + needle.len();
    let rest = &page.body[at..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The task ids the list of the page shows, in order.
fn listed_ids(page: &Page) -> Vec<String> {
    let Some(list) = page.body.find("id=\"task-list\"") else {
        return Vec::new();
    };
    let list = &page.body[list..];
    list.match_indices("data-task=\"")
        .map(|(i, m)| list[i + m.len()..i + m.len() + 16].to_string())
        .collect()
}

#[test]
fn ticking_in_the_browser_writes_what_syncd_task_done_writes_and_unticking_undoes_it() {
    let w = WebWorld::with_fixture();
    let laptop = w.laptop();
    let original = laptop.read(PLAN).unwrap();
    let id = task_id(&laptop, "Call Anna #phone");
    let expected_done = syncd_edit(&w.world, "scratch", PLAN, &original, "done", &id);
    assert_ne!(expected_done, original);

    let b = Browser::start();
    b.login(&w.server.url);
    b.goto(&w.url(TASKS));
    assert!(b.text(&format!("#t-{id}")).contains("Call Anna"));
    // Without a script the button does it; here it is the button.
    b.click(&format!("#t-{id} button.task-button"));
    b.wait_until("the page after the tick", || b.url().contains("changed="));
    assert!(b.text(".notice.changed").contains("Marked done"));
    let new_id = b.url().split("changed=").nth(1).unwrap()[..16].to_string();
    assert_ne!(new_id, id);
    assert_eq!(
        b.js(&format!(
            "return document.getElementById('changed-box-{new_id}').checked"
        )),
        serde_json::json!(true)
    );

    laptop.sync();
    assert_eq!(laptop.read(PLAN).unwrap(), expected_done);
    assert_eq!(task_id(&laptop, "Call Anna #phone"), new_id);
    let head = server_head(&w).unwrap().to_string();
    let log = laptop.run("log", &["--json"]).ok().json();
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["snapshot"] == head.as_str())
        .unwrap_or_else(|| panic!("the head {head} is not in the laptop's log: {log}"));
    assert_eq!(entry["device_name"], "web");
    assert_eq!(entry["device_id"], "web");

    // Unticking through the checkbox itself (app.js submits its form on change).
    let expected_undone = syncd_edit(&w.world, "scratch2", PLAN, &expected_done, "undo", &new_id);
    assert_eq!(expected_undone, original);
    b.click(&format!("#changed-box-{new_id}"));
    b.wait_until("the page after the untick", || {
        b.url().contains(&format!("changed={id}"))
    });
    assert!(b.text(".notice.changed").contains("Marked not done"));
    laptop.sync();
    assert_eq!(laptop.read(PLAN).unwrap(), original);
    assert_eq!(b.alert(), None);
}

#[test]
fn a_tick_on_a_note_that_changed_since_the_page_writes_nothing_and_says_so() {
    let w = WebWorld::with_fixture();
    let laptop = w.laptop();
    let id = task_id(&laptop, "Call Anna #phone");
    let c = w.client();
    let page = c.get(TASKS);
    assert_eq!(page.status, 200);
    let blob = row_field(&page, &id, "blob");

    let edited = format!("{}- [ ] Added on the laptop\n", laptop.read(PLAN).unwrap());
    // Saved now, as an editor does (a time far from now would make one side's version look
    // like an older one put back to the laptop's sync).
    std::fs::write(laptop.path(PLAN), &edited).unwrap();
    laptop.sync();
    let head = server_head(&w);

    let answer = c.post(
        TOGGLE,
        &[
            ("csrf", &page.csrf()),
            ("path", PLAN),
            ("task", &id),
            ("blob", &blob),
            ("done", "1"),
        ],
    );
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert!(answer.body.contains("changed since this page was shown"));
    assert!(answer.body.contains("nothing was written"));
    // The current state: the laptop's new task, and the task still open.
    assert!(answer.body.contains("Added on the laptop"));
    assert_ne!(row_field(&answer, &id, "blob"), blob);
    assert_eq!(server_head(&w), head);
    laptop.sync();
    assert_eq!(laptop.read(PLAN).unwrap(), edited);

    // The same form again from the fresh page works, and goes back to the same filters.
    let fresh = c.post(
        TOGGLE,
        &[
            ("csrf", &page.csrf()),
            ("path", PLAN),
            ("task", &id),
            ("blob", &row_field(&answer, &id, "blob")),
            ("done", "1"),
            ("f_status", "all"),
            ("f_tag", "phone"),
        ],
    );
    assert_eq!(fresh.status, 303, "{}", fresh.body);
    let back = fresh.header("location").unwrap().to_string();
    assert!(
        back.starts_with("/v/notes/tasks?status=all&tag=phone&changed="),
        "{back}"
    );
    let moved = server_head(&w);
    assert_ne!(moved, head);
    let shown = c.get(&back);
    assert!(shown.body.contains("Marked done"), "{}", shown.body);
    laptop.sync();
    let done_id = task_id(&laptop, "Call Anna #phone");
    assert_ne!(done_id, id);
    // Ticking a task that is already done writes nothing and says so.
    let again = c.post(
        TOGGLE,
        &[
            ("csrf", &page.csrf()),
            ("path", PLAN),
            ("task", &done_id),
            ("blob", &row_field(&shown, &done_id, "blob")),
            ("done", "1"),
        ],
    );
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(server_head(&w), moved);
    let shown = c.get(again.header("location").unwrap());
    assert!(shown.body.contains("Already done; nothing was written"));
}

#[test]
fn a_tick_on_a_note_saved_by_a_clock_running_ahead_still_reaches_the_devices() {
    let w = WebWorld::with_fixture();
    let laptop = w.laptop();
    // Saved two hours "later" than now by the laptop's clock (`at` is an hour ago + secs).
    let ahead = format!(
        "{}- [ ] Written ahead of time\n",
        laptop.read(PLAN).unwrap()
    );
    laptop.write(PLAN, &ahead, 3 * 3600);
    laptop.sync();
    let id = task_id(&laptop, "Written ahead of time");
    let c = w.client();
    let page = c.get(TASKS);
    let answer = c.post(
        TOGGLE,
        &[
            ("csrf", &page.csrf()),
            ("path", PLAN),
            ("task", &id),
            ("blob", &row_field(&page, &id, "blob")),
            ("done", "1"),
        ],
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let report = laptop.sync();
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    let now = laptop.read(PLAN).unwrap();
    assert!(now.contains("- [x] Written ahead of time ✅ "), "{now}");
}

#[test]
fn a_tick_without_the_csrf_token_or_with_a_hostile_path_writes_nothing() {
    let w = WebWorld::with_fixture();
    let laptop = w.laptop();
    let id = task_id(&laptop, "Call Anna #phone");
    let c = w.client();
    let page = c.get(TASKS);
    let blob = row_field(&page, &id, "blob");
    let csrf = page.csrf();
    let head = server_head(&w);

    for token in ["", "0123456789abcdef"] {
        let answer = c.post(
            TOGGLE,
            &[
                ("csrf", token),
                ("path", PLAN),
                ("task", &id),
                ("blob", &blob),
                ("done", "1"),
            ],
        );
        assert_eq!(answer.status, 403, "csrf {token:?}: {}", answer.body);
    }
    let answer = c.post(
        TOGGLE,
        &[
            ("path", PLAN),
            ("task", &id),
            ("blob", &blob),
            ("done", "1"),
        ],
    );
    assert_eq!(answer.status, 403);

    for path in [
        "../x",
        "../projects/Plan.md",
        ".vault/x",
        ".vault/config.toml",
        "projects/../projects/Plan.md",
        "/projects/Plan.md",
        "attachments/logo.png",
    ] {
        let answer = c.post(
            TOGGLE,
            &[
                ("csrf", &csrf),
                ("path", path),
                ("task", &id),
                ("blob", &blob),
                ("done", "1"),
            ],
        );
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert!(answer.body.contains("nothing was changed"), "{path}");
        assert!(!answer.body.contains(&w.data.display().to_string()));
    }
    assert_eq!(server_head(&w), head);
    laptop.sync();
    assert!(
        laptop
            .read(PLAN)
            .unwrap()
            .contains("- [ ] Call Anna #phone\n")
    );

    // Without a session: sent to the login page, nothing written.
    let stranger = WebClient::new(&w.server.url);
    let answer = stranger.post(
        TOGGLE,
        &[
            ("csrf", &csrf),
            ("path", PLAN),
            ("task", &id),
            ("blob", &blob),
            ("done", "1"),
        ],
    );
    assert_eq!(answer.status, 303);
    assert_eq!(server_head(&w), head);
}

/// Notes for the filters: statuses, due dates, tags (own, nested, front matter), folders.
fn filter_vault(root: &std::path::Path) {
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "Home.md",
        "- [ ] fix the door #home\n- [x] paint ✅ 2026-01-02 #home\n- [ ] undated\n",
    );
    write(
        "projects/Plan.md",
        "---\ntags: [work]\n---\n- [ ] report 📅 2026-01-05\n- [ ] slides ⏫ 📅 2027-03-01 #work/meeting\n- [x] kickoff ✅ 2025-12-01\n",
    );
    write(
        "projects/sub/Deep.md",
        "- [/] half done 🔼\n  - [ ] nested #Work 📅 2025-11-30\n",
    );
    write(
        "daily/2026-12-01.md",
        "- [ ] standup 📅 2026-12-01 #work\n- [-] dropped\n- [?] maybe #home/kitchen\n",
    );
    write("daily/2025-12-01.md", "- [ ] old daily 📅 2025-12-01\n");
    write(".revisions/Home (old).md", "- [ ] an old version\n");
}

#[test]
fn the_filters_list_what_syncd_tasks_lists() {
    let w = WebWorld::with_files(filter_vault);
    let laptop = w.laptop();
    let c = w.client();
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("status=open", &[]),
        ("status=done", &["--done"]),
        ("status=all", &["--all"]),
        ("due_before=2026-06-01", &["--due-before", "2026-06-01"]),
        (
            "due_before=today&status=all",
            &["--due-before", "today", "--all"],
        ),
        ("tag=work", &["--tag", "work"]),
        ("tag=%23HOME&status=all", &["--tag", "#HOME", "--all"]),
        ("tag=work%2Fmeeting", &["--tag", "work/meeting"]),
        ("path=projects", &["--path", "projects"]),
        (
            "path=daily%2F2026-*&status=all",
            &["--path", "daily/2026-*", "--all"],
        ),
        (
            "path=**%2F*.md&tag=work&status=all",
            &["--path", "**/*.md", "--tag", "work", "--all"],
        ),
        ("tag=nothing", &["--tag", "nothing"]),
    ];
    let mut seen_any = 0;
    for (query, args) in cases {
        let page = c.get(&format!("{TASKS}?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        let mut cli = args.to_vec();
        cli.push("--json");
        let listing = laptop.run("tasks", &cli).ok().json();
        let expected: Vec<String> = listing["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            listed_ids(&page),
            expected,
            "{query} vs syncd tasks {args:?}"
        );
        seen_any += usize::from(!expected.is_empty());
        if expected.is_empty() {
            assert!(page.body.contains("No tasks match"), "{query}");
        }
    }
    assert!(seen_any >= 10, "the cases should mostly list something");
    let all = c.get(&format!("{TASKS}?status=all"));
    assert!(
        !all.body.contains("an old version"),
        "no task of .revisions/"
    );

    // A bad filter is explained, and lists nothing.
    for bad in ["status=later", "due_before=2026-02-30", "path=a%5B"] {
        let page = c.get(&format!("{TASKS}?{bad}"));
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.body.contains("notice error"), "{bad}");
        assert!(listed_ids(&page).is_empty());
    }
}

#[test]
fn task_text_and_tags_never_run_script() {
    let w = WebWorld::with_files(|root| {
        std::fs::write(
            root.join("xss.md"),
            "---\ntags: [\"<img src=x onerror=alert(1)>\", \"\\\"><script>alert(2)</script>\"]\n---\n\
             - [ ] <script>alert(3)</script> #danger\n\
             - [ ] <img src=x onerror=alert(4)> \"quoted' & more\n\
             - [ ] [x](javascript:alert(5)) #a<svg/onload=alert(6)>\n",
        )
        .unwrap();
    });
    let c = w.client();
    let hostile_query = "?tag=%3Cscript%3Ealert(7)%3C%2Fscript%3E&path=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(8)%3E";
    for url in [TASKS.to_string(), format!("{TASKS}{hostile_query}")] {
        let page = c.get(&url);
        assert!(page.status == 200 || page.status == 400, "{url}");
        for raw in [
            "<script>alert",
            "<img src=x",
            "<svg/onload",
            "\"><script",
            "\"><img",
        ] {
            assert!(!page.body.contains(raw), "{url} serves {raw} unescaped");
        }
    }
    let page = c.get(TASKS);
    // Escaped as askama does (`<` is `&#60;`, `>` is `&#62;`).
    assert!(
        page.body
            .contains("&#60;script&#62;alert(3)&#60;/script&#62;")
    );
    assert!(page.body.contains("&#60;img src=x onerror=alert(4)&#62;"));
    // Front-matter tags (split at spaces by the parser, as `syncd tasks` reads them).
    assert!(page.body.contains(">#&#60;img</a>"));
    assert!(
        page.body
            .contains(">#&#34;&#62;&#60;script&#62;alert(2)&#60;/script&#62;</a>")
    );
    assert_eq!(listed_ids(&page).len(), 3);

    let b = Browser::start();
    b.login(&w.server.url);
    for url in [TASKS.to_string(), format!("{TASKS}{hostile_query}")] {
        b.goto(&w.url(&url));
        b.find("h1");
        assert_eq!(b.alert(), None, "{url}");
        assert_eq!(
            b.js("return document.querySelectorAll('main script, main img, main svg').length"),
            serde_json::json!(0)
        );
    }
    b.goto(&w.url(TASKS));
    assert!(b.text("#task-list").contains("<script>alert(3)</script>"));
    // Ticking the hostile task works and still runs nothing.
    b.click("#task-list li:first-child button.task-button");
    b.wait_until("the page after the tick", || b.url().contains("changed="));
    assert_eq!(b.alert(), None);
}
