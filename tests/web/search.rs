//! Search (docs/web.md, "Search"): Japanese, English, Russian and Arabic notes found with
//! highlighted snippets in a real browser and over HTTP, the index following a note edited on
//! a device, rebuilt when its folder is lost or damaged, name hits first, and search terms or
//! note text never running as script.

use std::path::{Path, PathBuf};

use crate::common::server::Server;
use crate::common::web::{Browser, USER, VAULT, WebClient, WebWorld};

fn search_url(q: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/v/notes/search").unwrap();
    url.query_pairs_mut().append_pair("q", q);
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// The note paths of the results on a search page, in order (from their links).
fn result_links(body: &str) -> Vec<String> {
    body.split("class=\"search-name\" href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

fn index_folder(w: &WebWorld) -> PathBuf {
    w.data.join("web/index").join(USER).join(VAULT)
}

fn fill_and_search(b: &Browser, q: &str) {
    b.fill("#q", q);
    b.click(".search-form button[type=submit]");
    b.wait_until("the results", || {
        b.url().contains("q=")
            && b.js("return document.getElementById('q').value").as_str() == Some(q)
    });
}

#[test]
fn japanese_and_english_searches_in_the_browser_find_the_notes_with_highlights() {
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.login(&w.server.url);
    b.goto(&w.url("/v/notes/search"));
    assert!(b.text("main").contains("Type a word to search for"));
    for (q, marked) in [
        ("東京", "東京"),
        ("会議", "会議"),
        ("同期ツール", "同期ツール"),
    ] {
        fill_and_search(&b, q);
        assert_eq!(
            b.text(".search-results li .search-name"),
            "2026-12-01",
            "{q}"
        );
        assert_eq!(
            b.text(".search-results .search-snippet mark"),
            marked,
            "{q}"
        );
        assert!(b.text(".search-count").contains("1 note matches"), "{q}");
        assert_eq!(b.text(".search-folder"), "日記/");
    }
    b.screenshot(&Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/search.png"));
    fill_and_search(&b, "report");
    assert_eq!(b.text(".search-results li .search-name"), "Plan");
    assert_eq!(b.text(".search-results .search-snippet mark"), "report");
    // The result leads to the note.
    b.click(".search-results .search-name");
    b.wait_until("the note", || {
        b.url().ends_with("/v/notes/n/projects/Plan.md")
    });
    // The top bar's search form, from any page of the vault.
    b.goto(&w.url("/v/notes/search"));
    b.fill("#top-q", "話し合い\u{E007}");
    b.wait_until("the results", || b.url().contains("q="));
    assert_eq!(b.text(".search-results li .search-name"), "2026-12-01");
    fill_and_search(&b, "ツール会議");
    assert!(b.text(".search-none").contains("No notes match"));
}

#[test]
fn russian_and_arabic_notes_are_found_by_a_word_in_the_middle() {
    let w = WebWorld::with_files(|root| {
        std::fs::write(
            root.join("Заметки.md"),
            "Вчера мы обсуждали синхронизацию заметок между устройствами.",
        )
        .unwrap();
        std::fs::write(
            root.join("ملاحظة.md"),
            "ناقشنا اليوم مزامنة الملاحظات بين الأجهزة في الاجتماع.",
        )
        .unwrap();
        std::fs::write(root.join("English.md"), "Nothing else here.").unwrap();
    });
    let c = w.client();
    let page = c.get(&search_url("СИНХРОНИЗАЦИЮ"));
    assert_eq!(page.status, 200);
    assert_eq!(
        result_links(&page.body),
        ["/v/notes/n/%D0%97%D0%B0%D0%BC%D0%B5%D1%82%D0%BA%D0%B8.md"]
    );
    assert!(
        page.body.contains("<mark>синхронизацию</mark>"),
        "{}",
        page.body
    );
    let page = c.get(&search_url("مزامنة"));
    assert_eq!(result_links(&page.body).len(), 1);
    assert!(result_links(&page.body)[0].contains("%D9%85%D9%84%D8%A7%D8%AD%D8%B8%D8%A9.md"));
    assert!(page.body.contains("<mark>مزامنة</mark>"), "{}", page.body);
}

#[test]
fn a_note_edited_on_a_device_is_found_by_its_new_word_and_not_its_old_one() {
    let w = WebWorld::with_files(|root| {
        std::fs::write(
            root.join("birds.md"),
            "Today we saw a pelican by the river.",
        )
        .unwrap();
        std::fs::write(root.join("other.md"), "Unrelated text.").unwrap();
    });
    let c = w.client();
    assert_eq!(
        result_links(&c.get(&search_url("pelican")).body),
        ["/v/notes/n/birds.md"]
    );
    assert!(result_links(&c.get(&search_url("albatross")).body).is_empty());
    let laptop = w.laptop();
    laptop.write(
        "birds.md",
        "Today we saw an albatross by the sea.",
        2_000_000_000,
    );
    laptop.sync();
    let page = c.get(&search_url("albatross"));
    assert_eq!(result_links(&page.body), ["/v/notes/n/birds.md"]);
    assert!(page.body.contains("<mark>albatross</mark>"));
    let page = c.get(&search_url("pelican"));
    assert!(result_links(&page.body).is_empty());
    assert!(page.body.contains("No notes match"));
    // A removed note is gone from the results.
    laptop.remove("birds.md");
    laptop.sync();
    assert!(result_links(&c.get(&search_url("albatross")).body).is_empty());
}

#[test]
fn a_deleted_or_damaged_index_is_rebuilt_and_the_search_still_answers() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    let want = ["/v/notes/n/%E6%97%A5%E8%A8%98/2026-12-01.md"];
    assert_eq!(result_links(&c.get(&search_url("東京")).body), want);
    let folder = index_folder(&w);
    assert!(folder.join("meta.json").exists());
    // Deleted while the server runs.
    std::fs::remove_dir_all(w.data.join("web/index")).unwrap();
    let page = c.get(&search_url("東京"));
    assert_eq!(page.status, 200);
    assert_eq!(result_links(&page.body), want);
    assert!(
        folder.join("meta.json").exists(),
        "the index is built again"
    );
    // Damaged while the server is stopped.
    let WebWorld {
        world,
        server,
        data,
    } = w;
    let addr = server.addr();
    server.stop();
    std::fs::write(folder.join("meta.json"), "{ not json").unwrap();
    let server = Server::start_at(&data, &addr, &[]);
    let w = WebWorld {
        world,
        server,
        data,
    };
    let c = w.client();
    let page = c.get(&search_url("同期ツール"));
    assert_eq!(page.status, 200);
    assert_eq!(result_links(&page.body), want);
    let meta = std::fs::read_to_string(folder.join("meta.json")).unwrap();
    assert!(meta.contains("snapshot"), "{meta}");
}

#[test]
fn a_note_whose_name_matches_comes_before_one_that_mentions_the_word() {
    let w = WebWorld::with_files(|root| {
        std::fs::create_dir_all(root.join("trips")).unwrap();
        std::fs::write(
            root.join("trips/Lake.md"),
            "A long day at the lake: we walked, we ate, and we saw one heron near the reeds.",
        )
        .unwrap();
        std::fs::write(
            root.join("Heron.md"),
            "Tall grey birds that stand still in water.",
        )
        .unwrap();
        std::fs::write(root.join("Ducks.md"), "Ducks swim.").unwrap();
    });
    let page = w.client().get(&search_url("heron"));
    assert_eq!(
        result_links(&page.body),
        ["/v/notes/n/Heron.md", "/v/notes/n/trips/Lake.md"]
    );
    assert!(page.body.contains("2 notes match"));
}

const PAYLOADS: [&str; 3] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
];

#[test]
fn search_terms_and_note_text_are_never_served_unescaped() {
    let w = WebWorld::with_files(|root| {
        std::fs::write(
            root.join("xss.md"),
            "Code: `<script>alert(2)</script>` and raw <img src=x onerror=alert(3)> img alert words.",
        )
        .unwrap();
    });
    let c = w.client();
    for q in PAYLOADS {
        let page = c.get(&search_url(q));
        assert_eq!(page.status, 200, "{q}");
        assert!(!page.body.contains(q), "{q} reflected:\n{}", page.body);
        assert!(
            !page.body.contains("<script>") && !page.body.contains("<img"),
            "{q}"
        );
        assert!(!page.body.contains("<svg"), "{q}");
    }
    let page = c.get(&search_url("alert"));
    assert_eq!(result_links(&page.body), ["/v/notes/n/xss.md"]);
    assert!(
        page.body
            .contains("&lt;script&gt;<mark>alert</mark>(2)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("onerror"), "{}", page.body);

    let b = Browser::start();
    b.login(&w.server.url);
    for q in PAYLOADS.iter().chain(&["alert"]) {
        b.goto(&w.url(&search_url(q)));
        b.find("#q");
        assert_eq!(b.alert(), None, "{q}");
        assert_eq!(
            b.js("return document.getElementById('q').value").as_str(),
            Some(*q)
        );
        assert_eq!(
            b.js("return document.querySelectorAll('main img, main svg, main script').length"),
            0
        );
    }
    assert!(
        b.text(".search-snippet")
            .contains("<script>alert(2)</script>")
    );
}

#[test]
fn query_syntax_an_empty_query_and_no_results_are_plain_pages() {
    let w = WebWorld::with_fixture();
    let c = w.client();
    for q in [
        "title:foo AND (bar OR \"baz*",
        "*",
        "\"",
        ")(",
        "~2^3",
        "東京\"",
        "-",
        "a:b:c",
    ] {
        let page = c.get(&search_url(q));
        assert_eq!(page.status, 200, "{q}");
    }
    for path in [
        "/v/notes/search",
        "/v/notes/search?q=",
        "/v/notes/search?q=+%20",
    ] {
        let page = c.get(path);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Type a word to search for"), "{path}");
        assert!(!page.body.contains("search-results"));
        assert!(page.body.contains("<label for=\"q\">"));
    }
    let page = c.get(&search_url("zebra"));
    assert!(page.body.contains("No notes match <strong>zebra</strong>"));
    assert!(result_links(&page.body).is_empty());
}

#[test]
fn search_needs_a_session_and_another_accounts_vault_is_not_found() {
    let w = WebWorld::with_fixture();
    let anonymous = WebClient::new(&w.server.url);
    let page = anonymous.get(&search_url("東京"));
    assert_eq!(page.status, 303);
    assert!(page.header("location").unwrap().starts_with("/login?next="));
    w.add_user("bob", "bob's long password");
    let bob = WebClient::new(&w.server.url);
    bob.login("bob", "bob's long password").unwrap();
    assert_eq!(bob.get(&search_url("東京")).status, 404);
    assert_eq!(w.client().get("/v/nothing/search?q=x").status, 404);
}

/// The server process serving `data` (its RSS is read from /proc).
fn server_pid(data: &Path) -> Option<u32> {
    let needle = data.to_str()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        (cmdline.contains("vault-server") && cmdline.contains(needle)).then_some(pid)
    })
}

fn rss_kib(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Not a test: the numbers of docs/web.md's search section on a 20,000-note generated vault.
/// `cargo test --test web search::measure -- --ignored --nocapture`
#[test]
#[ignore = "a measurement (minutes): run by hand with --ignored --nocapture"]
fn measure_search_on_a_20000_note_vault() {
    use std::time::{Duration, Instant};
    let notes: usize = std::env::var("SEARCH_NOTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let t = Instant::now();
    let mut w = WebWorld::with_files(|root| {
        let opts = vaultgen::GenOptions {
            notes,
            seed: 42,
            attachments: vaultgen::Attachments::None,
        };
        vaultgen::generate(root, &opts).unwrap();
    });
    eprintln!(
        "vault of {notes} notes generated and synced in {:?}",
        t.elapsed()
    );
    let c = w.client();
    let pid = server_pid(&w.data).expect("the server's pid");
    eprintln!("server before the index: {}", rss_kib(pid));
    let t = Instant::now();
    loop {
        let page = c.get(&search_url("kitchen"));
        assert_eq!(page.status, 200);
        if !page.body.contains("being brought up to date") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(600));
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "full index build (first search until complete): {:?}",
        t.elapsed()
    );
    eprintln!(
        "  server log: {}",
        w.server.wait_for("search index of vault built")
    );
    eprintln!(
        "index size: {:.1} MiB",
        dir_bytes(&index_folder(&w)) as f64 / 1048576.0
    );
    for q in [
        "kitchen",
        "the",
        "project meeting",
        "\"the project\"",
        "budget review deadline",
        "zzzz",
    ] {
        let mut times = Vec::new();
        let mut count = String::new();
        for _ in 0..20 {
            let t = Instant::now();
            let page = c.get(&search_url(q));
            times.push(t.elapsed());
            count = page
                .body
                .split("class=\"search-count\" role=\"status\">")
                .nth(1)
                .map_or("none".into(), |r| {
                    r[..r.find(" match").unwrap_or(0)].to_string()
                });
        }
        times.sort();
        eprintln!(
            "query {q:?}: median {:?}, max {:?} ({count})",
            times[10], times[19]
        );
    }
    let laptop = w.laptop();
    let files: Vec<String> = laptop
        .files()
        .into_keys()
        .filter(|p| p.ends_with(".md"))
        .take(10)
        .collect();
    for (k, f) in files.iter().enumerate() {
        laptop.write(
            f,
            &format!("rewritten note {k} with the word quetzal{k}"),
            3_000_000_000,
        );
    }
    laptop.sync();
    eprintln!(
        "  server log: {}",
        w.server.wait_for("search index of vault updated")
    );
    let t = Instant::now();
    let page = c.get(&search_url("quetzal3"));
    eprintln!(
        "search right after a 10-note snapshot (update included): {:?}",
        t.elapsed()
    );
    assert_eq!(result_links(&page.body).len(), 1);
    std::thread::sleep(Duration::from_secs(3));
    eprintln!("server idle with the index: {}", rss_kib(pid));
}
