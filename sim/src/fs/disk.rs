//! What survives a crash: the changes since the disk last held everything, and which of them
//! an fsync made durable.
//!
//! The model is POSIX's promise and no more: a file's bytes and attributes are durable once the
//! file is fsynced, a folder's entries (a name created, renamed or removed) once the folder is,
//! everything once the filesystem is (`syncfs`). Beyond that a crash keeps a prefix of the
//! changes in the order they were made (the disk wrote them in order and stopped), possibly
//! none. Two couplings keep it to what a real filesystem can show: what a durable change needs
//! (the inode it names was created, the folder it writes in exists) becomes durable with it, and
//! so does an earlier change to the same name in the same folder (a journal never lets a later
//! rename of a name land without the one before it).

use super::state::{Effect, Ino, State};

/// One atomic change: all of its effects survive a crash, or none.
#[derive(Debug, Clone)]
struct Group {
    effects: Vec<Effect>,
    /// An fsync of any of these files makes it durable.
    files: Vec<Ino>,
    /// An fsync of any of these folders makes it durable.
    dirs: Vec<Ino>,
    durable: bool,
}

/// A disk: what it would hold after a crash (`base` plus the durable or kept changes in `log`),
/// and what the processes on the machine see now (`current`).
#[derive(Debug, Clone)]
pub struct Disk {
    base: State,
    current: State,
    log: Vec<Group>,
}

impl Disk {
    pub fn new(state: State) -> Disk {
        Disk {
            base: state.clone(),
            current: state,
            log: Vec::new(),
        }
    }

    pub fn current(&self) -> &State {
        &self.current
    }

    /// Apply `effects` as one atomic change, durable by an fsync of any of `files` (its data)
    /// or `dirs` (its names).
    pub fn record(&mut self, effects: Vec<Effect>, files: Vec<Ino>, dirs: Vec<Ino>) {
        for effect in &effects {
            self.current.apply(effect);
        }
        self.log.push(Group {
            effects,
            files,
            dirs,
            durable: false,
        });
    }

    /// Changes since the disk last held everything.
    pub fn pending(&self) -> usize {
        self.log.len()
    }

    /// `fsync` of a file.
    pub fn sync_file(&mut self, ino: Ino) {
        let upto = self.log.len();
        for at in 0..upto {
            if !self.log[at].durable && self.log[at].files.contains(&ino) {
                self.make_durable(at);
            }
        }
        self.fold();
    }

    /// `fsync` of a folder.
    pub fn sync_dir(&mut self, ino: Ino) {
        let upto = self.log.len();
        for at in 0..upto {
            if !self.log[at].durable && self.log[at].dirs.contains(&ino) {
                self.make_durable(at);
            }
        }
        self.fold();
    }

    /// `syncfs`: everything.
    pub fn sync_all(&mut self) {
        self.base = self.current.clone();
        self.log.clear();
    }

    /// Mark group `at` durable, with every earlier group it depends on.
    fn make_durable(&mut self, at: usize) {
        let mut stack = vec![at];
        while let Some(g) = stack.pop() {
            if self.log[g].durable {
                continue;
            }
            self.log[g].durable = true;
            let needs: Vec<Ino> = self.log[g].effects.iter().flat_map(Effect::needs).collect();
            let names: Vec<(Ino, std::ffi::OsString)> = self.log[g]
                .effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Entry { dir, key, .. } => Some((*dir, key.clone())),
                    _ => None,
                })
                .collect();
            for earlier in 0..g {
                if self.log[earlier].durable {
                    continue;
                }
                let depends = self.log[earlier].effects.iter().any(|e| match e {
                    Effect::Create { ino, .. } => needs.contains(ino),
                    Effect::Entry { dir, key, .. } => {
                        names.iter().any(|(d, k)| d == dir && k == key)
                    }
                    _ => false,
                });
                if depends {
                    stack.push(earlier);
                }
            }
        }
    }

    /// Fold the durable groups at the front of the log into `base`.
    fn fold(&mut self) {
        let done = self.log.iter().take_while(|g| g.durable).count();
        for group in self.log.drain(..done) {
            for effect in &group.effects {
                self.base.apply(effect);
            }
        }
    }

    /// The machine lost power: what it holds now is `base` plus the durable changes and the
    /// first `keep` of the others, in their order.
    pub fn crash(&mut self, keep: usize) {
        let mut state = self.base.clone();
        for (at, group) in self.log.iter().enumerate() {
            if group.durable || at < keep {
                for effect in &group.effects {
                    state.apply(effect);
                }
            }
        }
        self.base = state.clone();
        self.current = state;
        self.log.clear();
    }

    /// Change what is on the disk behind every process's back (bit rot, a user's tool run
    /// while the simulated sync is not looking), durable at once.
    pub fn tamper(&mut self, effect: Effect) {
        self.current.apply(&effect);
        self.base.apply(&effect);
        // Changes still pending replay on top of `base` after a crash; they saw the state
        // before this effect, which is what a real disk would replay onto as well.
    }
}
