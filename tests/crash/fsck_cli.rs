//! The fsck commands through the binaries fail (exit 2) and name the file when there is
//! something wrong, so the clean checks after each kill above can fail.

use std::os::unix::fs::FileExt;

use crate::common::World;
use crate::common::server::server_cmd;
use crate::folder_pair;
use crate::server::server_pair;

/// Flip one byte of `bytes`' copy in the hub folder at `hub`.
fn flip(hub: &std::path::Path, bytes: &[u8]) {
    let id = vault::ObjectId::of(bytes);
    for name in vault::store::pack_io::pack_names(&hub.join("packs")).unwrap() {
        let path = hub.join("packs").join(name);
        let entries = vault::store::pack_io::read_entries(&path).unwrap();
        if let Some(e) = entries.iter().find(|e| e.id == id) {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, e.offset).unwrap();
            f.write_all_at(&[b[0] ^ 1], e.offset).unwrap();
            return;
        }
    }
    panic!("no pack holds {id}");
}

#[test]
fn syncd_and_vault_server_fsck_exit_2_naming_the_damaged_file() {
    let w = World::new();
    let (a, _b) = folder_pair(&w, 3);
    flip(&w.hub, b"note 1\n");
    let run = a.run("fsck", &["--hub"]);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("`n1/note-1.md`"), "{}", run.stdout);
    assert!(
        run.stdout.contains("syncd sync --full-verify"),
        "{}",
        run.stdout
    );
    // Without --hub only the device is checked: clean.
    assert_eq!(a.run("fsck", &[]).code, Some(0));

    let w = World::new();
    let (_server, data, c, _d) = server_pair(&w);
    flip(&data.join("vaults/alice/notes"), b"before the uploads\n");
    let out = server_cmd(&["fsck", "--data", data.to_str().unwrap()], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("alice/notes") && stdout.contains("`first.md`"),
        "{stdout}"
    );
    let run = c.run("fsck", &["--hub", "--json"]);
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["hub"]["problems"][0]["kind"], "damaged-object");
}
