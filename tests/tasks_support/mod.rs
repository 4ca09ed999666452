//! Helpers for tests/tasks_e2e.rs: a device's vault holding a copy of `fixtures/tasks/`, `syncd`
//! runs in it (in UTC, so the test knows "today"), and what the `vault` library's parser reads
//! in its notes, as the `--json` form docs/tasks.md documents.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde_json::{Value, json};
use vault::VaultPath;
use vault::markdown::{ParsedNote, Task, parse_note};

use crate::common::{Device, Run, World, assert_converged};

/// The keys docs/tasks.md documents for a task in `--json` output.
pub const TASK_KEYS: [&str; 19] = [
    "id",
    "short_id",
    "path",
    "line",
    "column",
    "depth",
    "status",
    "state",
    "description",
    "text",
    "due",
    "scheduled",
    "start",
    "created",
    "done",
    "cancelled",
    "priority",
    "recurrence",
    "tags",
];

/// What a change prints when no agent will sync it.
pub const SYNC_HINT: &str = "run `syncd sync`";

/// A device's vault.
pub struct Vault<'w> {
    pub w: &'w World,
    pub d: Device<'w>,
}

impl<'w> Vault<'w> {
    /// A device `name` holding a copy of `fixtures/tasks/`, initialised against the world's hub.
    pub fn fixture(w: &'w World, name: &str) -> Vault<'w> {
        let d = w.device(name);
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tasks"),
            &d.root,
        );
        d.init();
        Vault { w, d }
    }

    /// An empty device `name`, initialised against the world's hub.
    pub fn empty(w: &'w World, name: &str) -> Vault<'w> {
        let d = w.device(name);
        d.init();
        Vault { w, d }
    }

    /// `syncd <args> --vault <root>`, run in the vault folder with `TZ=UTC`.
    pub fn syncd(&self, args: &[&str]) -> Run {
        let root = self.d.root.display().to_string();
        let mut all = args.to_vec();
        all.extend(["--vault", &root]);
        let out = self
            .w
            .command(&all)
            .env("TZ", "UTC")
            .current_dir(&self.d.root)
            .output()
            .expect("running syncd");
        Run {
            what: format!("syncd {}", args.join(" ")),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `syncd tasks --json <extra>`, which must succeed.
    pub fn list(&self, extra: &[&str]) -> Value {
        let mut args = vec!["tasks", "--json"];
        args.extend_from_slice(extra);
        self.syncd(&args).ok().json()
    }

    /// The ids `syncd tasks <extra>` lists, in its order.
    pub fn ids(&self, extra: &[&str]) -> Vec<String> {
        tasks_of(&self.list(extra))
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The one task (of any status) in `path` whose text contains `needle`, as listed now.
    pub fn find(&self, path: &str, needle: &str) -> Value {
        pick(&self.list(&["--all"]), path, needle).clone()
    }

    pub fn id(&self, path: &str, needle: &str) -> String {
        self.find(path, needle)["id"].as_str().unwrap().to_owned()
    }

    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        fs::read(self.d.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn text(&self, rel: &str) -> String {
        String::from_utf8(self.bytes(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, text: &str) {
        fs::write(self.d.path(rel), text).unwrap();
    }
}

/// Two devices holding the fixture vault, synced through the world's hub folder.
pub fn synced_pair(w: &World) -> (Vault<'_>, Vault<'_>) {
    let a = Vault::fixture(w, "laptop");
    a.d.sync();
    let b = Vault::empty(w, "desktop");
    b.d.sync();
    assert_converged(&[&a.d, &b.d]);
    (a, b)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn tasks_of(listing: &Value) -> &Vec<Value> {
    listing["tasks"].as_array().expect("a `tasks` array")
}

/// The one task of `listing` in `path` whose text contains `needle`.
pub fn pick<'a>(listing: &'a Value, path: &str, needle: &str) -> &'a Value {
    let found: Vec<&Value> = tasks_of(listing)
        .iter()
        .filter(|t| t["path"] == path && t["text"].as_str().unwrap().contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "{needle:?} in {path}: {listing:#}");
    found[0]
}

/// The items of the JSON array `array` that `keep` takes.
pub fn select(array: &Value, keep: impl Fn(&Value) -> bool) -> Vec<&Value> {
    array
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| keep(x))
        .collect()
}

/// The `note_warnings` of `--json` output for `notes`, from the library's reading of them.
pub fn expected_warnings(notes: &[(String, ParsedNote)]) -> Value {
    let mut out = Vec::new();
    for (path, note) in notes {
        for w in &note.warnings {
            out.push(json!({"path": path, "line": w.line, "message": w.message}));
        }
    }
    Value::Array(out)
}

/// Every key of `expected` has that value in `task`.
pub fn assert_has(task: &Value, expected: Value) {
    for (k, want) in expected.as_object().unwrap() {
        assert_eq!(&task[k], want, "`{k}` of {task:#}");
    }
}

/// What the library's parser reads in every note of `root`, chosen as docs/tasks.md says
/// (`.md`/`.markdown` in any case, with a stem; not under `.revisions/` or `.vault/`).
pub fn parsed_notes(root: &Path) -> Vec<(String, ParsedNote)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut out = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let name = rel.rsplit('/').next().unwrap().to_lowercase();
        let markdown = [".md", ".markdown"]
            .iter()
            .any(|ext| name.len() > ext.len() && name.ends_with(ext));
        if markdown && !rel.starts_with(".revisions/") && !rel.starts_with(".vault/") {
            let text = fs::read_to_string(&file).unwrap();
            out.push((
                rel.clone(),
                parse_note(&VaultPath::new(&rel).unwrap(), &text),
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every task of [`parsed_notes`], with its note's path.
pub fn parsed_tasks(root: &Path) -> Vec<(String, Task)> {
    parsed_notes(root)
        .into_iter()
        .flat_map(|(p, n)| n.tasks.into_iter().map(move |t| (p.clone(), t)))
        .collect()
}

/// The `--json` object docs/tasks.md describes for `t`, from the library's reading of it.
pub fn expected_json(path: &str, t: &Task) -> Value {
    let state = match t.status {
        ' ' => "todo",
        '/' => "in_progress",
        'x' | 'X' => "done",
        '-' => "cancelled",
        _ => "other",
    };
    let mut v = json!({
        "id": t.id.as_str(), "short_id": &t.id.as_str()[..7], "path": path, "line": t.line,
        "column": t.column, "depth": t.depth, "status": t.status.to_string(), "state": state,
        "description": t.description, "text": t.raw, "tags": t.tags,
    });
    let planning = serde_json::to_value(&t.planning).unwrap();
    for (k, x) in planning.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// `--tag want` takes `tag` (docs/tasks.md: that tag or one nested under it, in any case).
pub fn tag_matches(want: &str, tag: &str) -> bool {
    let (want, tag) = (
        want.trim_start_matches('#').to_lowercase(),
        tag.to_lowercase(),
    );
    tag == want || tag.starts_with(&format!("{want}/"))
}

/// Today's date in UTC before and after `f` runs (both, if it ran across midnight).
pub fn around_today<T>(f: impl FnOnce() -> T) -> (T, Vec<Date>) {
    let today = || {
        jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
    };
    let before = today();
    let out = f();
    let mut days = vec![before, today()];
    days.dedup();
    (out, days)
}

/// `task done` on the task in `path` whose text contains `needle` (named by its 7-character
/// short id), which must leave the file as `expected(today)`; what it printed.
pub fn done_checked(
    v: &Vault,
    path: &str,
    needle: &str,
    expected: impl Fn(Date) -> String,
) -> Value {
    let id = v.id(path, needle);
    let (run, days) = around_today(|| v.syncd(&["task", "done", &id[..7], "--json"]));
    let out = run.ok().json();
    let now = v.text(path);
    let today = days
        .iter()
        .copied()
        .find(|d| now == expected(*d))
        .unwrap_or_else(|| {
            panic!(
                "{path} after done:\n{now}\nexpected:\n{}",
                expected(days[0])
            )
        });
    assert_eq!(out["previous_id"], id.as_str());
    assert_has(
        &out["task"],
        json!({"status": "x", "state": "done", "done": today.to_string(), "path": path}),
    );
    assert_ne!(
        out["task"]["id"],
        id.as_str(),
        "a changed line has a new id"
    );
    assert_eq!(out["agent_running"], false);
    out
}

/// Runs `args`, which must exit 1 with `message` on stderr and change no file anywhere in the
/// world (vault, hub, other folders) apart from the vault's `.vault/` (the task index, a cache).
pub fn refused(v: &Vault, args: &[&str], message: &str) {
    let state = || snapshot(v.w.path());
    let before = state();
    let run = v.syncd(args).expect_code(1);
    assert!(
        run.stderr.contains(message),
        "`{}`: {}",
        run.what,
        run.stderr
    );
    assert!(run.stdout.is_empty(), "`{}`: {}", run.what, run.stdout);
    assert_eq!(state(), before, "`{}` changed files", run.what);
}

/// Every entry under `dir` (links not followed) with what it holds: a file's bytes, mode and
/// modification time, a link's target; `.vault/` folders left out.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() && path.file_name().is_some_and(|n| n != ".vault") {
            out.extend(snapshot(&path));
        } else if meta.is_symlink() {
            out.insert(
                path.clone(),
                format!("-> {:?}", fs::read_link(&path).unwrap()),
            );
        } else if meta.is_file() {
            let when = meta.modified().unwrap();
            let what = format!("{:?} {:o} {when:?}", fs::read(&path).unwrap(), meta.mode());
            out.insert(path, what);
        }
    }
    out
}
