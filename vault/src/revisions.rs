//! Naming of `.revisions/` (interim version; the full module with parsing, listing and pruning
//! is in progress).
use crate::paths::{REVISIONS_DIR, VaultPath};

/// A free path under `.revisions/` for a version of `original` that lost a conflict. A version
/// that is already a revision gets a sibling name, never a nested `.revisions/.revisions/`.
pub fn revision_path(
    original: &VaultPath,
    time_ns: i64,
    device_name: &str,
    taken: &dyn Fn(&VaultPath) -> bool,
) -> VaultPath {
    let device: String = device_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(32)
        .collect();
    let device = if device.is_empty() {
        "device".to_string()
    } else {
        device
    };
    let base = if original.is_revision() {
        original.as_str().to_string()
    } else {
        format!("{REVISIONS_DIR}/{}.{time_ns}.{device}", original.as_str())
    };
    (1..)
        .map(|n| {
            let text = if n == 1 {
                base.clone()
            } else {
                format!("{base}~{n}")
            };
            VaultPath::new(&text).expect("built from a valid path and safe characters")
        })
        .find(|p| !taken(p))
        .expect("an unbounded search finds a free name")
}
