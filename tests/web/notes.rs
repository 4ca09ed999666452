//! Folders, notes and raw files (docs/web.md "Folders and notes"): the served HTML and
//! headers, and reading notes in a real browser.

use std::path::Path;

use crate::common::web::{Browser, VAULT, WebClient, WebWorld, fixture_vault};

/// Copy the fixture vault into `root` (the harness's own copy is private).
fn copy_fixture(root: &Path) {
    let from = fixture_vault();
    let mut stack = vec![from.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let target = root.join(p.strip_prefix(&from).unwrap());
            if p.is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                stack.push(p);
            } else {
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(&p, &target).unwrap();
            }
        }
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The fixture vault plus a note with every kind of link.
fn links_world() -> WebWorld {
    WebWorld::with_files(|root| {
        copy_fixture(root);
        write(
            root,
            "Links.md",
            "# Links\n\n\
             Go [[Plan#Goals|to the goals]] or [[home]].\n\n\
             Twins: [[Same]]. Nothing: [[Nowhere]].\n\n\
             ![[logo.png|120]]\n\n\
             ![[Embedded]]\n",
        );
        write(root, "a/Same.md", "# Same in a\n");
        write(root, "b/Same.md", "# Same in b\n");
        write(root, "Embedded.md", "Transcluded words from Embedded.\n");
    })
}

/// The page of note `path` (plain ASCII paths only: no encoding needed).
fn note_url(w: &WebWorld, path: &str) -> String {
    w.url(&format!("/v/{VAULT}/n/{path}"))
}

#[test]
fn folders_list_their_files_with_sizes_times_and_breadcrumbs() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    let root = c.get("/v/notes/");
    assert_eq!(root.status, 200, "{}", root.body);
    for want in [
        "href=\"/v/notes/f/projects/\"",
        "href=\"/v/notes/f/attachments/\"",
        "href=\"/v/notes/f/%E6%97%A5%E8%A8%98/\"",
        "href=\"/v/notes/n/Home.md\"",
        "<time datetime=\"",
    ] {
        assert!(root.body.contains(want), "{want} in\n{}", root.body);
    }
    let projects = c.get("/v/notes/f/projects/");
    assert_eq!(projects.status, 200);
    assert!(
        projects
            .body
            .contains("href=\"/v/notes/n/projects/Plan.md\"")
    );
    assert!(projects.body.contains("aria-label=\"Breadcrumbs\""));
    assert!(
        projects.body.contains("<a href=\"/v/notes/\">notes</a>"),
        "{}",
        projects.body
    );
    let attachments = c.get("/v/notes/f/attachments/");
    let size = std::fs::metadata(fixture_vault().join("attachments/logo.png"))
        .unwrap()
        .len();
    assert!(
        attachments
            .body
            .contains(&format!("title=\"{size} bytes\"")),
        "{}",
        attachments.body
    );
    assert!(
        attachments
            .body
            .contains("href=\"/v/notes/raw/attachments/logo.png\"")
    );
    assert_eq!(c.get("/v/notes/f/nowhere/").status, 404);
    assert_eq!(c.get("/v/notes/n/nowhere.md").status, 404);
    // A folder's path under n/ goes to its listing.
    let redirect = c.get("/v/notes/n/projects");
    assert_eq!(redirect.status, 303);
    assert_eq!(redirect.header("location"), Some("/v/notes/f/projects/"));
}

#[test]
fn an_empty_vault_says_how_to_fill_it() {
    let w = WebWorld::with_files(|_| {});
    let page = w.client().get("/v/notes/");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("This vault is empty"), "{}", page.body);
}

#[test]
fn a_note_shows_its_properties_rendered_links_and_backlinks() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    let plan = c.get("/v/notes/n/projects/Plan.md");
    assert_eq!(plan.status, 200, "{}", plan.body);
    let body = &plan.body;
    assert!(
        body.contains("<th scope=\"row\">status</th><td>active</td>"),
        "{body}"
    );
    assert!(body.contains("<li>plan</li><li>work</li>"), "{body}");
    assert!(body.contains("<h2 id=\"goals\">Goals</h2>"), "{body}");
    assert!(body.contains("type=\"checkbox\""), "{body}");
    // Home links to Plan ([[Projects/Plan]], another case): Plan is linked from Home.
    let linked_from = &body[body.find("Linked from").unwrap()..];
    assert!(
        linked_from.contains("href=\"/v/notes/n/Home.md\""),
        "{linked_from}"
    );
    let home = c.get("/v/notes/n/Home.md");
    assert!(
        home.body.contains("href=\"/v/notes/n/projects/Plan.md\""),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("href=\"/v/notes/n/%E6%97%A5%E8%A8%98/2026-12-01.md\" rel=\"noopener noreferrer\">the diary</a>"),
        "{}",
        home.body
    );
    assert!(
        home.body
            .contains("<img src=\"/v/notes/raw/attachments/logo.png\""),
        "{}",
        home.body
    );
}

#[test]
fn backlinks_follow_new_snapshots() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    let before = c.get("/v/notes/n/Home.md");
    assert!(!before.body.contains("Newcomer"), "{}", before.body);
    let laptop = w.laptop();
    laptop.write("Newcomer.md", "I link to [[Home]].\n", 1_800_000_000);
    laptop.sync();
    let after = c.get("/v/notes/n/Home.md");
    let linked_from = &after.body[after.body.find("Linked from").unwrap()..];
    assert!(
        linked_from.contains("href=\"/v/notes/n/Newcomer.md\""),
        "{linked_from}"
    );
    assert!(
        linked_from.contains("href=\"/v/notes/n/projects/Plan.md\""),
        "{linked_from}"
    );
}

#[test]
fn raw_files_are_served_with_their_type_and_never_as_a_page() {
    let w = WebWorld::with_files(|root| {
        copy_fixture(root);
        write(root, "page.html", "<script>alert(1)</script>");
        write(
            root,
            "drawing.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
        );
        write(root, "blob", "no extension");
    });
    let c = w.client();
    let logo = c.get("/v/notes/raw/attachments/logo.png");
    assert_eq!(logo.status, 200);
    assert_eq!(logo.header("content-type"), Some("image/png"));
    assert_eq!(logo.header("x-content-type-options"), Some("nosniff"));
    assert!(
        logo.header("content-disposition")
            .unwrap()
            .starts_with("inline")
    );
    assert!(
        logo.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    // Shown again: the browser's copy is still good (its ETag), no bytes sent.
    let etag = logo.header("etag").expect("an ETag").to_string();
    assert_eq!(logo.header("cache-control"), Some("private, no-cache"));
    let conditional = |tag: &str| {
        let res = reqwest::blocking::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(w.url("/v/notes/raw/attachments/logo.png"))
            .header("cookie", format!("vault_session={}", c.session().unwrap()))
            .header("if-none-match", tag)
            .send()
            .unwrap();
        (res.status().as_u16(), res.bytes().unwrap().len())
    };
    assert_eq!(conditional(&etag), (304, 0));
    assert_eq!(conditional("\"another\"").0, 200);
    let note = c.get("/v/notes/raw/Home.md");
    assert_eq!(
        note.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        note.body,
        std::fs::read_to_string(fixture_vault().join("Home.md")).unwrap()
    );
    for (path, ctype) in [
        ("page.html", "text/html; charset=utf-8"),
        ("drawing.svg", "image/svg+xml"),
        ("blob", "application/octet-stream"),
    ] {
        let page = c.get(&format!("/v/notes/raw/{path}"));
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("content-type"), Some(ctype), "{path}");
        assert!(
            page.header("content-disposition")
                .unwrap()
                .starts_with("attachment"),
            "{path}"
        );
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    }
    // Without a session: refused, not redirected (an <img> never receives a login page).
    let anonymous = WebClient::new(&w.server.url).get("/v/notes/raw/attachments/logo.png");
    assert_eq!(anonymous.status, 401);
    assert_eq!(c.get("/v/notes/raw/nowhere.png").status, 404);
}

#[test]
fn reading_notes_in_a_browser() {
    let w = links_world();
    let b = Browser::start();
    b.login(&w.server.url);
    b.goto(&note_url(&w, "Links.md"));
    // The embedded image loads (through the session cookie, under the page's CSP).
    b.wait_until("the embedded image", || {
        b.js("const i = document.querySelector('.note-body img'); return !!i && i.complete && i.naturalWidth > 0;")
            == serde_json::json!(true)
    });
    assert_eq!(
        b.js("return document.querySelector('.note-body img').getAttribute('width');"),
        "120"
    );
    // The transclusion shows the other note's text.
    assert!(
        b.text(".note-body .embed")
            .contains("Transcluded words from Embedded.")
    );
    // The ambiguous link is marked and says which; the missing one is not a link.
    let title = b.js("return document.querySelector('a.ambiguous').title;");
    assert!(title.as_str().unwrap().contains("b/Same.md"), "{title}");
    assert_eq!(
        b.js("const m = document.querySelector('.missing'); return [m.tagName, m.textContent];"),
        serde_json::json!(["SPAN", "Nowhere"])
    );
    // A heading link lands on the heading.
    b.click("a[href$='Plan.md#goals']");
    b.wait_until("the plan", || {
        b.url().ends_with("/v/notes/n/projects/Plan.md#goals")
    });
    assert_eq!(
        b.js("return document.querySelector(':target').id;"),
        "goals"
    );
    assert_eq!(b.text(":target"), "Goals");
    // A wikilink (another case) goes to the note; its backlinks list the linking notes.
    b.goto(&note_url(&w, "Links.md"));
    b.click("a[href='/v/notes/n/Home.md']");
    b.wait_until("Home", || b.url().ends_with("/v/notes/n/Home.md"));
    assert_eq!(b.text("main h1"), "Home");
    let backlinks = b.text(".backlinks");
    assert!(backlinks.contains("Links"), "{backlinks}");
    assert!(backlinks.contains("projects/Plan"), "{backlinks}");
    assert!(b.alert().is_none());
}

/// The fixture vault's folder and notes in a browser (tests/web/screenshots.rs keeps their
/// pictures).
#[test]
fn the_fixture_vault_in_a_browser() {
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.login(&w.server.url);
    b.goto(&w.url("/v/notes/"));
    assert!(b.text("table.listing").contains("Home.md"));
    b.goto(&note_url(&w, "Home.md"));
    b.wait_until("Home's image", || {
        b.js("const i = document.querySelector('.note-body img'); return !!i && i.complete && i.naturalWidth > 0;")
            == serde_json::json!(true)
    });
    b.click("a[href='/v/notes/n/projects/Plan.md']");
    b.wait_until("the plan", || {
        b.url().ends_with("/v/notes/n/projects/Plan.md")
    });
    assert!(b.text("table.properties").contains("active"));
    assert!(b.text(".backlinks").contains("Home"));
    assert!(b.alert().is_none());
}
