//! Helpers for the end-to-end tests: a scratch world (a hub folder and device folders in one
//! temp dir) driven through the real `syncd` binary, plus what the tests need to look at the
//! result (files with their bytes and times, the hub's head and tree through the `vault`
//! library).
//!
//! Every `syncd` run gets `XDG_DATA_HOME` (and the other XDG folders) inside the world's temp
//! dir, so nothing outside it is read or written.

#![allow(dead_code)] // each test binary uses its own subset

pub mod agent;
pub mod hostile;
pub mod proxy;
pub mod server;
pub mod stuck;
pub mod tls;
pub mod web;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use filetime::FileTime;
use vault::ObjectId;
use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::object::{FlatTree, build_trees};
use vault::sync::SyncReport;

/// Panic with what the process printed unless it succeeded.
pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every device holds the same files with the same bytes, and each verifies against its hub.
pub fn assert_converged(devices: &[&Device]) {
    let first = devices[0].files();
    for d in devices {
        assert_eq!(
            d.files(),
            first,
            "{} differs from {}",
            d.name,
            devices[0].name
        );
        d.assert_verified();
    }
}

/// Run `syncd sync --json` on every device at the same moment; each must succeed.
pub fn sync_at_once(devices: &[&Device]) {
    let runs: Vec<_> = devices
        .iter()
        .map(|d| {
            d.command("sync", &["--json"])
                .spawn()
                .expect("spawning syncd")
        })
        .collect();
    for (child, d) in runs.into_iter().zip(devices) {
        let out = child.wait_with_output().expect("waiting for syncd");
        assert_success(&out, &format!("sync of {}", d.name));
    }
}

/// The environment variables through which a system proxy is configured.
pub const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// A temp dir holding a hub folder, device folders and the XDG folders of every run.
pub struct World {
    dir: tempfile::TempDir,
    /// The hub folder (created by the first `syncd init` or sync that opens it).
    pub hub: PathBuf,
}

/// The result of one `syncd` run.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(what: String, out: Output) -> Run {
        Run {
            what,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panic with everything the run printed unless it exited with `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "`{}` exited {:?}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn ok(self) -> Run {
        self.expect_code(0)
    }

    /// Panic unless the run failed (a non-zero exit, not a crash by signal).
    pub fn failed(self) -> Run {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "`{}` should have failed, exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The `SyncReport` a `sync --json` run printed on stdout.
    pub fn report(&self) -> SyncReport {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`{}` did not print a sync report ({e}):\n{}\n--- stderr\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }

    /// The JSON object a `--json` run printed on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`{}` did not print JSON ({e}):\n{}\n--- stderr\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let hub = dir.path().join("hub");
        World { dir, hub }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A device whose vault folder is `<world>/<name>` (not created, not initialised).
    pub fn device(&self, name: &str) -> Device<'_> {
        Device {
            world: self,
            name: name.to_string(),
            root: self.dir.path().join(name),
        }
    }

    /// `syncd` with `args`, its XDG folders inside the world, ready to run or spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncd"));
        let xdg = self.dir.path().join("xdg");
        // The machine's proxy settings must not decide where a test's requests go; the proxy
        // tests set their own.
        for var in PROXY_VARS {
            cmd.env_remove(var);
        }
        cmd.args(args)
            .env("XDG_DATA_HOME", xdg.join("data"))
            .env("XDG_CONFIG_HOME", xdg.join("config"))
            .env("XDG_STATE_HOME", xdg.join("state"))
            .env("XDG_CACHE_HOME", xdg.join("cache"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run `syncd` with `args` to the end, `input` on its standard input.
    pub fn syncd_input(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("running the syncd binary");
        let mut stdin = child.stdin.take().expect("syncd's stdin");
        // syncd may exit before reading (a refused argument): a broken pipe is its answer.
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        let out = child.wait_with_output().expect("waiting for syncd");
        Run::from_output(format!("syncd {}", args.join(" ")), out)
    }

    /// Run `syncd` with `args` to the end.
    pub fn syncd(&self, args: &[&str]) -> Run {
        let out = self
            .command(args)
            .output()
            .expect("running the syncd binary");
        Run::from_output(format!("syncd {}", args.join(" ")), out)
    }

    /// The hub, opened afresh (so it sees every pack written so far).
    pub fn open_hub(&self) -> FolderHub {
        FolderHub::open(&self.hub).expect("opening the hub folder")
    }

    pub fn hub_head(&self) -> Option<ObjectId> {
        self.open_hub().head().expect("reading the hub's head")
    }

    /// The root tree the hub computes for its head (the empty tree for an empty hub).
    pub fn hub_tree(&self) -> ObjectId {
        self.open_hub()
            .tree_hash()
            .expect("the hub's tree hash")
            .unwrap_or_else(empty_tree)
    }

    /// The pack files of the hub, by name.
    pub fn hub_packs(&self) -> Vec<PathBuf> {
        let mut packs: Vec<PathBuf> = fs::read_dir(self.hub.join("packs"))
            .expect("listing the hub's packs")
            .map(|e| e.expect("a pack entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "pack"))
            .collect();
        packs.sort();
        packs
    }
}

/// The id of the tree of an empty folder.
pub fn empty_tree() -> ObjectId {
    build_trees(&FlatTree::new()).0
}

/// A device: a vault folder that `syncd` syncs with the world's hub.
pub struct Device<'w> {
    world: &'w World,
    pub name: String,
    pub root: PathBuf,
}

impl Device<'_> {
    fn vault_arg(&self) -> String {
        self.root.display().to_string()
    }

    /// `syncd init` this folder against the world's hub, under this device's name.
    pub fn init(&self) -> &Self {
        fs::create_dir_all(&self.root).expect("creating the vault folder");
        let vault = self.vault_arg();
        let hub = self.world.hub.display().to_string();
        self.world
            .syncd(&[
                "init", "--vault", &vault, "--hub", &hub, "--device", &self.name,
            ])
            .ok();
        self
    }

    /// `syncd init` this folder against the server at `url` as `user`, the password on
    /// standard input, with `extra` options (--setup-token, --ca-cert, ...). Not checked.
    pub fn join_server(&self, url: &str, user: &str, password: &str, extra: &[&str]) -> Run {
        let vault = self.vault_arg();
        let mut args = vec![
            "init",
            "--vault",
            &vault,
            "--hub",
            url,
            "--device",
            &self.name,
            "--user",
            user,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        self.world.syncd_input(&args, &format!("{password}\n"))
    }

    /// `syncd <command> --vault <root> <extra...>`; `command` may name a subcommand
    /// (`"hub retention"`).
    pub fn run(&self, command: &str, extra: &[&str]) -> Run {
        let vault = self.vault_arg();
        let mut args: Vec<&str> = command.split(' ').collect();
        args.extend(["--vault", &vault]);
        args.extend_from_slice(extra);
        self.world.syncd(&args)
    }

    /// The same, as a process to spawn.
    pub fn command(&self, command: &str, extra: &[&str]) -> Command {
        let vault = self.vault_arg();
        let mut args = vec![command, "--vault", &vault];
        args.extend_from_slice(extra);
        self.world.command(&args)
    }

    /// `syncd sync --json`, which must succeed; its report.
    pub fn sync(&self) -> SyncReport {
        self.run("sync", &["--json"]).ok().report()
    }

    /// `syncd verify [--full] --json`: its exit code and report.
    pub fn verify(&self, full: bool) -> (Option<i32>, serde_json::Value) {
        let mut extra = vec!["--json"];
        if full {
            extra.push("--full");
        }
        let run = self.run("verify", &extra);
        let json = run.json();
        (run.code, json)
    }

    /// `syncd status --json`, which must succeed.
    pub fn status(&self) -> serde_json::Value {
        self.run("status", &["--json"]).ok().json()
    }

    /// Both `verify` and `verify --full` agree that the folder and the hub are equal.
    pub fn assert_verified(&self) {
        for full in [false, true] {
            let (code, report) = self.verify(full);
            assert_eq!(
                code,
                Some(0),
                "{}: verify (full: {full}) found differences: {report}",
                self.name
            );
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Write `text` at `rel` (folders created) with modification time [`at`]`(secs)`.
    pub fn write(&self, rel: &str, text: &str, secs: i64) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("a note has a folder")).expect("creating folders");
        fs::write(&p, text).expect("writing a note");
        filetime::set_file_mtime(&p, at(secs)).expect("setting a note's mtime");
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.path(rel)).ok()
    }

    pub fn remove(&self, rel: &str) {
        fs::remove_file(self.path(rel)).expect("removing a note");
    }

    pub fn mtime(&self, rel: &str) -> FileTime {
        let m = fs::metadata(self.path(rel)).expect("a note's metadata");
        FileTime::from_last_modification_time(&m)
    }

    /// Every file outside `.vault/`, by path relative to the vault (with `/`), with its bytes.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        folder_state(&self.root)
            .into_iter()
            .filter_map(|(p, e)| match e {
                Entry::File { bytes, .. } => Some((p, bytes)),
                Entry::Dir => None,
            })
            .collect()
    }

    /// The files under `.revisions/` whose content is `text`.
    pub fn revisions_holding(&self, text: &str) -> Vec<String> {
        self.files()
            .into_iter()
            .filter(|(p, b)| p.starts_with(".revisions/") && b == text.as_bytes())
            .map(|(p, _)| p)
            .collect()
    }

    /// The `base` ref in `.vault/` (the snapshot this device last agreed on with the hub).
    pub fn base(&self) -> Option<String> {
        fs::read_to_string(self.path(".vault/base"))
            .ok()
            .map(|t| t.trim().to_string())
    }
}

/// One entry of a folder, for comparing a folder before and after something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File {
        bytes: Vec<u8>,
        mtime: FileTime,
        executable: bool,
    },
}

/// Everything under `root` except the top-level `.vault/`: folders, and files with their bytes,
/// modification times and exec bit, by relative path with `/`.
pub fn folder_state(root: &Path) -> BTreeMap<String, Entry> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for entry in fs::read_dir(dir).expect("listing a folder") {
            let entry = entry.expect("a folder entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if rel == ".vault" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).expect("an entry's metadata");
            if meta.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &path, out);
            } else {
                out.insert(
                    rel,
                    Entry::File {
                        bytes: fs::read(&path).expect("reading a file"),
                        mtime: FileTime::from_last_modification_time(&meta),
                        executable: meta.permissions().mode() & 0o111 != 0,
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A fixed time an hour ago (near enough to the hub's clock for the skew check) plus `secs`,
/// with a nanosecond part, so times are distinct, ordered and test nanosecond precision.
pub fn at(secs: i64) -> FileTime {
    // Fixed once per test binary, so every call agrees on the origin.
    static ORIGIN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        now.as_secs() as i64 - 3600
    });
    FileTime::from_unix_time(origin + secs, 123_456_789)
}

/// Wait until files written so far are past the stat cache's racy margin, so the next scan
/// may trust their cached ids (the rule git uses against same-tick edits: an entry whose file
/// changed within `RACY_MARGIN_NS` of the scan is always hashed again).
pub fn wait_past_racy_margin() {
    let margin = u64::try_from(vault::statcache::RACY_MARGIN_NS).expect("positive margin");
    std::thread::sleep(std::time::Duration::from_nanos(margin + 50_000_000));
}

/// Two devices that synced `notes` (path, text, mtime secs) through one hub: `laptop` wrote
/// and pushed them, `desktop` joined and pulled them.
pub fn synced_pair<'w>(world: &'w World, notes: &[(&str, &str, i64)]) -> (Device<'w>, Device<'w>) {
    let a = world.device("laptop");
    for (path, text, secs) in notes {
        a.write(path, text, *secs);
    }
    a.init().sync();
    let b = world.device("desktop");
    b.init().sync();
    assert_converged(&[&a, &b]);
    (a, b)
}

/// `len` pseudo-random bytes (xorshift64*) that do not compress, different for every `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Debian's libfaketime, which `.ci/run` installs (the clock-skew tests preload it).
pub fn libfaketime() -> PathBuf {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("libfaketime is missing: install Debian's `faketime` package (.ci/run does)")
}
