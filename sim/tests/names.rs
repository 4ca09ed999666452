//! Regression tests for what the simulation found on filesystems that take two spellings of a
//! name for one file (macOS's HFS+ and APFS, Windows): each runs real rounds on simulated disks.

use std::path::Path;

use vault_sim::fs::Names;
use vault_sim::ops::{HubKind, Setup, Step};
use vault_sim::run::exclusive;
use vault_sim::scenario::{sync, two_plain_devices, write};
use vault_sim::world::{RoundOutcome, World};

const NFC: &str = "caf\u{e9}.md";
const NFD: &str = "cafe\u{301}.md";

fn devices(names: [Names; 2]) -> Setup {
    let mut setup = two_plain_devices(HubKind::Folder);
    for (d, names) in setup.devices.iter_mut().zip(names) {
        d.names = names;
    }
    setup
}

/// Run `steps`, every round of which must finish, then look at the world with `then`.
fn play<T>(setup: &Setup, steps: &[Step], then: impl FnOnce(&World) -> T) -> T {
    exclusive(1, || {
        let mut world = World::new(setup);
        for (i, step) in steps.iter().enumerate() {
            if let Some(outcome) = world.step(step) {
                assert_eq!(outcome, RoundOutcome::Synced, "step {i}: {step:?}");
            }
        }
        then(&world)
    })
}

/// HFS+ stores `café.md` decomposed whatever it was created as: the device that downloaded
/// it must not take the name it lists for a rename and publish it (every other device's note
/// would be renamed), nor fail its rounds over it.
#[test]
fn a_note_on_a_normalising_disk_keeps_the_hubs_spelling() {
    let setup = devices([Names::Exact, Names::Normalising]);
    let steps = [
        write(0, NFC, "one\n"),
        sync(0),
        sync(1),
        sync(1),
        write(1, NFC, "two\n"),
        sync(1),
        sync(0),
    ];
    let (on_linux, on_mac) = play(&setup, &steps, |w| (w.files(0), w.files(1)));
    assert_eq!(
        on_linux.get(Path::new(NFC)).map(Vec::as_slice),
        Some(&b"two\n"[..]),
        "{on_linux:?}"
    );
    assert!(!on_linux.contains_key(Path::new(NFD)), "{on_linux:?}");
    assert_eq!(
        on_mac.get(Path::new(NFD)).map(Vec::as_slice),
        Some(&b"two\n"[..])
    );
}

/// A rename between two spellings of one name (Unicode normalisation, or case only) made on
/// Linux reaches a Mac: there the two are one file, so no link can be made; the rename must
/// still apply, and the round finish (it failed every time, "the vault kept changing").
#[test]
fn a_rename_between_spellings_of_one_name_applies_where_they_are_one_file() {
    for (from, to) in [(NFD, NFC), ("Note.md", "note.md")] {
        let setup = devices([Names::Exact, Names::CaseInsensitive]);
        let steps = [
            write(0, from, "words\n"),
            sync(0),
            sync(1),
            Step::Rename {
                dev: 0,
                from: from.into(),
                to: to.into(),
            },
            sync(0),
            sync(1),
            sync(1),
        ];
        let on_mac = play(&setup, &steps, |w| w.files(1));
        assert_eq!(
            on_mac.get(Path::new(to)).map(Vec::as_slice),
            Some(&b"words\n"[..]),
            "{from} -> {to}: {on_mac:?}"
        );
        assert!(!on_mac.contains_key(Path::new(from)), "{on_mac:?}");
    }
}

/// A folder `a/Note.md/` made on one Mac and a note `a/note.md` saved on another cannot both
/// be on either: each user renames aside what is in the way. Seed 5527: the simulated users
/// put both aside under the same suffix (`Note.md-aside`, `note.md-aside`), names that
/// collide again on a Mac, and again, so the run never converged; each name put aside now
/// gets a name of its own.
#[test]
fn a_note_and_a_folder_differing_in_case_are_put_aside_apart_and_converge() {
    let setup = devices([Names::CaseInsensitive, Names::CaseInsensitive]);
    let steps = [
        write(0, "a/note.md", "a note\n"),
        Step::FileToFolder {
            dev: 0,
            path: "a/Note.md".into(),
            text: "inside\n".into(),
        },
        write(1, "a/note.md", "another note\n"),
    ];
    let report = vault_sim::run::run(5527, &setup, &steps);
    assert_eq!(report.failure, None);
}
