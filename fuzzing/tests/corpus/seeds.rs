//! Real encodings to start each target's corpus from: what the code writes today, plus the
//! golden files of `fixtures/format/` and the notes of `fixtures/tasks/`.

use std::path::Path;

use vault::content::list::{ChunkList, Level, Piece};
use vault::object::{EntryKind, Snapshot, Tree};
use vault::store::PackStore;
use vault::{FileMeta, Kind, Object, ObjectId, VaultPath};

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(rel),
    )
    .unwrap()
}

fn id(n: u8) -> ObjectId {
    ObjectId::of(&[n])
}

fn objects() -> Vec<Object> {
    let mut tree = Tree::default();
    tree.entries.insert("Notes".into(), EntryKind::Dir(id(1)));
    tree.entries.insert(
        "todo.md".into(),
        EntryKind::File(FileMeta {
            id: id(2),
            size: 42,
            mtime_ns: 1_764_000_000_123_456_789,
            executable: false,
        }),
    );
    tree.entries.insert(
        "run.sh".into(),
        EntryKind::File(FileMeta {
            id: id(3),
            size: 0,
            mtime_ns: -5,
            executable: true,
        }),
    );
    let snapshot = Snapshot {
        tree: id(4),
        parents: vec![id(5), id(6)],
        device_id: "d-1234".into(),
        device_name: "laptop".into(),
        time_ns: 1_764_000_000_000_000_000,
    };
    let chunks = ChunkList {
        level: Level::Chunks,
        pieces: vec![
            Piece {
                id: id(7),
                len: 65536,
            },
            Piece { id: id(8), len: 1 },
        ],
    };
    let groups = ChunkList {
        level: Level::Groups,
        pieces: vec![Piece {
            id: id(9),
            len: 1 << 30,
        }],
    };
    vec![
        tree.to_object(),
        Tree::default().to_object(),
        snapshot.to_object(),
        Snapshot {
            parents: vec![],
            ..snapshot
        }
        .to_object(),
        chunks.to_object(),
        groups.to_object(),
        Object {
            kind: Kind::Blob,
            bytes: b"# A note\n\n- [ ] a task\n".to_vec(),
        },
        Object {
            kind: Kind::Blob,
            bytes: Vec::new(),
        },
    ]
}

fn packs() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = PackStore::open(dir.path()).unwrap();
    let all = objects();
    store.write_pack(&all[..3]).unwrap();
    store.write_pack(&all[3..]).unwrap();
    let mut out = vec![fixture("format/pack-v1.pack")];
    for p in store.pack_paths() {
        out.push(std::fs::read(p).unwrap());
    }
    out
}

fn paths() -> Vec<Vec<u8>> {
    let original = VaultPath::new("Projects/2026/plan.md").unwrap();
    let revision =
        vault::revisions::revision_path(&original, 1_764_000_000_000_000_000, "laptop", &|_| false);
    let top =
        vault::revisions::revision_path(&VaultPath::new("README").unwrap(), 0, "a b", &|_| false);
    [
        "notes.md",
        "Projects/2026/plan.md",
        "日記/2026-12-07.md",
        "a/b/c/d/e/f/g/h",
        ".revisions/x.md",
        ".obsidian/workspace.json",
        "Café.md",
        revision.as_str(),
        top.as_str(),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn ids() -> Vec<Vec<u8>> {
    let list = serde_json::to_vec(&[id(1), id(2)]).unwrap();
    vec![
        id(1).to_hex().into_bytes(),
        format!("{} {}\n", id(2), id(3)).into_bytes(),
        list,
        b"[]".to_vec(),
        b"30d".to_vec(),
        b"12h".to_vec(),
    ]
}

fn ignores() -> Vec<Vec<u8>> {
    [
        "*.tmp\n",
        "# comment\n/build/\n!keep.md\n",
        "**/cache/**\n*.pdf\n\\#literal\n",
        "[abc]*.md\nfoo/**/bar\n",
        "drafts/\r\n!drafts/keep.md\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn notes() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        "broken-front-matter.md",
        "code.md",
        "crlf.md",
        "formats.md",
        "unicode.md",
        "projects/Inbox.MARKDOWN",
    ]
    .iter()
    .map(|f| fixture(&format!("tasks/{f}")))
    .collect();
    out.push(
        "---\ntags: [work, '#home']\n---\n- [ ] call 📅 2026-12-08 🔁 every week\n- [x] done ✅ 2026-12-01\n"
            .into(),
    );
    out.push("- [/] half [due:: 2026-12-09] #tag\n  - [-] cancelled\n> - [ ] quoted\n".into());
    out
}

fn statcaches() -> Vec<Vec<u8>> {
    (1..=5)
        .map(|v| fixture(&format!("format/statcache-v{v}.bin")))
        .collect()
}

fn task_indexes() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for notes in [&notes()[..1], &notes()[..2], &notes()[..]] {
        let dir = tempfile::tempdir().unwrap();
        let vault = vault::local::LocalVault::init(dir.path(), "/nonexistent-hub", "seed").unwrap();
        for (i, note) in notes.iter().enumerate() {
            std::fs::write(dir.path().join(format!("note{i}.md")), note).unwrap();
        }
        vault::tasks::list(&vault).unwrap();
        out.push(std::fs::read(dir.path().join(".vault/tasks")).unwrap());
    }
    out
}

fn state_files() -> Vec<Vec<u8>> {
    let with = |which: u8, text: &[u8]| [&[which][..], text].concat();
    let config = {
        let dir = tempfile::tempdir().unwrap();
        vault::local::LocalVault::init(dir.path(), "/srv/hub", "laptop").unwrap();
        std::fs::read(dir.path().join(".vault/config.toml")).unwrap()
    };
    vec![
        with(0, b"mnt/usb\nshares/team\n"),
        with(0, b"../bad\n.vault\nok\n"),
        with(1, format!("{}\n", id(1)).as_bytes()),
        with(1, b"not an id\n"),
        with(2, br#"{"retention":{"keep":"all"}}"#),
        with(
            2,
            br#"{"retention":{"keep":"thin","recent_days":30,"daily_days":90},"other":1}"#,
        ),
        with(3, &config),
    ]
}

/// Every target's seeds.
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let objects = objects();
    let mut object_seeds: Vec<Vec<u8>> = objects.iter().map(|o| o.bytes.clone()).collect();
    object_seeds.push(fixture("format/tree-v1.txt"));
    object_seeds.push(fixture("format/snapshot-v1.txt"));
    let wire = vec![
        vault::wire::encode(&objects),
        vault::wire::encode(&objects[..1]),
        vault::wire::encode(&objects[6..]),
    ];
    vec![
        ("object", object_seeds),
        ("wire", wire),
        ("pack", packs()),
        ("path", paths()),
        ("ids", ids()),
        ("ignore", ignores()),
        ("markdown", notes()),
        ("statcache", statcaches()),
        ("task_index", task_indexes()),
        ("state_files", state_files()),
    ]
}
