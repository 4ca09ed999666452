use std::fs;
use std::io::Write as _;
use std::path::Path;

use super::*;

/// A folder with `old` at `note.md` and a temp file holding `new`; the folder's `Dir` and the
/// temp file's name.
fn setup(dir: &Path, old: Option<&[u8]>, new: &[u8]) -> (Dir, CString) {
    if let Some(old) = old {
        fs::write(dir.join("note.md"), old).unwrap();
    }
    let d = Dir::open(dir).unwrap();
    let (tmp, mut f) = d.create_temp().unwrap();
    f.write_all(new).unwrap();
    (d, tmp)
}

/// Every file of `dir` by name, with its bytes.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn holds(dir: &Dir, at: &CStr, bytes: &[u8]) -> io::Result<bool> {
    Ok(match dir.stat(at)?.0 {
        Found::File(_) => {
            let mut f = dir.open_read(at)?;
            let mut got = Vec::new();
            io::Read::read_to_end(&mut f, &mut got)?;
            got == bytes
        }
        _ => false,
    })
}

/// Both ways of replacing: the exchange (where the system has one) and moving aside.
fn both(
    d: &Dir,
    new: &CStr,
    expected: &dyn Fn(&Dir, &CStr) -> io::Result<bool>,
    aside: bool,
) -> Replaced {
    if aside {
        d.replace_by_moving_aside(new, c"note.md", expected)
            .unwrap()
    } else {
        d.replace_if(new, c"note.md", expected).unwrap()
    }
}

#[test]
fn the_expected_file_is_replaced_and_nothing_is_left_behind() {
    for aside in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (d, tmp) = setup(dir.path(), Some(b"old"), b"new");
        let r = both(&d, &tmp, &|d, at| holds(d, at, b"old"), aside);
        assert_eq!(r, Replaced::Done, "aside: {aside}");
        assert_eq!(listing(dir.path()), [("note.md".into(), b"new".to_vec())]);
    }
}

#[test]
fn a_file_gone_meanwhile_is_not_replaced_by_the_new_one() {
    for aside in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (d, tmp) = setup(dir.path(), None, b"new");
        let r = both(&d, &tmp, &|_, _| panic!("nothing to check"), aside);
        assert_eq!(r, Replaced::Gone, "aside: {aside}");
        assert_eq!(d.stat(c"note.md").unwrap().0, Found::Absent);
        assert!(
            holds(&d, &tmp, b"new").unwrap(),
            "the temp file is the caller's"
        );
    }
}

#[test]
fn a_file_saved_just_before_the_replace_stays_and_the_new_one_is_not_placed() {
    for aside in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        // The save landed after the caller's last check: the check sees its bytes.
        let (d, tmp) = setup(dir.path(), Some(b"the user's save"), b"new");
        let r = both(&d, &tmp, &|d, at| holds(d, at, b"old"), aside);
        assert_eq!(r, Replaced::Changed { kept: None }, "aside: {aside}");
        assert!(holds(&d, c"note.md", b"the user's save").unwrap());
        assert!(
            holds(&d, &tmp, b"new").unwrap(),
            "the temp file is the caller's"
        );
        assert_eq!(listing(dir.path()).len(), 2, "{:?}", listing(dir.path()));
    }
}

#[test]
fn a_save_on_the_new_file_while_it_was_in_place_is_kept_beside_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (d, tmp) = setup(dir.path(), Some(b"the user's first save"), b"new");
    let note = dir.path().join("note.md");
    let r = d
        .replace_if(&tmp, c"note.md", &|d, at| {
            // While the old file is checked, the user saves again, in place, over what is at
            // the name now (the new file where the system exchanges; nothing elsewhere).
            fs::write(&note, b"the user's second save").unwrap();
            holds(d, at, b"old")
        })
        .unwrap();
    let Replaced::Changed { kept: Some(kept) } = r else {
        panic!("both saves kept: {r:?}");
    };
    let kept = kept.into_string().unwrap();
    assert!(kept.starts_with("note.md.kept-"), "{kept}");
    let mut want = if d.stat(&tmp).unwrap().0 == Found::Absent {
        // Exchanged: the second save went into the new file, which is the one kept.
        vec![
            ("note.md".to_string(), b"the user's first save".to_vec()),
            (kept, b"the user's second save".to_vec()),
        ]
    } else {
        // Moved aside (no exchange here): the second save made a new file at the free name,
        // which stays; the first save is kept beside it.
        vec![
            ("note.md".to_string(), b"the user's second save".to_vec()),
            (kept, b"the user's first save".to_vec()),
            (tmp.into_string().unwrap(), b"new".to_vec()),
        ]
    };
    want.sort();
    assert_eq!(listing(dir.path()), want);
}

/// Replace `note.md` (holding `old`, where `old` was expected) by moving it aside, while the
/// user saves a new file at the freed name; what `replace_by_moving_aside` said, and the
/// temp file's name.
fn save_at_the_free_name(dir: &Path, old: &[u8]) -> (Replaced, String) {
    let (d, tmp) = setup(dir, Some(old), b"new");
    let note = dir.join("note.md");
    let r = d
        .replace_by_moving_aside(&tmp, c"note.md", &|d, at| {
            fs::write(&note, b"saved while the name was free").unwrap();
            holds(d, at, b"old")
        })
        .unwrap();
    (r, tmp.into_string().unwrap())
}

#[test]
fn moving_aside_keeps_a_file_saved_at_the_free_name_and_drops_the_expected_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (r, tmp) = save_at_the_free_name(dir.path(), b"old");
    assert_eq!(r, Replaced::Changed { kept: None });
    let mut want = vec![
        (
            "note.md".to_string(),
            b"saved while the name was free".to_vec(),
        ),
        (tmp, b"new".to_vec()),
    ];
    want.sort();
    assert_eq!(listing(dir.path()), want);
}

#[test]
fn moving_aside_keeps_an_edited_old_file_beside_a_new_one_saved_at_the_free_name() {
    let dir = tempfile::tempdir().unwrap();
    let (r, tmp) = save_at_the_free_name(dir.path(), b"edited");
    let Replaced::Changed { kept: Some(kept) } = r else {
        panic!("both kept: {r:?}");
    };
    let mut want = vec![
        (
            "note.md".to_string(),
            b"saved while the name was free".to_vec(),
        ),
        (kept.into_string().unwrap(), b"edited".to_vec()),
        (tmp, b"new".to_vec()),
    ];
    want.sort();
    assert_eq!(listing(dir.path()), want);
}

#[test]
fn a_failing_check_leaves_the_old_file_at_its_name() {
    for aside in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (d, tmp) = setup(dir.path(), Some(b"old"), b"new");
        let fail = |_: &Dir, _: &CStr| Err(io::Error::other("cannot read"));
        let err = if aside {
            d.replace_by_moving_aside(&tmp, c"note.md", &fail)
        } else {
            d.replace_if(&tmp, c"note.md", &fail)
        };
        assert!(err.is_err(), "aside: {aside}");
        assert!(holds(&d, c"note.md", b"old").unwrap(), "aside: {aside}");
        assert!(holds(&d, &tmp, b"new").unwrap(), "aside: {aside}");
        assert_eq!(listing(dir.path()).len(), 2, "{:?}", listing(dir.path()));
    }
}
