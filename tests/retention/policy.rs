//! Setting and showing the policy: `syncd hub retention` and `vault-server retention`.

use std::fs;
use std::path::Path;

use serde_json::Value;
use vault::folder_hub::FolderHub;

use crate::common::World;
use crate::common::server::server_cmd;

fn marker(hub: &Path) -> Value {
    serde_json::from_slice(&fs::read(hub.join("vault-hub.json")).unwrap()).unwrap()
}

#[test]
fn a_folder_hubs_policy_is_set_shown_and_kept_in_vault_hub_json() {
    let w = World::new();
    let a = w.device("laptop");
    a.init();
    a.write("a.md", "one", 5);
    a.sync();
    let before = marker(&w.hub);
    assert!(before.get("retention").is_none());

    // Shown: keep everything, the one snapshot keeps its files.
    let shown = a.run("hub retention", &["--json"]);
    let shown = shown.ok().json();
    assert_eq!(shown["policy"]["keep"], "all");
    assert_eq!(shown["changed"], false);
    assert_eq!(shown["preview"]["snapshots"], 1);
    assert_eq!(shown["preview"]["keep_files"], 1);

    // Thin, one number changed: the rest are the defaults.
    let set = a
        .run("hub retention", &["--thin", "--recent-days", "7"])
        .ok();
    assert!(set.stdout.contains("retention set: thin"), "{}", set.stdout);
    assert!(
        set.stdout
            .contains("1 of 1 snapshot(s) would keep their files"),
        "{}",
        set.stdout
    );
    let m = marker(&w.hub);
    assert_eq!(m["format"], before["format"]);
    assert_eq!(m["created_ns"], before["created_ns"]);
    assert_eq!(
        m["retention"],
        serde_json::json!({"keep": "thin", "recent_days": 7, "daily_days": 365, "monthly_months": null})
    );

    // --thin again changes only what it names; --dry-run changes nothing.
    let dry = a
        .run(
            "hub retention",
            &["--thin", "--monthly-months", "24", "--dry-run", "--json"],
        )
        .ok()
        .json();
    assert_eq!(dry["changed"], false);
    assert_eq!(dry["policy"]["recent_days"], 7);
    assert_eq!(dry["policy"]["monthly_months"], 24);
    assert_eq!(marker(&w.hub), m);
    a.run("hub retention", &["--thin", "--daily-days", "90"])
        .ok();
    let m = marker(&w.hub);
    assert_eq!(m["retention"]["recent_days"], 7);
    assert_eq!(m["retention"]["daily_days"], 90);

    // Syncing goes on with the field there (the hub still opens), and keep-all is explicit.
    a.write("b.md", "two", 6);
    a.sync();
    a.run("hub retention", &["--keep-all"]).ok();
    assert_eq!(
        marker(&w.hub)["retention"],
        serde_json::json!({"keep": "all"})
    );
    let shown = a.run("hub retention", &[]).ok();
    assert!(shown.stdout.contains("keep everything"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("2 of 2 snapshot(s)"),
        "{}",
        shown.stdout
    );

    // Bad combinations are refused and change nothing.
    let m = marker(&w.hub);
    a.run("hub retention", &["--recent-days", "3"]).failed();
    a.run("hub retention", &["--keep-all", "--thin"]).failed();
    let huge = a
        .run("hub retention", &["--thin", "--recent-days", "99999999"])
        .failed();
    assert!(huge.stderr.contains("--recent-days"), "{}", huge.stderr);
    assert_eq!(marker(&w.hub), m);
}

#[test]
fn a_server_hub_says_the_operator_sets_it_and_vault_server_does() {
    let w = World::new();
    // A device whose hub is a server (never reached: the command says so before connecting).
    let a = w.device("laptop");
    a.init();
    let config = a.path(".vault/config.toml");
    let text = fs::read_to_string(&config).unwrap();
    let hub_line = text.lines().find(|l| l.starts_with("hub = ")).unwrap();
    fs::write(
        &config,
        text.replace(hub_line, "hub = \"https://127.0.0.1:9\""),
    )
    .unwrap();
    let refused = a.run("hub retention", &["--thin"]).failed();
    assert!(
        refused.stderr.contains("vault-server retention"),
        "{}",
        refused.stderr
    );

    // The server's data folder: alice's vault `notes` (as the hub API creates it).
    let data = w.path().join("server-data");
    let folder = data.join("vaults/alice/notes");
    FolderHub::open(&folder).unwrap();
    let data_arg = data.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "retention",
            "--data",
            data_arg,
            "--user",
            "alice",
            "--vault",
            "notes",
        ];
        args.extend_from_slice(extra);
        server_cmd(&args, "")
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("keep everything"), "{stdout}");
    assert!(stdout.contains("0 of 0 snapshot(s)"), "{stdout}");

    let out = run(&[
        "--thin",
        "--recent-days",
        "14",
        "--monthly-months",
        "120",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["changed"], true);
    assert_eq!(json["policy"]["keep"], "thin");
    assert_eq!(
        marker(&folder)["retention"],
        serde_json::json!({"keep": "thin", "recent_days": 14, "daily_days": 365, "monthly_months": 120})
    );
    let out = run(&["--thin", "--monthly-forever"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(marker(&folder)["retention"]["monthly_months"], Value::Null);
    assert_eq!(marker(&folder)["retention"]["recent_days"], 14);

    // A vault that is not there is named, and nothing is created.
    let out = server_cmd(
        &[
            "retention",
            "--data",
            data_arg,
            "--user",
            "alice",
            "--vault",
            "nope",
            "--thin",
        ],
        "",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no vault `nope`"), "{stderr}");
    assert!(!data.join("vaults/alice/nope").exists());
    let out = server_cmd(
        &[
            "retention",
            "--data",
            data_arg,
            "--user",
            "..",
            "--vault",
            "x",
        ],
        "",
    );
    assert!(!out.status.success());
}
