//! Uploads in progress: the objects a device sends request after request for one large file
//! (header [`UPLOAD_HEADER`]) go into one pack per [`COMMIT_BYTES`]
//! ([`vault::folder_hub::UploadPack`]), made durable when it is full and when the device ends
//! the upload (`POST .../objects/commit`), instead of one pack and one fsync per request and a
//! compaction that copies them all again (packs of that size are never merged:
//! `vault::hub_gc::LARGE_PACK_BYTES`).
//!
//! An upload nobody added to for [`IDLE`] (a device that died midway) is dropped, its temp file
//! with it: what it had committed stays, the rest is sent again by the device's next round.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vault::folder_hub::{FolderHub, UploadPack};
use vault::hub::HubError;
use vault::id::ObjectId;
use vault::object::Object;

pub use vault::wire::UPLOAD_HEADER;

/// At most this many uploads are open per vault: one more closes the one idle longest (its
/// device's commit is then refused, and its next round sends what is missing), so no account
/// can pile up temp files and buffers on the server.
pub const MAX_OPEN: usize = 8;

/// An upload's pack is made durable every this many bytes: a device whose connection drops
/// midway sends again at most this much (a folder hub, where that is rare, commits every
/// 256 MiB).
pub const COMMIT_BYTES: u64 = vault::hub_gc::LARGE_PACK_BYTES;

/// How long an upload may wait for its next batch.
pub const IDLE: Duration = Duration::from_secs(3600);

/// An upload name: 8 to 64 of `[0-9a-z-]` (devices use 32 random hex digits).
pub fn valid_name(name: &str) -> bool {
    (8..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

struct Open {
    pack: UploadPack,
    touched: Instant,
}

/// The uploads in progress of one vault.
#[derive(Default)]
pub struct Uploads {
    open: Mutex<HashMap<String, Open>>,
}

/// Why an upload's commit failed.
pub enum CommitError {
    /// No such upload is open: the server restarted, or it was idle too long.
    Unknown,
    Hub(HubError),
}

impl Uploads {
    fn take(&self, name: &str) -> Option<Open> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        // Drop the idle ones while here (their temp files go with them).
        open.retain(|_, o| o.touched.elapsed() < IDLE);
        open.remove(name)
    }

    fn put_back(&self, name: &str, pack: UploadPack) {
        let open = Open {
            pack,
            touched: Instant::now(),
        };
        let mut map = self.open.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(name.to_string(), open);
        while map.len() > MAX_OPEN {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, o)| o.touched)
                .map(|(name, _)| name.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
    }

    /// Add `objects` (hashed here: a device is not trusted with ids) to upload `name`, opening
    /// it if it is new. Returns how many bytes it holds now.
    pub fn append(
        &self,
        hub: &FolderHub,
        name: &str,
        objects: Vec<Object>,
    ) -> Result<u64, HubError> {
        let mut pack = self.take(name).map(|o| o.pack).unwrap_or_default();
        let objects: Vec<(ObjectId, Object)> = objects.into_iter().map(|o| (o.id(), o)).collect();
        // A failed append drops the upload (its temp file too): the device's next round
        // starts over from what was committed.
        hub.upload_append(&mut pack, objects)?;
        let bytes = pack.bytes;
        self.put_back(name, pack);
        Ok(bytes)
    }

    /// Make upload `name` durable and visible, and close it.
    pub fn commit(&self, hub: &FolderHub, name: &str) -> Result<(), CommitError> {
        let mut open = self.take(name).ok_or(CommitError::Unknown)?;
        hub.upload_commit(&mut open.pack).map_err(CommitError::Hub)
    }

    /// How many uploads are open.
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(valid_name("0123456789abcdef0123456789abcdef"));
        assert!(!valid_name("short"));
        assert!(!valid_name("../../etc/passwd-xx"));
        assert!(!valid_name(&"a".repeat(65)));
        assert!(!valid_name("ABCDEFGHIJ"));
    }

    #[test]
    fn an_upload_is_visible_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let hub = FolderHub::open(&dir.path().join("v")).unwrap();
        let uploads = Uploads::default();
        let object = Object {
            kind: vault::object::Kind::Blob,
            bytes: vec![5; 1000],
        };
        let id = object.id();
        use vault::hub::Hub;
        assert_eq!(
            uploads.append(&hub, "upload-one", vec![object]).unwrap(),
            1000
        );
        assert_eq!(hub.missing(&[id]).unwrap(), vec![id]);
        assert_eq!(uploads.open_count(), 1);
        assert!(uploads.commit(&hub, "upload-one").is_ok());
        assert!(hub.missing(&[id]).unwrap().is_empty());
        assert_eq!(uploads.open_count(), 0);
        assert!(matches!(
            uploads.commit(&hub, "upload-one"),
            Err(CommitError::Unknown)
        ));
    }

    /// One upload more than [`MAX_OPEN`] closes the one idle longest; the others stay.
    #[test]
    fn too_many_open_uploads_close_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let hub = FolderHub::open(&dir.path().join("v")).unwrap();
        let uploads = Uploads::default();
        let names: Vec<String> = (0..=MAX_OPEN).map(|n| format!("upload-{n:04}")).collect();
        for (n, name) in names.iter().enumerate() {
            let object = Object {
                kind: vault::object::Kind::Blob,
                bytes: vec![n as u8; 100],
            };
            uploads.append(&hub, name, vec![object]).unwrap();
        }
        assert_eq!(uploads.open_count(), MAX_OPEN);
        assert!(matches!(
            uploads.commit(&hub, &names[0]),
            Err(CommitError::Unknown)
        ));
        for name in &names[1..] {
            assert!(uploads.commit(&hub, name).is_ok());
        }
        let temps = std::fs::read_dir(dir.path().join("v/packs"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".vault-tmp")
            })
            .count();
        assert_eq!(temps, 0, "the closed upload's temp file went with it");
    }
}
