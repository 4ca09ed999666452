//! A device whose `.vault/config.toml` is lost (or damaged) while the rest of `.vault/` (base,
//! objects, index, token) is still there must not quietly become a new vault on a new private
//! hub: every command refuses and says how to repair it, and `syncd init --repair` rejoins the
//! real hub keeping the device's base, so the next round is an ordinary one.

use std::fs;

use crate::common::{World, assert_converged};

/// The hub folders `syncd` made under the world's data folder (the default hubs).
fn default_hubs(w: &World) -> Vec<String> {
    let dir = w.path().join("xdg/data/vault-sync/hub");
    match fs::read_dir(&dir) {
        Ok(list) => list
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn lost_config_refused_not_reinitialised() {
    let w = World::new();
    let a = w.device("laptop");
    a.write("n.md", "note", 1);
    a.init().sync();
    let b = w.device("desktop");
    b.init().sync();
    assert_converged(&[&a, &b]);
    let config = b.path(".vault/config.toml");
    fs::remove_file(&config).unwrap();
    let head = w.hub_head();
    let packs = w.hub_packs();
    let base = b.base();

    let vault = b.root.display().to_string();
    let sub = b.path("sub");
    fs::create_dir_all(&sub).unwrap();
    let sub = sub.display().to_string();
    for args in [
        vec!["sync", "--vault", &vault],
        vec!["sync", "--vault", &sub],
        vec!["status", "--vault", &vault],
        vec!["verify", "--vault", &vault],
        vec!["log", "--vault", &vault],
        vec!["init", "--vault", &vault],
        vec!["init", "--vault", &sub],
    ] {
        let run = w.syncd(&args).failed();
        assert!(
            run.stderr.contains("config.toml") && run.stderr.contains("syncd init --repair"),
            "`{}` must say what is missing and how to repair it: {}",
            run.what,
            run.stderr
        );
        assert!(!config.exists(), "`{}` wrote a new config", run.what);
        assert!(
            !b.path("sub/.vault").exists(),
            "`{}` made a vault",
            run.what
        );
    }
    assert_eq!(w.hub_head(), head, "the hub was touched");
    assert_eq!(w.hub_packs(), packs, "the hub was touched");
    assert_eq!(default_hubs(&w), Vec::<String>::new(), "a new hub was made");
    assert_eq!(b.base(), base, "the device's base changed");

    // A config that is there but cannot be read is named, and nothing is re-created either.
    fs::write(&config, "device_id = \"x\"\nhub = \n").unwrap();
    let run = b.run("sync", &[]).failed();
    assert!(run.stderr.contains("config.toml"), "{}", run.stderr);
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        "device_id = \"x\"\nhub = \n"
    );
    assert_eq!(w.hub_head(), head);
    assert_eq!(default_hubs(&w), Vec::<String>::new());
}

#[test]
fn lost_config_repair_rejoins_hub() {
    let w = World::new();
    let a = w.device("laptop");
    for (p, t, s) in [("x.md", "x", 1), ("y.md", "y", 2), ("z.md", "z", 3)] {
        a.write(p, t, s);
    }
    a.init().sync();
    let b = w.device("desktop");
    b.init().sync();
    assert_converged(&[&a, &b]);

    fs::remove_file(b.path(".vault/config.toml")).unwrap();
    // Both go on working: the laptop edits and deletes, the desktop edits another note.
    a.write("x.md", "laptop's edit", 10);
    a.remove("y.md");
    a.sync();
    b.write("z.md", "desktop's edit while its config was lost", 11);

    let vault = b.root.display().to_string();
    let hub = w.hub.display().to_string();
    let run = w
        .syncd(&[
            "init", "--repair", "--vault", &vault, "--hub", &hub, "--device", "desktop",
        ])
        .ok();
    assert!(run.stdout.contains("repaired"), "{}", run.stdout);
    // A second repair of a vault that is fine is refused.
    w.syncd(&["init", "--repair", "--vault", &vault, "--hub", &hub])
        .failed();

    // An ordinary round: base was kept, so the laptop's delete and edit apply with no conflict.
    let r = b.sync();
    assert!(r.conflicts.is_empty(), "{r:?}");
    a.sync();
    assert_converged(&[&a, &b]);
    for d in [&a, &b] {
        assert_eq!(d.read("x.md").as_deref(), Some("laptop's edit"));
        assert_eq!(d.read("y.md"), None);
        assert_eq!(
            d.read("z.md").as_deref(),
            Some("desktop's edit while its config was lost")
        );
        assert_eq!(d.files().len(), 2, "{:?}", d.files());
    }
}

#[test]
fn lost_config_repair_on_a_hub_without_base_loses_nothing() {
    // The device is repaired against a hub that never saw its base (another copy of the
    // vault's hub, restored from an older backup): base is forgotten, so every difference is
    // a conflict and nothing is deleted.
    let w = World::new();
    let a = w.device("laptop");
    a.write("x.md", "x", 1);
    a.init().sync();
    fs::remove_file(a.path(".vault/config.toml")).unwrap();
    let other = w.path().join("other-hub");
    let c = w.device("phone");
    c.write("x.md", "phone's x", 5);
    c.write("p.md", "p", 6);
    let vault_c = c.root.display().to_string();
    let other_s = other.display().to_string();
    w.syncd(&["init", "--vault", &vault_c, "--hub", &other_s])
        .ok();
    c.sync();

    let vault = a.root.display().to_string();
    let run = w
        .syncd(&["init", "--repair", "--vault", &vault, "--hub", &other_s])
        .ok();
    assert!(
        run.stdout.contains("does not hold") || run.stderr.contains("does not hold"),
        "the user is told base was forgotten: {} {}",
        run.stdout,
        run.stderr
    );
    a.sync();
    assert_eq!(a.read("p.md").as_deref(), Some("p"));
    let texts: Vec<Vec<u8>> = a.files().into_values().collect();
    for t in ["x", "phone's x"] {
        assert!(texts.contains(&t.as_bytes().to_vec()), "{t} lost");
    }
}

#[test]
fn lost_config_repair_finds_the_default_hub() {
    // A vault made by `syncd sync` on the default hub: `init --repair` without --hub uses that
    // hub only because it holds this device's base, and says so.
    let w = World::new();
    let a = w.device("notes");
    a.write("n.md", "n", 1);
    fs::create_dir_all(&a.root).unwrap();
    a.run("sync", &[]).ok();
    fs::remove_file(a.path(".vault/config.toml")).unwrap();
    let run = a.run("sync", &[]).failed();
    assert!(run.stderr.contains("syncd init --repair"), "{}", run.stderr);
    let run = a.run("init", &["--repair"]).ok();
    assert!(
        run.stdout.contains("vault-sync/hub/notes"),
        "{}",
        run.stdout
    );
    a.write("n.md", "edit", 5);
    let r = a.sync();
    assert!(r.conflicts.is_empty(), "{r:?}");
    assert_eq!(default_hubs(&w), vec!["notes".to_string()]);

    // A hub that does not hold base is never taken without being named.
    let b = w.device("other");
    b.write("o.md", "o", 1);
    fs::create_dir_all(&b.root).unwrap();
    b.run("sync", &[]).ok();
    fs::remove_file(b.path(".vault/config.toml")).unwrap();
    fs::remove_dir_all(w.path().join("xdg/data/vault-sync/hub/other")).unwrap();
    let run = b.run("init", &["--repair"]).failed();
    assert!(run.stderr.contains("--hub"), "{}", run.stderr);
    assert!(!b.path(".vault/config.toml").exists());
}

#[test]
fn lost_config_repair_rejoins_server_hub() {
    use crate::common::server::Server;
    const PASSWORD: &str = "correct horse battery staple";
    let w = World::new();
    let data = w.path().join("server");
    fs::create_dir_all(&data).unwrap();
    let mut server = Server::start(&data, &[]);
    let setup = server.setup_token();
    let a = w.device("laptop");
    a.write("x.md", "x", 1);
    a.write("y.md", "y", 2);
    a.join_server(&server.url, "alice", PASSWORD, &["--setup-token", &setup])
        .ok();
    a.sync();
    let b = w.device("desktop");
    b.join_server(&server.url, "alice", PASSWORD, &[]).ok();
    b.sync();

    fs::remove_file(b.path(".vault/config.toml")).unwrap();
    let run = b.run("sync", &[]).failed();
    assert!(
        run.stderr.contains("vault-server") && run.stderr.contains("--password-stdin"),
        "the token shows it was a server's: {}",
        run.stderr
    );
    assert_eq!(default_hubs(&w), Vec::<String>::new());
    a.remove("y.md");
    a.sync();

    let vault = b.root.display().to_string();
    let run = w
        .syncd_input(
            &[
                "init",
                "--repair",
                "--vault",
                &vault,
                "--hub",
                &server.url,
                "--user",
                "alice",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .ok();
    assert!(run.stdout.contains("base:   kept"), "{}", run.stdout);
    let r = b.sync();
    assert!(r.conflicts.is_empty(), "{r:?}");
    assert_eq!(
        b.read("y.md"),
        None,
        "the laptop's delete applies: base was kept"
    );
    assert_converged(&[&a, &b]);
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(b.path(".vault/token"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o600);
    drop(server);
}
