//! Large files (issue 18): one pseudo-random file of each size (1 GiB and 4 GiB; `--quick`:
//! 48 MiB) in a vault of its own, synced through a folder hub and through a release
//! `vault-server` on loopback, next to `rsync -a` of the same folder in the same run.
//!
//! Figures per size: upload and download times (syncd `init` + `sync` against `rsync -a`), the
//! peak memory of every syncd process and of the server (its `VmHWM`, read before it stops), and
//! one byte changed in the middle of the file: the bytes the round sent and the hub's growth.
//! Targets: peaks < 100 MiB, upload and download ≤ 1.5× rsync, the one-byte edit < 1 MiB sent
//! and stored.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use vault::sync::{Outcome, SyncReport};

use crate::agent::{self, Process};
use crate::lab::{Lab, dir_bytes};
use crate::measure::mib;
use crate::measure::{Proc, Times};
use crate::report::{RSS_TARGET_MIB, bytes, markdown_table};
use crate::scenarios::ratio;

/// The file's name inside each vault.
const FILE: &str = "video.bin";
/// The largest ratio to `rsync -a` the project accepts for upload and download.
pub const RSYNC_TARGET: f64 = 1.5;
/// What one changed byte may cost, sent and stored.
pub const EDIT_TARGET_BYTES: u64 = 1 << 20;

/// Timed runs of one figure.
#[derive(Debug, Default)]
struct Side {
    times: Times,
    peak_kib: u64,
}

impl Side {
    fn add(&mut self, procs: &[&Proc]) {
        self.times.0.push(procs.iter().map(|p| p.wall).sum());
        for p in procs {
            self.peak_kib = self.peak_kib.max(p.max_rss_kib);
        }
    }
}

/// Every figure of one file size.
#[derive(Debug, Default)]
pub struct SizeFigures {
    pub size: u64,
    upload: Side,
    download: Side,
    rsync: Side,
    server_upload: Side,
    server_download: Side,
    server_peak_kib: u64,
    edit: Side,
    edit_sent: u64,
    edit_stored: u64,
    server_edit_sent: u64,
}

#[derive(Debug, Default)]
pub struct LargeFigures {
    pub sizes: Vec<SizeFigures>,
}

/// `size` bytes of xorshift noise: no two chunks alike, nothing a compressor or a dedup could
/// shorten, written in 8 MiB pieces.
fn write_noise(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut out = BufWriter::with_capacity(8 << 20, File::create(path)?);
    let mut x = seed | 1;
    let mut block = vec![0u8; 8 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .context("writing the large file")?;
    Ok(())
}

/// A new folder holding a hard link to `source` (untimed; the link costs nothing, and a vault
/// never writes a file it uploads).
fn vault_with(lab: &Lab, source: &Path, name: &str) -> Result<PathBuf> {
    let dir = lab.fresh(name);
    fs::create_dir(&dir)?;
    fs::hard_link(source, dir.join(FILE)).context("linking the large file into a vault")?;
    Ok(dir)
}

fn expect(report: &SyncReport, want: Outcome, what: &str) -> Result<()> {
    ensure!(
        report.outcome == want,
        "{what}: the round's outcome was {:?}, expected {want:?}",
        report.outcome
    );
    Ok(())
}

/// The bytes of `a` and `b` are equal (compared in 8 MiB pieces).
fn same_bytes(a: &Path, b: &Path) -> Result<()> {
    let (fa, fb) = (File::open(a)?, File::open(b)?);
    let len = fa.metadata()?.len();
    ensure!(
        len == fb.metadata()?.len(),
        "`{}` and `{}` differ in size",
        a.display(),
        b.display()
    );
    let (mut ba, mut bb) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    let mut at = 0;
    while at < len {
        let n = (len - at).min(ba.len() as u64) as usize;
        fa.read_exact_at(&mut ba[..n], at)?;
        fb.read_exact_at(&mut bb[..n], at)?;
        ensure!(
            ba[..n] == bb[..n],
            "`{}` differs from `{}` near byte {at}",
            b.display(),
            a.display()
        );
        at += n as u64;
    }
    Ok(())
}

/// Flip the byte in the middle of the file at `path` (in place: same size).
fn flip_middle(path: &Path) -> Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let at = file.metadata()?.len() / 2;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at)?;
    byte[0] ^= 0xff;
    file.write_all_at(&byte, at)?;
    file.sync_all()?;
    Ok(())
}

pub fn measure(lab: &Lab, sizes_mib: &[u64], runs: usize) -> Result<LargeFigures> {
    let mut figures = LargeFigures::default();
    for &mib in sizes_mib {
        let size = mib << 20;
        eprintln!("  {} file", bytes(size));
        let source_dir = lab.fresh("large-source");
        fs::create_dir(&source_dir)?;
        let source = source_dir.join(FILE);
        write_noise(&source, size, mib)?;
        let runs = if size > (1 << 30) { 1 } else { runs };
        let mut f = SizeFigures {
            size,
            ..SizeFigures::default()
        };
        folder_hub(lab, &source, runs, &mut f)?;
        server(lab, &source, &mut f)?;
        lab.remove(&[&source_dir])?;
        lab.purge()?;
        figures.sizes.push(f);
    }
    Ok(figures)
}

/// Upload, download and the one-byte edit through a folder hub, and rsync of the same folder.
fn folder_hub(lab: &Lab, source: &Path, runs: usize, f: &mut SizeFigures) -> Result<()> {
    for run in 0..runs {
        eprintln!("    folder hub, run {}/{runs}", run + 1);
        let vault = vault_with(lab, source, "large-up")?;
        let hub = lab.fresh("large-hub");
        lab.settle();
        let init = lab
            .runner
            .run_ok(lab.syncd_init(&vault, &hub, "large-up"))?;
        let (sync, report) = lab.sync(lab.syncd_sync(&vault))?;
        expect(&report, Outcome::Pushed, "large upload")?;
        f.upload.add(&[&init, &sync]);

        let device = lab.fresh("large-down");
        lab.settle();
        let init = lab
            .runner
            .run_ok(lab.syncd_init(&device, &hub, "large-down"))?;
        let (sync, report) = lab.sync(lab.syncd_sync(&device))?;
        expect(&report, Outcome::Pulled, "large download")?;
        f.download.add(&[&init, &sync]);
        same_bytes(source, &device.join(FILE))?;

        let copy = lab.fresh("large-rsync");
        lab.settle();
        let folder = source.parent().context("the large file's folder")?;
        f.rsync
            .add(&[&lab.runner.run_ok(lab.rsync(folder, &copy, false))?]);
        lab.remove(&[&copy])?;

        // The edit: on the downloaded device (its own copy of the file, not the source's link).
        flip_middle(&device.join(FILE))?;
        let before = dir_bytes(&hub)?;
        lab.settle();
        let (sync, report) = lab.sync(lab.syncd_sync(&device))?;
        expect(&report, Outcome::Pushed, "one byte changed")?;
        f.edit.add(&[&sync]);
        f.edit_sent = f.edit_sent.max(report.stats.bytes_sent);
        f.edit_stored = f.edit_stored.max(dir_bytes(&hub)?.saturating_sub(before));
        lab.remove(&[&vault, &device, &hub])?;
    }
    Ok(())
}

/// Upload and download through a release vault-server, whose peak memory is read before it
/// stops; then the one-byte edit's bytes sent.
fn server(lab: &Lab, source: &Path, f: &mut SizeFigures) -> Result<()> {
    eprintln!("    vault-server");
    let (server, url, data): (Process, String, PathBuf) =
        agent::start_server(lab, "large-server", "large-server.log")?;
    let vault = vault_with(lab, source, "large-srv-up")?;
    agent::join(lab, &vault, "large-srv-up", &url)?;
    lab.settle();
    let (sync, report) = lab.sync(lab.syncd_sync(&vault))?;
    expect(&report, Outcome::Pushed, "large upload to the server")?;
    f.server_upload.add(&[&sync]);

    let device = lab.fresh("large-srv-down");
    agent::join(lab, &device, "large-srv-down", &url)?;
    lab.settle();
    let (sync, report) = lab.sync(lab.syncd_sync(&device))?;
    expect(&report, Outcome::Pulled, "large download from the server")?;
    f.server_download.add(&[&sync]);
    same_bytes(source, &device.join(FILE))?;

    flip_middle(&device.join(FILE))?;
    let (_, report) = lab.sync(lab.syncd_sync(&device))?;
    expect(&report, Outcome::Pushed, "one byte changed, to the server")?;
    f.server_edit_sent = report.stats.bytes_sent;

    f.server_peak_kib = agent::status_kib(server.child.id(), "VmHWM:")?;
    server.stop()?;
    lab.remove(&[&vault, &device, &data])?;
    Ok(())
}

fn secs(t: &Times) -> String {
    format!("{:.2} s", t.median().as_secs_f64())
}

impl LargeFigures {
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for f in &self.sizes {
            let size = bytes(f.size);
            for (what, kib) in [
                ("syncd upload", f.upload.peak_kib),
                ("syncd download", f.download.peak_kib),
                ("syncd upload to the server", f.server_upload.peak_kib),
                ("syncd download from the server", f.server_download.peak_kib),
                ("vault-server", f.server_peak_kib),
            ] {
                if mib(kib) >= RSS_TARGET_MIB {
                    w.push(format!(
                        "{size} file: {what} peaked at {:.1} MiB (target < {RSS_TARGET_MIB} MiB)",
                        mib(kib)
                    ));
                }
            }
            for (what, side) in [("upload", &f.upload), ("download", &f.download)] {
                let r = ratio(side.times.median(), f.rsync.times.median());
                if r > RSYNC_TARGET {
                    w.push(format!(
                        "{size} file: {what} took {r:.2}× rsync -a (target ≤ {RSYNC_TARGET}×)"
                    ));
                }
            }
            for (what, n) in [
                ("sent", f.edit_sent),
                ("stored", f.edit_stored),
                ("sent to the server", f.server_edit_sent),
            ] {
                if n >= EDIT_TARGET_BYTES {
                    w.push(format!(
                        "{size} file: one changed byte {what} {} (target < 1 MiB)",
                        bytes(n)
                    ));
                }
            }
        }
        w
    }

    pub fn table(&self) -> String {
        let mut rows = vec![[
            "large file".to_string(),
            "syncd".to_string(),
            "rsync -a".to_string(),
            "ratio".to_string(),
            "syncd peak".to_string(),
            "server peak".to_string(),
        ]];
        for f in &self.sizes {
            let size = bytes(f.size);
            let rs = &f.rsync.times;
            for (what, side) in [("upload", &f.upload), ("download", &f.download)] {
                rows.push([
                    format!("{size}: {what} (folder hub)"),
                    secs(&side.times),
                    secs(rs),
                    format!("{:.2}×", ratio(side.times.median(), rs.median())),
                    format!("{:.1} MiB", mib(side.peak_kib)),
                    String::new(),
                ]);
            }
            for (what, side) in [
                ("upload", &f.server_upload),
                ("download", &f.server_download),
            ] {
                rows.push([
                    format!("{size}: {what} (vault-server)"),
                    secs(&side.times),
                    secs(rs),
                    format!("{:.2}×", ratio(side.times.median(), rs.median())),
                    format!("{:.1} MiB", mib(side.peak_kib)),
                    format!("{:.1} MiB", mib(f.server_peak_kib)),
                ]);
            }
            rows.push([
                format!(
                    "{size}: 1 byte changed: sent {}, stored {} (server: sent {})",
                    bytes(f.edit_sent),
                    bytes(f.edit_stored),
                    bytes(f.server_edit_sent)
                ),
                secs(&f.edit.times),
                String::new(),
                String::new(),
                format!("{:.1} MiB", mib(f.edit.peak_kib)),
                String::new(),
            ]);
        }
        markdown_table(&rows)
    }

    pub fn json(&self, warnings: &[String]) -> Value {
        let ms = |t: &Times| t.median().as_secs_f64() * 1000.0;
        json!({
            "scenario": "large",
            "sizes": self.sizes.iter().map(|f| json!({
                "bytes": f.size,
                "upload_ms": ms(&f.upload.times),
                "download_ms": ms(&f.download.times),
                "rsync_ms": ms(&f.rsync.times),
                "server_upload_ms": ms(&f.server_upload.times),
                "server_download_ms": ms(&f.server_download.times),
                "upload_peak_kib": f.upload.peak_kib,
                "download_peak_kib": f.download.peak_kib,
                "server_upload_peak_kib": f.server_upload.peak_kib,
                "server_download_peak_kib": f.server_download.peak_kib,
                "server_peak_kib": f.server_peak_kib,
                "edit_ms": ms(&f.edit.times),
                "edit_bytes_sent": f.edit_sent,
                "edit_bytes_stored": f.edit_stored,
                "server_edit_bytes_sent": f.server_edit_sent,
            })).collect::<Vec<_>>(),
            "warnings": warnings,
        })
    }
}

impl crate::report::Figures for LargeFigures {
    fn warnings(&self) -> Vec<String> {
        LargeFigures::warnings(self)
    }

    fn json(&self, warnings: &[String]) -> Value {
        LargeFigures::json(self, warnings)
    }

    fn table(&self) -> String {
        LargeFigures::table(self)
    }
}
