//! Bit rot on the hub's disk ([`crate::ops::Step::BitRot`]): which bytes may rot, and the flip.
//! Apart from `world.rs` so the world's own steps stay readable.

use std::path::PathBuf;

use crate::world::World;

impl World {
    /// The packs of the hub's storage, sorted (paths relative to the hub machine's root),
    /// each with the byte range its objects' bodies take (after the magic, before the header
    /// and trailer: `vault::store`'s layout).
    pub fn hub_packs(&self) -> Vec<(PathBuf, std::ops::Range<u64>)> {
        use vault::store::{ENTRY_LEN, PACK_MAGIC, TRAILER_LEN};
        let folder = self
            .hub_dir
            .strip_prefix(&self.hub.root)
            .unwrap_or(&self.hub_dir)
            .to_path_buf();
        let files = self.hub.fs.files_under(&folder).unwrap_or_default();
        files
            .into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "pack"))
            .filter_map(|(p, bytes)| {
                let size = bytes.len();
                let trailer = bytes.get(size.checked_sub(TRAILER_LEN)?..)?;
                let count = u32::from_le_bytes(trailer[..4].try_into().ok()?) as usize;
                let end = size.checked_sub(TRAILER_LEN + count * ENTRY_LEN)?;
                (end > PACK_MAGIC.len())
                    .then(|| (folder.join(p), PACK_MAGIC.len() as u64..end as u64))
            })
            .collect()
    }

    /// Flip a bit of an object's body in hub pack number `file` (see
    /// [`crate::ops::Step::BitRot`]); the
    /// pack's path and the byte changed, or `None` when the hub has no pack yet. Only
    /// objects' bytes rot here: a pack's header or trailer, `refs/head` and `vault-hub.json`
    /// damaged need the operator (docs/reliability.md, "Simulation": still outside the model).
    pub fn rot(&mut self, file: u64, bit: u64) -> Option<(PathBuf, u64)> {
        let packs = self.hub_packs();
        if packs.is_empty() {
            return None;
        }
        let (path, body) = packs[(file % packs.len() as u64) as usize].clone();
        let bit = body.start * 8 + bit % ((body.end - body.start) * 8);
        let at = self.hub.fs.flip_bit(&path, bit).ok().flatten()?;
        if std::env::var_os("VAULT_SIM_TRACE").is_some() {
            eprintln!("     rot: byte {at} of {}", path.display());
        }
        Some((path, at))
    }
}
