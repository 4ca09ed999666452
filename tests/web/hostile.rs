//! What hostile notes, names and URLs must never do: run script in the viewer's browser
//! (checked in the served HTML and in a real browser: no alert fires, the page still renders),
//! or reach a file outside the vault's head snapshot (path traversal is a 404).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use crate::common::web::{Browser, WebWorld};

const EVIL_NAME: &str = "<img src=x onerror=alert(1)>.md";

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn hostile_world() -> WebWorld {
    WebWorld::with_files(|root| {
        write(
            root,
            "Body.md",
            "# Body\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n\
             [click](javascript:alert(1)) [auto](<javascript:alert(1)>)\n\n<svg onload=alert(1)></svg>\n\n\
             <iframe src=\"javascript:alert(1)\"></iframe>\n\n\
             <a href=\"JaVaScRiPt:alert(1)\">x</a> <div style=\"x\" onclick=\"alert(1)\">div</div>\n\n\
             <details open ontoggle=alert(1)><summary>s</summary></details>\n\n\
             <object data=\"javascript:alert(1)\"></object><embed src=\"javascript:alert(1)\">\n\n\
             [[Front|<img src=x onerror=alert(1)>]] [[<script>alert(1)</script>]]\n\n\
             ![x\" onerror=\"alert(1)](attachments/none.png) ![[x\\\" onerror=alert(1) x.png]]\n\n\
             <math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>\n\n\
             ```html\n<script>alert(1)</script>\n```\n\nThe end.\n",
        );
        write(
            root,
            "Front.md",
            "---\ntitle: \"<script>alert(1)</script>\"\ntags: [\"<img src=x onerror=alert(1)>\", ok]\n\
             \"<svg onload=alert(1)>\": key\n---\n# Front\n\nFront body.\n",
        );
        write(
            root,
            EVIL_NAME,
            "# Evil name\n\nLinked as [[<img src=x onerror=alert(1)>]].\n",
        );
        write(root, "<svg onload=alert(1)>/inside.md", "# Inside\n");
        write(
            root,
            "Broken front.md",
            "---\ntitle: [<script>alert(1)</script>\n---\n# Broken\n",
        );
    })
}

/// The HTML's tags (text and attribute values left out) and URLs carry no script: no
/// script, svg, frame, object or style element but the server's own script, no `on…` or
/// `style` attribute.
fn assert_no_script(what: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for tag in lower
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""))
    {
        if tag == "script src=\"/static/app.js\" defer" || tag == "/script" {
            continue;
        }
        // Attribute values are quoted: keep what is outside the quotes.
        let names: String = tag.split('"').step_by(2).collect();
        let mut words = names
            .split([' ', '\n', '\t', '/'])
            .filter(|w| !w.is_empty());
        let element = words.next().unwrap_or("");
        for bad in [
            "script", "svg", "iframe", "object", "embed", "style", "math", "frame",
        ] {
            assert_ne!(element, bad, "{what}: <{tag}>\n{html}");
        }
        for attr in words.map(|w| w.split('=').next().unwrap_or("")) {
            assert!(
                !attr.starts_with("on") && attr != "style",
                "{what}: <{tag}>\n{html}"
            );
        }
    }
    for bad in [
        "href=\"javascript:",
        "src=\"javascript:",
        "data=\"javascript:",
    ] {
        assert!(!lower.contains(bad), "{what}: {bad}\n{html}");
    }
    // The only script is this server's own file.
    assert_eq!(lower.matches("<script").count(), 1, "{what}\n{html}");
}

const PAGES: &[&str] = &[
    "/v/notes/",
    "/v/notes/n/Body.md",
    "/v/notes/n/Front.md",
    "/v/notes/n/Broken%20front.md",
    "/v/notes/n/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.md",
    "/v/notes/f/%3Csvg%20onload%3Dalert%281%29%3E/",
    "/v/notes/n/%3Csvg%20onload%3Dalert%281%29%3E/inside.md",
    "/v/notes/n/nowhere%3Cscript%3Ealert(1)%3C%2Fscript%3E.md",
];

#[test]
fn hostile_notes_names_and_front_matter_never_carry_script_in_the_html() {
    let w = hostile_world();
    let c = w.client();
    for page in PAGES {
        let got = c.get(page);
        let want = if page.contains("nowhere") { 404 } else { 200 };
        assert_eq!(got.status, want, "{page}\n{}", got.body);
        assert_no_script(page, &got.body);
    }
    // The hostile texts are still there, as text (escaped as askama or ammonia do).
    let text = |page: &str| {
        c.get(page)
            .body
            .replace("&#60;", "&lt;")
            .replace("&#62;", "&gt;")
    };
    let front = text("/v/notes/n/Front.md");
    assert!(
        front.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{front}"
    );
    let root = text("/v/notes/");
    assert!(
        root.contains("&lt;img src=x onerror=alert(1)&gt;.md"),
        "{root}"
    );
    let body = text("/v/notes/n/Body.md");
    assert!(body.contains("The end."), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the code block: {body}"
    );
}

#[test]
fn hostile_pages_run_no_script_in_a_browser() {
    let w = hostile_world();
    let b = Browser::start();
    b.login(&w.server.url);
    for page in PAGES {
        b.goto(&w.url(page));
        assert_eq!(b.alert(), None, "{page}: an alert fired");
        assert!(
            !b.text("main h1").is_empty(),
            "{page}: the page did not render"
        );
        assert_eq!(
            b.js("return document.querySelectorAll('script').length;"),
            serde_json::json!(1),
            "{page}"
        );
    }
    // Clicking the hostile links runs nothing either.
    b.goto(&w.url("/v/notes/n/Body.md"));
    for link in ["click", "x"] {
        let found = b.js(&format!(
            "const a = [...document.querySelectorAll('.note-body a')].find(a => a.textContent === '{link}'); if (a) a.click(); return !!a;"
        ));
        assert_eq!(found, serde_json::json!(true), "{link}");
        assert_eq!(b.alert(), None, "{link}");
    }
}

/// Send `path` byte for byte (no client normalising `..`) with the session cookie; the status
/// and body.
fn raw_get(base: &str, path: &str, session: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: vault_session={session}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text}"));
    (status, text)
}

#[test]
fn path_traversal_is_refused_on_every_path_route() {
    let w = WebWorld::with_files(|root| {
        write(root, "Home.md", "# Home\n");
        write(root, "sub/Note.md", "# Note\n");
    });
    let c = w.client();
    let session = c.session().unwrap();
    // The vault's own file is served (the requests below are well formed).
    assert_eq!(
        raw_get(&w.server.url, "/v/notes/raw/Home.md", &session).0,
        200
    );
    assert_eq!(
        raw_get(&w.server.url, "/v/notes/n/sub/Note.md", &session).0,
        200
    );
    for route in ["raw", "n", "f"] {
        for evil in [
            "../../../../etc/passwd",
            "sub/../../Home.md",
            "sub/../Home.md",
            "%2e%2e/%2e%2e/etc/passwd",
            "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
            "sub%2F..%2F..%2FHome.md",
            "sub/%2e%2e/Home.md",
            ".vault/config.toml",
            ".VAULT/config.toml",
            "sub/.vault/x",
            "%2Fetc%2Fpasswd",
            "/etc/passwd",
            "..%5C..%5Cetc%5Cpasswd",
            "./Home.md",
        ] {
            let path = format!("/v/notes/{route}/{evil}");
            let (status, text) = raw_get(&w.server.url, &path, &session);
            assert_eq!(status, 404, "{path}\n{text}");
            assert!(!text.contains("root:"), "{path}");
            assert!(!text.contains("argon2"), "{path}");
        }
    }
}

#[test]
fn another_accounts_vault_is_a_404_on_every_path_route() {
    let w = WebWorld::with_files(|root| write(root, "Home.md", "# Home\n"));
    w.add_user("bob", "bob's long password");
    let bob = crate::common::web::WebClient::new(&w.server.url);
    bob.login("bob", "bob's long password")
        .expect("bob logs in");
    for path in [
        "/v/notes/",
        "/v/notes/f/x/",
        "/v/notes/n/Home.md",
        "/v/notes/raw/Home.md",
    ] {
        let page = bob.get(path);
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("# Home"), "{path}");
    }
    // The same paths for alice, whose vault it is.
    let alice = w.client();
    assert_eq!(alice.get("/v/notes/n/Home.md").status, 200);
    assert_eq!(alice.get("/v/notes/raw/Home.md").body, "# Home\n");
}
