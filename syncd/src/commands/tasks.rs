//! `syncd tasks` and `syncd task add|done|undo`: the tasks in the vault's notes.

use anyhow::{Context, Result, bail};
use vault::VaultPath;
use vault::local::LocalVault;
use vault::markdown::{Planning, Task, new_task_line};
use vault::tasks::{self, ListStats, ListedTask, PathFilter, StateFilter, TaskChange, TaskQuery};

use super::{config_path, open_vault, vault_path, watch};
use crate::cli::{TaskAction, TaskAddArgs, TaskArgs, TaskIdArgs, TasksArgs, VaultOpt};
use crate::exit;
use crate::output::{self, line};

/// Notes' own problems shown on a terminal at most; `--json` has them all.
const WARNINGS_SHOWN: usize = 10;

/// One task, as `--json` shows it (documented in docs/tasks.md).
#[derive(serde::Serialize)]
struct TaskJson<'a> {
    /// All 16 characters.
    id: &'a str,
    short_id: &'a str,
    path: &'a VaultPath,
    line: usize,
    column: usize,
    depth: usize,
    status: String,
    state: &'static str,
    description: &'a str,
    text: &'a str,
    #[serde(flatten)]
    planning: &'a Planning,
    tags: &'a [String],
}

impl<'a> TaskJson<'a> {
    fn new(path: &'a VaultPath, task: &'a Task) -> TaskJson<'a> {
        TaskJson {
            id: task.id.as_str(),
            short_id: task.id.short(),
            path,
            line: task.line,
            column: task.column,
            depth: task.depth,
            status: task.status.to_string(),
            state: state_name(task),
            description: &task.description,
            text: &task.raw,
            planning: &task.planning,
            tags: &task.tags,
        }
    }
}

fn state_name(task: &Task) -> &'static str {
    match task.status {
        ' ' => "todo",
        '/' => "in_progress",
        'x' | 'X' => "done",
        '-' => "cancelled",
        _ => "other",
    }
}

#[derive(serde::Serialize)]
struct NoteWarningJson<'a> {
    path: &'a VaultPath,
    line: usize,
    message: &'a str,
}

/// A listed task as `--json` shows it, owning what it shows (listings are streamed).
struct ListedJson(ListedTask);

impl serde::Serialize for ListedJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TaskJson::new(&self.0.path, &self.0.task).serialize(serializer)
    }
}

#[derive(serde::Serialize)]
#[serde(bound(serialize = "I: Iterator<Item = ListedJson>"))]
struct ListingJson<'a, I: Iterator<Item = ListedJson>> {
    tasks: output::JsonSeq<I>,
    /// What notes hold that was not understood.
    note_warnings: Vec<NoteWarningJson<'a>>,
    /// Problems of the listing itself (unreadable files, a rebuilt index).
    warnings: &'a [String],
    stats: ListStats,
}

pub fn list(args: TasksArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let query = TaskQuery {
        state: if args.all {
            StateFilter::All
        } else if args.done {
            StateFilter::Done
        } else {
            StateFilter::Open
        },
        due_before: args.due_before,
        tag: args.tag.clone(),
        path: args
            .path
            .as_deref()
            .map(|glob| {
                PathFilter::new(glob).with_context(|| {
                    format!(
                        "`{glob}` is not a glob; write e.g. `Projects`, `daily/2026-*` or `**/*.md`"
                    )
                })
            })
            .transpose()?,
    };
    let listing = tasks::list(&vault)
        .with_context(|| format!("cannot list the tasks of `{}`", vault.root().display()))?;
    let selected = listing.select(&query);
    let note_warnings = listing.note_warnings();
    if args.json {
        output::json(&ListingJson {
            tasks: output::JsonSeq::new(selected.iter().map(ListedJson)),
            note_warnings: note_warnings
                .iter()
                .map(|(path, w)| NoteWarningJson {
                    path,
                    line: w.line,
                    message: &w.message,
                })
                .collect(),
            warnings: &listing.warnings,
            stats: listing.stats,
        })?;
        return Ok(exit::OK);
    }
    for w in &listing.warnings {
        eprintln!("warning: {w}");
    }
    for (path, w) in note_warnings.iter().take(WARNINGS_SHOWN) {
        eprintln!("warning: {path}:{}: {}", w.line, w.message);
    }
    if note_warnings.len() > WARNINGS_SHOWN {
        eprintln!(
            "warning: … and {} more in the notes (`syncd tasks --json` lists them all)",
            note_warnings.len() - WARNINGS_SHOWN
        );
    }
    output::stream(|out| {
        if selected.is_empty() {
            writeln!(
                out,
                "no {} match",
                match query.state {
                    StateFilter::Open => "open tasks",
                    StateFilter::Done => "done tasks",
                    StateFilter::All => "tasks",
                }
            )?;
        }
        for t in selected.iter() {
            writeln!(out, "{}", task_line(&t))?;
        }
        Ok(())
    })?;
    Ok(exit::OK)
}

/// `abcdefg  [ ] Call the plumber #home  ⏫ 📅 2026-12-01  Home.md:12`
fn task_line(t: &ListedTask) -> String {
    let task = &t.task;
    let p = &task.planning;
    let mut fields = Vec::new();
    if let Some(priority) = p.priority {
        fields.push(priority.emoji().to_owned());
    }
    if let Some(rule) = &p.recurrence {
        fields.push(format!("🔁 {rule}"));
    }
    for (emoji, day) in [
        ("🛫", p.start),
        ("⏳", p.scheduled),
        ("📅", p.due),
        ("✅", p.done),
        ("❌", p.cancelled),
    ] {
        if let Some(day) = day {
            fields.push(format!("{emoji} {day}"));
        }
    }
    let fields = if fields.is_empty() {
        String::new()
    } else {
        format!("  {}", fields.join(" "))
    };
    format!(
        "{}  [{}] {}{fields}  {}:{}",
        task.id.short(),
        task.status,
        task.description,
        t.path,
        task.line
    )
}

pub fn change(args: TaskArgs) -> Result<u8> {
    let vault = args.vault.opt();
    match args.action {
        TaskAction::Add(args) => add(args, &vault),
        TaskAction::Done(args) => mark(args, &vault, true),
        TaskAction::Undo(args) => mark(args, &vault, false),
    }
}

#[derive(serde::Serialize)]
struct ChangeJson<'a> {
    task: TaskJson<'a>,
    /// The id the task had before (done and undo).
    previous_id: Option<&'a str>,
    /// The next occurrence of a recurring task marked done.
    next: Option<TaskJson<'a>>,
    /// The note was created.
    created: bool,
    /// A running agent will sync the change by itself.
    agent_running: bool,
}

fn add(args: TaskAddArgs, vault: &VaultOpt) -> Result<u8> {
    let vault = open_vault(vault)?;
    let note = match &args.note {
        Some(arg) => note_path(&vault, arg)?,
        None => {
            let inbox = &vault.config().tasks.inbox;
            VaultPath::new(inbox).with_context(|| {
                format!(
                    "the inbox `{inbox}` set under [tasks] in `{}` is not a path in the vault; set it to a note such as `Inbox.md`",
                    config_path(&vault).display()
                )
            })?
        }
    };
    let line = new_task_line(&args.text.join(" "), args.due, args.priority);
    let change = tasks::add(&vault, &note, &line)
        .with_context(|| format!("no task was added to `{note}`"))?;
    report(&vault, "added", &change, args.json)
}

/// `--note`: an existing file as [`vault_path`] finds it; a new note relative to the current
/// folder when that is inside the vault (as a shell user means `new.md` in `projects/`), else
/// relative to the vault folder.
fn note_path(vault: &LocalVault, arg: &std::path::Path) -> Result<VaultPath> {
    let exists = |p: &std::path::Path| std::fs::symlink_metadata(p).is_ok();
    if arg.is_relative() && !exists(arg) && !exists(&vault.root().join(arg)) {
        let cwd = super::current_dir()?;
        if let Ok(rel) = cwd.canonicalize().unwrap_or(cwd).strip_prefix(vault.root())
            && !rel.as_os_str().is_empty()
        {
            // `../Inbox.md` from a subfolder is still inside; leaving the vault is not.
            let mut joined = std::path::PathBuf::new();
            for part in rel.join(arg).components() {
                match part {
                    std::path::Component::ParentDir => {
                        if !joined.pop() {
                            return vault_path(vault, arg);
                        }
                    }
                    std::path::Component::CurDir => {}
                    other => joined.push(other),
                }
            }
            return vault_path(vault, &joined);
        }
    }
    vault_path(vault, arg)
}

fn mark(args: TaskIdArgs, vault: &VaultOpt, done: bool) -> Result<u8> {
    let vault = open_vault(vault)?;
    let change = if done {
        tasks::complete(&vault, &args.id, jiff::ZonedDateTime::now().date())
    } else {
        tasks::reopen(&vault, &args.id)
    };
    let what = if done { "done" } else { "undone" };
    let change = match change {
        Ok(change) => change,
        Err(e) => bail!(
            anyhow::Error::new(e)
                .context(format!("task `{}` was not marked {what}", args.id.trim()))
        ),
    };
    report(&vault, what, &change, args.json)
}

/// What changed, and whether something will sync it.
fn report(vault: &LocalVault, what: &str, change: &TaskChange, json: bool) -> Result<u8> {
    let agent = watch::agent_status(vault).ok().flatten();
    if json {
        output::json(&ChangeJson {
            task: TaskJson::new(&change.path, &change.task),
            previous_id: change.before.as_ref().map(|t| t.id.as_str()),
            next: change.next.as_ref().map(|t| TaskJson::new(&change.path, t)),
            created: change.created,
            agent_running: agent.is_some(),
        })?;
        return Ok(exit::OK);
    }
    let mut out = String::new();
    let listed = |task: &Task| {
        task_line(&ListedTask {
            path: change.path.clone(),
            task: task.clone(),
        })
    };
    line!(out, "{what}: {}", listed(&change.task));
    if let Some(next) = &change.next {
        line!(out, "next: {}", listed(next));
    }
    if change.created {
        line!(out, "created the note `{}`", change.path);
    }
    match agent {
        Some(status) if status.paused => {
            line!(out, "the agent is paused; `syncd resume` syncs this change")
        }
        Some(_) => {}
        None => line!(
            out,
            "run `syncd sync` to publish it (a running `syncd watch` does so by itself)"
        ),
    }
    output::emit(&out)?;
    Ok(exit::OK)
}
