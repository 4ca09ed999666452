//! One vault's search index on disk (`DATA/web/index/<user>/<vault>/`), brought up to a head
//! snapshot incrementally: the notes whose blob changed are read and indexed again, removed
//! ones deleted (by path), the rest untouched. The snapshot the index reflects is the payload
//! of tantivy's own commit (its `meta.json`), so it changes atomically with the documents; an
//! index that cannot be opened, is of another format, or names a snapshot the hub no longer
//! has is wiped and built again from the hub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use vault::hub::Hub;
use vault::hub_write;
use vault::id::ObjectId;
use vault::object::{FlatChanges, FlatTree};
use vault::paths::VaultPath;

use super::query::{self, Part};
use super::text;
use super::tokenizer::{self, VaultTokenizer};

/// The format of the index (schema, tokenizer, text extraction); another one is rebuilt.
pub const FORMAT: u32 = 1;
/// The writer's memory (tantivy's minimum is 15 MB; more buys fewer segments, not speed here).
const WRITER_BYTES: usize = 24_000_000;
/// Blobs read from the hub at once.
const FETCH_CHUNK: usize = 256;
/// A long build commits every so many notes, so a search meanwhile finds what is done.
const COMMIT_EVERY: usize = 2_000;
/// Characters of a snippet.
const SNIPPET_CHARS: usize = 180;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("reading the vault for the search index: {0}")]
    Hub(#[from] hub_write::WriteError),
    #[error("search index folder: {0}")]
    Io(#[from] std::io::Error),
}

/// What the commit payload says.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    format: u32,
    /// The snapshot every note of which is indexed; `None` while a first build is under way.
    snapshot: Option<ObjectId>,
}

#[derive(Clone, Copy)]
pub struct Fields {
    pub path: Field,
    pub name: Field,
    pub body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer::NAME)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        path: b.add_text_field("path", STRING | STORED),
        name: b.add_text_field("name", words.clone()),
        body: b.add_text_field("body", words),
    };
    (b.build(), fields)
}

/// The notes of a tree the index holds, by path: their blob and size.
pub type Notes = BTreeMap<VaultPath, (ObjectId, u64)>;

pub fn notes_of(files: &FlatTree) -> Notes {
    files
        .iter()
        .filter(|(p, _)| text::is_note(p))
        .map(|(p, m)| (p.clone(), (m.id, m.size)))
        .collect()
}

/// What changed between the indexed notes and a head's: paths to (re)index, paths to delete.
/// Reads every note of both: for an index that is not at the head the view was made from.
pub fn diff(indexed: &Notes, head: &Notes) -> (Vec<VaultPath>, Vec<VaultPath>) {
    let changed = head
        .iter()
        .filter(|(p, (id, _))| indexed.get(*p).is_none_or(|(old, _)| old != id))
        .map(|(p, _)| p.clone())
        .collect();
    let removed = indexed
        .keys()
        .filter(|p| !head.contains_key(*p))
        .cloned()
        .collect();
    (changed, removed)
}

/// What a search needs: a reader (cheap to clone; it sees every commit after a reload).
#[derive(Clone)]
pub struct Searchable {
    reader: IndexReader,
    fields: Fields,
}

/// An open index and the notes it holds.
pub struct Open {
    dir: PathBuf,
    index: Index,
    pub searchable: Searchable,
    fields: Fields,
    writer: Option<IndexWriter>,
    /// The snapshot the index reflects (`None`: nothing indexed yet).
    pub head: Option<ObjectId>,
    notes: Notes,
}

/// One search hit.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    /// The note's name, HTML-escaped, with `<mark>` around the words that matched.
    pub name_html: String,
    /// A passage of the note, HTML-escaped, with `<mark>` around the words that matched.
    pub snippet_html: String,
}

/// The hits of a query and how many notes matched in all.
#[derive(Debug, Default)]
pub struct Found {
    pub hits: Vec<Hit>,
    pub total: usize,
}

impl Open {
    /// The index in `dir`, as it is; `Err` when it is missing, damaged or of another format
    /// (the caller rebuilds).
    pub fn existing(dir: &Path, hub: &dyn Hub) -> Result<Open, IndexError> {
        let index = Index::open_in_dir(dir)?;
        let (want, fields) = schema();
        if index.schema() != want {
            return Err(tantivy::TantivyError::SchemaError("another schema".into()).into());
        }
        let payload: Payload = index
            .load_metas()?
            .payload
            .and_then(|p| serde_json::from_str(&p).ok())
            .ok_or_else(|| tantivy::TantivyError::SchemaError("no payload".into()))?;
        if payload.format != FORMAT {
            return Err(tantivy::TantivyError::SchemaError("another format".into()).into());
        }
        let notes = match payload.snapshot {
            Some(id) => {
                let snapshot = hub_write::snapshot(hub, id)?;
                notes_of(&hub_write::files(hub, snapshot.tree)?)
            }
            None => Notes::new(),
        };
        Open::with(dir, index, fields, payload.snapshot, notes)
    }

    /// A new, empty index in `dir` (whatever was there is removed).
    pub fn fresh(dir: &Path) -> Result<Open, IndexError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        Open::with(dir, index, fields, None, Notes::new())
    }

    fn with(
        dir: &Path,
        index: Index,
        fields: Fields,
        head: Option<ObjectId>,
        notes: Notes,
    ) -> Result<Open, IndexError> {
        index.tokenizers().register(tokenizer::NAME, VaultTokenizer);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Open {
            dir: dir.to_path_buf(),
            index,
            searchable: Searchable { reader, fields },
            fields,
            writer: None,
            head,
            notes,
        })
    }

    /// Whether the index's files are still on disk (someone may have removed the folder).
    pub fn on_disk(&self) -> bool {
        self.dir.join("meta.json").exists()
    }

    /// How many notes must be read to bring the index to `files` (`since`: how `files`
    /// differ from an earlier head's, see [`crate::HeadView::since`]).
    pub fn pending(&self, files: &FlatTree, since: Option<&(ObjectId, FlatChanges)>) -> usize {
        let (changed, removed) = self.plan(files, since);
        changed.len() + removed.len()
    }

    /// The notes to (re)index and to delete to bring the index to `files`: from `since` alone
    /// when the index is at the head it starts from (a few paths, whatever the vault's size),
    /// else by comparing every note.
    fn plan(
        &self,
        files: &FlatTree,
        since: Option<&(ObjectId, FlatChanges)>,
    ) -> (Vec<VaultPath>, Vec<VaultPath>) {
        match since {
            Some((from, changes)) if self.head == Some(*from) => {
                let changed = changes
                    .changed
                    .iter()
                    .filter(|(p, m)| {
                        text::is_note(p) && self.notes.get(p).is_none_or(|(id, _)| *id != m.id)
                    })
                    .map(|(p, _)| p.clone())
                    .collect();
                let removed = changes
                    .removed
                    .iter()
                    .filter(|p| self.notes.contains_key(*p) && !files.contains_key(*p))
                    .cloned()
                    .collect();
                (changed, removed)
            }
            _ => diff(&self.notes, &notes_of(files)),
        }
    }

    /// Bring the index to snapshot `head` with `files`: read and index the changed notes,
    /// delete the removed ones, commit naming `head`. `progress` hears of each note done.
    pub fn update(
        &mut self,
        hub: &dyn Hub,
        head: Option<ObjectId>,
        files: &FlatTree,
        since: Option<&(ObjectId, FlatChanges)>,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(), IndexError> {
        let (changed, removed) = self.plan(files, since);
        // Every changed path is one of `files` (the plan takes them from there).
        let meta = |p: &VaultPath| {
            files
                .get(p)
                .map_or((ObjectId::of(b""), 0), |m| (m.id, m.size))
        };
        if self.writer.is_none() {
            self.writer = Some(self.index.writer_with_num_threads(1, WRITER_BYTES)?);
        }
        let fields = self.fields;
        let total = changed.len() + removed.len();
        let mut done = 0;
        let from = self.head;
        let writer = self.writer.as_mut().expect("made above");
        for path in &removed {
            writer.delete_term(Term::from_field_text(fields.path, path.as_str()));
            done += 1;
        }
        let mut since_commit = 0;
        for chunk in changed.chunks(FETCH_CHUNK) {
            let readable: Vec<&VaultPath> = chunk
                .iter()
                .filter(|p| meta(p).1 <= text::MAX_NOTE_BYTES)
                .collect();
            let ids: Vec<ObjectId> = readable.iter().map(|p| meta(p).0).collect();
            let blobs = hub_write::fetch_files(hub, &ids, text::MAX_NOTE_BYTES)?;
            let mut bodies: BTreeMap<&VaultPath, String> = readable
                .into_iter()
                .zip(blobs)
                .map(|(p, bytes)| (p, text::plain_text(&String::from_utf8_lossy(&bytes))))
                .collect();
            for path in chunk {
                writer.delete_term(Term::from_field_text(fields.path, path.as_str()));
                let mut doc = TantivyDocument::new();
                doc.add_text(fields.path, path.as_str());
                doc.add_text(fields.name, text::note_name(path));
                doc.add_text(fields.body, bodies.remove(path).unwrap_or_default());
                writer.add_document(doc)?;
                done += 1;
                since_commit += 1;
            }
            progress(done, total);
            if since_commit >= COMMIT_EVERY {
                // Still naming the snapshot it came from: after a crash here the next update
                // diffs from there again, and indexing a note twice replaces it.
                commit(writer, from)?;
                self.searchable.reader.reload()?;
                since_commit = 0;
            }
        }
        commit(writer, head)?;
        self.searchable.reader.reload()?;
        self.head = head;
        for path in &removed {
            self.notes.remove(path);
        }
        for path in &changed {
            self.notes.insert(path.clone(), meta(path));
        }
        // After a large build the writer's memory (its arena, grown to the budget) is given
        // back; a writer for small updates stays small and saves its start-up on each one.
        if total > 256 {
            self.writer = None;
            crate::give_back_memory();
        }
        Ok(())
    }
}

impl Searchable {
    /// The best `limit` notes for `parts`, with snippets.
    pub fn search(&self, parts: &[Part], limit: usize) -> Result<Found, IndexError> {
        let Some(q) = query::build(parts, self.fields.name, self.fields.body) else {
            return Ok(Found::default());
        };
        let searcher = self.reader.searcher();
        let (top, total) = searcher.search(
            &q,
            &(TopDocs::with_limit(limit.max(1)).order_by_score(), Count),
        )?;
        let mut body_snippets = SnippetGenerator::create(&searcher, &*q, self.fields.body)?;
        body_snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut name_snippets = SnippetGenerator::create(&searcher, &*q, self.fields.name)?;
        name_snippets.set_max_num_chars(1_000);
        let mut hits = Vec::with_capacity(top.len());
        for (_score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let get = |f: Field| {
                doc.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            let (path, name, body) = (
                get(self.fields.path),
                get(self.fields.name),
                get(self.fields.body),
            );
            hits.push(Hit {
                name_html: marked(&name_snippets, &name, usize::MAX),
                snippet_html: marked(&body_snippets, &body, SNIPPET_CHARS),
                path,
            });
        }
        Ok(Found { hits, total })
    }
}

fn commit(writer: &mut IndexWriter, head: Option<ObjectId>) -> Result<(), IndexError> {
    let payload = serde_json::to_string(&Payload {
        format: FORMAT,
        snapshot: head,
    })
    .expect("a payload serialises");
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload);
    prepared.commit()?;
    Ok(())
}

/// `text` with its matches marked, escaped; without a match, its beginning, escaped.
fn marked(generator: &SnippetGenerator, text: &str, max_chars: usize) -> String {
    let mut snippet = generator.snippet(text);
    if snippet.is_empty() {
        let end = text
            .char_indices()
            .nth(max_chars.min(text.len()))
            .map_or(text.len(), |(i, _)| i);
        return escape(&text[..end]);
    }
    snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
    snippet.to_html()
}

/// HTML-escaped text (for the parts shown without a match).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
