//! The files git's "dumb" HTTP transport reads before it fetches objects by their paths:
//! `info/refs` (each ref and its commit) and `objects/info/packs` (the packs), as `git
//! update-server-info` writes them. Plain text, written atomically after every export, so a
//! read-only file server can serve the repository to `git clone`.

use std::path::Path;

use crate::ExportError;
use crate::map::write_atomic;

/// Write `info/refs` for `refs` (name, commit) and `objects/info/packs` for the packs under
/// `git_dir`, but for those named in `leaving` (about to be removed).
pub fn update_server_info(
    git_dir: &Path,
    refs: &[(&str, gix::ObjectId)],
    leaving: &[String],
) -> Result<(), ExportError> {
    let mut sorted: Vec<&(&str, gix::ObjectId)> = refs.iter().collect();
    sorted.sort_by_key(|(name, _)| *name);
    let mut info_refs = String::new();
    for (name, id) in sorted {
        info_refs.push_str(&format!("{id}\t{name}\n"));
    }
    let mut packs: Vec<String> = match std::fs::read_dir(git_dir.join("objects/pack")) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".pack") && !leaving.contains(n))
            .collect(),
        Err(_) => Vec::new(),
    };
    packs.sort();
    let mut info_packs: String = packs.iter().map(|p| format!("P {p}\n")).collect();
    info_packs.push('\n');
    write_atomic(&git_dir.join("info/refs"), info_refs.as_bytes())?;
    write_atomic(&git_dir.join("objects/info/packs"), info_packs.as_bytes())
}
