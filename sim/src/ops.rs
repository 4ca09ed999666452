//! What happens in a simulated run: the steps, each fully written out (paths, bytes, crash
//! points), so that a run is its list of steps and a shorter list (shrinking) still means
//! something. A step whose file is gone by then does nothing.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How an editor saves a file: each leaves other traces on disk for a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// Truncate and write in place (nano, many small tools).
    InPlace,
    /// Write a temp file, fsync, rename over (vim, most editors).
    Atomic,
    /// JetBrains' safe write: `name___jb_tmp___` written, the old file renamed to
    /// `name___jb_old___`, the new one renamed in, the old one removed.
    JetBrains,
    /// GIO (GNOME): `.goutputstream-XXXXXX` written, renamed over.
    Gio,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A user saves `text` at `path` on device `dev`.
    Write {
        dev: usize,
        path: String,
        text: String,
        save: Save,
    },
    Delete {
        dev: usize,
        path: String,
    },
    /// `mv` of a file or a folder.
    Rename {
        dev: usize,
        from: String,
        to: String,
    },
    /// A copy kept aside (a backup tool), with the file's time.
    Backup {
        dev: usize,
        path: String,
        slot: usize,
    },
    /// A backup put back with its old time (`cp -p`), at its own path.
    Restore {
        dev: usize,
        slot: usize,
    },
    /// A tool sets the file's modification time back (`touch -d`).
    TouchBack {
        dev: usize,
        path: String,
        secs: i64,
    },
    /// The file can no longer be read (`chmod 000`), or can again.
    Lock {
        dev: usize,
        path: String,
        locked: bool,
    },
    /// Another program appends to the file while the next round reads it.
    Grow {
        dev: usize,
        path: String,
    },
    /// The drive mounted at `media/` goes away, or comes back.
    Mount {
        dev: usize,
        mounted: bool,
    },
    /// A sync round of device `dev`. `crash`: the device dies at that call of its own
    /// filesystem, keeping that many of its changes not yet durable (a fraction in 1/256);
    /// `hub_crash`: the hub's disk dies at that call (the round sees I/O errors; with a
    /// server hub, the server restarts with the machine). With a server hub only: `net`, the
    /// network fails the round's request number `n` so; `compact_at`, the server's packs are
    /// compacted just before the round's request number `n` (as the server's background
    /// compaction after a push, or an operator's `vault-server gc` while it serves, could).
    Sync {
        dev: usize,
        crash: Option<(u64, u8)>,
        hub_crash: Option<(u64, u8)>,
        net: Option<(u64, NetFault)>,
        compact_at: Option<(u64, Housekeeping)>,
    },
    /// A user saves a large file at `path` (an attachment above [`vault::content::CHUNKED_FROM`],
    /// so it travels as content-defined chunks and a chunk list), its bytes expanded from
    /// `seed`: a new file, or an edit of a small region of the large file there, which leaves
    /// most of its chunks as they were (a path holding no large file gets a new one).
    Large {
        dev: usize,
        path: String,
        seed: u64,
        change: Change,
        save: Save,
    },
    /// A symbolic link made at `path`, pointing at `target` (sync never follows or syncs it).
    Symlink {
        dev: usize,
        path: String,
        target: String,
    },
    /// The file at `path` replaced by a folder of the same name holding one note.
    FileToFolder {
        dev: usize,
        path: String,
        text: String,
    },
    /// The folder at `path` and everything in it deleted (`rm -r`), and a note of the same
    /// name saved in its place.
    FolderToFile {
        dev: usize,
        path: String,
        text: String,
    },
    /// The hub's server process restarts (its open vaults and uploads are dropped; its data
    /// folder stays as it is on disk). Nothing with a folder hub.
    RestartServer,
    /// Bit rot on the hub's disk: one bit of one file of the hub's storage flipped (a folder
    /// hub's folder, or the server's folder of the devices' vault: packs, their indexes,
    /// refs, the marker). `file` indexes the sorted list of those files (modulo its length),
    /// `bit` the file's bits (modulo its length), so a step means the same on any world.
    BitRot {
        file: u64,
        bit: u64,
    },
    /// Time passes.
    Wait {
        secs: i64,
    },
}

/// What a [`Step::Large`] does to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// New bytes, `extra` more than the chunking threshold (kept small: the sim's speed).
    New { extra: u32 },
    /// `len` bytes overwritten at `at` (in 1/65536 of the file's length).
    Overwrite { at: u16, len: u8 },
    /// `len` bytes inserted at `at`: the chunks after it shift, and content-defined cuts find
    /// them again.
    Insert { at: u16, len: u8 },
    /// `len` bytes appended.
    Append { len: u16 },
}

/// Where large files are saved: `pic.png` is also where small notes go, so a large file and
/// a small one replace each other there.
const LARGE_PATHS: &[&str] = &["media/video.bin", "pic.png", "a/pic.png"];

/// How a request between a device and the server goes wrong (server hub only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFault {
    /// The request never reaches the server; the device sees the hub unreachable.
    Lost,
    /// The server carries the request out; its answer never reaches the device, which sees
    /// the hub unreachable (a push it believes failed may have landed).
    AnswerLost,
    /// The request is held in the network: the device gives up on it at once (unreachable),
    /// and the server receives it `steps` steps later, after other rounds, as a late duplicate.
    Delayed { steps: u8 },
    /// The network is cut from this request to the end of the round.
    Partition,
    /// The server process restarts just before this request (a deploy, an out-of-memory
    /// kill): its open uploads and vaults are dropped, and the request reaches the new process
    /// (a large file's commit then answers "upload lost").
    ServerRestart,
}

/// Who compacts the server's vault in the middle of a round (server hub only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Housekeeping {
    /// The server's own compaction after a push (`vault::hub_gc::compact_if_worthwhile`):
    /// merges packs once there are more than 16.
    Auto,
    /// The operator's `vault-server gc --grace 90s` (safe while the server runs, its help
    /// says): merges every small pack, drops objects no snapshot reaches from packs older than
    /// the grace period, deletes packs retired longer ago.
    Gc,
}

/// Which hub the devices meet at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubKind {
    /// A folder hub on the hub machine's disk, opened by each device's round.
    Folder,
    /// `vault-server`'s handlers over a data folder on the hub machine's disk, reached through
    /// its HTTP router in-process (`crate::server_hub`).
    Server,
}

/// The shape of a run: how many devices, on which filesystems, which hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub devices: Vec<DeviceSetup>,
    pub hub: HubKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSetup {
    pub granularity_ns: i64,
    pub names: crate::fs::Names,
    /// Bytes of file data the disk holds (a small disk fills up).
    pub capacity: u64,
    /// How far its clock is from the hub's (within the 5-minute tolerance).
    pub skew_ns: i64,
    /// A drive mounted at `media/`.
    pub has_mount: bool,
}

const FOLDERS: &[&str] = &["", "a/", "a/b/", "Notes/", "media/"];
const NAMES: &[&str] = &[
    "x.md",
    "y.md",
    "Note.md",
    "note.md",
    "tasks.md",
    "empty.md",
    "pic.png",
    // The same name written both ways: NFC (Linux, Windows) and NFD (what HFS+ stores).
    "caf\u{e9}.md",
    "cafe\u{301}.md",
];
/// Notes made from one template: identical bytes at several paths.
const TEMPLATES: &[&str] = &["# Daily\n\n- [ ] \n", "", "---\ntags: [x]\n---\n"];
const WORDS: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "note", "task", "done", "- [ ]", "- [x]", "\n", "#tag",
];

fn pick<'a>(rng: &mut ChaCha8Rng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

fn path(rng: &mut ChaCha8Rng) -> String {
    format!("{}{}", pick(rng, FOLDERS), pick(rng, NAMES))
}

/// The setup and steps of the run of `seed`, bit rot included.
pub fn generate(seed: u64, steps: usize) -> (Setup, Vec<Step>) {
    generate_with(seed, steps, true)
}

/// [`generate`], with bit rot on the hub's disk in one step in a hundred when `rot` (the
/// default; `vault-sim --no-rot` leaves it out).
pub fn generate_with(seed: u64, steps: usize, rot: bool) -> (Setup, Vec<Step>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(2..=3);
    let second = 1_000_000_000;
    let devices = (0..n)
        .map(|_| DeviceSetup {
            granularity_ns: [1, second, 2 * second][rng.random_range(0..3)],
            names: [
                crate::fs::Names::Exact,
                crate::fs::Names::Exact,
                crate::fs::Names::CaseInsensitive,
                crate::fs::Names::Normalising,
            ][rng.random_range(0..4)],
            capacity: if rng.random_bool(0.1) {
                rng.random_range(2_000..20_000)
            } else {
                u64::MAX
            },
            skew_ns: rng.random_range(-240..=240) * second,
            has_mount: rng.random_bool(0.3),
        })
        .collect();
    let hub = if rng.random_bool(0.5) {
        HubKind::Server
    } else {
        HubKind::Folder
    };
    let server = hub == HubKind::Server;
    let mut out = Vec::with_capacity(steps);
    let mut text_no = 0u64;
    for _ in 0..steps {
        let dev = rng.random_range(0..n);
        let roll = rng.random_range(0..100);
        let step = match roll {
            0..=29 => {
                text_no += 1;
                let text = if rng.random_bool(0.2) {
                    pick(&mut rng, TEMPLATES).to_string()
                } else {
                    let words: Vec<&str> = (0..rng.random_range(1..6))
                        .map(|_| pick(&mut rng, WORDS))
                        .collect();
                    format!("{} {text_no}\n", words.join(" "))
                };
                let save = [Save::InPlace, Save::Atomic, Save::JetBrains, Save::Gio]
                    [rng.random_range(0..4)];
                Step::Write {
                    dev,
                    path: path(&mut rng),
                    text,
                    save,
                }
            }
            30..=35 => Step::Delete {
                dev,
                path: path(&mut rng),
            },
            36..=41 => {
                let folder = rng.random_bool(0.3);
                if folder {
                    let from = pick(&mut rng, FOLDERS).trim_end_matches('/').to_string();
                    let to = pick(&mut rng, FOLDERS).trim_end_matches('/').to_string();
                    Step::Rename { dev, from, to }
                } else {
                    Step::Rename {
                        dev,
                        from: path(&mut rng),
                        to: path(&mut rng),
                    }
                }
            }
            42..=44 => Step::Backup {
                dev,
                path: path(&mut rng),
                slot: rng.random_range(0..4),
            },
            45..=46 => Step::Restore {
                dev,
                slot: rng.random_range(0..4),
            },
            47..=48 => Step::TouchBack {
                dev,
                path: path(&mut rng),
                secs: rng.random_range(1..100_000),
            },
            49 => Step::Lock {
                dev,
                path: path(&mut rng),
                locked: rng.random_bool(0.5),
            },
            50 => Step::Grow {
                dev,
                path: path(&mut rng),
            },
            51 => Step::Mount {
                dev,
                mounted: rng.random_bool(0.5),
            },
            52 => Step::Symlink {
                dev,
                path: path(&mut rng),
                target: pick(&mut rng, &["x.md", "../x.md", "/etc/passwd", "a"]).to_string(),
            },
            53 => {
                text_no += 1;
                if rng.random_bool(0.5) {
                    Step::FileToFolder {
                        dev,
                        path: path(&mut rng),
                        text: format!("inside {text_no}\n"),
                    }
                } else {
                    // A folder of the model's, or a note an earlier step made a folder.
                    let path = if rng.random_bool(0.7) {
                        pick(&mut rng, &FOLDERS[1..])
                            .trim_end_matches('/')
                            .to_string()
                    } else {
                        path(&mut rng)
                    };
                    Step::FolderToFile {
                        dev,
                        path,
                        text: format!("was a folder {text_no}\n"),
                    }
                }
            }
            54..=89 => {
                let crash = rng
                    .random_bool(0.15)
                    .then(|| (rng.random_range(0..400), rng.random()));
                let hub_crash = rng
                    .random_bool(0.08)
                    .then(|| (rng.random_range(0..200), rng.random()));
                let net = (server && rng.random_bool(0.12)).then(|| {
                    let kind = match rng.random_range(0..5) {
                        0 => NetFault::Lost,
                        1 => NetFault::AnswerLost,
                        2 => NetFault::Delayed {
                            steps: rng.random_range(1..=6),
                        },
                        3 => NetFault::ServerRestart,
                        _ => NetFault::Partition,
                    };
                    (rng.random_range(0..16), kind)
                });
                let compact_at = (server && rng.random_bool(0.3)).then(|| {
                    let who = if rng.random_bool(0.3) {
                        Housekeeping::Gc
                    } else {
                        Housekeeping::Auto
                    };
                    (rng.random_range(0..16), who)
                });
                Step::Sync {
                    dev,
                    crash,
                    hub_crash,
                    net,
                    compact_at,
                }
            }
            90..=91 if server => Step::RestartServer,
            // Rarely: a large file is over a MiB, each costs the run a few milliseconds.
            98..=99 => {
                let change = match rng.random_range(0..8) {
                    0..=2 => Change::New {
                        extra: rng.random_range(0..256 << 10),
                    },
                    3..=4 => Change::Overwrite {
                        at: rng.random(),
                        len: rng.random_range(1..=64),
                    },
                    5..=6 => Change::Insert {
                        at: rng.random(),
                        len: rng.random_range(1..=64),
                    },
                    _ => Change::Append {
                        len: rng.random_range(1..4096),
                    },
                };
                Step::Large {
                    dev,
                    path: pick(&mut rng, LARGE_PATHS).to_string(),
                    seed: rng.random(),
                    change,
                    save: [Save::InPlace, Save::Atomic][rng.random_range(0..2)],
                }
            }
            // Rare: one step in a hundred, as a disk's rot is rare next to edits and syncs.
            92 if rot => Step::BitRot {
                file: rng.random(),
                bit: rng.random(),
            },
            _ => Step::Wait {
                secs: rng.random_range(0..90),
            },
        };
        out.push(step);
    }
    (Setup { devices, hub }, out)
}
