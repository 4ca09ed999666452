//! Folder hubs have no clock check: a device whose clock is far off would win (or lose) every
//! conflict through a folder hub. The device compares its clock with the hub's (the time the
//! hub's filesystem stamps on a file it just created) and applies the server's 5-minute rule.

use std::process::{Command, Output};

use crate::common::{World, libfaketime};

/// Run `cmd` with its clock moved by `offset` (libfaketime syntax: `+1d`, `+4m`). The files it
/// creates still get the kernel's (the hub's) time.
fn with_clock_moved(mut cmd: Command, offset: &str) -> Output {
    cmd.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .expect("running syncd under libfaketime")
}

#[test]
fn hub_clock_skewed_device_refused_on_folder_hub() {
    let w = World::new();
    let a = w.device("laptop");
    a.write("old.md", "synced with a good clock", 1);
    a.init().sync();
    let head = w.hub_head();
    let packs = w.hub_packs();
    a.write(
        "late.md",
        "written on a machine whose clock is a day ahead",
        5,
    );

    let out = with_clock_moved(a.command("sync", &[]), "+1d");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for words in ["ahead of", "(1 d 0 h)", "NTP"] {
        assert!(stderr.contains(words), "{words}: {stderr}");
    }
    assert_eq!(w.hub_head(), head, "published with a wrong clock");
    assert_eq!(w.hub_packs(), packs, "uploaded with a wrong clock");
    let litter: Vec<_> = std::fs::read_dir(&w.hub)
        .expect("listing the hub")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert!(
        litter
            .iter()
            .all(|n| n == "vault-hub.json" || n == "packs" || n == "refs"),
        "the clock probe was left in the hub: {litter:?}"
    );

    let doctor = with_clock_moved(a.command("doctor", &[]), "+1d");
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL clock") && stdout.contains("ahead of"),
        "{stdout}"
    );

    // Within the 5 minutes, the round goes ahead.
    let out = with_clock_moved(a.command("sync", &[]), "+4m");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(w.hub_head(), head);
    let doctor = a.run("doctor", &[]).ok();
    assert!(doctor.stdout.contains("ok   clock"), "{}", doctor.stdout);
}
