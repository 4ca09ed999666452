//! What a simulated filesystem holds at one moment, and the effects that change it.
//!
//! A change is recorded as its effects (an entry set or removed, bytes written at an offset, an
//! inode made), never as the call that caused it, so that any subset of the changes a crash lets
//! survive can be replayed in order onto the state the disk held before them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

pub type Ino = u64;

/// The root folder's inode.
pub const ROOT: Ino = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File(Vec<u8>),
    /// Entries by their lookup key (the name itself, or folded on a case-insensitive
    /// filesystem), each with the name as it was created.
    Dir(BTreeMap<OsString, (OsString, Ino)>),
    Symlink(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    pub node: Node,
    pub mode: u32,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    /// The filesystem it belongs to (a mount has its own).
    pub dev: u64,
    /// On a folder: the root of a filesystem mounted here, which lookups enter instead.
    pub mounted: Option<Ino>,
}

impl Inode {
    pub fn dir(mode: u32, now: i64, dev: u64) -> Inode {
        Inode {
            node: Node::Dir(BTreeMap::new()),
            mode,
            mtime_ns: now,
            ctime_ns: now,
            dev,
            mounted: None,
        }
    }

    pub fn file(mode: u32, now: i64, dev: u64) -> Inode {
        Inode {
            node: Node::File(Vec::new()),
            mode,
            mtime_ns: now,
            ctime_ns: now,
            dev,
            mounted: None,
        }
    }
}

/// One change to a [`State`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A new inode.
    Create {
        ino: Ino,
        inode: Inode,
    },
    /// The entry `key` of folder `dir` set to `(name, ino)`, or removed.
    Entry {
        dir: Ino,
        key: OsString,
        entry: Option<(OsString, Ino)>,
    },
    Write {
        ino: Ino,
        offset: u64,
        bytes: Vec<u8>,
    },
    SetLen {
        ino: Ino,
        len: u64,
    },
    Attr {
        ino: Ino,
        mode: u32,
        mtime_ns: i64,
        ctime_ns: i64,
    },
    Mount {
        at: Ino,
        root: Option<Ino>,
    },
}

impl Effect {
    /// The inodes this effect needs to exist (besides one it creates).
    pub fn needs(&self) -> impl Iterator<Item = Ino> {
        let (a, b) = match self {
            Effect::Create { .. } => (None, None),
            Effect::Entry { dir, entry, .. } => (Some(*dir), entry.as_ref().map(|e| e.1)),
            Effect::Write { ino, .. } | Effect::SetLen { ino, .. } | Effect::Attr { ino, .. } => {
                (Some(*ino), None)
            }
            Effect::Mount { at, root } => (Some(*at), *root),
        };
        a.into_iter().chain(b)
    }
}

/// Every inode of one simulated disk (a machine's own and those of its mounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub inodes: BTreeMap<Ino, Inode>,
}

impl State {
    pub fn new(now: i64) -> State {
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT, Inode::dir(0o755, now, 1));
        State { inodes }
    }

    /// Apply one effect. Effects replayed after a crash may name an inode whose creation did
    /// not survive: such an effect is dropped, as the disk never held what it changed.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Create { ino, inode } => {
                self.inodes.insert(*ino, inode.clone());
            }
            Effect::Entry { dir, key, entry } => {
                if entry
                    .as_ref()
                    .is_some_and(|(_, ino)| !self.inodes.contains_key(ino))
                {
                    return;
                }
                if let Some(Inode {
                    node: Node::Dir(entries),
                    ..
                }) = self.inodes.get_mut(dir)
                {
                    match entry {
                        Some(e) => {
                            entries.insert(key.clone(), e.clone());
                        }
                        None => {
                            entries.remove(key);
                        }
                    }
                }
            }
            Effect::Write { ino, offset, bytes } => {
                if let Some(Inode {
                    node: Node::File(data),
                    ..
                }) = self.inodes.get_mut(ino)
                {
                    let (start, end) = (*offset as usize, *offset as usize + bytes.len());
                    if data.len() < end {
                        data.resize(end, 0);
                    }
                    data[start..end].copy_from_slice(bytes);
                }
            }
            Effect::SetLen { ino, len } => {
                if let Some(Inode {
                    node: Node::File(data),
                    ..
                }) = self.inodes.get_mut(ino)
                {
                    data.resize(*len as usize, 0);
                }
            }
            Effect::Attr {
                ino,
                mode,
                mtime_ns,
                ctime_ns,
            } => {
                if let Some(inode) = self.inodes.get_mut(ino) {
                    inode.mode = *mode;
                    inode.mtime_ns = *mtime_ns;
                    inode.ctime_ns = *ctime_ns;
                }
            }
            Effect::Mount { at, root } => {
                if let Some(inode) = self.inodes.get_mut(at) {
                    inode.mounted = *root;
                }
            }
        }
    }

    pub fn get(&self, ino: Ino) -> Option<&Inode> {
        self.inodes.get(&ino)
    }

    /// The next free inode number.
    pub fn next_ino(&self) -> Ino {
        self.inodes.keys().next_back().map_or(ROOT + 1, |i| i + 1)
    }
}
