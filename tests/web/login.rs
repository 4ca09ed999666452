//! Logging in and out, sessions, CSRF of the login form, the failed-login limit, and the
//! frame every page shares (accessible, fits a phone).

use std::path::Path;

use crate::common::server::{Server, add_user};
use crate::common::tls::private_ca;
use crate::common::web::{Browser, PASSWORD, USER, WebClient, WebWorld};

/// A GET carrying only `cookie` (`name=value`), as a browser that kept an old cookie sends it.
fn get_with_cookie(base: &str, path: &str, cookie: &str) -> (u16, Option<String>, String) {
    let res = reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, location, res.text().unwrap())
}

fn session_cookie(c: &WebClient) -> String {
    format!("vault_session={}", c.session().expect("a session cookie"))
}

fn sessions_file(data: &Path) -> String {
    std::fs::read_to_string(data.join("web/sessions.json")).unwrap_or_default()
}

#[test]
fn a_visitor_without_a_session_is_sent_to_the_login_page() {
    let w = WebWorld::with_fixture();
    let c = WebClient::new(&w.server.url);
    let page = c.get("/");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=%2F"));
}

#[test]
fn logging_in_in_a_browser_shows_the_vaults() {
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.login(&w.server.url);
    assert!(b.source().contains(USER));
    assert!(b.text("main").contains("notes"));
}

#[test]
fn sessions_survive_a_server_restart_and_are_kept_only_by_hash() {
    let WebWorld {
        world: _world,
        server,
        data,
    } = WebWorld::with_fixture();
    let c = WebClient::new(&server.url);
    c.login(USER, PASSWORD).unwrap();
    let token = c.session().unwrap();
    let saved = sessions_file(&data);
    assert!(saved.contains(USER), "the session is saved: {saved}");
    assert!(!saved.contains(&token), "the file must not hold the token");

    let addr = server.addr();
    let (status, _) = server.stop();
    assert!(status.success());
    let server = Server::start_at(&data, &addr, &[]);

    let page = c.get("/");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Your vaults") && page.body.contains(">notes<"));
    // The restarted server still knows the session's CSRF token: logging out works.
    let csrf = page.csrf();
    let out = c.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    drop(server);
}

#[test]
fn logout_ends_the_session_on_the_server() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    let cookie = session_cookie(&c);
    let (status, _, _) = get_with_cookie(&w.server.url, "/", &cookie);
    assert_eq!(status, 200);

    let csrf = c.get("/").csrf();
    let out = c.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/login"));
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("vault_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // A browser that kept the old cookie (or someone who copied it) is refused.
    let (status, location, _) = get_with_cookie(&w.server.url, "/", &cookie);
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/login?next=%2F"))
    );
    let (status, _, _) = get_with_cookie(&w.server.url, "/v/notes/raw/Home.md", &cookie);
    assert_eq!(status, 401);
    assert!(!sessions_file(&w.data).contains(USER));
}

#[test]
fn logging_in_again_in_the_same_browser_ends_the_old_session() {
    let w = WebWorld::with_fixture();
    w.add_user("bob", "bobs own password");
    let c = w.client();
    let alices = session_cookie(&c);
    c.login("bob", "bobs own password").unwrap();
    let page = c.get("/");
    assert!(page.body.contains("bob"), "{}", page.body);
    let (status, _, _) = get_with_cookie(&w.server.url, "/", &alices);
    assert_eq!(status, 303, "alice's session outlived the next login");
    assert!(!sessions_file(&w.data).contains(USER));
}

#[test]
fn the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http() {
    let w = WebWorld::with_fixture();
    let c = WebClient::new(&w.server.url);
    let form = c.get("/login");
    let login_cookie = form.header("set-cookie").unwrap();
    assert!(
        login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"),
        "{login_cookie}"
    );
    let page = c.login(USER, PASSWORD).unwrap();
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("vault_session="), "{cookie}");
    for want in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(want), "{want} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
}

#[test]
fn under_tls_the_cookies_are_secure() {
    let dir = tempfile::tempdir().unwrap();
    let tls = private_ca(dir.path(), "web");
    let data = dir.path().join("data");
    add_user(&data, USER, PASSWORD);
    let args = tls.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&data, &args);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = std::fs::read(&tls.ca).unwrap();
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let form = http.get(format!("{}/login", server.url)).send().unwrap();
    let login_cookie = form.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    let body = form.text().unwrap();
    let at = body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &body[at..at + body[at..].find('"').unwrap()];
    let pair = login_cookie.split(';').next().unwrap();
    let res = http
        .post(format!("{}/login", server.url))
        .header("cookie", pair)
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("csrf", csrf),
            ("next", "/"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("vault_session="), "{cookie}");
    for want in ["HttpOnly", "SameSite=Lax", "; Secure"] {
        assert!(cookie.contains(want), "{want} missing: {cookie}");
    }
}

#[test]
fn a_removed_users_session_ends() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    assert_eq!(c.get("/").status, 200);
    // The operator removes alice from the accounts file (there is no `user remove` yet).
    let path = w.data.join("accounts.json");
    let mut accounts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        accounts["users"]
            .as_object_mut()
            .unwrap()
            .remove(USER)
            .is_some()
    );
    let tmp = w.data.join("accounts.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&accounts).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    let page = c.get("/");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=%2F"));
    assert_eq!(c.get("/v/notes/raw/Home.md").status, 401);
    assert!(
        !sessions_file(&w.data).contains(USER),
        "the session is gone"
    );
}

#[test]
fn an_accounts_file_that_cannot_be_read_for_a_moment_ends_no_session() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    assert_eq!(c.get("/").status, 200);
    let path = w.data.join("accounts.json");
    let good = std::fs::read(&path).unwrap();
    // Damaged for a moment (an operator's editor half-way through a save).
    let tmp = w.data.join("accounts.json.tmp");
    std::fs::write(&tmp, b"{ not json").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(
        c.get("/").status,
        303,
        "no page while the accounts are unreadable"
    );
    assert!(sessions_file(&w.data).contains(USER), "the session is kept");
    std::fs::write(&tmp, &good).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(c.get("/").status, 200, "the same session works again");
}

#[test]
fn a_login_without_or_with_a_wrong_csrf_token_is_refused_and_logs_nobody_in() {
    let w = WebWorld::with_fixture();
    let c = WebClient::new(&w.server.url);
    let form = c.get("/login");
    let right = form.csrf();
    let wrong = "0".repeat(right.len());
    for csrf in [None, Some(""), Some(wrong.as_str())] {
        let mut fields = vec![("username", USER), ("password", PASSWORD), ("next", "/")];
        if let Some(token) = csrf {
            fields.push(("csrf", token));
        }
        let page = c.post("/login", &fields);
        assert_eq!(page.status, 403, "{csrf:?}: {}", page.body);
        assert!(page.body.contains("log in again"), "{}", page.body);
        assert!(c.session().is_none(), "{csrf:?} logged in");
        assert_eq!(c.get("/").status, 303);
    }
    // Without the login form's cookie (a form posted from another site) the field alone fails.
    let other = WebClient::new(&w.server.url);
    let page = other.post(
        "/login",
        &[
            ("username", USER),
            ("password", PASSWORD),
            ("csrf", &right),
            ("next", "/"),
        ],
    );
    assert_eq!(page.status, 403);
    assert!(other.session().is_none());
    assert!(!sessions_file(&w.data).contains(USER));
}

#[test]
fn next_never_leads_off_site() {
    let w = WebWorld::with_fixture();
    for next in [
        "//evil.example",
        "//evil.example/v/notes/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
    ] {
        let c = WebClient::new(&w.server.url);
        let form = c.get(&format!("/login?next={}", urlencode(next)));
        assert!(
            form.body.contains("name=\"next\" value=\"/\""),
            "{next:?}: the form keeps only a path here"
        );
        let csrf = form.csrf();
        let page = c.post(
            "/login",
            &[
                ("username", USER),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", next),
            ],
        );
        assert_eq!(page.status, 303);
        assert_eq!(page.header("location"), Some("/"), "{next:?}");
    }
    // A path on this server is kept.
    let c = WebClient::new(&w.server.url);
    let csrf = c.get("/login?next=%2Fv%2Fnotes%2F").csrf();
    let page = c.post(
        "/login",
        &[
            ("username", USER),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("next", "/v/notes/"),
        ],
    );
    assert_eq!(page.header("location"), Some("/v/notes/"));
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn web_login(c: &WebClient, password: &str) -> crate::common::web::Page {
    let csrf = c.get("/login").csrf();
    c.post(
        "/login",
        &[
            ("username", USER),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ],
    )
}

#[test]
fn the_sixth_wrong_password_gets_429_with_a_clear_message() {
    let w = WebWorld::with_fixture();
    let c = WebClient::new(&w.server.url);
    for i in 1..=5 {
        let page = web_login(&c, "wrong password");
        assert_eq!(page.status, 401, "attempt {i}");
        assert!(page.body.contains("Wrong username or password."));
    }
    let page = web_login(&c, "wrong password");
    assert_eq!(page.status, 429, "{}", page.body);
    assert_eq!(page.header("retry-after"), Some("60"));
    assert!(
        page.body.contains("Too many wrong passwords") && page.body.contains("try again"),
        "{}",
        page.body
    );
    // Even the right password waits now, and nobody is logged in.
    assert_eq!(web_login(&c, PASSWORD).status, 429);
    assert!(c.session().is_none());
}

#[test]
fn web_and_device_logins_share_the_failed_login_counter() {
    let w = WebWorld::with_fixture();
    let device_login = |password: &str| {
        crate::common::server::post(
            &w.url("/api/v1/login"),
            &serde_json::json!({ "user": USER, "password": password, "device_name": "phone" }),
        )
        .0
    };
    for _ in 0..3 {
        assert_eq!(device_login("wrong"), 401);
    }
    let c = WebClient::new(&w.server.url);
    for _ in 0..2 {
        assert_eq!(web_login(&c, "wrong").status, 401);
    }
    // Five failures in all: the web login is refused, and so is the device login.
    assert_eq!(web_login(&c, PASSWORD).status, 429);
    assert_eq!(device_login(PASSWORD), 429);
}

#[test]
fn logging_in_and_out_in_a_browser() {
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.login(&w.server.url);
    assert!(b.text("main").contains("notes"));
    b.click("form.logout button[type=submit]");
    b.wait_until("the login page", || b.url().contains("/login"));
    b.goto(&w.url("/v/notes/n/Home.md"));
    b.wait_until("the redirect to the login page", || {
        b.url().contains("/login?next=%2Fv%2Fnotes%2Fn%2FHome.md")
    });
    assert!(b.find("#username").is_displayed_sync(&b));
    b.goto(&w.url("/"));
    b.wait_until("the redirect to the login page", || {
        b.url().contains("/login")
    });
}

/// `Element::is_displayed` in the blocking style of the harness.
trait Displayed {
    fn is_displayed_sync(&self, b: &Browser) -> bool;
}

impl Displayed for fantoccini::elements::Element {
    fn is_displayed_sync(&self, b: &Browser) -> bool {
        b.rt.block_on(self.is_displayed()).unwrap()
    }
}

/// Every `<input>` of `html` but hidden ones has a `<label for=...>` or an `aria-label`.
fn unlabelled_inputs(html: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for (at, _) in html.match_indices("<input") {
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        if tag.contains("type=\"hidden\"") || tag.contains("aria-label=") {
            continue;
        }
        let labelled = tag
            .split("id=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .is_some_and(|id| html.contains(&format!("for=\"{id}\"")));
        if !labelled {
            missing.push(tag.to_string());
        }
    }
    missing
}

#[test]
fn the_frame_has_a_language_a_skip_link_and_labels() {
    let w = WebWorld::with_fixture();
    let login = WebClient::new(&w.server.url).get("/login");
    let c = w.client();
    for page in [
        login,
        c.get("/"),
        c.get("/v/notes/"),
        c.get("/nothing-here"),
    ] {
        let html = &page.body;
        assert!(html.contains("<html lang=\"en\">"), "{html}");
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("<a class=\"skip\" href=\"#main\">"));
        assert!(html.contains("<main id=\"main\">"));
        assert!(html.contains("<h1>"), "{html}");
        assert_eq!(unlabelled_inputs(html), Vec::<String>::new());
    }
    let css = c.get("/static/style.css").body;
    assert!(css.contains(":focus-visible") && css.contains("outline"));
    assert!(css.contains("prefers-color-scheme: dark"));
}

#[test]
fn the_pages_fit_a_phone_and_the_skip_link_is_reachable_by_keyboard() {
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.rt.block_on(b.client.set_window_size(375, 800)).unwrap();
    let fits = || {
        b.js("return document.documentElement.scrollWidth <= window.innerWidth && window.innerWidth <= 400")
            == serde_json::Value::Bool(true)
    };
    b.goto(&w.url("/login"));
    assert!(fits(), "the login page scrolls sideways at 375 px");
    b.login(&w.server.url);
    for path in [
        "/",
        "/v/notes/",
        "/v/notes/n/Home.md",
        "/v/notes/tasks",
        "/v/notes/search?q=plan",
    ] {
        b.goto(&w.url(path));
        b.find("h1");
        assert!(fits(), "{path} scrolls sideways at 375 px");
    }
    // The first Tab lands on the skip link, which becomes visible.
    b.goto(&w.url("/"));
    b.js("document.body.focus()");
    let body = b.find("body");
    b.rt.block_on(body.send_keys("\u{e004}")).unwrap();
    let focused = b.js("return document.activeElement.className");
    assert_eq!(focused, serde_json::json!("skip"));
    let left = b.js("return document.activeElement.getBoundingClientRect().left >= 0");
    assert_eq!(left, serde_json::Value::Bool(true));
}
