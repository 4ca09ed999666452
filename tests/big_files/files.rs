//! Large files written, edited and compared a piece at a time, and a child's peak memory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command};

const PIECE: usize = 1 << 20;

/// Pseudo-random bytes (xorshift), different for every `seed` and `offset`.
fn fill(buf: &mut [u8], seed: u64, offset: u64) {
    let mut x = (seed ^ offset.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for piece in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        piece.copy_from_slice(&x.to_le_bytes()[..piece.len()]);
    }
}

/// Write `len` pseudo-random bytes to `path`, a piece at a time.
pub fn write_noise(path: &Path, len: u64, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = File::create(path).unwrap();
    let mut buf = vec![0; PIECE];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(PIECE as u64) as usize;
        fill(&mut buf[..n], seed, at);
        f.write_all(&buf[..n]).unwrap();
        at += n as u64;
    }
}

/// A file of `len` bytes that is mostly a hole (reads as zeros, takes no disk): 1 MiB of
/// noise every `every` bytes.
pub fn write_sparse(path: &Path, len: u64, every: u64, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    let mut buf = vec![0; PIECE];
    let mut at = 0;
    while at + PIECE as u64 <= len {
        fill(&mut buf, seed, at);
        f.write_all_at(&buf, at).unwrap();
        at += every;
    }
}

/// Overwrite one byte at `at`.
pub fn flip_byte(path: &Path, at: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], at).unwrap();
}

/// Insert `prefix` at the start (the rest moves: every later chunk boundary shifts).
pub fn prepend(path: &Path, prefix: &[u8]) {
    let tmp = path.with_extension("prepending");
    {
        let mut out = File::create(&tmp).unwrap();
        out.write_all(prefix).unwrap();
        io::copy(&mut File::open(path).unwrap(), &mut out).unwrap();
    }
    std::fs::rename(&tmp, path).unwrap();
}

/// Append `len` pseudo-random bytes.
pub fn append_noise(path: &Path, len: u64, seed: u64) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    let mut buf = vec![0; len as usize];
    fill(&mut buf, seed, 0);
    f.write_all(&buf).unwrap();
}

pub fn truncate(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Panic unless the two files hold the same bytes (compared a piece at a time).
pub fn assert_same(a: &Path, b: &Path) {
    let (mut fa, mut fb) = (File::open(a).unwrap(), File::open(b).unwrap());
    let (la, lb) = (fa.metadata().unwrap().len(), fb.metadata().unwrap().len());
    assert_eq!(
        la,
        lb,
        "`{}` and `{}` differ in size",
        a.display(),
        b.display()
    );
    let (mut ba, mut bb) = (vec![0; PIECE], vec![0; PIECE]);
    let mut at = 0u64;
    loop {
        let n = read_full(&mut fa, &mut ba);
        let m = read_full(&mut fb, &mut bb);
        assert_eq!(n, m);
        if n == 0 {
            break;
        }
        if ba[..n] != bb[..n] {
            let i = ba[..n]
                .iter()
                .zip(&bb[..n])
                .position(|(x, y)| x != y)
                .unwrap();
            panic!(
                "`{}` and `{}` differ at byte {}",
                a.display(),
                b.display(),
                at + i as u64
            );
        }
        at += n as u64;
    }
    fa.seek(SeekFrom::Start(0)).unwrap();
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

/// What a child did: its exit code, output, and peak resident memory.
pub struct Measured {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub peak_mib: f64,
}

/// Run `cmd` to its end, reaped with `wait4` for its peak memory (`ru_maxrss`).
pub fn run_measured(mut cmd: Command) -> Measured {
    let child: Child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    // The pipes are read on threads so a chatty child never blocks on a full pipe.
    let mut child = child;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid for writes; `pid` is our own unreaped child.
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            break;
        }
        let e = io::Error::last_os_error();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted, "wait4: {e}");
    }
    // Reaped by wait4: the Child must not wait again.
    std::mem::forget(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Measured {
        code,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// A large file's upload and download each peaked under `mib` of resident memory (printed
/// beside the file's size, for the log).
pub fn assert_peaks_under(up: &Measured, down: &Measured, mib: f64, file_mib: u64) {
    eprintln!(
        "peak memory: syncd upload {:.1} MiB, download {:.1} MiB (file {file_mib} MiB)",
        up.peak_mib, down.peak_mib
    );
    assert!(up.peak_mib < mib, "upload peaked at {:.1} MiB", up.peak_mib);
    assert!(
        down.peak_mib < mib,
        "download peaked at {:.1} MiB",
        down.peak_mib
    );
}

/// `a` uploads the large file at `rel`, then `b` downloads it, each `syncd sync` measured; the
/// two copies must then be the same.
pub fn sync_measured(
    a: &crate::common::Device,
    b: &crate::common::Device,
    rel: &str,
) -> (Measured, Measured) {
    let up = run_measured(a.command("sync", &["--json"]));
    assert_eq!(up.code, Some(0), "{}\n{}", up.stdout, up.stderr);
    let down = run_measured(b.command("sync", &["--json"]));
    assert_eq!(down.code, Some(0), "{}\n{}", down.stdout, down.stderr);
    assert_same(&a.path(rel), &b.path(rel));
    (up, down)
}
