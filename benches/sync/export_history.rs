//! The history the git export scenario exports (benches/sync/git_export.rs): the generated
//! vault's first snapshot made by a real `syncd sync` into a new hub folder, then one snapshot
//! after another until there are `--snapshots`, each changing one to three notes (an edit, a
//! new note, a rename, a deletion), by a few devices, with a merge of two parents now and then.
//!
//! A thousand real rounds on 20,000 notes would each scan the whole vault, which is not what
//! the scenario measures, so the later snapshots are written in this process through the
//! vault library the way the web view writes one (`vault::hub_write::publish`: the library's
//! own blob, tree and snapshot encodings, objects put, then the head moved by compare-and-swap
//! from the head before, so the folder hub checks every snapshot it is given), followed by
//! `after_publish` as a round's end (the hub compacts its packs as in use). A real device
//! pulls the whole history afterwards, which checks it the way devices will.
//!
//! Merges: a sync round always publishes on top of the head it read, so two-parent snapshots
//! come from `syncd hub set` (a graft joining two histories). Here a side snapshot by another
//! device is stored next to the head (not made head), and the next snapshot merges it: its
//! parents are the head and the side one, its files both lines' changes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use vault::folder_hub::FolderHub;
use vault::hub::{CasOutcome, Hub};
use vault::hub_write::{self, Author, Edit};
use vault::object::{FlatTree, Object, Snapshot};
use vault::sync::Outcome;
use vault::{ObjectId, VaultPath};

use crate::lab::Lab;

/// What was built, and how long it took.
#[derive(Debug, Default, Clone)]
pub struct Built {
    /// The device that made the first snapshot, synced to the head afterwards.
    pub vault: PathBuf,
    pub hub: PathBuf,
    /// Snapshots reachable from the head (the side ones of merges included).
    pub snapshots: usize,
    pub merges: usize,
    pub edited: usize,
    pub added: usize,
    pub renamed: usize,
    pub deleted: usize,
    /// Wall time of the whole build (the first sync, the snapshots, the device's pull).
    pub secs: f64,
}

/// The devices that take turns making snapshots after the laptop's first (id, name).
const DEVICES: [(&str, &str); 3] = [
    ("bench-export-phone", "phone"),
    ("bench-export-desk", "desk"),
    ("bench-export-web", "web"),
];

/// xorshift64*: the same history on every run, without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// The history being written: the head's files and notes, kept in step with every snapshot.
struct Writer<'h> {
    hub: &'h FolderHub,
    head: ObjectId,
    files: FlatTree,
    /// The `.md` paths of `files`, to pick from.
    notes: Vec<VaultPath>,
    last_ns: i64,
    rng: Rng,
    built: Built,
}

impl Writer<'_> {
    /// The hub's clock, strictly after the last snapshot (a snapshot a few microseconds after
    /// another still gets a later time).
    fn now(&mut self) -> Result<i64> {
        let now = self.hub.time_ns()?.max(self.last_ns + 1);
        self.last_ns = now;
        Ok(now)
    }

    /// One to three changes to notes no other change of this group touches (`used`).
    fn edits(&mut self, n: usize, used: &mut HashSet<VaultPath>) -> Result<Vec<Edit>> {
        let count = 1 + self.rng.below(3);
        let mut edits = Vec::with_capacity(count + 1);
        for k in 0..count {
            let path = loop {
                let p = self.notes[self.rng.below(self.notes.len())].clone();
                if used.insert(p.clone()) {
                    break p;
                }
            };
            let folder = path.parent();
            let named = |name: String| -> Result<VaultPath> {
                Ok(match &folder {
                    Some(f) => f.join(&name)?,
                    None => VaultPath::new(&name)?,
                })
            };
            match self.rng.below(20) {
                0..12 => {
                    let mut bytes = self.bytes(&path)?;
                    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                        bytes.push(b'\n');
                    }
                    bytes.extend(format!("- [ ] exported as git, snapshot {n}.{k}\n").bytes());
                    edits.push(Edit {
                        path,
                        content: Some(bytes),
                    });
                    self.built.edited += 1;
                }
                12..15 => {
                    let new = named(format!("Export note {n}-{k}.md"))?;
                    let text = format!(
                        "# Export note {n}-{k}\n\nWritten for the git export benchmark, next to [[{}]].\n",
                        path.file_name().trim_end_matches(".md")
                    );
                    used.insert(new.clone());
                    edits.push(Edit {
                        path: new,
                        content: Some(text.into_bytes()),
                    });
                    self.built.added += 1;
                }
                15..18 => {
                    let stem = path.file_name().trim_end_matches(".md");
                    let new = named(format!("{stem} (moved {n}).md"))?;
                    // The same bytes at a new path: the export names it a rename.
                    let bytes = self.bytes(&path)?;
                    used.insert(new.clone());
                    edits.push(Edit {
                        path: path.clone(),
                        content: None,
                    });
                    edits.push(Edit {
                        path: new,
                        content: Some(bytes),
                    });
                    self.built.renamed += 1;
                }
                _ => {
                    edits.push(Edit {
                        path,
                        content: None,
                    });
                    self.built.deleted += 1;
                }
            }
        }
        Ok(edits)
    }

    /// The bytes of the head's file at `path`.
    fn bytes(&self, path: &VaultPath) -> Result<Vec<u8>> {
        let meta = self
            .files
            .get(path)
            .context("a picked note is not in the head")?;
        hub_write::read_file(self.hub, meta.id, 64 << 20)
            .with_context(|| format!("reading `{path}` from the hub"))
    }

    /// An ordinary snapshot on top of the head, by `author`.
    fn publish(&mut self, n: usize, author: &Author) -> Result<()> {
        let edits = self.edits(n, &mut HashSet::new())?;
        self.publish_edits(n, &edits, author)?;
        self.hub.after_publish();
        self.built.snapshots += 1;
        Ok(())
    }

    /// Three snapshots: a side one by `side` on the head (stored, not head), one by `main` on
    /// the head, then their merge by `main`.
    fn merge(&mut self, n: usize, side: &Author, main: &Author) -> Result<()> {
        let mut used = HashSet::new();
        let side_edits = self.edits(n, &mut used)?;
        let main_edits = self.edits(n + 1, &mut used)?;
        let side_time = self.now()?;
        let side_files = hub_write::apply_edits(&self.files, &side_edits, side_time)?;
        track_notes(&mut self.notes, &self.files, &side_edits);
        let side_id = self.store(&side_files, &side_edits, vec![self.head], side, side_time)?;
        self.publish_edits(n + 1, &main_edits, main)?;
        let merged = hub_write::apply_edits(&self.files, &side_edits, side_time)?;
        let time = self.now()?;
        let merge = self.store(&merged, &[], vec![self.head, side_id], main, time)?;
        match self.hub.cas_head(Some(self.head), merge)? {
            CasOutcome::Updated => {}
            CasOutcome::Conflict { actual } => {
                anyhow::bail!("the hub's head moved to {actual:?} while the history was written")
            }
        }
        self.files = merged;
        self.head = merge;
        self.hub.after_publish();
        self.built.snapshots += 3;
        self.built.merges += 1;
        Ok(())
    }

    /// `edits` published on top of the head (the head and its files follow).
    fn publish_edits(&mut self, n: usize, edits: &[Edit], author: &Author) -> Result<()> {
        let time = self.now()?;
        let new = hub_write::publish(self.hub, Some(self.head), &self.files, edits, author, time)
            .with_context(|| format!("publishing snapshot {n}"))?;
        track_notes(&mut self.notes, &self.files, edits);
        self.files = hub_write::apply_edits(&self.files, edits, time)?;
        self.head = new;
        Ok(())
    }

    /// Store the snapshot of `files` (whose new bytes are those of `edits`) with `parents`,
    /// as `hub_write::publish` stores one, without moving the head.
    fn store(
        &self,
        files: &FlatTree,
        edits: &[Edit],
        parents: Vec<ObjectId>,
        author: &Author,
        time_ns: i64,
    ) -> Result<ObjectId> {
        let (root, trees) = vault::object::build_trees(files);
        let mut all: Vec<Object> = (edits.iter())
            .filter_map(|e| e.content.as_deref())
            .flat_map(|bytes| vault::content::objects_of(bytes).1)
            .collect();
        all.extend(trees);
        let snapshot = Snapshot {
            tree: root,
            parents,
            device_id: author.device_id.clone(),
            device_name: author.device_name.clone(),
            time_ns,
        }
        .to_object();
        let id = snapshot.id();
        all.push(snapshot);
        let ids: Vec<ObjectId> = all.iter().map(Object::id).collect();
        let missing: HashSet<ObjectId> = self.hub.missing(&ids)?.into_iter().collect();
        let mut seen = HashSet::new();
        all.retain(|o| missing.contains(&o.id()) && seen.insert(o.id()));
        self.hub.put(&all)?;
        Ok(id)
    }
}

/// `notes` (the `.md` paths of `files`) once `edits` are applied.
fn track_notes(notes: &mut Vec<VaultPath>, files: &FlatTree, edits: &[Edit]) {
    for e in edits {
        match &e.content {
            None => notes.retain(|p| *p != e.path),
            Some(_) if e.path.as_str().ends_with(".md") && !files.contains_key(&e.path) => {
                notes.push(e.path.clone())
            }
            Some(_) => {}
        }
    }
}

/// A hub folder holding `snapshots` snapshots of the generated vault, and a device synced to
/// its head.
pub fn build(lab: &Lab, snapshots: usize) -> Result<Built> {
    let started = Instant::now();
    let vault = lab.copy_source("export-laptop")?;
    let hub_dir = lab.fresh("export-hub");
    lab.synced_vault(&vault, &hub_dir, "laptop")?;
    let hub = FolderHub::open(&hub_dir)?;
    let head = hub.head()?.context("the first sync made no snapshot")?;
    let first = hub_write::snapshot(&hub, head)?;
    let files = hub_write::files(&hub, first.tree)?;
    let notes = (files.keys())
        .filter(|p| p.as_str().ends_with(".md") && !p.is_revision())
        .cloned()
        .collect();
    let mut w = Writer {
        hub: &hub,
        head,
        files,
        notes,
        last_ns: first.time_ns,
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        built: Built {
            snapshots: 1,
            ..Built::default()
        },
    };
    let authors = DEVICES.map(|(id, name)| Author {
        device_id: id.to_string(),
        device_name: name.to_string(),
    });
    // About ten merges whatever the length (three snapshots each), spread over the history.
    let spacing = (snapshots / 10).max(10);
    while w.built.snapshots < snapshots {
        let n = w.built.snapshots + 1;
        let author = &authors[n % authors.len()];
        if n % spacing == spacing / 2 && snapshots - w.built.snapshots >= 3 {
            w.merge(n, &authors[(n + 1) % authors.len()], author)?;
        } else {
            w.publish(n, author)?;
        }
        if n.is_multiple_of(200) {
            eprintln!("    {n} snapshots");
        }
    }
    let head = w.head;
    let mut built = w.built;
    // The laptop takes the whole history, as a real device would: the history must be one a
    // device can follow.
    let (_, report) = lab.sync(lab.syncd_sync(&vault))?;
    ensure!(
        report.outcome == Outcome::Pulled && report.head == Some(head),
        "the laptop did not pull the written history: {:?} at {:?}, the hub at {head}",
        report.outcome,
        report.head
    );
    built.vault = vault;
    built.hub = hub_dir;
    built.secs = started.elapsed().as_secs_f64();
    Ok(built)
}
