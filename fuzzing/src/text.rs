//! Short texts from outside: vault paths (from trees, the stat cache, `.vault/mounts`, the
//! command line, the web view), object ids (every JSON body of the protocol carries them as
//! hex), `.revisions/` names and `.syncignore` files.

use std::path::Path;

use vault::ignore_rules::IgnoreRules;
use vault::paths::{is_state_dir, validate_name};
use vault::{ObjectId, VaultPath};

/// `VaultPath` parsing: a path it accepts obeys every rule of `paths.rs` name by name (no
/// empty, `.`/`..`, separator or control character, no `.vault`), its parent and last name
/// join back to it, the same path read from the filesystem's form is equal, and a name in
/// `.revisions/` that parses as a revision names a valid original.
pub fn path(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = VaultPath::check(text);
    let Ok(path) = VaultPath::new(text) else {
        assert!(checked.is_err(), "check accepts what new refuses: {text:?}");
        return;
    };
    assert!(checked.is_ok());
    assert!(!text.starts_with('/') && !text.contains('\\') && !text.contains('\0'));
    for name in path.components() {
        validate_name(name).expect("an accepted path holds an invalid name");
        assert!(
            !is_state_dir(name),
            "an accepted path goes through .vault: {text:?}"
        );
    }
    match path.parent() {
        Some(parent) => {
            VaultPath::check(parent.as_str()).expect("the parent of a valid path is valid");
            assert_eq!(parent.join(path.file_name()).ok().as_ref(), Some(&path));
        }
        None => assert_eq!(path.file_name(), text),
    }
    assert_eq!(
        VaultPath::from_relative(Path::new(text)).ok().as_ref(),
        Some(&path)
    );
    let _ = path.fold_key();
    if let Some(revision) = vault::revisions::parse_revision(&path) {
        assert!(!revision.original.is_revision() || revision.original != path);
        let _ = vault::revisions::format_time(revision.time_ns);
    }
}

/// Object ids as the protocol's JSON carries them: only the canonical form (64 lowercase hex
/// digits) is accepted, so one object never has two names, and it prints back as it came;
/// JSON lists of ids (the bodies of `missing` and `fetch`) decode to the same ids.
pub fn ids(data: &[u8]) {
    if data.len() > crate::MAX_INPUT {
        return;
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for word in text.split([' ', '\n', ',']) {
            if let Ok(id) = word.parse::<ObjectId>() {
                assert_eq!(id.to_hex(), word, "an id accepted in a non-canonical form");
            }
        }
        let _ = vault::duration::parse(text);
    }
    if let Ok(ids) = serde_json::from_slice::<Vec<ObjectId>>(data) {
        let strings: Vec<String> = serde_json::from_slice(data).expect("ids are strings");
        for (id, s) in ids.iter().zip(&strings) {
            assert_eq!(&id.to_hex(), s);
        }
        let again = serde_json::to_vec(&ids).expect("ids encode");
        assert_eq!(
            serde_json::from_slice::<Vec<ObjectId>>(&again).ok(),
            Some(ids)
        );
    }
}

/// `.syncignore` parsing (gitignore syntax over the built-in defaults): any text gives rules
/// or an error naming the line, never a panic; whatever a user writes, the temporary files of
/// a write in progress stay ignored and `.syncignore` itself is never hidden by the defaults;
/// the fingerprint depends on the text only.
pub fn ignore(data: &[u8]) {
    if data.len() > 8 * 1024 {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = IgnoreRules::new(Some(text)) else {
        return;
    };
    let again = IgnoreRules::new(Some(text)).expect("the same text builds again");
    assert_eq!(rules.fingerprint(), again.fingerprint());
    let temp = VaultPath::new(&format!("notes/{}x.md", vault::fsutil::TEMP_PREFIX)).unwrap();
    assert!(rules.is_ignored(&temp, false), "a temp file is synced");
    for line in text.lines().take(32) {
        let candidate = line.trim_start_matches(['!', '/']).trim_end_matches('/');
        if let Ok(p) = VaultPath::new(candidate) {
            let _ = rules.is_ignored(&p, false);
            let _ = rules.is_ignored(&p, true);
            let _ = rules.is_ignored_below_kept_folders(&p, false);
        }
    }
}
