//! What the web view gives away and accepts: nothing without a session (every route of
//! docs/web.md), nothing of another account's vaults (the same 404 as no vault), no POST without
//! its CSRF token, the security headers on every answer, an HTML 404 outside the API.

use vault::folder_hub::FolderHub;
use vault::hub::Hub;

use crate::common::web::{USER, VAULT, WebClient, WebWorld};

/// Any snapshot id: without a session, or in another's vault, its existence must not matter.
const SOME_SNAPSHOT: &str = "4f2a7c0000000000000000000000000000000000000000000000000000000000";

/// Every page route of the route contract (docs/web.md), for vault `vault`.
fn pages(vault: &str) -> Vec<String> {
    [
        "",
        "/",
        "/f/projects/",
        "/n/Home.md",
        "/n/%E6%97%A5%E8%A8%98/2026-12-01.md",
        "/tasks",
        "/tasks?status=open&due_before=2027-01-01&tag=x&path=projects",
        "/search?q=plan",
        "/history",
        "/history/Home.md",
        "/diff?path=Home.md",
        "/revisions",
        "/no-such-page",
    ]
    .iter()
    .map(|p| format!("/v/{vault}{p}"))
    .collect()
}

/// Every file route: a file's current bytes and any version's.
fn files(vault: &str) -> Vec<String> {
    vec![
        format!("/v/{vault}/raw/Home.md"),
        format!("/v/{vault}/raw/attachments/logo.png"),
        format!("/v/{vault}/version/{SOME_SNAPSHOT}/Home.md"),
    ]
}

/// Every POST route of the contract, with plausible fields (but never a CSRF token).
const POSTS: &[(&str, &[(&str, &str)])] = &[
    ("/logout", &[]),
    (
        "/v/notes/tasks/toggle",
        &[
            ("path", "projects/Plan.md"),
            ("line", "3"),
            ("done", "true"),
        ],
    ),
    (
        "/v/notes/revisions/restore",
        &[("path", "Home.md"), ("revision", ".revisions/Home.md")],
    ),
];

fn hub_head(w: &WebWorld) -> Option<vault::ObjectId> {
    FolderHub::open(&w.data.join("vaults").join(USER).join(VAULT))
        .unwrap()
        .head()
        .unwrap()
}

#[test]
fn without_a_session_every_page_redirects_to_login_and_every_file_is_refused() {
    let w = WebWorld::with_fixture();
    let c = WebClient::new(&w.server.url);
    let mut all_pages = pages(VAULT);
    all_pages.extend(pages("no-such-vault"));
    all_pages.push("/".into());
    for path in &all_pages {
        let page = c.get(path);
        assert_eq!(page.status, 303, "{path}: {}", page.body);
        let location = page.header("location").unwrap();
        assert!(
            location.starts_with("/login?next=%2F"),
            "{path}: {location}"
        );
        assert!(!page.body.contains("Home"), "{path}");
    }
    let mut all_files = files(VAULT);
    all_files.extend(files("no-such-vault"));
    for path in &all_files {
        let page = c.get(path);
        assert_eq!(page.status, 401, "{path}: {}", page.body);
        assert!(!page.body.contains("Welcome"), "{path}: {}", page.body);
    }
    // POSTs without a session change nothing either (they go to the login page).
    let head = hub_head(&w);
    for (path, fields) in POSTS {
        let page = c.post(path, fields);
        assert!(
            page.status == 303 || page.status >= 400,
            "{path}: {}",
            page.status
        );
        if page.status == 303 {
            assert!(page.header("location").unwrap().starts_with("/login"));
        }
    }
    assert_eq!(hub_head(&w), head);
}

#[test]
fn another_accounts_vault_is_the_same_404_as_no_vault_on_every_route() {
    let w = WebWorld::with_fixture();
    w.add_user("bob", "bobs own password");
    let bob = WebClient::new(&w.server.url);
    bob.login("bob", "bobs own password").unwrap();
    let home = bob.get("/");
    assert_eq!(home.status, 200);
    assert!(!home.body.contains(">notes<"), "{}", home.body);
    // `zzzzz` has as many letters as `notes`: the pages must be the same but for the name.
    let theirs = [pages(VAULT), files(VAULT)].concat();
    let nobodys = [pages("zzzzz"), files("zzzzz")].concat();
    for (path, none) in theirs.iter().zip(&nobodys) {
        let page = bob.get(path);
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert!(!page.body.contains("Welcome"), "{path}");
        let other = bob.get(none);
        assert_eq!(other.status, 404, "{none}");
        assert_eq!(
            page.body.replace(VAULT, "zzzzz"),
            other.body,
            "{path} tells another account's vault from none"
        );
        assert_eq!(page.header("content-type"), other.header("content-type"));
    }
    let head = hub_head(&w);
    let csrf = home.csrf();
    for (path, fields) in &POSTS[1..] {
        let mut fields = fields.to_vec();
        fields.push(("csrf", &csrf));
        let page = bob.post(path, &fields);
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    assert_eq!(hub_head(&w), head, "bob changed alice's vault");
}

#[test]
fn posts_without_the_csrf_token_are_refused_and_change_nothing() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    let head = hub_head(&w);
    assert!(head.is_some());
    let right = c.get("/").csrf();
    let wrong = "f".repeat(right.len());
    for (path, fields) in POSTS {
        for csrf in [None, Some(""), Some(wrong.as_str())] {
            let mut fields = fields.to_vec();
            if let Some(token) = csrf {
                fields.push(("csrf", token));
            }
            let page = c.post(path, &fields);
            assert!(
                page.status >= 400,
                "{path} with {csrf:?} was accepted: {} {}",
                page.status,
                page.body
            );
        }
    }
    assert_eq!(hub_head(&w), head, "the hub's head moved");
    assert_eq!(
        c.get("/").status,
        200,
        "the refused logout ended the session"
    );
    // A cross-site logout form is refused with the reason in the reader's terms.
    let page = c.post("/logout", &[("csrf", &wrong)]);
    assert_eq!(page.status, 403);
    assert!(page.body.contains("reload the page"), "{}", page.body);
}

fn assert_security_headers(what: &str, page: &crate::common::web::Page) {
    let csp = page
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP ({})", page.status));
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        page.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        page.header("referrer-policy"),
        Some("same-origin"),
        "{what}"
    );
}

#[test]
fn every_answer_of_the_web_view_carries_the_security_headers() {
    let w = WebWorld::with_fixture();
    w.add_user("bob", "bobs own password");
    let visitor = WebClient::new(&w.server.url);
    let alice = w.client();
    let bob = WebClient::new(&w.server.url);
    bob.login("bob", "bobs own password").unwrap();
    let mut checked = 0;
    for c in [&visitor, &alice, &bob] {
        let paths = [pages(VAULT), files(VAULT)].concat();
        for path in paths.iter().map(String::as_str).chain([
            "/",
            "/login",
            "/static/style.css",
            "/static/app.js",
            "/nowhere",
            "/v",
        ]) {
            assert_security_headers(path, &c.get(path));
            checked += 1;
        }
        for (path, fields) in POSTS {
            assert_security_headers(path, &c.post(path, fields));
            checked += 1;
        }
    }
    // The refusals of the login form, and a method a route does not take.
    assert_security_headers("POST /login", &visitor.post("/login", &[("username", "x")]));
    assert_security_headers("GET /logout", &alice.get("/logout"));
    assert!(checked > 60);
}

#[test]
fn unknown_paths_outside_the_api_get_an_html_404_and_the_api_keeps_its_json() {
    let w = WebWorld::with_fixture();
    let visitor = WebClient::new(&w.server.url);
    for path in [
        "/nowhere",
        "/favicon.ico",
        "/static/nothing.css",
        "/a/b/c?x=<script>",
    ] {
        let page = visitor.get(path);
        assert_eq!(page.status, 404, "{path}");
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            page.body.contains("<h1>Not found</h1>"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<script>"), "{path}");
        assert_security_headers(path, &page);
    }
    let page = visitor.get("/api/v1/nothing");
    assert_eq!(page.status, 404);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(json["error"], "not found");
    let page = visitor.get("/api/v9/login");
    assert_eq!(page.status, 400);
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(json["error"], "unsupported version");
}
