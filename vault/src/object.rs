//! Blobs, trees and snapshots, and their canonical encodings.
//!
//! Every object is identified by the blake3 hash of its encoded bytes ([`ObjectId::of`]); for a
//! blob those bytes are the file's bytes. Trees and snapshots use a small line-based text
//! encoding (see `docs/format.md`) that has exactly one valid form per value, so equal trees have
//! equal ids on every device and a decoder can refuse anything non-canonical. Decoders never
//! panic on hostile bytes: every problem is an [`ObjectError`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::id::ObjectId;
use crate::paths::{PathError, STATE_DIR, VaultPath, validate_name};

/// What an object is. The number is the byte stored in packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Blob = 1,
    Tree = 2,
    Snapshot = 3,
    /// The list of a large file's chunks (`crate::content`): the file's id is this object's.
    Chunks = 4,
}

impl Kind {
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Blob),
            2 => Some(Kind::Tree),
            3 => Some(Kind::Snapshot),
            4 => Some(Kind::Chunks),
            _ => None,
        }
    }
}

/// An object ready to store: its kind and encoded bytes. The id is derived, never trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

impl Object {
    pub fn id(&self) -> ObjectId {
        ObjectId::of(&self.bytes)
    }
}

/// A tree or snapshot that cannot be decoded, or an object that is not what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object {id} is damaged: its bytes hash to {actual}")]
    HashMismatch { id: ObjectId, actual: ObjectId },
    #[error("object {id} is a {actual:?}, but a {expected:?} was expected")]
    WrongKind {
        id: ObjectId,
        expected: Kind,
        actual: Kind,
    },
    #[error("malformed {what} object, line {line}: {reason}")]
    Malformed {
        what: &'static str,
        line: usize,
        reason: String,
    },
    #[error("tree entry has a name that is not allowed: {0}")]
    BadName(#[from] PathError),
    #[error("tree is nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Check that `bytes` really are object `id` of the expected kind; used on everything a hub sends.
pub fn verify(id: ObjectId, kind: Kind, expected: Kind, bytes: &[u8]) -> Result<(), ObjectError> {
    let actual = ObjectId::of(bytes);
    if actual != id {
        return Err(ObjectError::HashMismatch { id, actual });
    }
    if kind != expected {
        return Err(ObjectError::WrongKind {
            id,
            expected,
            actual: kind,
        });
    }
    Ok(())
}

/// Metadata a tree keeps for one file. Two files with equal `FileMeta` are the same version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileMeta {
    pub id: ObjectId,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub executable: bool,
}

impl FileMeta {
    /// The entry of a file with `stat` and blob `id`.
    pub fn of(stat: &crate::filestat::FileStat, id: ObjectId) -> FileMeta {
        FileMeta {
            id,
            size: stat.size,
            mtime_ns: stat.mtime_ns,
            executable: stat.executable,
        }
    }
    /// Same bytes and mode: the versions differ at most in modification time.
    pub fn same_content(&self, other: &FileMeta) -> bool {
        self.id == other.id && self.executable == other.executable
    }
}

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(FileMeta),
    Dir(ObjectId),
}

/// A directory: entries sorted by name (byte order), names unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    pub entries: BTreeMap<String, EntryKind>,
}

const TREE_HEADER: &str = "vault-tree 1";

/// One line of a tree's encoding (the one place that writes it).
fn encode_entry(s: &mut String, name: &str, entry: &EntryKind) {
    // Pieces pushed one by one rather than through `write!`: a commit encodes every entry of
    // the vault, and the formatting machinery took most of the time of building its trees.
    match entry {
        EntryKind::File(m) => {
            let mut number = itoa::Buffer::new();
            s.push_str("f ");
            s.push_str(m.id.hex_digits().as_str());
            s.push(' ');
            s.push_str(number.format(m.size));
            s.push(' ');
            s.push_str(number.format(m.mtime_ns));
            s.push_str(if m.executable { " x " } else { " - " });
        }
        EntryKind::Dir(id) => {
            s.push_str("d ");
            s.push_str(id.hex_digits().as_str());
            s.push_str(" 0 0 - ");
        }
    }
    s.push_str(name);
    s.push('\n');
}
const SNAPSHOT_HEADER: &str = "vault-snapshot 1";
/// Deeper trees are refused, so a hostile hub cannot exhaust the stack or memory.
pub const MAX_TREE_DEPTH: usize = 128;

impl Tree {
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(32 + self.entries.len() * 100);
        s.push_str(TREE_HEADER);
        s.push('\n');
        for (name, entry) in &self.entries {
            encode_entry(&mut s, name, entry);
        }
        s.into_bytes()
    }

    pub fn to_object(&self) -> Object {
        Object {
            kind: Kind::Tree,
            bytes: self.encode(),
        }
    }

    /// Decode and check a tree: header, fields, names, strict order. Rejects `.vault` at no level
    /// (that is a root-only rule, applied when paths are formed).
    pub fn decode(bytes: &[u8]) -> Result<Tree, ObjectError> {
        let bad = |line: usize, reason: &str| ObjectError::Malformed {
            what: "tree",
            line,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8"))?;
        let body = text
            .strip_prefix(TREE_HEADER)
            .and_then(|t| t.strip_prefix('\n'))
            .ok_or_else(|| bad(1, "missing `vault-tree 1` header"))?;
        if !body.is_empty() && !body.ends_with('\n') {
            return Err(bad(0, "missing final newline"));
        }
        let mut tree = Tree::default();
        let mut last: Option<&str> = None;
        // Lines end at `\n` only: `str::lines` also takes `\r\n`, which gave one tree two
        // encodings (and two ids); a `\r` now stays in the name, which refuses it.
        for (i, line) in body.split_terminator('\n').enumerate() {
            let n = i + 2;
            let mut f = line.splitn(6, ' ');
            let (Some(kind), Some(id), Some(size), Some(mtime), Some(mode), Some(name)) =
                (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad(n, "expected 6 fields"));
            };
            let id: ObjectId = id.parse().map_err(|_| bad(n, "bad object id"))?;
            validate_name(name)?;
            if last.is_some_and(|l| l >= name) {
                return Err(bad(n, "entries not in strictly increasing name order"));
            }
            last = Some(name);
            let entry = match (kind, size, mtime, mode) {
                ("d", "0", "0", "-") => EntryKind::Dir(id),
                ("f", size, mtime, mode) => {
                    let size = parse_canonical_u64(size).ok_or_else(|| bad(n, "bad size"))?;
                    let mtime_ns = parse_canonical_i64(mtime).ok_or_else(|| bad(n, "bad mtime"))?;
                    let executable = match mode {
                        "x" => true,
                        "-" => false,
                        _ => return Err(bad(n, "bad mode")),
                    };
                    EntryKind::File(FileMeta {
                        id,
                        size,
                        mtime_ns,
                        executable,
                    })
                }
                _ => return Err(bad(n, "bad entry kind or directory fields")),
            };
            tree.entries.insert(name.to_string(), entry);
        }
        Ok(tree)
    }
}

fn parse_canonical_u64(s: &str) -> Option<u64> {
    let v: u64 = s.parse().ok()?;
    (v.to_string() == s).then_some(v)
}

fn parse_canonical_i64(s: &str) -> Option<i64> {
    let v: i64 = s.parse().ok()?;
    (v.to_string() == s).then_some(v)
}

/// A device name or id as it may appear in a snapshot: printable, no newline, not empty.
fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_control())
}

/// A point in history: the vault's tree after a sync, with the snapshot(s) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    /// The id of the device that wrote the snapshot.
    pub device_id: String,
    /// The human name of that device.
    pub device_name: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::new();
        s.push_str(SNAPSHOT_HEADER);
        s.push('\n');
        let _ = writeln!(s, "tree {}", self.tree);
        for p in &self.parents {
            let _ = writeln!(s, "parent {p}");
        }
        let _ = writeln!(s, "device {}", self.device_id);
        let _ = writeln!(s, "name {}", self.device_name);
        let _ = writeln!(s, "time {}", self.time_ns);
        s.into_bytes()
    }

    pub fn to_object(&self) -> Object {
        Object {
            kind: Kind::Snapshot,
            bytes: self.encode(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Snapshot, ObjectError> {
        let bad = |line: usize, reason: &str| ObjectError::Malformed {
            what: "snapshot",
            line,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(0, "not UTF-8"))?;
        if !text.ends_with('\n') {
            return Err(bad(0, "missing final newline"));
        }
        let lines: Vec<&str> = text.lines().collect();
        if lines.first() != Some(&SNAPSHOT_HEADER) {
            return Err(bad(1, "missing `vault-snapshot 1` header"));
        }
        // Line i (0-based) holds `key value`; returns the value.
        let field = |i: usize, key: &str| -> Result<&str, ObjectError> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(key))
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(|| bad(i + 1, &format!("expected `{key}`")))
        };
        let tree = field(1, "tree")?
            .parse()
            .map_err(|_| bad(2, "bad tree id"))?;
        let mut i = 2;
        let mut parents = Vec::new();
        while let Ok(p) = field(i, "parent") {
            parents.push(p.parse().map_err(|_| bad(i + 1, "bad parent id"))?);
            i += 1;
        }
        let device_id = field(i, "device")?.to_string();
        let device_name = field(i + 1, "name")?.to_string();
        let time_ns =
            parse_canonical_i64(field(i + 2, "time")?).ok_or_else(|| bad(i + 3, "bad time"))?;
        if lines.len() != i + 3 {
            return Err(bad(i + 4, "trailing lines"));
        }
        if !valid_label(&device_id) || !valid_label(&device_name) {
            return Err(bad(0, "bad device id or name"));
        }
        let snap = Snapshot {
            tree,
            parents,
            device_id,
            device_name,
            time_ns,
        };
        // Refuse anything whose re-encoding differs: one value, one encoding, one id.
        if snap.encode() != bytes {
            return Err(bad(0, "not in canonical form"));
        }
        Ok(snap)
    }
}

/// A whole vault as a flat map from path to file metadata; the form reconcile works on.
pub type FlatTree = BTreeMap<VaultPath, FileMeta>;

/// Flatten a tree into paths, loading subtrees through `load`. Every name is checked again as a
/// full path (so `.vault` at the top, or a file and a folder under one name, are refused).
/// A `.vault` below the top is another vault's state, which older versions synced: it is
/// left out (see [`flatten_noting`]), so such a hub is still usable and the next snapshot a
/// device publishes no longer holds it.
pub fn flatten<E>(
    root: ObjectId,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
) -> Result<FlatTree, E>
where
    E: From<ObjectError>,
{
    flatten_noting(root, load, &mut Vec::new())
}

/// [`flatten`], adding to `skipped` each folder whose `.vault` entry was left out.
pub fn flatten_noting<E>(
    root: ObjectId,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
    skipped: &mut Vec<VaultPath>,
) -> Result<FlatTree, E>
where
    E: From<ObjectError>,
{
    // Gathered in a vector in path order (nearly: `a/b` sorts after `a.md`) and then built
    // into the map at once, which packs its nodes full: inserted one by one, out of order, a
    // 100,000-file tree took 13 MiB instead of 7.
    let mut out = Vec::new();
    flatten_into(None, root, 0, load, skipped, &mut out)?;
    Ok(out.into_iter().collect())
}

/// The files under the tree `id` (at `prefix`, `depth` below the root), in name order, each
/// folder's files where its name puts them.
fn flatten_into<E>(
    prefix: Option<&VaultPath>,
    id: ObjectId,
    depth: usize,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
    skipped: &mut Vec<VaultPath>,
    out: &mut Vec<(VaultPath, FileMeta)>,
) -> Result<(), E>
where
    E: From<ObjectError>,
{
    if depth > MAX_TREE_DEPTH {
        return Err(ObjectError::TooDeep(MAX_TREE_DEPTH).into());
    }
    let tree = load(id)?;
    for (name, entry) in tree.entries {
        if let Some(folder) = prefix
            && crate::paths::is_state_dir(&name)
        {
            if !skipped.contains(folder) {
                skipped.push(folder.clone());
            }
            continue;
        }
        let path = match prefix {
            None => VaultPath::new(&name),
            Some(p) => p.join(&name),
        }
        .map_err(ObjectError::from)?;
        if prefix.is_none() && name.eq_ignore_ascii_case(STATE_DIR) {
            return Err(ObjectError::BadName(PathError::StateDir(name)).into());
        }
        match entry {
            EntryKind::File(meta) => out.push((path, meta)),
            EntryKind::Dir(sub) => flatten_into(Some(&path), sub, depth + 1, load, skipped, out)?,
        }
    }
    Ok(())
}

mod build;
mod patch;
mod since;
pub use build::{build_trees, root_tree};
pub use patch::{Change, PatchError, changes, patch_trees};
pub use since::{FlatChanges, flatten_since};

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(content: &[u8], mtime_ns: i64) -> FileMeta {
        FileMeta {
            id: ObjectId::of(content),
            size: content.len() as u64,
            mtime_ns,
            executable: false,
        }
    }

    /// Found by fuzzing (fixtures/fuzz/object/): a tree whose lines ended in `\r\n` decoded to
    /// the same tree as its canonical form, so one tree had two encodings and two ids.
    #[test]
    fn tree_with_crlf_line_endings_is_refused() {
        let mut tree = Tree::default();
        tree.entries
            .insert("a.md".into(), EntryKind::File(meta(b"a", 5)));
        tree.entries
            .insert("b".into(), EntryKind::Dir(ObjectId::of(b"b")));
        let canonical = String::from_utf8(tree.encode()).unwrap();
        assert_eq!(Tree::decode(canonical.as_bytes()).unwrap(), tree);
        let crlf = canonical.replace('\n', "\r\n").replacen("\r\n", "\n", 1);
        assert!(Tree::decode(crlf.as_bytes()).is_err());
        let last_crlf = format!("{}\r\n", canonical.trim_end_matches('\n'));
        assert!(Tree::decode(last_crlf.as_bytes()).is_err());
    }

    proptest::proptest! {
        /// Entries are encoded exactly as the format's definition (`write!` of the fields) says.
        #[test]
        fn entries_encode_as_defined(
            seed in proptest::prelude::any::<u64>(),
            size in proptest::prelude::any::<u64>(),
            mtime_ns in proptest::prelude::any::<i64>(),
            executable in proptest::prelude::any::<bool>(),
            dir in proptest::prelude::any::<bool>(),
            name in "[a-zé ノ.-]{1,12}",
        ) {
            use std::fmt::Write as _;
            let id = ObjectId::of(&seed.to_le_bytes());
            let entry = if dir {
                EntryKind::Dir(id)
            } else {
                EntryKind::File(FileMeta { id, size, mtime_ns, executable })
            };
            let mut expected = String::new();
            let _ = match &entry {
                EntryKind::File(m) => writeln!(
                    expected,
                    "f {} {} {} {} {}",
                    m.id,
                    m.size,
                    m.mtime_ns,
                    if m.executable { 'x' } else { '-' },
                    name
                ),
                EntryKind::Dir(id) => writeln!(expected, "d {id} 0 0 - {name}"),
            };
            let mut got = String::from("before\n");
            encode_entry(&mut got, &name, &entry);
            proptest::prop_assert_eq!(got, format!("before\n{expected}"));
        }
    }

    fn flat(items: &[(&str, &[u8])]) -> FlatTree {
        items
            .iter()
            .map(|(p, c)| {
                (
                    VaultPath::new(p).unwrap(),
                    meta(c, 1_700_000_000_000_000_000),
                )
            })
            .collect()
    }

    fn store_of(objs: &[Object]) -> BTreeMap<ObjectId, Vec<u8>> {
        objs.iter().map(|o| (o.id(), o.bytes.clone())).collect()
    }

    #[test]
    fn tree_round_trips_and_is_canonical() {
        let files = flat(&[("b.md", b"b"), ("a/x.md", b"x"), ("a/y/z.md", b"z")]);
        let (root, objs) = build_trees(&files);
        let store = store_of(&objs);
        let back = flatten::<ObjectError>(root, &mut |id| Tree::decode(&store[&id])).unwrap();
        assert_eq!(back, files);
        for o in &objs {
            assert_eq!(Tree::decode(&o.bytes).unwrap().encode(), o.bytes);
        }
        // Children come before parents; the root is last.
        assert_eq!(objs.last().unwrap().id(), root);
    }

    #[test]
    fn tree_encoding_is_frozen() {
        let golden = include_bytes!("../../fixtures/format/tree-v1.txt");
        let tree = Tree::decode(golden).expect("golden tree decodes");
        assert_eq!(tree.encode(), golden.to_vec(), "tree encoding changed");
        let golden_snap = include_bytes!("../../fixtures/format/snapshot-v1.txt");
        let snap = Snapshot::decode(golden_snap).expect("golden snapshot decodes");
        assert_eq!(
            snap.encode(),
            golden_snap.to_vec(),
            "snapshot encoding changed"
        );
        assert_eq!(snap.parents.len(), 1);
    }

    #[test]
    fn empty_tree_has_a_fixed_id() {
        let (root, objs) = build_trees(&FlatTree::new());
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].bytes, b"vault-tree 1\n");
        assert_eq!(root, ObjectId::of(b"vault-tree 1\n"));
    }

    #[test]
    fn decode_refuses_hostile_trees() {
        let id = ObjectId::of(b"x");
        let cases: Vec<(String, &str)> = vec![
            (format!("vault-tree 1\nf {id} 1 0 - ..\n"), "dot-dot name"),
            (format!("vault-tree 1\nf {id} 1 0 - a/b\n"), "slash in name"),
            (
                format!("vault-tree 1\nf {id} 1 0 - a\\b\n"),
                "backslash in name",
            ),
            (format!("vault-tree 1\nf {id} 1 0 - \n"), "empty name"),
            (
                format!("vault-tree 1\nf {id} 1 0 - b\nf {id} 1 0 - a\n"),
                "unsorted",
            ),
            (
                format!("vault-tree 1\nf {id} 1 0 - a\nf {id} 1 0 - a\n"),
                "duplicate",
            ),
            (
                format!("vault-tree 1\nf {id} 01 0 - a\n"),
                "non-canonical number",
            ),
            (format!("vault-tree 1\nq {id} 1 0 - a\n"), "unknown kind"),
            (format!("vault-tree 1\nf {id} 1 0 - a"), "no final newline"),
            ("vault-tree 2\n".to_string(), "unknown version"),
            (format!("vault-tree 1\nf {id} 1 0 - a\0b\n"), "NUL"),
        ];
        for (text, why) in cases {
            assert!(
                Tree::decode(text.as_bytes()).is_err(),
                "accepted a tree with {why}"
            );
        }
    }

    #[test]
    fn flatten_refuses_state_dir_at_top() {
        let inner = Tree::default().to_object();
        let mut top = Tree::default();
        top.entries
            .insert(".vault".into(), EntryKind::Dir(inner.id()));
        let top = top.to_object();
        let store = store_of(&[inner, top.clone()]);
        let r = flatten::<ObjectError>(top.id(), &mut |id| Tree::decode(&store[&id]));
        assert!(matches!(
            r,
            Err(ObjectError::BadName(PathError::StateDir(_)))
        ));
    }

    #[test]
    fn flatten_leaves_out_a_nested_state_dir_and_notes_its_folder() {
        let blob = ObjectId::of(b"x");
        let meta = FileMeta {
            id: blob,
            size: 1,
            mtime_ns: 0,
            executable: false,
        };
        let mut state = Tree::default();
        state.entries.insert("token".into(), EntryKind::File(meta));
        let state = state.to_object();
        let mut sub = Tree::default();
        sub.entries
            .insert(".vault".into(), EntryKind::Dir(state.id()));
        sub.entries.insert(".VAULT".into(), EntryKind::File(meta));
        sub.entries.insert("n.md".into(), EntryKind::File(meta));
        let sub = sub.to_object();
        let mut top = Tree::default();
        top.entries.insert("sub".into(), EntryKind::Dir(sub.id()));
        let top = top.to_object();
        let store = store_of(&[state, sub, top.clone()]);
        let mut skipped = Vec::new();
        let flat = flatten_noting::<ObjectError>(
            top.id(),
            &mut |id| Tree::decode(&store[&id]),
            &mut skipped,
        )
        .unwrap();
        let paths: Vec<&str> = flat.keys().map(VaultPath::as_str).collect();
        assert_eq!(paths, ["sub/n.md"]);
        assert_eq!(skipped, [VaultPath::new("sub").unwrap()]);
    }

    #[test]
    fn snapshot_round_trip_and_refusals() {
        let s = Snapshot {
            tree: ObjectId::of(b"t"),
            parents: vec![ObjectId::of(b"p1"), ObjectId::of(b"p2")],
            device_id: "0123456789abcdef".into(),
            device_name: "laptop".into(),
            time_ns: 1_700_000_000_123_456_789,
        };
        assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
        let mut extra = s.encode();
        extra.extend_from_slice(b"junk\n");
        assert!(Snapshot::decode(&extra).is_err());
        assert!(Snapshot::decode(b"vault-snapshot 1\n").is_err());
    }

    #[test]
    fn verify_catches_substituted_bytes() {
        let id = ObjectId::of(b"real");
        assert!(matches!(
            verify(id, Kind::Blob, Kind::Blob, b"fake"),
            Err(ObjectError::HashMismatch { .. })
        ));
        assert!(matches!(
            verify(id, Kind::Tree, Kind::Blob, b"real"),
            Err(ObjectError::WrongKind { .. })
        ));
        assert!(verify(id, Kind::Blob, Kind::Blob, b"real").is_ok());
    }
}
