//! `vault-server serve --git-mirror`: the real server over real HTTPS, real devices syncing
//! through it, and the real `git` binary cloning and fetching each vault's mirror as its
//! owner, and failing as anyone else. `vault-server git-mirror rebuild`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::server::{SERVER, Server, add_user, server_cmd};
use common::tls::{TlsFiles, private_ca};
use common::{Device, World, assert_converged, folder_state, noise};

const PASSWORD: &str = "correct-horse-battery";
const BOB_PASSWORD: &str = "bobs-own-password";

/// A server for `alice` and `bob` over HTTPS, with `extra` options.
fn https_server(w: &World, extra: &[&str]) -> (Server, TlsFiles, PathBuf) {
    let tls = private_ca(w.path(), "hub");
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    add_user(&data, "bob", BOB_PASSWORD);
    let mut args = tls.serve_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Server::start(&data, &args), tls, data)
}

/// `git ARGS` in `dir`, trusting the test CA, never asking for a password, with no user or
/// system configuration.
fn git(dir: &Path, tls: &TlsFiles, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .env("GIT_SSL_CAINFO", &tls.ca)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("HOME", dir)
        .output()
        .expect("git runs")
}

fn git_ok(dir: &Path, tls: &TlsFiles, args: &[&str]) -> String {
    let out = git(dir, tls, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The mirror's URL with `name:secret` in it, as a user pastes it.
fn url(server: &Server, login: Option<(&str, &str)>, owner: &str, vault: &str) -> String {
    let who = login.map(|(n, s)| format!("{n}:{s}@")).unwrap_or_default();
    format!("https://{who}{}/git/{owner}/{vault}.git", server.addr())
}

/// A vault's files (bytes only), without `.vault/`, `.revisions/` and a clone's `.git/`.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    folder_state(root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git") && !p.starts_with(".revisions"))
        .filter_map(|(p, e)| match e {
            common::Entry::File { bytes, .. } => Some((p, bytes)),
            common::Entry::Dir => None,
        })
        .collect()
}

/// `syncd history export` on `device` into a new folder: the commit `main` points at.
fn device_export(w: &World, device: &Device, name: &str) -> String {
    let dir = w.path().join(name);
    let report = device
        .run(
            "history",
            &["export", "--to", dir.to_str().unwrap(), "--json"],
        )
        .ok()
        .json();
    report["head"].as_str().expect("a head commit").to_string()
}

/// An HTTPS client trusting the test CA.
fn client(tls: &TlsFiles) -> reqwest::blocking::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_owner_clones_and_fetches_the_mirror_over_https_and_no_one_else_can() {
    let w = World::new();
    let (server, tls, data) = https_server(&w, &["--git-mirror"]);
    let ca = tls.ca.to_str().unwrap().to_string();
    let join = ["--ca-cert", ca.as_str(), "--vault-name", "notes"];

    let laptop = w.device("laptop");
    laptop.write("a.md", "# A\n", 1);
    laptop.write("notes/caf\u{e9}.md", "menu du jour\n", 2);
    let image = noise(300_000, 7);
    std::fs::create_dir_all(laptop.path("attachments")).unwrap();
    std::fs::write(laptop.path("attachments/photo.bin"), &image).unwrap();
    // Enough notes that the mirror packs them: the clone reads a pack, the fetch after an
    // edit loose objects.
    for i in 0..600 {
        laptop.write(&format!("journal/{i:03}.md"), &format!("day {i}\n"), 3);
    }
    laptop
        .join_server(&server.url, "alice", PASSWORD, &join)
        .ok();
    laptop.sync();
    let desktop = w.device("desktop");
    desktop
        .join_server(&server.url, "alice", PASSWORD, &join)
        .ok();
    desktop.sync();
    desktop.write("a.md", "# A\n\nfrom the desktop\n", 10);
    desktop.sync();
    laptop.sync();
    std::fs::rename(laptop.path("a.md"), laptop.path("notes/a.md")).unwrap();
    laptop.sync();
    desktop.sync();
    assert_converged(&[&laptop, &desktop]);

    // The owner clones with the account's password: main holds the vault, and is the very
    // commit a device's own export makes of the same history.
    let owner = url(&server, Some(("alice", PASSWORD)), "alice", "notes");
    git_ok(w.path(), &tls, &["clone", "-q", &owner, "clone"]);
    let clone = w.path().join("clone");
    assert_eq!(files(&clone), files(&laptop.root));
    git_ok(&clone, &tls, &["fsck", "--strict"]);
    let main = git_ok(&clone, &tls, &["rev-parse", "HEAD"]);
    assert_eq!(main.trim(), device_export(&w, &laptop, "laptop.git"));
    let authors = git_ok(&clone, &tls, &["log", "--format=%an <%ae>"]);
    assert!(authors.contains("desktop <"), "{authors}");
    assert!(authors.contains("laptop <"), "{authors}");
    assert!(
        git_ok(&clone, &tls, &["show", "HEAD:notes/caf\u{e9}.md"]) == "menu du jour\n",
        "a non-ASCII name keeps its file"
    );
    let before = git_ok(&clone, &tls, &["rev-list", "--count", "HEAD"]);
    let packs = std::fs::read_to_string(data.join("git/alice/notes.git/objects/info/packs"));
    assert!(
        packs.unwrap().starts_with("P pack-"),
        "the mirror was packed"
    );

    // A device syncs an edit: the next fetch has it.
    laptop.write(
        "notes/a.md",
        "# A\n\nfrom the desktop\n\nand the laptop\n",
        20,
    );
    laptop.sync();
    git_ok(&clone, &tls, &["pull", "-q", "--ff-only"]);
    assert_eq!(files(&clone), files(&laptop.root));
    let after = git_ok(&clone, &tls, &["rev-list", "--count", "HEAD"]);
    assert_eq!(
        after.trim().parse::<u32>().unwrap(),
        before.trim().parse::<u32>().unwrap() + 1
    );

    // `/git/<vault>.git` is the logged-in account's own.
    let short = format!("https://alice:{PASSWORD}@{}/git/notes.git", server.addr());
    git_ok(w.path(), &tls, &["clone", "-q", &short, "short"]);
    assert_eq!(files(&w.path().join("short")), files(&laptop.root));
    let bobs_own = format!("https://bob:{BOB_PASSWORD}@{}/git/notes.git", server.addr());
    let out = git(w.path(), &tls, &["clone", "-q", &bobs_own, "bobs"]);
    assert!(!out.status.success(), "bob has no vault `notes`");

    // A device token is a password too.
    let token = std::fs::read_to_string(laptop.path(".vault/token")).unwrap();
    let with_token = url(&server, Some(("alice", token.trim())), "alice", "notes");
    git_ok(w.path(), &tls, &["clone", "-q", &with_token, "by-token"]);
    assert_eq!(files(&w.path().join("by-token")), files(&laptop.root));

    // Without credentials, with a wrong password, and as another account: no clone.
    let refused = [
        (url(&server, None, "alice", "notes"), "no credentials"),
        (
            url(
                &server,
                Some(("alice", "not-the-password")),
                "alice",
                "notes",
            ),
            "a wrong password",
        ),
        (
            url(&server, Some(("bob", BOB_PASSWORD)), "alice", "notes"),
            "another account",
        ),
        (
            url(&server, Some(("alice", PASSWORD)), "alice", "other"),
            "a vault that does not exist",
        ),
    ];
    for (i, (target, what)) in refused.iter().enumerate() {
        let into = format!("refused-{i}");
        let out = git(w.path(), &tls, &["clone", "-q", target, &into]);
        assert!(!out.status.success(), "{what}: the clone worked");
        assert!(!w.path().join(&into).exists(), "{what}: a clone was left");
    }
    let http = client(&tls);
    let info_refs = format!("https://{}/git/alice/notes.git/info/refs", server.addr());
    let res = http.get(&info_refs).send().unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let res = http
        .get(&info_refs)
        .basic_auth("bob", Some(BOB_PASSWORD))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404, "another account's is not found");
    // Only the files a dumb client reads: not the repository's config or the export's map.
    for path in ["config", "vault-sync-export", "refs/heads/main"] {
        let res = http
            .get(format!(
                "https://{}/git/alice/notes.git/{path}",
                server.addr()
            ))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
    }

    // No push: the mirror follows the vault, and stays where it was.
    let mirror_main = data.join("git/alice/notes.git/refs/heads/main");
    let main_before = std::fs::read_to_string(&mirror_main).unwrap();
    std::fs::write(clone.join("pushed.md"), "from git\n").unwrap();
    git_ok(&clone, &tls, &["add", "pushed.md"]);
    git_ok(
        &clone,
        &tls,
        &[
            "-c",
            "user.name=x",
            "-c",
            "user.email=x@y",
            "commit",
            "-qm",
            "x",
        ],
    );
    let push = git(&clone, &tls, &["push", "origin", "main"]);
    assert!(!push.status.success(), "a push was accepted");
    assert!(stderr(&push).contains("read-only"), "{}", stderr(&push));
    assert_eq!(std::fs::read_to_string(&mirror_main).unwrap(), main_before);
    laptop.sync();
    assert!(laptop.read("pushed.md").is_none());

    // A token the operator revokes stops working at once.
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/login", server.url))
        .json(&serde_json::json!({"user": "alice", "password": PASSWORD, "device_name": "git"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (device, token) = (
        login["device"].as_str().unwrap(),
        login["token"].as_str().unwrap(),
    );
    let by_new_token = http.get(&info_refs).basic_auth("git", Some(token));
    assert_eq!(by_new_token.send().unwrap().status().as_u16(), 200);
    let d = data.to_str().unwrap();
    let out = server_cmd(&["device", "revoke", "alice", device, "--data", d], "");
    assert!(out.status.success(), "{out:?}");
    let by_revoked = http.get(&info_refs).basic_auth("git", Some(token));
    assert_eq!(by_revoked.send().unwrap().status().as_u16(), 401);
    drop(server);
}

#[test]
fn a_server_without_git_mirror_keeps_none_and_says_how_to_have_one() {
    let w = World::new();
    let (server, tls, data) = https_server(&w, &[]);
    let laptop = w.device("laptop");
    laptop.write("a.md", "a\n", 1);
    let ca = tls.ca.to_str().unwrap().to_string();
    let join = ["--ca-cert", ca.as_str(), "--vault-name", "notes"];
    laptop
        .join_server(&server.url, "alice", PASSWORD, &join)
        .ok();
    laptop.sync();
    let res = client(&tls)
        .get(format!(
            "https://{}/git/alice/notes.git/info/refs",
            server.addr()
        ))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert!(res.text().unwrap().contains("--git-mirror"));
    assert!(!data.join("git").exists(), "a mirror was made");
}

#[test]
fn a_server_started_with_git_mirror_catches_up_and_rebuild_makes_the_same_mirror() {
    let w = World::new();
    let (server, tls, data) = https_server(&w, &[]);
    let ca = tls.ca.to_str().unwrap().to_string();
    let join = ["--ca-cert", ca.as_str(), "--vault-name", "notes"];
    let laptop = w.device("laptop");
    laptop.write("a.md", "a\n", 1);
    laptop
        .join_server(&server.url, "alice", PASSWORD, &join)
        .ok();
    laptop.sync();
    laptop.write("b.md", "b\n", 2);
    laptop.sync();
    let exported = device_export(&w, &laptop, "laptop.git");
    let listen = server.addr();
    server.stop();

    // Restarted with --git-mirror: the vaults synced before get their mirror.
    let mut args = tls.serve_args();
    args.push("--git-mirror".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::start_at(&data, &listen, &args);
    server.wait_for("git mirror updated");
    let mirror = data.join("git/alice/notes.git");
    let main = git_ok(
        w.path(),
        &tls,
        &["--git-dir", mirror.to_str().unwrap(), "rev-parse", "main"],
    );
    assert_eq!(main.trim(), exported);
    server.stop();

    // Rebuilt from scratch, a damaged mirror comes back the same.
    let loose = std::fs::read_dir(mirror.join("objects"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().len() == 2)
        .unwrap()
        .path();
    std::fs::remove_dir_all(loose).unwrap();
    let d = data.to_str().unwrap();
    let out = server_cmd(&["git-mirror", "rebuild", "--data", d, "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rebuilt = &report["rebuilt"][0];
    assert_eq!(
        (&rebuilt["user"], &rebuilt["vault"], &rebuilt["commits"]),
        (&"alice".into(), &"notes".into(), &2.into()),
        "{report}"
    );
    assert_eq!(rebuilt["main"].as_str(), Some(exported.as_str()));
    git_ok(
        w.path(),
        &tls,
        &["--git-dir", mirror.to_str().unwrap(), "fsck", "--strict"],
    );
    let leftovers: Vec<_> = std::fs::read_dir(data.join("git/alice"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("notes.git")]);

    // A user without vaults: a clear error, nothing made.
    let out = server_cmd(&["git-mirror", "rebuild", "--data", d, "--user", "bob"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`bob` has no vaults"),
        "{}",
        stderr(&out)
    );
    let out = Command::new(SERVER)
        .args(["git-mirror", "rebuild", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--user"));
}

/// The web view's history page shows the `git clone` command, with the address the browser
/// used, when the server keeps mirrors; without --git-mirror it says nothing of git.
#[test]
fn the_web_history_page_shows_how_to_clone_the_mirror() {
    use common::web::WebClient;
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &["--git-mirror"]);
    let laptop = w.device("laptop");
    laptop.write("a.md", "- [ ] call Sam\n", 1);
    let join = ["--vault-name", "notes"];
    laptop
        .join_server(&server.url, "alice", PASSWORD, &join)
        .ok();
    laptop.sync();
    let web = WebClient::new(&server.url);
    web.login("alice", PASSWORD).expect("logging in");
    let page = web.get("/v/notes/history");
    assert_eq!(page.status, 200);
    let command = format!("git clone {}/git/alice/notes.git", server.url);
    assert!(page.body.contains(&command), "{}", page.body);
    // The command works as shown (plain HTTP on loopback here).
    let url = command.trim_start_matches("git clone ").replacen(
        "http://",
        &format!("http://alice:{PASSWORD}@"),
        1,
    );
    let tls = private_ca(w.path(), "unused");
    git_ok(w.path(), &tls, &["clone", "-q", &url, "from-web"]);
    assert_eq!(files(&w.path().join("from-web")), files(&laptop.root));

    // A task ticked in the web view moves the head: the mirror follows on its own (no fetch
    // asks it to).
    let mirror_main = data.join("git/alice/notes.git/refs/heads/main");
    let before = std::fs::read_to_string(&mirror_main).unwrap();
    let listing = laptop.run("tasks", &["--all", "--json"]).ok().json();
    let id = listing["tasks"][0]["id"].as_str().unwrap().to_string();
    let tasks = web.get("/v/notes/tasks");
    let row = tasks
        .body
        .find(&format!("id=\"t-{id}\""))
        .expect("the task's row");
    let field = |name: &str| {
        let needle = format!("name=\"{name}\" value=\"");
        let at = row + tasks.body[row..].find(&needle).unwrap() + needle.len();
        let rest = &tasks.body[at..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let ticked = web.post(
        "/v/notes/tasks/toggle",
        &[
            ("csrf", &tasks.csrf()),
            ("path", "a.md"),
            ("task", &id),
            ("blob", &field("blob")),
            ("done", "1"),
        ],
    );
    assert!(ticked.status < 400, "{}", ticked.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&mirror_main).unwrap() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the mirror never moved"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let main = std::fs::read_to_string(&mirror_main).unwrap();
    let show = git_ok(
        w.path(),
        &tls,
        &[
            "--git-dir",
            data.join("git/alice/notes.git").to_str().unwrap(),
            "show",
            &format!("{}:a.md", main.trim()),
        ],
    );
    assert!(show.starts_with("- [x] call Sam"), "{show}");
    let listen = server.addr();
    server.stop();

    let server = Server::start_at(&data, &listen, &[]);
    let web = WebClient::new(&server.url);
    web.login("alice", PASSWORD).expect("logging in");
    let page = web.get("/v/notes/history");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("git clone"), "{}", page.body);
}
