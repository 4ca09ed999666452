//! A hub thinned by its retention policy, as gc leaves it: every snapshot object, but the
//! trees and file versions of the kept snapshots only. `syncd log` lists every snapshot and
//! marks the thinned; `show` and `restore --at` of a thinned snapshot say so and name the
//! nearest kept ones; a file's history skips them; the web view marks them and links nothing
//! of theirs.

use std::collections::HashSet;
use std::path::Path;

use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::hub::{CasOutcome, Hub};
use vault::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use vault::paths::VaultPath;
use vault::retention::{self, DAY_NS, Policy, SnapshotInfo, Thinning};

use crate::common::World;
use crate::common::server::{Server, add_user};
use crate::common::web::{PASSWORD, USER, VAULT, WebClient};

/// One snapshot of the history built below.
struct Made {
    id: ObjectId,
    kept: bool,
    text: String,
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// Build, in the hub folder `hub`, a history of `note.md` over two years (each snapshot
/// changes it; `keep.md` never changes), thinned as gc would under the default thinning:
/// the kept snapshots' trees and blobs, and every snapshot object. Oldest first.
fn thinned_history(hub: &Path) -> Vec<Made> {
    let now = now_ns();
    let day_start = |days_ago: i64| (now - days_ago * DAY_NS).div_euclid(DAY_NS) * DAY_NS;
    let hour = 3_600 * 1_000_000_000i64;
    let times = [
        day_start(700) + 9 * hour,
        day_start(699) + 9 * hour,
        day_start(100) + 9 * hour, // two on one day: the later is kept
        day_start(100) + 15 * hour,
        day_start(50) + 12 * hour,
        now - 2 * DAY_NS,
        now - hour,
    ];
    let hub = FolderHub::open(hub).unwrap();
    let meta = |text: &str| FileMeta {
        id: ObjectId::of(text.as_bytes()),
        size: text.len() as u64,
        mtime_ns: 1_000_000_000,
        executable: false,
    };
    let blob = |text: &str| Object {
        kind: Kind::Blob,
        bytes: text.as_bytes().to_vec(),
    };
    let always = "kept always\n";
    let mut built: Vec<(Snapshot, Vec<Object>, String)> = Vec::new();
    let mut parent: Option<ObjectId> = None;
    for (i, &time_ns) in times.iter().enumerate() {
        let text = format!("version {i}\n");
        let mut flat = FlatTree::new();
        flat.insert(VaultPath::new("note.md").unwrap(), meta(&text));
        flat.insert(VaultPath::new("keep.md").unwrap(), meta(always));
        let (tree, trees) = build_trees(&flat);
        let snap = Snapshot {
            tree,
            parents: parent.into_iter().collect(),
            device_id: "0123456789abcdef".into(),
            device_name: "old-laptop".into(),
            time_ns,
        };
        parent = Some(snap.to_object().id());
        built.push((snap, trees, text));
    }
    let infos: Vec<SnapshotInfo> = built
        .iter()
        .map(|(s, _, _)| SnapshotInfo {
            id: s.to_object().id(),
            time_ns: s.time_ns,
            parents: s.parents.clone(),
        })
        .collect();
    let head = parent.unwrap();
    let kept = retention::kept(&infos, head, &Policy::Thin(Thinning::default()), now);
    let mut objects = vec![blob(always)];
    let mut made = Vec::new();
    for (snap, trees, text) in built {
        let id = snap.to_object().id();
        let keep = kept.contains(&id);
        if keep {
            objects.push(blob(&text));
            objects.extend(trees);
        }
        objects.push(snap.to_object());
        made.push(Made {
            id,
            kept: keep,
            text,
        });
    }
    hub.put(&objects).unwrap();
    assert_eq!(hub.cas_head(None, head).unwrap(), CasOutcome::Updated);
    // The story the tests rely on: 0 and 2 thinned, 1 (the month's last), 3 (the day's
    // last), 4 and the recent ones kept.
    let flags: Vec<bool> = made.iter().map(|m| m.kept).collect();
    assert_eq!(flags, [false, true, false, true, true, true, true]);
    made
}

fn short(id: ObjectId) -> String {
    id.short()
}

#[test]
fn log_show_and_restore_on_a_thinned_folder_hub() {
    let w = World::new();
    let made = thinned_history(&w.hub);
    let a = w.device("laptop");
    a.init();
    a.sync();
    assert_eq!(a.read("note.md").unwrap(), "version 6\n");

    // The log lists every snapshot, the thinned marked.
    let log = a.run("log", &["--json"]).ok().json();
    let entries = log.as_array().unwrap();
    assert_eq!(entries.len(), made.len());
    for (entry, m) in entries.iter().zip(made.iter().rev()) {
        assert_eq!(entry["snapshot"], m.id.to_hex());
        assert_eq!(entry["kept"], m.kept, "{entry}");
    }
    let text = a.run("log", &[]).ok().stdout;
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(files not kept: thinned by the retention policy)"))
        .collect();
    assert_eq!(marked.len(), 2, "{text}");
    assert!(marked[0].starts_with(&short(made[2].id)), "{text}");
    assert!(marked[1].starts_with(&short(made[0].id)), "{text}");

    // A file's history: the kept snapshots only, each against the nearest kept before.
    let file = a.run("log", &["note.md", "--json"]).ok().json();
    let listed: Vec<&str> = file
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["snapshot"].as_str().unwrap())
        .collect();
    let kept: Vec<String> = made
        .iter()
        .rev()
        .filter(|m| m.kept)
        .map(|m| m.id.to_hex())
        .collect();
    assert_eq!(listed, kept);
    let v3 = &file.as_array().unwrap()[3];
    assert_eq!(v3["snapshot"], made[3].id.to_hex());
    assert_eq!(v3["compared_with"], made[1].id.to_hex());
    let text = a.run("log", &["note.md"]).ok().stdout;
    assert!(
        text.contains(&format!(
            "(since {}: the snapshots between were thinned)",
            short(made[1].id)
        )),
        "{text}"
    );

    // show of a thinned snapshot says so and names the nearest kept ones; of a kept one, works.
    let at = short(made[2].id);
    let refused = a.run("show", &["note.md", "--at", &at]).failed();
    for words in [
        "retention policy".to_string(),
        format!("{} (", short(made[1].id)),
        format!("{} (", short(made[3].id)),
    ] {
        assert!(
            refused.stderr.contains(&words),
            "{words}: {}",
            refused.stderr
        );
    }
    let shown = a.run("show", &["note.md", "--at", &short(made[3].id)]).ok();
    assert_eq!(shown.stdout, made[3].text);

    // restore --at a thinned snapshot changes nothing; at a kept one, brings it back.
    let refused = a
        .run("restore", &["note.md", "--at", &short(made[0].id)])
        .failed();
    assert!(
        refused.stderr.contains("retention policy"),
        "{}",
        refused.stderr
    );
    assert_eq!(a.read("note.md").unwrap(), "version 6\n");
    a.run("restore", &["note.md", "--at", &short(made[1].id)])
        .ok();
    assert_eq!(a.read("note.md").unwrap(), made[1].text);

    // `log --deleted` and the preview read the thinned hub too.
    a.run("log", &["--deleted"]).ok();
    let preview = a.run("hub retention", &["--json"]).ok().json();
    assert_eq!(preview["preview"]["snapshots"], 7);
    assert_eq!(preview["preview"]["keep_files"], 7);
    let preview = a
        .run("hub retention", &["--thin", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(preview["preview"]["keep_files"], 5);
    assert_eq!(preview["preview"]["thinned"], 2);
    assert_eq!(preview["preview"]["to_thin"], 0);
}

/// The `<li>` of snapshot `id` in the web log.
fn row(body: &str, id: ObjectId) -> &str {
    let start = body
        .find(&format!("id=\"s-{}\"", id.to_hex()))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{body}"));
    let rest = &body[start..];
    let end = rest[1..]
        .find("<li id=\"s-")
        .or_else(|| rest.find("</ol>"))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_thinned_server_vault_through_syncd_and_the_web_view() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, USER, PASSWORD);
    let made = thinned_history(&data.join("vaults").join(USER).join(VAULT));
    let server = Server::start(&data, &[]);
    let a = w.device("laptop");
    std::fs::create_dir_all(&a.root).unwrap();
    a.join_server(&server.url, USER, PASSWORD, &["--vault-name", VAULT])
        .ok();
    a.sync();
    assert_eq!(a.read("note.md").unwrap(), "version 6\n");

    let log = a.run("log", &["--json"]).ok().json();
    let flags: Vec<bool> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kept"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [true, true, true, true, false, true, false]);
    let refused = a
        .run("show", &["note.md", "--at", &short(made[2].id)])
        .failed();
    assert!(
        refused.stderr.contains("retention policy"),
        "{}",
        refused.stderr
    );

    // The web view: every snapshot listed, the thinned marked, with no link into their files.
    let web = WebClient::new(&server.url);
    web.login(USER, PASSWORD).map_err(|p| p.body).unwrap();
    let page = web.get(&format!("/v/{VAULT}/history"));
    assert_eq!(page.status, 200, "{}", page.body);
    let marker = "Files not kept: thinned by the retention policy";
    assert_eq!(page.body.matches(marker).count(), 2, "{}", page.body);
    for m in &made {
        let r = row(&page.body, m.id);
        assert_eq!(r.contains(marker), !m.kept, "{r}");
        if !m.kept {
            assert!(!r.contains("/history/note.md"), "{r}");
            assert!(!r.contains("diff?"), "{r}");
        }
    }
    // The kept snapshot after a thinned one is diffed against the nearest kept one.
    let r = row(&page.body, made[3].id);
    assert!(r.contains(&format!("from={}", made[1].id.to_hex())), "{r}");
    // A file's history: kept snapshots only; their links answer.
    let page = web.get(&format!("/v/{VAULT}/history/note.md"));
    assert_eq!(page.status, 200, "{}", page.body);
    let thinned: HashSet<String> = made
        .iter()
        .filter(|m| !m.kept)
        .map(|m| m.id.to_hex())
        .collect();
    for id in &thinned {
        assert!(!page.body.contains(id.as_str()), "{id} in:\n{}", page.body);
    }
    for href in page
        .body
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .filter(|h| h.contains("/version/") || h.contains("/diff?"))
    {
        let href = href.replace("&amp;", "&").replace("&#38;", "&");
        let answer = web.get(&href);
        assert_eq!(answer.status, 200, "{href}: {}", answer.body);
    }
    // A thinned snapshot's version, asked for by URL: a clear 404, not a server error.
    let page = web.get(&format!(
        "/v/{VAULT}/version/{}/note.md",
        made[2].id.to_hex()
    ));
    assert_eq!(page.status, 404, "{}", page.body);
    assert!(page.body.contains("retention policy"), "{}", page.body);
}
