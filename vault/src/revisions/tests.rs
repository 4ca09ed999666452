//! Tests of revision naming, parsing, listing and pruning.

use super::*;
use proptest::prelude::*;

fn vp(s: &str) -> VaultPath {
    VaultPath::new(s).unwrap()
}

fn free(_: &VaultPath) -> bool {
    false
}

/// 2026-11-23T12:35:14.5Z
const T: i64 = 1_795_437_314_500_000_000;

macro_rules! names {
    ($($name:ident: ($orig:expr, $device:expr) => $want:expr,)*) => {$(
        #[test]
        fn $name() {
            let got = revision_path(&vp($orig), T, $device, &free);
            assert_eq!(got.as_str(), $want);
            let info = parse_revision(&got).expect("a revision path parses");
            assert_eq!(info.original.as_str(), $orig);
            assert_eq!(info.time_ns, T);
        }
    )*};
}

names! {
    names_a_note_in_a_folder: ("notes/todo.md", "laptop")
        => ".revisions/notes/todo.2026-11-23T12-35-14.500Z.laptop.md",
    names_a_top_level_file: ("todo.md", "laptop") => ".revisions/todo.2026-11-23T12-35-14.500Z.laptop.md",
    keeps_only_the_last_extension: ("archive.tar.gz", "pc")
        => ".revisions/archive.tar.2026-11-23T12-35-14.500Z.pc.gz",
    file_without_extension_gets_none: ("Makefile", "pc") => ".revisions/Makefile.2026-11-23T12-35-14.500Z.pc",
    dotfile_has_no_extension: (".syncignore", "pc") => ".revisions/.syncignore.2026-11-23T12-35-14.500Z.pc",
    trailing_dot_is_not_an_extension: ("a.", "pc") => ".revisions/a..2026-11-23T12-35-14.500Z.pc",
    sanitises_spaces_and_punctuation: ("a.md", "Anna's MacBook Pro") => ".revisions/a.2026-11-23T12-35-14.500Z.Anna-s-MacBook-Pro.md",
    empty_device_becomes_device: ("a.md", "") => ".revisions/a.2026-11-23T12-35-14.500Z.device.md",
    non_ascii_device_becomes_device: ("a.md", "ノート") => ".revisions/a.2026-11-23T12-35-14.500Z.device.md",
    long_device_is_cut_to_32: ("a.md", &"x".repeat(50)) => format!(".revisions/a.2026-11-23T12-35-14.500Z.{}.md", "x".repeat(32)),
    stem_that_looks_like_a_revision_still_parses: ("log.2020-01-01T00-00-00.000Z.old.md", "pc")
        => ".revisions/log.2020-01-01T00-00-00.000Z.old.2026-11-23T12-35-14.500Z.pc.md",
    unicode_names_are_kept: ("ノート/メモ.md", "pc") => ".revisions/ノート/メモ.2026-11-23T12-35-14.500Z.pc.md",
}

#[test]
fn never_returns_a_taken_path() {
    let first = revision_path(&vp("n/a.md"), T, "pc", &free);
    let taken = |p: &VaultPath| {
        p == &first || p.as_str() == ".revisions/n/a.2026-11-23T12-35-14.500Z.pc~2.md"
    };
    let got = revision_path(&vp("n/a.md"), T, "pc", &taken);
    assert_eq!(
        got.as_str(),
        ".revisions/n/a.2026-11-23T12-35-14.500Z.pc~3.md"
    );
    assert_eq!(parse_revision(&got).unwrap().original.as_str(), "n/a.md");
}

#[test]
fn conflict_between_revision_files_gives_a_sibling() {
    let rev = vp(".revisions/n/a.2026-11-23T12-35-14.500Z.pc.md");
    let taken = |p: &VaultPath| p == &rev;
    let got = revision_path(&rev, T + 5, "other", &taken);
    assert_eq!(
        got.as_str(),
        ".revisions/n/a.2026-11-23T12-35-14.500Z.pc~2.md"
    );
    assert_eq!(parse_revision(&got).unwrap().original.as_str(), "n/a.md");
    // An existing `~N` is bumped, not stacked.
    let got = revision_path(&got, T, "x", &|p| p.as_str().ends_with("~2.md"));
    assert_eq!(
        got.as_str(),
        ".revisions/n/a.2026-11-23T12-35-14.500Z.pc~3.md"
    );
    // A hand-made file in `.revisions/` gets `~N` before its extension.
    let odd = vp(".revisions/notes.tar.gz");
    assert_eq!(
        revision_path(&odd, T, "pc", &free).as_str(),
        ".revisions/notes.tar~2.gz"
    );
}

#[test]
fn long_names_are_shortened_to_a_valid_path() {
    let long = format!("d/{}.md", "é".repeat(126)); // 252 + 3 bytes
    let got = revision_path(&vp(&long), T, &"x".repeat(40), &free);
    assert!(got.file_name().len() <= 255);
    assert!(got.file_name().ends_with(".md"));
    let info = parse_revision(&got).expect("a shortened revision still parses");
    assert_eq!(info.original.parent().unwrap().as_str(), "d");
    // A name that is almost all extension.
    let ext = format!("a.{}", "e".repeat(250));
    assert!(parse_revision(&revision_path(&vp(&ext), T, "pc", &free)).is_some());
    // A folder path so long that no name fits beside it.
    let deep = format!("{}/a.md", vec!["f".repeat(200); 20].join("/"));
    let got = revision_path(&vp(&deep), T, "pc", &free);
    assert!(got.is_revision());
}

#[test]
fn times_round_to_milliseconds_and_cover_the_whole_i64_range() {
    assert_eq!(format_time(0), "1970-01-01T00-00-00.000Z");
    assert_eq!(format_time(-1), "1969-12-31T23-59-59.999Z");
    assert_eq!(format_time(T + 999_999), "2026-11-23T12-35-14.500Z");
    assert_eq!(parse_time(&format_time(-1)), Some(-NS_PER_MS));
    assert_eq!(
        parse_time(&format_time(i64::MAX)),
        Some(i64::MAX / NS_PER_MS * NS_PER_MS)
    );
    assert_eq!(parse_time(&format_time(i64::MIN)), Some(i64::MIN));
    assert_eq!(parse_time("2026-02-30T00-00-00.000Z"), None);
}

#[test]
fn refuses_names_that_are_not_revisions() {
    for p in [
        "notes/a.md",
        ".revisions/a.md",
        ".revisions/a.2026-11-23T12-35-14.500Z..md",
        ".revisions/a.2026-11-23T12-35-14.500Z.pc~.md",
        ".revisions/a.2026-11-23T12-35-14.500Z.p c.md",
        ".revisions/a.2026-11-23T12:35:14.500Z.pc.md",
        ".revisions/.vault.2026-11-23T12-35-14.500Z.pc",
        ".revisions",
    ] {
        assert_eq!(parse_revision(&vp(p)), None, "{p} must not parse");
    }
}

fn meta() -> crate::object::FileMeta {
    crate::object::FileMeta {
        id: crate::ObjectId::of(b""),
        size: 0,
        mtime_ns: 0,
        executable: false,
    }
}

fn rev(orig: &str, t: i64, dev: &str) -> VaultPath {
    revision_path(&vp(orig), t, dev, &free)
}

#[test]
fn lists_newest_first_and_filters_by_original() {
    let s = 1_000_000_000;
    let files: FlatTree = [
        rev("a.md", T, "pc"),
        rev("a.md", T + s, "pc"),
        rev("b.md", T + 2 * s, "pc"),
        vp(".revisions/hand-made.md"),
        vp("a.md"),
    ]
    .into_iter()
    .map(|p| (p, meta()))
    .collect();
    let all = list_revisions(&files, None);
    let times: Vec<i64> = all.iter().map(|r| r.time_ns).collect();
    assert_eq!(times, vec![T + 2 * s, T + s, T]);
    let of_a = list_revisions(&files, Some(&vp("a.md")));
    assert_eq!(of_a.len(), 2);
    assert!(of_a.iter().all(|r| r.original.as_str() == "a.md"));
    assert_eq!(
        unknown_revisions(&files),
        vec![vp(".revisions/hand-made.md")]
    );
}

#[test]
fn prune_selects_only_what_the_policy_says() {
    let day = 86_400 * 1_000_000_000i64;
    let files: FlatTree = [
        rev("a.md", T - 10 * day, "pc"),
        rev("a.md", T - 5 * day, "pc"),
        rev("a.md", T - day, "pc"),
        rev("b.md", T - 10 * day, "pc"),
    ]
    .into_iter()
    .map(|p| (p, meta()))
    .collect();
    let revs = list_revisions(&files, None);
    let old = select_prunable(&revs, PrunePolicy::OlderThan(7 * day), T);
    assert_eq!(
        old,
        vec![
            rev("a.md", T - 10 * day, "pc"),
            rev("b.md", T - 10 * day, "pc")
        ]
    );
    let keep1 = select_prunable(&revs, PrunePolicy::KeepNewest(1), T);
    assert_eq!(
        keep1,
        vec![
            rev("a.md", T - 10 * day, "pc"),
            rev("a.md", T - 5 * day, "pc")
        ]
    );
    assert!(select_prunable(&revs, PrunePolicy::KeepNewest(3), T).is_empty());
    assert!(select_prunable(&revs, PrunePolicy::OlderThan(-day), T).len() == 4);
}

fn arb_path() -> impl Strategy<Value = VaultPath> {
    let name = "[a-zA-Z0-9 ._~éノ-]{1,24}";
    proptest::collection::vec(name, 1..5).prop_filter_map("valid, outside .revisions", |parts| {
        VaultPath::new(&parts.join("/"))
            .ok()
            .filter(|p| !p.is_revision())
    })
}

proptest! {
    #[test]
    fn parse_inverts_revision_path(p in arb_path(), t in any::<i64>(), dev in ".{0,40}", skip in 0usize..3) {
        let mut seen: Vec<VaultPath> = Vec::new();
        // Take the first `skip` candidates, to exercise the `~N` suffix too.
        let mut got = revision_path(&p, t, &dev, &free);
        for _ in 0..skip {
            seen.push(got.clone());
            got = revision_path(&p, t, &dev, &|c| seen.contains(c));
        }
        prop_assert!(!seen.contains(&got));
        let info = parse_revision(&got).expect("parses");
        prop_assert_eq!(&info.original, &p);
        prop_assert_eq!(info.device, sanitize_device(&dev));
        let want = (i128::from(t).div_euclid(1_000_000) * 1_000_000).max(i128::from(i64::MIN));
        prop_assert_eq!(i128::from(info.time_ns), want);
    }

    #[test]
    fn any_valid_path_gives_a_valid_free_revision(name in "[^/\\\\\\x00-\\x1f]{1,80}", reps in 1usize..5, t in any::<i64>()) {
        if let Ok(p) = VaultPath::new(&name.repeat(reps)) {
            let got = revision_path(&p, t, "pc", &free);
            prop_assert!(got.is_revision());
            prop_assert!(got != p);
        }
    }
}
