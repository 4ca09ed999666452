//! Vault-relative paths: the one place that decides which paths may exist in a vault.
//!
//! Every path that comes from outside (a tree from the hub, a command-line argument, a request)
//! becomes a [`VaultPath`] before it touches the disk, so nothing can address a file outside the
//! vault or inside a `.vault/` folder (this vault's state at the top, or another vault's state
//! in a folder, which must never reach other devices either). Paths use `/` as separator on every platform and are compared by
//! their exact bytes (as git does); [`VaultPath::fold_key`] gives the case- and
//! normalisation-insensitive key used to spot names that would collide on macOS or Windows.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

/// The folder inside a vault that holds the agent's own state. Never synced, at any depth: a
/// `.vault/` in a folder is another vault's state (its config and server token).
pub const STATE_DIR: &str = ".vault";
/// The folder that keeps versions that lost a conflict, or were replaced by a restore.
pub const REVISIONS_DIR: &str = ".revisions";

const MAX_NAME_BYTES: usize = 255;
const MAX_PATH_BYTES: usize = 4096;

/// Why a path or a file name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty path or empty path component in `{0}`")]
    Empty(String),
    #[error("path `{0}` is absolute; vault paths are relative to the vault folder")]
    Absolute(String),
    #[error("path `{0}` contains `.` or `..`, which could leave the vault")]
    DotComponent(String),
    #[error("path `{0}` contains a slash inside a name, a backslash, NUL or a control character")]
    BadCharacter(String),
    #[error(
        "path `{0}` points into `.vault/`, a vault's private state (never synced, at any depth)"
    )]
    StateDir(String),
    #[error("path `{0}` is too long ({1} bytes; names may have 255, paths 4096)")]
    TooLong(String, usize),
    #[error("file name {0:?} is not valid UTF-8 and cannot be synced")]
    NotUtf8(std::ffi::OsString),
}

/// Check one file or folder name (one path component).
pub fn validate_name(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::Empty(name.to_string()));
    }
    if name == "." || name == ".." {
        return Err(PathError::DotComponent(name.to_string()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(PathError::TooLong(name.to_string(), name.len()));
    }
    if has_bad_byte(name.as_bytes()) {
        return Err(PathError::BadCharacter(name.escape_debug().to_string()));
    }
    Ok(())
}

/// Whether `name` holds a separator (`/`, `\`), NUL or a control character (C0, DEL, or C1,
/// which UTF-8 writes as `0xC2 0x80..=0x9F`). Byte by byte: every file name of every scan
/// passes here, and decoding chars cost more than the rest of the check.
fn has_bad_byte(name: &[u8]) -> bool {
    // A branch-free pass the compiler vectorises: almost every name has no suspicious byte.
    let suspicious = name.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == 0x7f) | (b == b'/') | (b == b'\\') | (b == 0xc2)
    });
    if !suspicious {
        return false;
    }
    let mut after_c2 = false;
    for &b in name {
        if b < 0x20
            || b == 0x7f
            || b == b'/'
            || b == b'\\'
            || (after_c2 && (0x80..=0x9f).contains(&b))
        {
            return true;
        }
        after_c2 = b == 0xc2;
    }
    false
}

/// The whole of [`VaultPath::check`] for valid paths, fast (the stat cache checks 20,000 of
/// them on every load); `false` sends the caller to the checks that explain what is wrong.
fn is_plainly_valid(text: &[u8]) -> bool {
    if text.is_empty()
        || text[0] == b'\\'
        || (text.len() >= 2 && text[0].is_ascii_alphabetic() && text[1] == b':')
    {
        return false;
    }
    names_are_plainly_valid(text, 0)
}

/// Whether the names of `text` from byte `from` on (0, or just after a `/`) are all fine and
/// the whole is not too long: one branch-free pass the compiler vectorises over the bytes,
/// then the separators. `0xC2` (the lead byte of C1 controls, and of a few harmless signs
/// such as `©`) counts as suspicious, so such paths take the slow road.
fn names_are_plainly_valid(text: &[u8], from: usize) -> bool {
    if text.len() > MAX_PATH_BYTES || from > text.len() {
        return false;
    }
    let rest = &text[from..];
    let suspicious = rest.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == 0x7f) | (b == b'\\') | (b == 0xc2)
    });
    if suspicious {
        return false;
    }
    rest.split(|&b| b == b'/').all(|name| {
        !name.is_empty()
            && name != b"."
            && name != b".."
            && name.len() <= MAX_NAME_BYTES
            && !name.eq_ignore_ascii_case(STATE_DIR.as_bytes())
    })
}

/// Whether a name is `.vault` (in any case: case-insensitive filesystems hold one folder).
pub fn is_state_dir(name: &str) -> bool {
    name.eq_ignore_ascii_case(STATE_DIR)
}

/// A validated, normal, relative path inside a vault, such as `notes/todo.md`.
///
/// Shared, not copied, when cloned: a round holds every path of the vault in several maps
/// (the scan, its flat tree, the merged tree), and copying 20,000 paths into each cost more
/// than the rest of building them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VaultPath(Arc<str>);

/// Where the checked vault path `path` is below `root`, in one allocation of its exact size
/// (scans make one for every file they read, on every core).
pub(crate) fn fs_path(root: &Path, path: &str) -> PathBuf {
    let mut p = PathBuf::with_capacity(root.as_os_str().len() + 1 + path.len());
    p.push(root);
    for c in path.split('/') {
        p.push(c);
    }
    p
}

impl VaultPath {
    /// Validate `text` (`/`-separated) as a path inside the vault.
    pub fn new(text: &str) -> Result<VaultPath, PathError> {
        VaultPath::check(text)?;
        Ok(VaultPath(Arc::from(text)))
    }

    /// [`VaultPath::check`] of `text` whose first `from` bytes are known to be a valid path
    /// followed by `/` (or `from` is 0): only the names after it and the total length are
    /// looked at. Sorted paths share their folders, so a list is checked this way in about
    /// the time its file names alone take.
    pub(crate) fn check_extension(text: &str, from: usize) -> Result<(), PathError> {
        debug_assert!(
            from == 0
                || (text.as_bytes()[from - 1] == b'/' && Self::check(&text[..from - 1]).is_ok()),
            "{text:?} {from}"
        );
        if from > 0 && names_are_plainly_valid(text.as_bytes(), from) {
            return Ok(());
        }
        VaultPath::check(text)
    }

    /// A path already known to be valid (checked with [`VaultPath::check`] when it was read).
    pub(crate) fn from_checked(text: &str) -> VaultPath {
        debug_assert!(VaultPath::check(text).is_ok(), "{text:?}");
        VaultPath(Arc::from(text))
    }

    /// Whether `text` is a valid vault path, without making one (the stat cache keeps its
    /// paths in one buffer and checks them this way when it loads).
    pub fn check(text: &str) -> Result<(), PathError> {
        if is_plainly_valid(text.as_bytes()) {
            return Ok(());
        }
        if text.is_empty() {
            return Err(PathError::Empty(String::new()));
        }
        if text.starts_with('/') || text.starts_with('\\') || looks_like_drive(text) {
            return Err(PathError::Absolute(text.escape_debug().to_string()));
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong(
                text.chars().take(80).collect(),
                text.len(),
            ));
        }
        for name in text.split('/') {
            validate_name(name).map_err(|e| match e {
                PathError::Empty(_) => PathError::Empty(text.to_string()),
                PathError::DotComponent(_) => PathError::DotComponent(text.to_string()),
                PathError::BadCharacter(_) => {
                    PathError::BadCharacter(text.escape_debug().to_string())
                }
                other => other,
            })?;
            if is_state_dir(name) {
                return Err(PathError::StateDir(text.to_string()));
            }
        }
        Ok(())
    }

    /// Convert a path relative to the vault folder, as found on disk.
    pub fn from_relative(rel: &Path) -> Result<VaultPath, PathError> {
        let mut parts = Vec::new();
        for comp in rel.components() {
            match comp {
                std::path::Component::Normal(os) => match os.to_str() {
                    Some(s) => parts.push(s),
                    None => return Err(PathError::NotUtf8(os.to_owned())),
                },
                std::path::Component::CurDir | std::path::Component::ParentDir => {
                    return Err(PathError::DotComponent(rel.display().to_string()));
                }
                _ => return Err(PathError::Absolute(rel.display().to_string())),
            }
        }
        VaultPath::new(&parts.join("/"))
    }

    /// `self/name`, with `name` checked.
    pub fn join(&self, name: &str) -> Result<VaultPath, PathError> {
        validate_name(name)?;
        if is_state_dir(name) {
            return Err(PathError::StateDir(format!("{self}/{name}")));
        }
        // `self` is valid, so only the new name and the total length need checking (the scan
        // joins every file name of the vault this way).
        let mut text = String::with_capacity(self.0.len() + 1 + name.len());
        text.push_str(&self.0);
        text.push('/');
        text.push_str(name);
        if text.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong(
                text.chars().take(80).collect(),
                text.len(),
            ));
        }
        Ok(VaultPath(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The folder part, or `None` at the top level.
    pub fn parent(&self) -> Option<VaultPath> {
        self.0
            .rfind('/')
            .map(|i| VaultPath(Arc::from(&self.0[..i])))
    }

    /// The file's location under `root` on this platform.
    pub fn to_fs_path(&self, root: &Path) -> PathBuf {
        fs_path(root, &self.0)
    }

    /// Whether the path lies in `.revisions/`.
    pub fn is_revision(&self) -> bool {
        self.components().next() == Some(REVISIONS_DIR)
    }

    /// Key under which two paths collide on a case-insensitive, normalising filesystem
    /// (macOS, Windows): Unicode NFC, then lower case.
    pub fn fold_key(&self) -> String {
        // A large download folds every path of the vault, and composing is the costly part: ASCII
        // is its own NFC form and lower-cases byte by byte, and most other names are NFC
        // already, which the quick check (no allocation) can tell.
        if self.0.is_ascii() {
            return self.0.to_ascii_lowercase();
        }
        use unicode_normalization::{IsNormalized, is_nfc_quick};
        if is_nfc_quick(self.0.chars()) == IsNormalized::Yes {
            return self.0.to_lowercase();
        }
        self.0.nfc().collect::<String>().to_lowercase()
    }
}

/// Pairs `(found, known)` of paths that are one path written in two Unicode normalisation
/// forms (`café` composed and decomposed): `found` among paths a scan found that the vault
/// does not know, `known` among the vault's paths the scan did not find. A filesystem that
/// normalises names (HFS+ stores every name decomposed) lists a note under another spelling
/// than the one sync wrote; pairing them keeps that from looking like a rename. Each known
/// path pairs at most once; only non-ASCII paths can pair (ASCII is its own normal form).
pub fn respellings<'a>(
    found: impl IntoIterator<Item = &'a VaultPath>,
    known: impl IntoIterator<Item = &'a VaultPath>,
) -> Vec<(VaultPath, VaultPath)> {
    let nfc = |p: &VaultPath| p.as_str().nfc().collect::<String>();
    let mut known: HashMap<String, &VaultPath> = known
        .into_iter()
        .filter(|p| !p.as_str().is_ascii())
        .map(|p| (nfc(p), p))
        .collect();
    found
        .into_iter()
        .filter(|p| !p.as_str().is_ascii())
        .filter_map(|p| {
            let k = known.remove(&nfc(p))?;
            (k != p).then(|| (p.clone(), k.clone()))
        })
        .collect()
}

fn looks_like_drive(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Its text: a map keyed by paths can be searched by text (a range of `folder/...`); equal
/// paths have equal text, in the same order.
impl std::borrow::Borrow<str> for VaultPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VaultPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VaultPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::str::FromStr for VaultPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VaultPath::new(s)
    }
}

impl serde::Serialize for VaultPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Deserialising validates, so a path read from any file obeys the same rules as one built here.
impl<'de> serde::Deserialize<'de> for VaultPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        VaultPath::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! refused {
        ($($name:ident: $text:expr => $variant:pat,)*) => {$(
            #[test]
            fn $name() {
                let r = VaultPath::new($text);
                assert!(matches!(r, Err($variant)), "{:?} gave {:?}", $text, r);
            }
        )*};
    }

    refused! {
        refuses_empty: "" => PathError::Empty(_),
        refuses_empty_component: "a//b" => PathError::Empty(_),
        refuses_trailing_slash: "a/" => PathError::Empty(_),
        refuses_parent_escape: "../x" => PathError::DotComponent(_),
        refuses_inner_parent: "a/../../x" => PathError::DotComponent(_),
        refuses_dot: "./x" => PathError::DotComponent(_),
        refuses_absolute: "/etc/passwd" => PathError::Absolute(_),
        refuses_backslash_root: "\\x" => PathError::Absolute(_),
        refuses_drive_letter: "C:x" => PathError::Absolute(_),
        refuses_backslash_inside: "a\\..\\..\\x" => PathError::BadCharacter(_),
        refuses_nul: "a\0b" => PathError::BadCharacter(_),
        refuses_newline: "a\nb" => PathError::BadCharacter(_),
        refuses_state_dir: ".vault/config.toml" => PathError::StateDir(_),
        refuses_state_dir_itself: ".vault" => PathError::StateDir(_),
        refuses_state_dir_other_case: ".VAULT/x" => PathError::StateDir(_),
        refuses_nested_state_dir: "sub/.vault/token" => PathError::StateDir(_),
        refuses_nested_state_dir_itself: "a/b/.Vault" => PathError::StateDir(_),
    }

    #[test]
    fn join_refuses_a_state_dir_at_any_depth() {
        let sub = VaultPath::new("sub").unwrap();
        assert!(matches!(sub.join(".vault"), Err(PathError::StateDir(_))));
        assert!(matches!(sub.join(".VAULT"), Err(PathError::StateDir(_))));
        assert!(sub.join(".vaults").is_ok());
    }

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "a.md",
            "notes/todo.md",
            ".revisions/a.md",
            "sub/.vaults/x",
            "sub/x.vault",
            "ünïcode/ノート.md",
            ".syncignore",
            "a..b",
        ] {
            assert!(VaultPath::new(ok).is_ok(), "{ok:?} must be accepted");
        }
    }

    #[test]
    fn refuses_too_long_names() {
        assert!(matches!(
            VaultPath::new(&"x".repeat(256)),
            Err(PathError::TooLong(..))
        ));
    }

    #[test]
    fn parent_and_name() {
        let p = VaultPath::new("a/b/c.md").unwrap();
        assert_eq!(p.file_name(), "c.md");
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(VaultPath::new("c.md").unwrap().parent(), None);
    }

    #[test]
    fn byte_check_agrees_with_the_char_definition_for_every_char() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let text = c.encode_utf8(&mut buf);
            let expected = c == '/' || c == '\\' || c == '\0' || c.is_control();
            for name in [
                text.to_string(),
                format!("a{text}b"),
                format!("\u{e9}{text}"),
            ] {
                assert_eq!(has_bad_byte(name.as_bytes()), expected, "{c:?} in {name:?}");
            }
        }
    }

    #[test]
    fn fold_key_joins_case_and_normalisation_forms() {
        let nfc = VaultPath::new("Caf\u{e9}.md").unwrap();
        let nfd = VaultPath::new("cafe\u{301}.md").unwrap();
        assert_ne!(nfc, nfd);
        assert_eq!(nfc.fold_key(), nfd.fold_key());
    }

    proptest::proptest! {
        /// The one-pass check says "valid" exactly when the full checks do.
        #[test]
        fn plain_check_agrees_with_the_full_one(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "", ".", "..", ".vault", ".VAULT", "b c", "\\", "\u{85}", "\u{c2}x",
                    "\u{7f}", "\t", "é", "x:", "C:", "/", "ノート", ".revisions",
                ]),
                1..5,
            )
        ) {
            let text = parts.join("/");
            let full = {
                // The checks as they were before the fast path.
                let slow = || -> Result<(), PathError> {
                    if text.is_empty() || text.starts_with('/') || text.starts_with('\\')
                        || looks_like_drive(&text) || text.len() > MAX_PATH_BYTES {
                        return Err(PathError::Empty(String::new()));
                    }
                    for name in text.split('/') {
                        validate_name(name)?;
                        if is_state_dir(name) {
                            return Err(PathError::StateDir(String::new()));
                        }
                    }
                    Ok(())
                };
                slow().is_ok()
            };
            proptest::prop_assert_eq!(is_plainly_valid(text.as_bytes()), full, "{:?}", text);
            proptest::prop_assert_eq!(VaultPath::check(&text).is_ok(), full, "{:?}", text);
        }
    }

    proptest::proptest! {
        /// Checking only what a path adds to the folders it shares with a valid one gives the
        /// full check's answer.
        #[test]
        fn extension_check_agrees_with_the_full_one(
            before in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "é", "ノート", "x.md", ".vault"]),
                1..4,
            ),
            after in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "b", "", ".", "..", ".vault", "\\", "\u{85}", "\u{a9}", "\t", "é",
                    "x.md",
                ]),
                1..4,
            ),
            shared in 0usize..4,
        ) {
            let prev = before.join("/");
            proptest::prop_assume!(VaultPath::check(&prev).is_ok());
            let shared = shared.min(before.len() - 1);
            let mut parts: Vec<&str> = before[..shared].to_vec();
            parts.extend(&after);
            let text = parts.join("/");
            let common = prev.bytes().zip(text.bytes()).take_while(|(a, b)| a == b).count();
            let from = prev.as_bytes()[..common]
                .iter()
                .rposition(|&b| b == b'/')
                .map_or(0, |i| i + 1);
            proptest::prop_assert_eq!(
                VaultPath::check_extension(&text, from).is_ok(),
                VaultPath::check(&text).is_ok(),
                "{:?} after {:?}", text, prev
            );
        }
    }

    #[test]
    fn plain_check_refuses_long_names_and_paths() {
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        assert!(!is_plainly_valid(long.as_bytes()));
        assert!(is_plainly_valid("n".repeat(MAX_NAME_BYTES).as_bytes()));
        let deep = vec!["d"; MAX_PATH_BYTES / 2 + 1].join("/");
        assert!(!is_plainly_valid(deep.as_bytes()));
        assert!(VaultPath::check(&deep).is_err());
    }

    #[test]
    fn fold_key_agrees_with_its_definition() {
        // Its shortcuts (ASCII, names already in NFC) must give what NFC then lower case gives:
        // every printable ASCII character, and every string of up to three characters from a set
        // that composes, decomposes, changes length or depends on context when lower-cased.
        let definition = |text: &str| text.nfc().collect::<String>().to_lowercase();
        let printable: String = (0x20u8..0x7f).map(char::from).collect();
        let tricky = [
            'a', 'A', 'K', 'e', 'E', '.', '/', '\u{e9}', '\u{c9}', '\u{301}', '\u{327}',
            '\u{212a}', '\u{2126}', '\u{3a3}', '\u{130}', '\u{1100}', '\u{1161}', '\u{ac00}',
            '\u{f900}',
        ];
        let mut texts = vec![printable];
        for a in tricky {
            texts.push(format!("{a}"));
            for b in tricky {
                texts.push(format!("{a}{b}"));
                texts.extend(tricky.map(|c| format!("{a}{b}{c}")));
            }
        }
        for text in texts {
            let fast = VaultPath(Arc::from(text.as_str())).fold_key();
            assert_eq!(fast, definition(&text), "{text:?}");
        }
        // Non-ASCII names can fold to ASCII keys, so they join ASCII names' groups.
        let kelvin = VaultPath::new("\u{212a}elvin.md").unwrap();
        assert_eq!(
            kelvin.fold_key(),
            VaultPath::new("KELVIN.md").unwrap().fold_key()
        );
    }

    #[test]
    fn from_relative_rejects_non_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"bad\xffname"));
        assert!(matches!(
            VaultPath::from_relative(p),
            Err(PathError::NotUtf8(_))
        ));
    }

    #[test]
    fn a_name_spelled_in_another_normal_form_pairs_with_the_known_one() {
        let p = |s: &str| VaultPath::new(s).unwrap();
        let (nfc, nfd) = (p("a/caf\u{e9}.md"), p("a/cafe\u{301}.md"));
        let other = p("a/Caf\u{e9}.md");
        assert_eq!(
            respellings([&nfd, &p("x.md")], [&nfc, &other]),
            vec![(nfd.clone(), nfc.clone())]
        );
        // Case is a real difference; the same spelling is no respelling.
        assert!(respellings([&other], [&nfc]).is_empty());
        assert!(respellings([&nfc], [&nfc]).is_empty());
        // One known path takes one found path.
        assert_eq!(respellings([&nfd, &nfc], [&nfc]).len(), 1);
    }
}
