//! The web view's figures (issue 17): a release `vault-server` holding the generated vault,
//! uploaded by a real `syncd` device, asked by a logged-in HTTP client for a note page, a folder
//! page, the open tasks and a search (warm: median of several requests); a tick (POST
//! `/v/{vault}/tasks/toggle` until its answer, the new head published); the search index's
//! update after the device publishes a 10-note snapshot (from the end of that sync until a search
//! finds a word only those notes hold); and the server's resident memory while idle after all
//! that. Targets are absolute (no self-hosted tool to run beside it on the same data).
//!
//! A route the server answers with 404 is reported as "not available", so the benchmark runs on
//! a build that lacks a part of the web view.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use vault::folder_hub::FolderHub;
use vault::hub::Hub;

use crate::agent::{self, PASSWORD, USER, memory_kib, status_kib};
use crate::lab::Lab;
use crate::measure::Times;
use crate::measure::{mib, ms, round3};
use crate::web_http::{WebHttp, first_tick_form, url_path};

/// The vault's name on the server (`agent::join` names it so).
const VAULT: &str = "bench";
/// Notes changed in the snapshot whose indexing is timed.
const CHANGED: usize = 10;
/// Longest wait for a page to be ready (the search index's first build) or for the index to
/// find the changed notes.
const READY_LIMIT: Duration = Duration::from_secs(600);

/// The targets, in ms (memory in MiB).
pub const TARGETS_MS: [(&str, f64); 6] = [
    ("note", 20.0),
    ("folder", 20.0),
    ("tasks", 100.0),
    ("search", 50.0),
    ("tick", 100.0),
    ("index_update", 200.0),
];
pub const IDLE_RSS_TARGET_MIB: f64 = 200.0;

/// One measured figure, or why there is none.
#[derive(Debug)]
pub enum Figure {
    Times(Times),
    NotAvailable(String),
}

#[derive(Debug)]
pub struct WebFigures {
    pub notes: usize,
    /// (key, what was asked, figure), in the order of [`TARGETS_MS`].
    pub figures: Vec<(&'static str, String, Figure)>,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    /// Of the idle RSS: the file-backed part (the search index's mapped files, which the
    /// kernel may drop at any time), in KiB.
    pub file_rss_kib: u64,
    pub idle_for: Duration,
}

fn target_ms(key: &str) -> f64 {
    TARGETS_MS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(f64::INFINITY, |(_, t)| *t)
}

impl WebFigures {
    /// Over a target, judged only on the 20,000-note vault (`--quick` never judges).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.notes < 20_000 {
            return out;
        }
        for (key, what, figure) in &self.figures {
            if let Figure::Times(t) = figure
                && ms(t.median()) > target_ms(key)
            {
                out.push(format!(
                    "web: {what} median {:.1} ms is over the {} ms target",
                    ms(t.median()),
                    target_ms(key)
                ));
            }
        }
        if mib(self.idle_rss_kib) > IDLE_RSS_TARGET_MIB {
            out.push(format!(
                "web: the idle server's RSS {:.1} MiB is over the {IDLE_RSS_TARGET_MIB} MiB target",
                mib(self.idle_rss_kib)
            ));
        }
        out
    }

    pub fn table(&self) -> String {
        let mut text = format!(
            "Web view: a release vault-server holding the vault ({} notes) uploaded by syncd; warm, median of the requests\n",
            self.notes
        );
        for (key, what, figure) in &self.figures {
            let value = match figure {
                Figure::Times(t) => format!(
                    "median {:.1} ms (min {:.1}, max {:.1}, {} runs)",
                    ms(t.median()),
                    ms(t.min()),
                    ms(t.max()),
                    t.0.len()
                ),
                Figure::NotAvailable(why) => format!("not available ({why})"),
            };
            text.push_str(&format!(
                "  {what}: {value} (target < {} ms)\n",
                target_ms(key)
            ));
        }
        text.push_str(&format!(
            "  server idle {:.0?} after all that: RSS {:.1} MiB, of which {:.1} MiB mapped files (peak {:.1}) (target < {IDLE_RSS_TARGET_MIB} MiB)\n",
            self.idle_for,
            mib(self.idle_rss_kib),
            mib(self.file_rss_kib),
            mib(self.peak_rss_kib)
        ));
        text
    }

    pub fn json(&self, warnings: &[String]) -> Value {
        let figures: serde_json::Map<String, Value> = self
            .figures
            .iter()
            .map(|(key, what, figure)| {
                let v = match figure {
                    Figure::Times(t) => json!({
                        "what": what,
                        "runs": t.0.len(),
                        "min_ms": round3(ms(t.min())),
                        "median_ms": round3(ms(t.median())),
                        "max_ms": round3(ms(t.max())),
                        "times_ms": t.0.iter().map(|d| round3(ms(*d))).collect::<Vec<_>>(),
                        "target_ms": target_ms(key),
                    }),
                    Figure::NotAvailable(why) => json!({
                        "what": what, "available": false, "why": why, "target_ms": target_ms(key),
                    }),
                };
                (key.to_string(), v)
            })
            .collect();
        json!({
            "scenario": "web",
            "title": "web view on the server",
            "notes": self.notes,
            "figures": figures,
            "idle_seconds": self.idle_for.as_secs_f64(),
            "idle_rss_mib": round3(mib(self.idle_rss_kib)),
            "peak_rss_mib": round3(mib(self.peak_rss_kib)),
            "file_rss_mib": round3(mib(self.file_rss_kib)),
            "idle_rss_target_mib": IDLE_RSS_TARGET_MIB,
            "warnings": warnings,
        })
    }
}

/// Run the scenario: `runs` timed requests per page (at least 5), `idle_for` of quiet before
/// the server's memory is read.
pub fn measure(lab: &Lab, runs: usize, idle_for: Duration) -> Result<WebFigures> {
    let runs = runs.max(5);
    let (server, url, data) = agent::start_server(lab, "web-server-data", "web-server.log")?;
    eprintln!("  uploading the vault to {url} through syncd");
    let device = lab.copy_source("web-device")?;
    agent::join(lab, &device, "bench-web", &url)?;
    lab.sync(lab.syncd_sync(&device))?;
    let hub = data.join("vaults").join(USER).join(VAULT);

    let web = WebHttp::new(&url)?;
    web.login(USER, PASSWORD)?;
    let notes = note_paths(&device)?;
    let note = typical_note(&device, &notes)?;
    let folder = note.rsplit_once('/').map_or("", |(f, _)| f).to_string();
    let word = word_of(&fs::read_to_string(device.join(&note))?);
    let v = format!("/v/{VAULT}/");
    let mut figures = Vec::new();

    let pages = [
        (
            "note",
            format!("note page {note}"),
            format!("{v}n/{}", url_path(&note)),
        ),
        (
            "folder",
            format!("folder page {folder}/"),
            if folder.is_empty() {
                v.clone()
            } else {
                format!("{v}f/{}/", url_path(&folder))
            },
        ),
        (
            "tasks",
            "tasks page (open)".into(),
            format!("{v}tasks?status=open"),
        ),
        (
            "search",
            format!("search for `{word}`"),
            format!("{v}search?q={}", url_path(&word)),
        ),
    ];
    for (key, what, path) in pages {
        eprintln!("  {what}");
        figures.push((key, what, time_page(&web, &path, runs)?));
    }
    eprintln!("  ticking open tasks");
    figures.push((
        "tick",
        "tick (POST tasks/toggle to the new head)".into(),
        tick(&web, &hub, runs)?,
    ));
    eprintln!("  index update after {CHANGED} changed notes");
    let rounds = if lab.summary.notes < 20_000 { 1 } else { runs };
    figures.push((
        "index_update",
        format!("index update after a {CHANGED}-note snapshot"),
        index_update(lab, &web, &device, &notes, rounds)?,
    ));

    std::thread::sleep(idle_for);
    let (idle_rss_kib, peak_rss_kib) = memory_kib(server.child.id())?;
    let file_rss_kib = status_kib(server.child.id(), "RssFile:")?;
    server.stop()?;
    lab.remove(&[&device, &data])?;
    Ok(WebFigures {
        notes: lab.summary.notes,
        figures,
        idle_rss_kib,
        peak_rss_kib,
        file_rss_kib,
        idle_for,
    })
}

/// The vault's notes, relative, `/`-separated, sorted.
fn note_paths(vault: &Path) -> Result<Vec<String>> {
    let mut notes: Vec<String> = vaultgen::note_paths(vault)?
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    notes.sort();
    Ok(notes)
}

/// A note of about the median size (1.7 KiB at 20,000 notes) below a folder.
fn typical_note(vault: &Path, notes: &[String]) -> Result<String> {
    notes
        .iter()
        .filter(|n| n.contains('/'))
        .min_by_key(|n| {
            let len = fs::metadata(vault.join(n)).map_or(0, |m| m.len()) as i64;
            ((len - 1740).abs(), (*n).clone())
        })
        .cloned()
        .context("the generated vault has no note in a folder")
}

/// A plain word of the note, for a search that finds it (and others).
fn word_of(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 6)
        .nth(3)
        .unwrap_or("project")
        .to_lowercase()
}

/// Warm figures of one page: a first request untimed (and, for the search, until its index is
/// built), then `runs` timed ones. A 404 means the route is not on this build.
fn time_page(web: &WebHttp, path: &str, runs: usize) -> Result<Figure> {
    let start = Instant::now();
    loop {
        let first = web.get(path)?;
        if first.status == 404 {
            return Ok(Figure::NotAvailable(format!("GET {path} answered 404")));
        }
        ensure!(
            first.status == 200,
            "GET {path} answered {}: {}",
            first.status,
            first.body
        );
        if !first.body.contains("being brought up to date") {
            break;
        }
        ensure!(
            start.elapsed() < READY_LIMIT,
            "GET {path} never became ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut times = Times::default();
    for _ in 0..runs {
        let a = web.get(path)?;
        ensure!(a.status == 200, "GET {path} answered {}", a.status);
        times.0.push(a.took);
    }
    Ok(Figure::Times(times))
}

fn hub_head(hub: &Path) -> Result<Option<vault::ObjectId>> {
    Ok(FolderHub::open(hub)?.head()?)
}

/// Tick `runs` open tasks, one after the other: each time the open tasks page (untimed) gives
/// the first open task's form (fields as the tasks page renders them: csrf, path, task, blob and
/// the filters, plus the button's `done=1`), and the time is taken from sending the POST to its
/// answer, after which the hub's head must have moved (the server publishes before answering).
pub fn tick(web: &WebHttp, hub: &Path, runs: usize) -> Result<Figure> {
    let page_path = format!("/v/{VAULT}/tasks?status=open");
    let mut times = Times::default();
    for _ in 0..runs {
        let page = web.get(&page_path)?;
        if page.status == 404 {
            return Ok(Figure::NotAvailable(format!(
                "GET {page_path} answered 404"
            )));
        }
        let Some((action, fields)) = first_tick_form(&page.body) else {
            return Ok(Figure::NotAvailable(
                "the open tasks page has no tick form".into(),
            ));
        };
        let before = hub_head(hub)?;
        let answer = web.post(&action, &fields)?;
        if answer.status == 404 {
            return Ok(Figure::NotAvailable(format!("POST {action} answered 404")));
        }
        ensure!(
            matches!(answer.status, 200 | 303),
            "POST {action} answered {}: {}",
            answer.status,
            answer.body
        );
        ensure!(
            hub_head(hub)? != before,
            "a tick did not publish a new head"
        );
        times.0.push(answer.took);
    }
    Ok(Figure::Times(times))
}

/// `rounds` times: append a word no note holds to 10 notes, publish them with `syncd sync`
/// (untimed), then time from the end of that sync until a search for the word lists all 10.
fn index_update(
    lab: &Lab,
    web: &WebHttp,
    device: &Path,
    notes: &[String],
    rounds: usize,
) -> Result<Figure> {
    // Notes with plain names, so that their URLs are easy to find in the results.
    let plain: Vec<&String> = notes
        .iter()
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_. ".contains(&b))
        })
        .collect();
    ensure!(
        plain.len() >= CHANGED * rounds,
        "too few notes with plain names"
    );
    let mut times = Times::default();
    for round in 0..rounds {
        let word = format!(
            "benchword{}",
            letters(round as u64 + 7 * std::process::id() as u64)
        );
        let chosen: Vec<&String> = plain
            .iter()
            .skip(round * CHANGED)
            .step_by((plain.len() / (CHANGED * rounds)).max(1))
            .take(CHANGED)
            .copied()
            .collect();
        for n in &chosen {
            let path = device.join(n);
            let mut text = fs::read_to_string(&path)?;
            text.push_str(&format!("\nAdded by the benchmark: {word}\n"));
            fs::write(&path, text)?;
        }
        lab.sync(lab.syncd_sync(device))?;
        let start = Instant::now();
        let query = format!("/v/{VAULT}/search?q={word}");
        loop {
            let a = web.get(&query)?;
            if a.status == 404 {
                return Ok(Figure::NotAvailable(format!("GET {query} answered 404")));
            }
            ensure!(a.status == 200, "GET {query} answered {}", a.status);
            let found = chosen
                .iter()
                .all(|n| a.body.contains(&format!("/n/{}\"", url_path(n))));
            if found {
                break;
            }
            if start.elapsed() > READY_LIMIT {
                bail!("a search for `{word}` never listed the {CHANGED} changed notes");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        times.0.push(start.elapsed());
    }
    Ok(Figure::Times(times))
}

/// `n` written in letters a-p (a search word without digits).
fn letters(mut n: u64) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (n % 16) as u8) as char);
        n /= 16;
        if n == 0 {
            return s;
        }
    }
}

impl crate::report::Figures for WebFigures {
    fn warnings(&self) -> Vec<String> {
        WebFigures::warnings(self)
    }

    fn json(&self, warnings: &[String]) -> Value {
        WebFigures::json(self, warnings)
    }

    fn table(&self) -> String {
        WebFigures::table(self)
    }
}
