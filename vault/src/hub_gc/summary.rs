//! What `syncd hub gc` and `vault-server gc` print for people (the same words for both).

use std::fmt::Write as _;

use super::Report;

/// `1.2 MB` (decimal units, as disks are sold).
pub fn bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    match UNITS.into_iter().find(|&(_, size)| n as f64 >= size) {
        Some((unit, size)) => format!("{:.1} {unit}", n as f64 / size),
        None => format!("{n} B"),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The lines describing `r` for the hub `hub`.
pub fn summary(hub: &str, r: &Report) -> String {
    let would = if r.dry_run { "would be " } else { "" };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} `{hub}`",
        if r.dry_run {
            "Dry run (nothing changed) for the hub"
        } else {
            "Cleaned the hub"
        }
    );
    let _ = writeln!(
        out,
        "  packs:    {} -> {} ({} -> {})",
        r.packs_before,
        r.packs_after,
        bytes(r.bytes_before),
        bytes(r.bytes_after)
    );
    let _ = writeln!(
        out,
        "  dropped:  {} no kept snapshot reaches ({}) {would}left out of the rewritten packs",
        plural(r.objects_dropped, "object", "objects"),
        bytes(r.bytes_dropped)
    );
    if r.packs_retired > 0 {
        let _ = writeln!(
            out,
            "  retired:  {} ({}) {would}moved to packs/retired/, deleted by a run after {} s",
            plural(r.packs_retired, "pack", "packs"),
            bytes(r.bytes_retired),
            r.grace_secs
        );
    }
    let _ = writeln!(
        out,
        "  deleted:  {} past the grace period and {}: {} {}",
        plural(r.retired_deleted, "retired pack", "retired packs"),
        plural(r.temps_removed, "temp file", "temp files"),
        bytes(r.bytes_freed),
        if r.dry_run { "would be freed" } else { "freed" }
    );
    if r.packs_kept_back > 0 {
        let _ = writeln!(
            out,
            "  kept:     {} still in place: head moved during the run; the next run handles them",
            plural(r.packs_kept_back, "pack", "packs")
        );
    }
    if r.missing > 0 {
        let _ = writeln!(
            out,
            "  warning:  the history names {} the hub does not hold; `syncd sync --full-verify` on a device that has them uploads them",
            plural(r.missing, "object", "objects")
        );
    }
    out
}
