//! Vault-relative paths: the one place that decides which paths may exist in a vault.
//!
//! Every path that comes from outside (a tree from the hub, a command-line argument, a request)
//! becomes a [`VaultPath`] before it touches the disk, so nothing can address a file outside the
//! vault or inside `.vault/`. Paths use `/` as separator on every platform and are compared by
//! their exact bytes (as git does); [`VaultPath::fold_key`] gives the case- and
//! normalisation-insensitive key used to spot names that would collide on macOS or Windows.

use std::fmt;
use std::path::{Path, PathBuf};

use unicode_normalization::UnicodeNormalization;

/// The folder inside a vault that holds the agent's own state. Never synced.
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
    #[error("path `{0}` points into `.vault/`, the agent's private state")]
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
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control())
    {
        return Err(PathError::BadCharacter(name.escape_debug().to_string()));
    }
    Ok(())
}

fn is_state_dir(first: &str) -> bool {
    first.eq_ignore_ascii_case(STATE_DIR)
}

/// A validated, normal, relative path inside a vault, such as `notes/todo.md`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VaultPath(String);

impl VaultPath {
    /// Validate `text` (`/`-separated) as a path inside the vault.
    pub fn new(text: &str) -> Result<VaultPath, PathError> {
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
        for (i, name) in text.split('/').enumerate() {
            validate_name(name).map_err(|e| match e {
                PathError::Empty(_) => PathError::Empty(text.to_string()),
                PathError::DotComponent(_) => PathError::DotComponent(text.to_string()),
                PathError::BadCharacter(_) => {
                    PathError::BadCharacter(text.escape_debug().to_string())
                }
                other => other,
            })?;
            if i == 0 && is_state_dir(name) {
                return Err(PathError::StateDir(text.to_string()));
            }
        }
        Ok(VaultPath(text.to_string()))
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
        // `self` is valid, so only the new name and the total length need checking (the scan
        // joins every file name of the vault this way).
        let text = format!("{}/{}", self.0, name);
        if text.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong(
                text.chars().take(80).collect(),
                text.len(),
            ));
        }
        Ok(VaultPath(text))
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
            .map(|i| VaultPath(self.0[..i].to_string()))
    }

    /// The file's location under `root` on this platform.
    pub fn to_fs_path(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for c in self.components() {
            p.push(c);
        }
        p
    }

    /// Whether the path lies in `.revisions/`.
    pub fn is_revision(&self) -> bool {
        self.components().next() == Some(REVISIONS_DIR)
    }

    /// Key under which two paths collide on a case-insensitive, normalising filesystem
    /// (macOS, Windows): Unicode NFC, then lower case.
    pub fn fold_key(&self) -> String {
        self.0.nfc().collect::<String>().to_lowercase()
    }
}

fn looks_like_drive(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
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
    }

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "a.md",
            "notes/todo.md",
            ".revisions/a.md",
            "sub/.vault/x",
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
    fn fold_key_joins_case_and_normalisation_forms() {
        let nfc = VaultPath::new("Caf\u{e9}.md").unwrap();
        let nfd = VaultPath::new("cafe\u{301}.md").unwrap();
        assert_ne!(nfc, nfd);
        assert_eq!(nfc.fold_key(), nfd.fold_key());
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
}
