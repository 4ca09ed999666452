//! Large (chunked) files read back through the real `syncd` binary: `syncd show` and
//! `restore --at` stream a version of a several-MiB file, `syncd hub set` copies one folder
//! hub's history with its chunks to another, and `syncd verify` names the file whose chunk a
//! hub lost. The large versions are published on the hub through the `vault` library, as
//! another device would (this binary tests the readers, not the round that uploads).

#[path = "../common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::fs;

use common::{Device, World, noise};
use vault::ObjectId;
use vault::content::{objects_of, write_content};
use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::hub_write::{self, Author, Edit};
use vault::object::{FileMeta, Kind, Snapshot};
use vault::paths::VaultPath;

const MIB: usize = 1 << 20;

/// A device with one note, synced to the world's hub.
fn device(w: &World) -> Device<'_> {
    let d = w.device("laptop");
    d.write("a.md", "a note\n", 1_700_000_000);
    d.init().sync();
    d
}

/// Publish `path` with `bytes` on top of the hub's head as device "phone"; the new head.
fn publish(hub: &FolderHub, path: &str, bytes: &[u8], time_s: i64) -> ObjectId {
    let head = hub.head().unwrap();
    let files = match head {
        Some(h) => hub_write::files(hub, hub_write::snapshot(hub, h).unwrap().tree).unwrap(),
        None => Default::default(),
    };
    let edit = Edit {
        path: VaultPath::new(path).unwrap(),
        content: Some(bytes.to_vec()),
    };
    let author = Author {
        device_id: "0123456789abcdef".into(),
        device_name: "phone".into(),
    };
    hub_write::publish(hub, head, &files, &[edit], &author, time_s * 1_000_000_000).unwrap()
}

/// The bytes of file `id` on `hub`, read chunk by chunk.
fn content(hub: &dyn Hub, id: ObjectId) -> Vec<u8> {
    let mut out = Vec::new();
    write_content(
        &mut |ids| Ok::<_, Infallible>(hub.get(ids).unwrap()),
        id,
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn show_and_restore_at_give_back_a_large_version_exactly() {
    let w = World::new();
    let d = device(&w);
    let hub = w.open_hub();
    let v1 = noise(7 * MIB + 12_345, 1);
    let mut v2 = v1.clone();
    v2[3 * MIB] ^= 0x55;
    let s1 = publish(&hub, "media/clip.bin", &v1, 1_800_000_000);
    publish(&hub, "media/clip.bin", &v2, 1_800_000_100);
    let s1 = s1.to_hex();

    let out = d
        .command("show", &["media/clip.bin", "--at", &s1[..12]])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == v1,
        "`syncd show` printed {} bytes, not the version",
        out.stdout.len()
    );

    fs::create_dir_all(d.path("media")).unwrap();
    fs::write(d.path("media/clip.bin"), b"what is here now").unwrap();
    let run = d
        .run("restore", &["media/clip.bin", "--at", &s1[..12], "--json"])
        .ok();
    let report = run.json();
    assert_eq!(report["restored"], 1, "{report}");
    assert!(fs::read(d.path("media/clip.bin")).unwrap() == v1);
    let kept = report["files"][0]["kept_current"].as_str().unwrap();
    assert_eq!(fs::read(d.path(kept)).unwrap(), b"what is here now");
}

#[test]
fn hub_set_copies_a_large_file_between_hub_folders() {
    let w = World::new();
    let d = device(&w);
    let hub = w.open_hub();
    let big = noise(5 * MIB, 2);
    let head = publish(&hub, "big.bin", &big, 1_800_000_000);
    let new = w.path().join("new-hub");
    let new_arg = new.display().to_string();
    let vault = d.root.display().to_string();
    w.syncd(&["hub", "set", &new_arg, "--vault", &vault]).ok();
    let copied = FolderHub::open(&new).unwrap();
    assert!(
        copied.missing(&[head]).unwrap().is_empty(),
        "the head is copied"
    );
    assert!(copied.verify_tree().is_ok());
    let id = objects_of(&big).0;
    assert!(content(&copied, id) == big);
    // The list is a chunk list, its chunks are there: the new hub holds the file per chunk.
    let top = copied.get(&[id]).unwrap().remove(0);
    assert_eq!(top.kind, Kind::Chunks);
}

#[test]
fn verify_names_the_file_whose_chunk_the_hub_lost() {
    let w = World::new();
    let d = device(&w);
    let hub = w.open_hub();
    let big = noise(3 * MIB, 3);
    let (id, objects) = objects_of(&big);
    // The other device's upload, one chunk in a pack of its own (then lost).
    let lost = objects
        .iter()
        .find(|o| o.kind == Kind::Blob)
        .unwrap()
        .clone();
    hub.put(std::slice::from_ref(&lost)).unwrap();
    let lost_pack = {
        let store = vault::store::PackStore::open(&w.hub.join("packs")).unwrap();
        store.pack_of(lost.id()).unwrap().to_path_buf()
    };
    publish(&hub, "video/big.bin", &big, 1_800_000_000);
    // This device has the file (restored from the history: the same bytes, the same id).
    let head = hub.head().unwrap().unwrap().to_hex();
    d.run("restore", &["video/big.bin", "--at", &head[..12]])
        .ok();
    fs::remove_file(&lost_pack).unwrap();

    let (code, report) = d.verify(true);
    assert_eq!(code, Some(2), "{report}");
    let missing = report["hub_missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{report}");
    assert_eq!(missing[0]["id"], lost.id().to_hex());
    assert_eq!(missing[0]["paths"][0], "video/big.bin");
    assert_eq!(missing[0]["here"], true);
    let text = d.run("verify", &[]).expect_code(2);
    assert!(
        text.stdout.contains("`video/big.bin`") && text.stdout.contains("syncd sync"),
        "{}",
        text.stdout
    );
    // Its snapshot names the file by its chunk list, as before the loss.
    let snap = hub.get(&[hub.head().unwrap().unwrap()]).unwrap().remove(0);
    let root = Snapshot::decode(&snap.bytes).unwrap().tree;
    let files = hub_write::files(&hub, root).unwrap();
    let meta: &FileMeta = &files[&VaultPath::new("video/big.bin").unwrap()];
    assert_eq!(meta.id, id);
}
