use crate::vfs::File;
use std::io::Write;

use super::*;
use crate::content::chunker::Layout;
use crate::content::{plan_file, plan_file_handing_on};
use crate::folder_hub::FolderHub;
use crate::hub::CasOutcome;
use crate::test_bytes::noise;

fn file_of(bytes: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    File::from(f)
}

fn chunk_ids(plan: &crate::content::ContentPlan) -> HashSet<ObjectId> {
    match &plan.layout {
        Layout::Chunked { chunks, .. } => chunks.iter().map(|c| c.id).collect(),
        Layout::Blob => HashSet::new(),
    }
}

/// Every chunk the scan cut is on the hub once the scan is over, and said to be.
#[test]
fn the_chunks_a_scan_hands_on_are_on_the_hub_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
    let bytes = noise(9 << 20, 1);
    let file = file_of(&bytes);
    let (plan, handed_on) = scan_handing_on(&hub, |sink| {
        plan_file_handing_on(&file, bytes.len() as u64, sink).unwrap()
    });
    assert_eq!(plan, plan_file(&file, bytes.len() as u64).unwrap());
    let ids = chunk_ids(&plan);
    assert!(ids.len() > 10, "{}", ids.len());
    assert_eq!(handed_on.on_hub, ids);
    assert!(handed_on.failed.is_none());
    assert_eq!(handed_on.objects_sent, ids.len() as u64);
    assert_eq!(handed_on.bytes_sent, bytes.len() as u64);
    let wanted: Vec<ObjectId> = ids.into_iter().collect();
    assert!(hub.missing(&wanted).unwrap().is_empty());

    // Again: the hub has them all, nothing is put, all are on the hub.
    let (_, again) = scan_handing_on(&hub, |sink| {
        plan_file_handing_on(&file, bytes.len() as u64, sink).unwrap()
    });
    assert_eq!(again.objects_sent, 0);
    assert_eq!(again.on_hub.len(), wanted.len());
}

/// A hub that takes nothing.
struct Down;

fn down() -> HubError {
    HubError::Unreachable {
        hub: "test".into(),
        detail: "down".into(),
    }
}

impl Hub for Down {
    fn describe(&self) -> String {
        "down".into()
    }
    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        Err(down())
    }
    fn missing(&self, _: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        Err(down())
    }
    fn put(&self, _: &[Object]) -> Result<(), HubError> {
        Err(down())
    }
    fn get(&self, _: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        Err(down())
    }
    fn cas_head(&self, _: Option<ObjectId>, _: ObjectId) -> Result<CasOutcome, HubError> {
        Err(down())
    }
    fn tree_of(&self, _: ObjectId, _: bool) -> Result<ObjectId, HubError> {
        Err(down())
    }
    fn time_ns(&self) -> Result<i64, HubError> {
        Err(down())
    }
}

/// A hub that fails closes the sink: the scan goes on to the same plan, nothing is said to be
/// on the hub, and the failure is kept for the round.
#[test]
fn a_failing_hub_closes_the_sink_and_the_scan_goes_on() {
    let bytes = noise(20 << 20, 2);
    let file = file_of(&bytes);
    let (plan, handed_on) = scan_handing_on(&Down, |sink| {
        let plan = plan_file_handing_on(&file, bytes.len() as u64, sink).unwrap();
        (plan, sink.open())
    });
    assert_eq!(plan.0, plan_file(&file, bytes.len() as u64).unwrap());
    assert!(!plan.1, "the sink is closed once the hub failed");
    assert!(handed_on.on_hub.is_empty());
    assert_eq!(handed_on.objects_sent, 0);
    assert!(matches!(
        handed_on.failed,
        Some(HubError::Unreachable { .. })
    ));
}
