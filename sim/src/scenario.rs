//! Building blocks of runs written out by hand (the tests' scenarios): a setup of two devices
//! and the steps they take most often.

use crate::ops::{HubKind, NetFault, Save, Setup, Step, generate};

/// The first two devices of seed 1's setup (their disks as that seed made them), at `hub`.
pub fn two_devices(hub: HubKind) -> Setup {
    let (mut setup, _) = generate(1, 0);
    setup.devices.truncate(2);
    setup.hub = hub;
    setup
}

/// [`two_devices`] with ordinary disks: no small disk, no drive at `media/`.
pub fn two_plain_devices(hub: HubKind) -> Setup {
    let mut setup = two_devices(hub);
    for d in &mut setup.devices {
        d.capacity = u64::MAX;
        d.has_mount = false;
    }
    setup
}

/// A user saves `text` at `path` on device `dev` (temp file and rename).
pub fn write(dev: usize, path: &str, text: &str) -> Step {
    Step::Write {
        dev,
        path: path.into(),
        text: text.into(),
        save: Save::Atomic,
    }
}

/// A round of device `dev` with the device crash and network fault given.
pub fn sync_with(dev: usize, crash: Option<(u64, u8)>, net: Option<(u64, NetFault)>) -> Step {
    Step::Sync {
        dev,
        crash,
        hub_crash: None,
        net,
        compact_at: None,
    }
}

/// A round of device `dev` without faults.
pub fn sync(dev: usize) -> Step {
    sync_with(dev, None, None)
}
