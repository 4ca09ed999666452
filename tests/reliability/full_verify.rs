//! Point 10 of issue 15: verification that verifies. One bit flipped inside a note's bytes in a
//! hub pack must be found by `syncd verify --full` (read-only, naming the note) and repaired
//! by `syncd sync --full-verify` on a device that holds the good bytes; a new device must
//! still get every other note (the damaged one named by its own path, with what to do); and
//! through a server, nothing a device prints may show the server's folders or tell a device
//! user to move packs on the server.

use std::fs;
use std::path::Path;

use vault::ObjectId;
use vault::hub::Hub;

use crate::common::server::{Server, add_user};
use crate::common::{Device, Run, World, assert_converged};

const PASSWORD: &str = "correct horse battery";

/// The note whose bytes get damaged, and its text.
const DAMAGED: &str = "notes/b.md";
const DAMAGED_TEXT: &str = "# Bravo\nthe second note, whose bytes the disk damages\n";

/// Notes around it: one sorted before it, so a batch that fails whole names another file.
const OTHERS: [(&str, &str); 3] = [
    ("notes/a.md", "# Alpha\nthe first note\n"),
    ("notes/c.md", "# Charlie\n"),
    ("zeta/d.md", "- [ ] delta\n"),
];

fn write_notes(d: &Device) {
    for (i, (path, text)) in OTHERS.iter().enumerate() {
        d.write(path, text, i as i64 + 1);
    }
    d.write(DAMAGED, DAMAGED_TEXT, 10);
}

/// Flip one bit in the middle of object `id`'s bytes, in the pack under `packs` that holds it.
/// The pack's header (docs/format.md, "Packs") says where the object is: `count` at end − 44,
/// 50-byte entries before it (id at 2, offset at 34, length at 42).
fn flip_bit(packs: &Path, id: ObjectId) {
    for entry in fs::read_dir(packs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pack") {
            continue;
        }
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        let count = u32::from_le_bytes(bytes[n - 44..n - 40].try_into().unwrap()) as usize;
        let header = n - 44 - 50 * count;
        let found = bytes[header..n - 44].chunks(50).find_map(|e| {
            (e[2..34] == *id.as_bytes()).then(|| {
                let offset = u64::from_le_bytes(e[34..42].try_into().unwrap()) as usize;
                let len = u64::from_le_bytes(e[42..50].try_into().unwrap()) as usize;
                offset + len / 2
            })
        });
        if let Some(at) = found {
            bytes[at] ^= 0x10;
            fs::write(&path, &bytes).unwrap();
            return;
        }
    }
    panic!("no pack under {} holds {id}", packs.display());
}

fn output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// The device holds every note but the damaged one, with the right bytes.
fn assert_has_all_but_damaged(d: &Device) {
    for (path, text) in OTHERS {
        assert_eq!(d.read(path).as_deref(), Some(text), "{}: {path}", d.name);
    }
    assert_eq!(
        d.read(DAMAGED),
        None,
        "{}: the damaged note was written",
        d.name
    );
}

/// The round lists the damaged note among its skipped paths (exit 3: completed, a path needs
/// someone), says what to do, and names no other note.
/// `run` (a full verification) names the damaged note once, says this device cannot repair
/// it, and who can.
fn assert_not_repairable_here(run: &Run) {
    let lines: Vec<&str> = (run.stdout.lines())
        .filter(|l| l.contains("skipped") && l.contains(DAMAGED))
        .collect();
    assert_eq!(lines.len(), 1, "{}", output(run));
    assert!(
        lines[0].contains("no good copy") && lines[0].contains("syncd sync --full-verify"),
        "{}",
        output(run)
    );
}

fn assert_damage_reported(run: &Run) {
    let report = run.report();
    let damage: Vec<&String> = report
        .skipped
        .iter()
        .map(|s| &s.message)
        .filter(|m| m.contains("damaged"))
        .collect();
    assert!(
        damage
            .iter()
            .any(|w| w.contains(DAMAGED) && w.contains("syncd sync --full-verify")),
        "no skipped path names `{DAMAGED}` and the repair: {:?}\n{}",
        report.skipped,
        run.stderr
    );
    for (path, _) in OTHERS {
        assert!(
            damage.iter().all(|w| !w.contains(path)),
            "a skipped path blames `{path}`: {damage:?}"
        );
    }
}

#[test]
fn full_verify_bit_flip_detected_and_repaired_by_good_device() {
    let w = World::new();
    let laptop = w.device("laptop");
    laptop.init();
    write_notes(&laptop);
    laptop.sync();
    let id = ObjectId::of(DAMAGED_TEXT.as_bytes());
    flip_bit(&w.hub.join("packs"), id);

    // Read-only: found, named by its path, with what to run; nothing repaired yet.
    let run = laptop.run("verify", &["--full"]).expect_code(2);
    assert!(run.stdout.contains(DAMAGED), "{}", output(&run));
    assert!(
        run.stdout.contains("syncd sync --full-verify"),
        "{}",
        output(&run)
    );
    let (code, report) = laptop.verify(true);
    assert_eq!(code, Some(2), "{report}");
    let damaged = report["hub_damaged"].as_array().expect("a list of damage");
    assert_eq!(damaged.len(), 1, "{report}");
    assert_eq!(damaged[0]["id"], id.to_hex(), "{report}");
    assert_eq!(
        damaged[0]["paths"],
        serde_json::json!([DAMAGED]),
        "{report}"
    );
    assert_eq!(damaged[0]["here"], true, "{report}");
    assert!(w.open_hub().get(&[id]).is_err(), "verify repaired the hub");

    // The device with the good bytes repairs the hub.
    let run = laptop.run("sync", &["--full-verify", "--json"]).ok();
    let repairs = run.report().repairs;
    assert!(
        repairs.iter().any(|r| r.contains(DAMAGED)),
        "no repair names `{DAMAGED}`: {repairs:?}"
    );
    laptop.assert_verified();
    let served = w
        .open_hub()
        .get(&[id])
        .expect("the hub serves the note again");
    assert_eq!(served[0].bytes, DAMAGED_TEXT.as_bytes());

    // A new device gets everything.
    let phone = w.device("phone");
    phone.init();
    phone.sync();
    assert_converged(&[&laptop, &phone]);
}

#[test]
fn full_verify_new_device_downloads_all_but_damaged_file() {
    let w = World::new();
    let laptop = w.device("laptop");
    laptop.init();
    write_notes(&laptop);
    laptop.sync();
    flip_bit(&w.hub.join("packs"), ObjectId::of(DAMAGED_TEXT.as_bytes()));

    let phone = w.device("phone");
    phone.init();
    let run = phone.run("sync", &["--json"]).expect_code(3);
    assert_damage_reported(&run);
    assert_has_all_but_damaged(&phone);
    // A second round is not stuck either, and says the same.
    let run = phone.run("sync", &["--json"]).expect_code(3);
    assert_damage_reported(&run);
    assert_has_all_but_damaged(&phone);

    // The phone's own edits still go out, and the damaged note is not deleted by them.
    phone.write("from phone.md", "written on the phone\n", 20);
    phone.run("sync", &["--json"]).expect_code(3);
    laptop.sync();
    assert_eq!(
        laptop.read("from phone.md").as_deref(),
        Some("written on the phone\n")
    );
    assert_eq!(laptop.read(DAMAGED).as_deref(), Some(DAMAGED_TEXT));

    // The phone has no good copy to offer: a full verification there says so and who can
    // repair, and is not stuck on it (every other file synced).
    let run = phone.run("sync", &["--full-verify"]).expect_code(3);
    assert_not_repairable_here(&run);

    // Once the laptop repaired the hub, the phone completes.
    laptop.run("sync", &["--full-verify", "--json"]).ok();
    phone.sync();
    assert_converged(&[&laptop, &phone]);
}

#[test]
fn full_verify_server_errors_speak_user_terms() {
    let w = World::new();
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &[]);
    let join = |name: &str| {
        let d = w.device(name);
        d.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
            .ok();
        d
    };
    let laptop = join("laptop");
    write_notes(&laptop);
    laptop.sync();
    let id = ObjectId::of(DAMAGED_TEXT.as_bytes());
    flip_bit(&data.join("vaults/alice/notes/packs"), id);

    // Nothing a device prints shows the server's folders or asks to move its packs.
    let speaks_user_terms = |run: &Run| {
        let out = output(run);
        for inside in ["server-data", ".pack", "packs/", "move the pack"] {
            assert!(
                !out.contains(inside),
                "`{}` printed {inside:?}:\n{out}",
                run.what
            );
        }
    };

    let phone = join("phone");
    let run = phone.run("sync", &["--json"]).expect_code(3);
    speaks_user_terms(&run);
    assert_damage_reported(&run);
    assert_has_all_but_damaged(&phone);

    let run = laptop.run("verify", &["--full"]).expect_code(2);
    speaks_user_terms(&run);
    assert!(run.stdout.contains(DAMAGED), "{}", output(&run));
    assert!(
        run.stdout.contains("syncd sync --full-verify"),
        "{}",
        output(&run)
    );

    let run = phone.run("sync", &["--full-verify"]).expect_code(3);
    speaks_user_terms(&run);
    assert_not_repairable_here(&run);

    let run = laptop.run("sync", &["--full-verify", "--json"]).ok();
    speaks_user_terms(&run);
    assert!(
        run.report().repairs.iter().any(|r| r.contains(DAMAGED)),
        "{}",
        output(&run)
    );
    phone.sync();
    assert_converged(&[&laptop, &phone]);

    // The operator's log has the details the devices were spared.
    let (_, log) = server.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("damaged") && l.contains(&id.to_hex())),
        "the server did not log the damage:\n{}",
        log.join("\n")
    );
}
