//! History and revisions through the real binaries: a conflict between two devices leaves
//! the losing version in `.revisions/`; the browser shows it with its diff and restores it,
//! and the laptop gets exactly what `syncd restore` would have made. The log matches
//! `syncd log`, old versions download byte for byte, and stale, forged or hostile requests
//! change nothing.

use std::collections::BTreeMap;

use crate::common::web::{Browser, PASSWORD, USER, VAULT, WebClient, WebWorld};
use crate::common::{Device, at};

const SHARED: &str = "# Todo\nshared first line\nline 2\n";
const LAPTOPS: &str = "# Todo\nlaptop's edit\nline 2\n";
const PHONES: &str = "# Todo\nphone's edit, the newer\nline 2\n";

/// The laptop and a phone, both on alice's vault, after a conflict on `todo.md`: the phone's
/// newer edit won, the laptop's is kept in `.revisions/`, and both devices hold both.
fn conflict_world() -> WebWorld {
    let w = WebWorld::with_files(|root| {
        std::fs::write(root.join("todo.md"), SHARED).unwrap();
        filetime::set_file_mtime(root.join("todo.md"), at(1)).unwrap();
    });
    let phone = w.world.device("phone");
    phone
        .join_server(&w.server.url, USER, PASSWORD, &["--vault-name", VAULT])
        .ok();
    phone.sync();
    let laptop = w.laptop();
    laptop.write("todo.md", LAPTOPS, 100);
    phone.write("todo.md", PHONES, 200);
    laptop.sync();
    phone.sync();
    laptop.sync();
    assert_eq!(laptop.read("todo.md").as_deref(), Some(PHONES));
    assert_eq!(laptop.revisions_holding(LAPTOPS).len(), 1);
    w
}

/// The one revision holding `text` on `device`.
fn revision_of(device: &Device, text: &str) -> String {
    let mut revs = device.revisions_holding(text);
    assert_eq!(revs.len(), 1, "revisions holding {text:?}: {revs:?}");
    revs.remove(0)
}

/// Every file of `.revisions/` on `device`, with its bytes.
fn revisions(device: &Device) -> BTreeMap<String, Vec<u8>> {
    device
        .files()
        .into_iter()
        .filter(|(p, _)| p.starts_with(".revisions/"))
        .collect()
}

/// The value of the hidden field `name` in the first form that has it.
fn field(body: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = body
        .find(&key)
        .unwrap_or_else(|| panic!("no field {name} in:\n{body}"));
    let rest = &body[at + key.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// `syncd log --json` on `device`: (snapshot, device name), newest first.
fn syncd_log(device: &Device, path: Option<&str>) -> Vec<(String, String)> {
    let mut args = vec!["--json"];
    args.extend(path);
    let log = device.run("log", &args).ok().json();
    log.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["snapshot"].as_str().unwrap().to_string(),
                e["device_name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The hub's newest snapshot as the history page shows it.
fn newest_snapshot(c: &WebClient) -> String {
    let page = c.get("/v/notes/history");
    assert_eq!(page.status, 200);
    let at = page.body.find("id=\"s-").expect("a snapshot in the log");
    page.body[at + 6..at + 6 + 64].to_string()
}

#[test]
fn restoring_a_revision_in_the_browser_reaches_the_laptop_as_syncd_restore_would() {
    let w = conflict_world();
    let laptop = w.laptop();
    let rev = revision_of(&laptop, LAPTOPS);
    assert!(rev.ends_with(".laptop.md"), "{rev}");

    // What `syncd restore` makes of the same revision, on a copy of the laptop's folder.
    let copy = w.world.device("copy");
    let cp = std::process::Command::new("cp")
        .args(["-a"])
        .arg(&laptop.root)
        .arg(&copy.root)
        .status()
        .unwrap();
    assert!(cp.success());
    copy.run("restore", &[&rev]).ok();
    assert_eq!(copy.read("todo.md").as_deref(), Some(LAPTOPS));
    let expected = revisions(&copy);
    assert_eq!(expected.len(), 2, "{expected:?}");

    let b = Browser::start();
    b.login(&w.server.url);
    b.goto(&w.url("/v/notes/revisions"));
    let diff = b.text(".revision .diff");
    assert!(diff.contains("phone's edit, the newer"), "{diff}");
    assert!(diff.contains("laptop's edit"), "{diff}");
    assert!(b.find(".revision .diff tr.del").is_displayed_sync(&b));
    b.click("button.restore");
    b.wait_until("the restore's result", || {
        b.source().contains("id=\"restore-result\"")
    });
    let result = b.text("#restore-result");
    assert!(result.starts_with("Restored todo.md"), "{result}");
    assert_eq!(b.alert(), None);

    laptop.sync();
    assert_eq!(laptop.read("todo.md").as_deref(), Some(LAPTOPS));
    assert_eq!(revisions(&laptop), expected);
    let kept = revision_of(&laptop, PHONES);
    assert!(kept.ends_with(".phone.md"), "{kept}");
    assert_eq!(syncd_log(&laptop, None)[0].1, "web");
}

/// `is_displayed` through the blocking wrapper.
trait Displayed {
    fn is_displayed_sync(&self, b: &Browser) -> bool;
}

impl Displayed for fantoccini::elements::Element {
    fn is_displayed_sync(&self, b: &Browser) -> bool {
        b.rt.block_on(self.is_displayed()).unwrap()
    }
}

#[test]
fn the_log_a_files_history_its_diffs_and_old_versions() {
    let w = conflict_world();
    let laptop = w.laptop();
    let c = w.client();

    // The log: every snapshot of `syncd log`, in its order, with its device.
    let log = syncd_log(&laptop, None);
    assert!(log.len() >= 3, "{log:?}");
    let page = c.get("/v/notes/history");
    assert_eq!(page.status, 200);
    let mut at = 0;
    for (snapshot, device) in &log {
        let row = page.body[at..]
            .find(&format!("id=\"s-{snapshot}\""))
            .unwrap_or_else(|| panic!("snapshot {snapshot} missing or out of order"))
            + at;
        let device_at = page.body[row..].find("class=\"device\">").unwrap() + row + 15;
        assert!(
            page.body[device_at..].starts_with(&format!("{device}<")),
            "{snapshot} by {device}"
        );
        at = row + 1;
    }
    assert!(page.body.contains("/v/notes/history/todo.md"));

    // One file's history: the snapshots `syncd log todo.md` lists.
    let file_log = syncd_log(&laptop, Some("todo.md"));
    let page = c.get("/v/notes/history/todo.md");
    assert_eq!(page.status, 200);
    for (snapshot, _) in &file_log {
        assert!(
            page.body.contains(&format!("id=\"s-{snapshot}\"")),
            "{snapshot}"
        );
    }
    let (newest, oldest) = (&file_log[0].0, &file_log.last().unwrap().0);

    // A diff between the first and the current version shows the changed line.
    let diff = c.get(&format!(
        "/v/notes/diff?path=todo.md&from={oldest}&to={newest}"
    ));
    assert_eq!(diff.status, 200);
    assert!(
        diff.body.contains("- shared first line</td>"),
        "{}",
        diff.body
    );
    assert!(
        diff.body.contains("+ phone&#39;s edit, the newer</td>"),
        "{}",
        diff.body
    );
    assert!(diff.body.contains("<tr class=\"same\">"));

    // The first version, byte for byte, as an attachment when asked to download.
    let old = c.get(&format!("/v/notes/version/{oldest}/todo.md?download=1"));
    assert_eq!(old.status, 200);
    assert_eq!(old.body, SHARED);
    assert!(
        old.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(old.header("x-content-type-options"), Some("nosniff"));
    let shown = c.get(&format!("/v/notes/version/{oldest}/todo.md"));
    assert_eq!(
        shown.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // A revision against the current version.
    let rev = revision_of(&laptop, LAPTOPS);
    let diff = c.get(&format!("/v/notes/diff?rev={}", urlencode(&rev)));
    assert_eq!(diff.status, 200);
    assert!(
        diff.body.contains("+ laptop&#39;s edit</td>"),
        "{}",
        diff.body
    );

    // Without a session: the bytes are refused, the pages go to the login.
    let anonymous = WebClient::new(&w.server.url);
    let refused = anonymous.get(&format!("/v/notes/version/{oldest}/todo.md"));
    assert_eq!(refused.status, 401);
    assert!(!refused.body.contains("shared first line"));
    for page in [
        "/v/notes/history",
        "/v/notes/revisions",
        "/v/notes/history/todo.md",
    ] {
        assert_eq!(anonymous.get(page).status, 303, "{page}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn stale_forged_and_repeated_restores_write_nothing() {
    let w = conflict_world();
    let laptop = w.laptop();
    let phone = w.world.device("phone");
    let c = w.client();
    let rev = revision_of(&laptop, LAPTOPS);
    let page = c.get("/v/notes/revisions");
    assert_eq!(page.status, 200);
    let (csrf, head) = (page.csrf(), field(&page.body, "head"));
    assert_eq!(field(&page.body, "rev"), rev);
    let before = newest_snapshot(&c);
    assert_eq!(before, head);

    // Without the CSRF token, or with another, or with hostile paths: refused.
    for form in [
        vec![("rev", rev.as_str()), ("head", head.as_str())],
        vec![
            ("csrf", "0000"),
            ("rev", rev.as_str()),
            ("head", head.as_str()),
        ],
    ] {
        let refused = c.post("/v/notes/revisions/restore", &form);
        assert_eq!(refused.status, 403, "{form:?}");
    }
    for bad in [
        "../todo.md",
        ".revisions/../todo.md",
        ".vault/config.toml",
        ".revisions/.vault/x.2026-11-23T12-35-14.500Z.laptop.md",
        "todo.md",
        "/etc/passwd",
    ] {
        let refused = c.post(
            "/v/notes/revisions/restore",
            &[("csrf", &csrf), ("rev", bad), ("head", &head)],
        );
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
    }
    assert_eq!(newest_snapshot(&c), before);

    // The vault moves on after the page was shown: nothing is written, the page says so.
    phone.write("other.md", "a later note\n", 300);
    phone.sync();
    let moved = newest_snapshot(&c);
    assert_ne!(moved, before);
    let stale = c.post(
        "/v/notes/revisions/restore",
        &[("csrf", &csrf), ("rev", &rev), ("head", &head)],
    );
    assert_eq!(stale.status, 409);
    assert!(
        stale
            .body
            .contains("The vault changed since the page was shown")
    );
    assert!(
        stale
            .body
            .contains(&format!("name=\"head\" value=\"{moved}\""))
    );
    assert_eq!(newest_snapshot(&c), moved);
    laptop.sync();
    assert_eq!(laptop.read("todo.md").as_deref(), Some(PHONES));

    // From the current head it restores; restoring the same again changes nothing.
    let done = c.post(
        "/v/notes/revisions/restore",
        &[("csrf", &csrf), ("rev", &rev), ("head", &moved)],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Restored <a"), "{}", done.body);
    let restored = newest_snapshot(&c);
    let head = field(&done.body, "head");
    assert_eq!(head, restored);
    let again = c.post(
        "/v/notes/revisions/restore",
        &[("csrf", &csrf), ("rev", &rev), ("head", &head)],
    );
    assert_eq!(again.status, 200);
    assert!(again.body.contains("already holds exactly these bytes"));
    assert_eq!(newest_snapshot(&c), restored);

    // A revision that is gone: nothing written.
    let gone = rev.replace(".laptop.md", ".tablet.md");
    let refused = c.post(
        "/v/notes/revisions/restore",
        &[("csrf", &csrf), ("rev", &gone), ("head", &head)],
    );
    assert_eq!(refused.status, 409);
    assert!(refused.body.contains("is no longer in the vault"));
    assert_eq!(newest_snapshot(&c), restored);
}

#[test]
fn hostile_paths_and_other_accounts_are_refused_on_every_route() {
    let w = conflict_world();
    let c = w.client();
    let head = newest_snapshot(&c);
    for url in [
        "/v/notes/history/..%2Ftodo.md".to_string(),
        "/v/notes/history/%2e%2e/todo.md".to_string(),
        "/v/notes/history/.vault/config.toml".to_string(),
        "/v/notes/history/a/.vault/x".to_string(),
        format!("/v/notes/version/{head}/..%2F..%2Fetc%2Fpasswd"),
        format!("/v/notes/version/{head}/%2e%2e/todo.md"),
        format!("/v/notes/version/{head}/.vault/config.toml"),
        "/v/notes/version/nothex/todo.md".to_string(),
        format!("/v/notes/version/{}/todo.md", "0".repeat(64)),
        format!("/v/notes/diff?path=..%2Ftodo.md&from={head}"),
        format!("/v/notes/diff?path=.vault%2Fconfig.toml&from={head}"),
        "/v/notes/diff?rev=..%2F.revisions%2Fx".to_string(),
        "/v/notes/diff?rev=.vault%2Fconfig.toml".to_string(),
        "/v/notes/diff?rev=todo.md".to_string(),
        "/v/notes/history?before=nothex".to_string(),
        format!("/v/notes/history?before={}", "0".repeat(64)),
    ] {
        let page = c.get(&url);
        assert!(
            page.status == 404 || page.status == 400,
            "{url}: {} {}",
            page.status,
            page.body
        );
        assert!(!page.body.contains("/tmp/"), "{url} names a server folder");
    }
    // Another account sees none of alice's vault.
    w.add_user("bob", "bob's long password");
    let bob = WebClient::new(&w.server.url);
    bob.login("bob", "bob's long password").unwrap();
    for url in [
        "/v/notes/history".to_string(),
        "/v/notes/history/todo.md".to_string(),
        "/v/notes/revisions".to_string(),
        format!("/v/notes/version/{head}/todo.md"),
        format!("/v/notes/diff?path=todo.md&from={head}"),
    ] {
        assert_eq!(bob.get(&url).status, 404, "{url}");
    }
    let csrf = bob.get("/").csrf();
    let forged = bob.post(
        "/v/notes/revisions/restore",
        &[("csrf", &csrf), ("rev", ".revisions/x.md"), ("head", &head)],
    );
    assert_eq!(forged.status, 404);
}

#[test]
fn hostile_names_and_contents_never_run_in_the_history() {
    const NAME: &str = "<img src=x onerror=alert(1)>.md";
    const BEFORE: &str = "<script>alert('before')</script>\n\"quoted\" & <b>bold</b>\n";
    const AFTER: &str = "<script>alert('after')</script>\n<img src=x onerror=alert(2)>\n";
    let w = WebWorld::with_files(|root| {
        std::fs::write(root.join(NAME), BEFORE).unwrap();
        filetime::set_file_mtime(root.join(NAME), at(1)).unwrap();
    });
    let laptop = w.laptop();
    laptop.write(NAME, AFTER, 100);
    laptop.sync();
    let log = syncd_log(&laptop, Some(NAME));
    assert_eq!(log.len(), 2);
    let c = w.client();
    let encoded = urlencode(NAME);
    let urls = [
        "/v/notes/history".to_string(),
        format!("/v/notes/history/{encoded}"),
        format!(
            "/v/notes/diff?path={encoded}&from={}&to={}",
            log[1].0, log[0].0
        ),
    ];
    for url in &urls {
        let page = c.get(url);
        assert_eq!(page.status, 200, "{url}");
        for raw in ["<script>alert", "<img src=x", "<b>bold"] {
            assert!(!page.body.contains(raw), "{url} serves {raw} unescaped");
        }
    }
    let diff = c.get(&urls[2]);
    assert!(
        diff.body
            .contains("&#60;script&#62;alert(&#39;after&#39;)&#60;/script&#62;"),
        "{}",
        diff.body
    );

    let b = Browser::start();
    b.login(&w.server.url);
    for url in &urls {
        b.goto(&w.url(url));
        b.find("main h1");
        assert_eq!(b.alert(), None, "{url}");
        assert_eq!(
            b.js("return document.querySelectorAll('main script, main img').length"),
            0
        );
    }
    assert!(b.text("main").contains("alert('after')"));
}

#[test]
fn the_log_pages_through_every_snapshot_in_order() {
    let w = WebWorld::with_files(|root| {
        std::fs::write(root.join("daily.md"), "day 0\n").unwrap();
        filetime::set_file_mtime(root.join("daily.md"), at(1)).unwrap();
    });
    let laptop = w.laptop();
    for day in 1..=51 {
        laptop.write("daily.md", &format!("day {day}\n"), 10 + day);
        laptop.sync();
    }
    let log: Vec<String> = syncd_log(&laptop, None)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(log.len(), 52);
    let c = w.client();
    let (mut shown, mut url, mut pages) = (Vec::new(), Some("/v/notes/history".to_string()), 0);
    while let Some(next) = url.take() {
        let page = c.get(&next);
        assert_eq!(page.status, 200, "{next}");
        pages += 1;
        let mut rest = page.body.as_str();
        while let Some(at) = rest.find("<li id=\"s-") {
            shown.push(rest[at + 10..at + 74].to_string());
            rest = &rest[at + 74..];
        }
        if let Some(at) = page.body.find("rel=\"next\"") {
            let href = page.body[..at].rfind("href=\"").unwrap() + 6;
            let end = page.body[href..].find('"').unwrap() + href;
            url = Some(page.body[href..end].to_string());
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(shown, log);
}

/// A current version saved by a device whose clock runs ahead: the restored version is still
/// dated after it, so devices take it (rather than keeping it aside as an old copy put back).
#[test]
fn a_restore_over_a_version_saved_by_a_clock_running_ahead_reaches_the_devices() {
    let w = conflict_world();
    let laptop = w.laptop();
    let phone = w.world.device("phone");
    let ahead = "# Todo\nphone's edit, saved two hours ahead\nline 2\n";
    // `at` is an hour ago plus the seconds: this is two hours from now.
    phone.write("todo.md", ahead, 3 * 3600);
    phone.sync();
    laptop.sync();
    assert_eq!(laptop.read("todo.md").unwrap(), ahead);
    let rev = revision_of(&laptop, LAPTOPS);
    let c = w.client();
    let page = c.get("/v/notes/revisions");
    let (csrf, head) = (page.csrf(), field(&page.body, "head"));
    let restored = c.post(
        "/v/notes/revisions/restore",
        &[("csrf", &csrf), ("rev", &rev), ("head", &head)],
    );
    assert_eq!(restored.status, 200, "{}", restored.body);
    let report = laptop.sync();
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    assert_eq!(laptop.read("todo.md").unwrap(), LAPTOPS);
    // The version it replaced is kept, as a restore keeps it.
    revision_of(&laptop, ahead);
}
