//! The index on a real folder hub: ranking, snippets, scripts, incremental updates that read
//! only the changed blobs, reopening, and the format check.

use std::cell::Cell;

use vault::folder_hub::FolderHub;
use vault::hub::{CasOutcome, Hub, HubError};
use vault::hub_write::{Author, Edit, publish};
use vault::object::{Kind, Object};

use super::*;

/// A hub that counts the blobs handed out.
struct Counting {
    inner: FolderHub,
    blobs: Cell<usize>,
}

impl Hub for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        self.inner.head()
    }
    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        self.inner.missing(ids)
    }
    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        self.inner.put(objects)
    }
    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        let got = self.inner.get(ids)?;
        let blobs = got.iter().filter(|o| o.kind == Kind::Blob).count();
        self.blobs.set(self.blobs.get() + blobs);
        Ok(got)
    }
    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        self.inner.cas_head(old, new)
    }
    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        self.inner.tree_of(snapshot, full)
    }
    fn time_ns(&self) -> Result<i64, HubError> {
        self.inner.time_ns()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    index_dir: PathBuf,
    hub: Counting,
}

impl Fixture {
    fn new(notes: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let hub = Counting {
            inner: FolderHub::open(&dir.path().join("hub")).unwrap(),
            blobs: Cell::new(0),
        };
        let f = Fixture {
            index_dir: dir.path().join("index"),
            _dir: dir,
            hub,
        };
        f.change(notes, &[]);
        f
    }

    fn files(&self) -> (Option<ObjectId>, FlatTree) {
        match self.hub.head().unwrap() {
            None => (None, FlatTree::new()),
            Some(h) => (
                Some(h),
                hub_write::files(&self.hub, hub_write::snapshot(&self.hub, h).unwrap().tree)
                    .unwrap(),
            ),
        }
    }

    fn change(&self, write: &[(&str, &str)], remove: &[&str]) {
        let (head, files) = self.files();
        let mut edits: Vec<Edit> = write
            .iter()
            .map(|(p, t)| Edit {
                path: VaultPath::new(p).unwrap(),
                content: Some(str::as_bytes(t).to_vec()),
            })
            .collect();
        edits.extend(remove.iter().map(|p| Edit {
            path: VaultPath::new(p).unwrap(),
            content: None,
        }));
        let author = Author {
            device_id: "t".into(),
            device_name: "t".into(),
        };
        publish(&self.hub, head, &files, &edits, &author, 1).unwrap();
    }

    fn update(&self, open: &mut Open) {
        let (head, files) = self.files();
        open.update(&self.hub, head, &files, None, &|_, _| {})
            .unwrap();
    }

    fn built(&self) -> Open {
        let mut open = Open::fresh(&self.index_dir).unwrap();
        self.update(&mut open);
        open
    }
}

fn paths(open: &Open, q: &str) -> Vec<String> {
    open.searchable
        .search(&query::parts(q), 10)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.path)
        .collect()
}

#[test]
fn a_name_hit_ranks_above_a_single_mention() {
    let f = Fixture::new(&[
        (
            "diary.md",
            "Today I did some gardening and then read a book about birds.",
        ),
        (
            "Gardening.md",
            "Tomatoes need sun. Water them in the evening.",
        ),
        ("other.md", "Nothing to see here."),
    ]);
    let open = f.built();
    assert_eq!(paths(&open, "gardening"), ["Gardening.md", "diary.md"]);
    assert_eq!(paths(&open, "GARDENING tomatoes"), ["Gardening.md"]);
}

#[test]
fn japanese_russian_and_arabic_words_are_found_in_the_middle_of_text() {
    let f = Fixture::new(&[
        (
            "日記/2026-12-01.md",
            "# 2026-12-01\n\n今日は東京で会議がありました。新しい同期ツールについて話し合いました。",
        ),
        ("ru.md", "Вчера мы обсуждали синхронизацию заметок и планы."),
        ("ar.md", "ناقشنا اليوم مزامنة الملاحظات بين الأجهزة."),
        ("en.md", "Nothing in other scripts."),
    ]);
    let open = f.built();
    for q in ["東京", "会議", "同期ツール", "東", "話し合い"] {
        assert_eq!(paths(&open, q), ["日記/2026-12-01.md"], "{q}");
    }
    assert!(paths(&open, "ツール会議").is_empty());
    assert_eq!(paths(&open, "СИНХРОНИЗАЦИЮ"), ["ru.md"]);
    assert_eq!(paths(&open, "مزامنة"), ["ar.md"]);
}

#[test]
fn snippets_mark_the_hits_and_escape_everything_else() {
    let f = Fixture::new(&[(
        "x.md",
        "Some text with `<script>alert(\"x\")</script>` & more <b onclick=\"y()\">bold</b> words.",
    )]);
    let open = f.built();
    let found = open.searchable.search(&query::parts("script"), 10).unwrap();
    let html = &found.hits[0].snippet_html;
    assert!(html.contains("&lt;<mark>script</mark>&gt;"), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("onclick"),
        "{html}"
    );
    assert!(html.contains("&amp;"), "{html}");
    let found = open.searchable.search(&query::parts("X"), 10).unwrap();
    assert_eq!(found.hits[0].name_html, "<mark>x</mark>");
    let jp = Fixture::new(&[("a.md", "新しい同期ツールについて")]).built();
    let found = jp
        .searchable
        .search(&query::parts("同期ツール"), 10)
        .unwrap();
    assert_eq!(
        found.hits[0].snippet_html,
        "新しい<mark>同期ツール</mark>について"
    );
}

#[test]
fn updates_read_only_changed_notes_and_forget_removed_ones() {
    let notes: Vec<(String, String)> = (0..30)
        .map(|k| (format!("n{k}.md"), format!("note number{k} common")))
        .collect();
    let borrowed: Vec<(&str, &str)> = notes.iter().map(|(p, t)| (&**p, &**t)).collect();
    let f = Fixture::new(&borrowed);
    let mut open = f.built();
    assert_eq!(
        open.searchable
            .search(&query::parts("common"), 50)
            .unwrap()
            .total,
        30
    );
    f.hub.blobs.set(0);
    f.change(
        &[("n3.md", "note rewritten"), ("new.md", "fresh words")],
        &["n4.md"],
    );
    f.update(&mut open);
    assert_eq!(f.hub.blobs.get(), 2, "only the two written notes are read");
    assert!(paths(&open, "number3").is_empty());
    assert_eq!(paths(&open, "rewritten"), ["n3.md"]);
    assert_eq!(paths(&open, "fresh"), ["new.md"]);
    assert!(paths(&open, "number4").is_empty());
    assert_eq!(
        open.searchable
            .search(&query::parts("common"), 50)
            .unwrap()
            .total,
        28
    );
    // Reopened from disk: the same snapshot, nothing pending, the same answers.
    let (head, files) = f.files();
    drop(open);
    let again = Open::existing(&f.index_dir, &f.hub).unwrap();
    assert_eq!(again.head, head);
    assert_eq!(again.pending(&files, None), 0);
    assert_eq!(paths(&again, "rewritten"), ["n3.md"]);
}

#[test]
fn another_format_or_a_damaged_index_is_refused_for_a_rebuild() {
    let f = Fixture::new(&[("a.md", "words")]);
    drop(f.built());
    let meta = f.index_dir.join("meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(
        &meta,
        text.replace("\\\"format\\\":1", "\\\"format\\\":999"),
    )
    .unwrap();
    assert!(Open::existing(&f.index_dir, &f.hub).is_err());
    std::fs::write(&meta, "garbage").unwrap();
    assert!(Open::existing(&f.index_dir, &f.hub).is_err());
    let rebuilt = f.built();
    assert_eq!(paths(&rebuilt, "words"), ["a.md"]);
}

#[test]
fn only_notes_are_indexed() {
    let f = Fixture::new(&[
        ("a.md", "alpha"),
        ("b.txt", "alpha"),
        (".revisions/a 2026-01-01.md", "alpha"),
    ]);
    assert_eq!(paths(&f.built(), "alpha"), ["a.md"]);
}

/// Every note's hits for each word of `words`, sorted by path.
fn answers(open: &Open, words: &[&str]) -> Vec<Vec<String>> {
    words
        .iter()
        .map(|w| {
            let mut p = paths(open, w);
            p.sort();
            p
        })
        .collect()
}

#[test]
fn an_update_from_the_heads_changes_equals_a_full_rebuild() {
    let notes: Vec<(String, String)> = (0..40)
        .map(|i| (format!("d{}/n{i}.md", i % 4), format!("common number{i}")))
        .collect();
    let borrowed: Vec<(&str, &str)> = notes.iter().map(|(p, t)| (&**p, &**t)).collect();
    let f = Fixture::new(&borrowed);
    let mut open = f.built();
    let (old_head, old_files) = f.files();
    let old_root = hub_write::snapshot(&f.hub, old_head.unwrap()).unwrap().tree;
    f.change(
        &[
            ("d1/n1.md", "rewritten"),
            ("d9/new.md", "fresh common"),
            ("d2/n2.png", "not a note"),
        ],
        &["d3/n3.md", "d0/n4.md"],
    );
    let (head, files) = f.files();
    let root = hub_write::snapshot(&f.hub, head.unwrap()).unwrap().tree;
    let (same, changes) = hub_write::files_since(&f.hub, old_root, &old_files, root).unwrap();
    assert_eq!(same, files);
    let since = (old_head.unwrap(), changes);
    assert_eq!(open.pending(&files, Some(&since)), 4);
    f.hub.blobs.set(0);
    open.update(&f.hub, head, &files, Some(&since), &|_, _| {})
        .unwrap();
    assert_eq!(f.hub.blobs.get(), 2, "only the two written notes are read");
    let rebuilt = Open::fresh(&f._dir.path().join("rebuilt")).unwrap();
    let mut rebuilt = rebuilt;
    rebuilt
        .update(&f.hub, head, &files, None, &|_, _| {})
        .unwrap();
    let words = [
        "common",
        "rewritten",
        "fresh",
        "number1",
        "number3",
        "number4",
        "number5",
    ];
    assert_eq!(answers(&open, &words), answers(&rebuilt, &words));
    assert_eq!(
        open.pending(&files, None),
        0,
        "the notes it holds are the head's"
    );
    // Changes from a head the index is not at are not taken: every note is compared.
    let stale = (ObjectId::of(b"elsewhere"), FlatChanges::default());
    f.change(&[("d1/n5.md", "again")], &[]);
    let (_, files) = f.files();
    assert_eq!(open.pending(&files, Some(&stale)), 1);
}
