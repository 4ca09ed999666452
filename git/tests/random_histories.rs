//! Random histories of three devices (writes, deletes, renames, rounds in any order) exported:
//! every file of every snapshot is in its commit, byte for byte, and an export made in two
//! steps is the export made in one.

mod common;

use proptest::prelude::*;
use vault::hub::Hub;

use common::{World, assert_exported, git, world};
use vault_git::{ExportOptions, export};

const PATHS: &[&str] = &[
    "a.md",
    "notes/b.md",
    "notes/deep/c.md",
    "caf\u{e9}.md",
    "media/x.bin",
];

#[derive(Debug, Clone)]
enum Op {
    Write { dev: usize, path: usize, text: u8 },
    Delete { dev: usize, path: usize },
    Rename { dev: usize, from: usize, to: usize },
    Sync { dev: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let dev = 0..3usize;
    let path = 0..PATHS.len();
    prop_oneof![
        3 => (dev.clone(), path.clone(), any::<u8>())
            .prop_map(|(dev, path, text)| Op::Write { dev, path, text }),
        1 => (dev.clone(), path.clone()).prop_map(|(dev, path)| Op::Delete { dev, path }),
        1 => (dev.clone(), path.clone(), path)
            .prop_map(|(dev, from, to)| Op::Rename { dev, from, to }),
        3 => dev.prop_map(|dev| Op::Sync { dev }),
    ]
}

fn apply(w: &World, op: &Op, secs: i64) {
    let at = |dev: usize, path: usize| w.devices[dev].root().join(PATHS[path]);
    match *op {
        Op::Write { dev, path, text } => {
            let bytes = if PATHS[path].ends_with(".bin") {
                vec![text, 0, 255, text]
            } else {
                format!("version {text}\n").into_bytes()
            };
            w.write(dev, PATHS[path], &bytes, secs);
        }
        Op::Delete { dev, path } => {
            let _ = std::fs::remove_file(at(dev, path));
        }
        Op::Rename { dev, from, to } => {
            if at(dev, from).is_file() && !at(dev, to).exists() {
                std::fs::create_dir_all(at(dev, to).parent().unwrap()).unwrap();
                std::fs::rename(at(dev, from), at(dev, to)).unwrap();
            }
        }
        Op::Sync { dev } => w.sync(dev),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_snapshot_of_a_random_history_is_its_commit(ops in prop::collection::vec(op(), 1..24)) {
        let w = world();
        let halfway = w.path("halfway.git");
        for (i, op) in ops.iter().enumerate() {
            apply(&w, op, i as i64);
            if i == ops.len() / 2
                && let Some(head) = w.hub.head().unwrap()
            {
                export(&w.hub, Some(head), &halfway, ExportOptions::default()).unwrap();
            }
        }
        for dev in 0..3 {
            w.sync(dev);
        }
        let Some(head) = w.hub.head().unwrap() else {
            return Ok(());
        };
        let once = w.path("once.git");
        export(&w.hub, Some(head), &once, ExportOptions::default()).unwrap();
        assert_exported(&once, &w.hub, head);
        export(&w.hub, Some(head), &halfway, ExportOptions::default()).unwrap();
        prop_assert_eq!(git(&halfway, &["show-ref"]), git(&once, &["show-ref"]));
    }
}
