//! Which paths of a vault sync: built-in rules plus the vault's own `.syncignore`.
//!
//! [`IgnoreRules::is_ignored`] is a pure decision on a [`VaultPath`] (as ripgrep's
//! `Gitignore::matched` is): it never touches the disk, so scan, watcher and tests agree on the
//! same answer for the same input. Matching follows git: the last matching pattern wins, a `!`
//! pattern re-includes, and nothing inside an ignored folder can be re-included (so a scan that
//! does not descend into an ignored folder sees exactly what this function allows).
//!
//! Three layers, in order of strength:
//! 1. Always ignored, whatever `.syncignore` says: the agent's state folder `.vault/` at the top
//!    (any letter case, since macOS and Windows would treat `.VAULT` as the same folder) and the
//!    temporary files this crate writes (names starting with [`crate::fsutil::TEMP_PREFIX`]).
//! 2. Never ignored, whatever a pattern says: `.revisions/` at the top (losing versions of
//!    conflicts live there; ignoring it would lose them on other devices) and the top-level
//!    `.syncignore` (every device must apply the same rules). Their contents follow the rules.
//! 3. [`DEFAULT_IGNORES`], then the lines of `.syncignore` (gitignore syntax), so a user line
//!    such as `!*.tmp` re-includes a default.
//!
//! Patterns are case-sensitive, as in git on Linux, so every device decides the same way.

use std::io;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::fsutil::TEMP_PREFIX;
use crate::id::ObjectId;
use crate::paths::{REVISIONS_DIR, STATE_DIR, VaultPath};

/// The name of the per-vault ignore file, at the top of the vault.
pub const SYNCIGNORE_FILE: &str = ".syncignore";

/// Built-in patterns (gitignore syntax): files that operating systems, editors and browsers
/// create beside real notes and that would only cause noise and conflicts if synced. A
/// `.syncignore` line starting with `!` re-includes any of them.
pub const DEFAULT_IGNORES: &[&str] = &[
    // Operating-system litter.
    ".DS_Store",
    "._*",
    ".Spotlight-V100",
    ".fseventsd",
    ".TemporaryItems",
    ".Trashes",
    ".Trash-*",
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "Desktop.ini",
    "$RECYCLE.BIN/",
    // Editor swap, backup and lock files.
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "\\#*#",
    "4913",
    "*.tmp",
    "~$*",
    ".~lock.*#",
    // Atomic-save temporaries: JetBrains "safe write", GNOME's gedit/GIO, Kate's swap.
    "*___jb_tmp___",
    "*___jb_old___",
    ".goutputstream-*",
    "*.kate-swp",
    // Partial downloads.
    "*.part",
    "*.crdownload",
    "*.download",
    // Obsidian's per-device window layout: changes on every click and differs per device.
    "/.obsidian/workspace*.json",
    // A git repository's internals (a vault kept in git, e.g. with the Obsidian Git plugin):
    // two devices rewriting `.git/index` or packs would only produce conflicts and damage the
    // repository; each device keeps its own clone. `!.git/` in `.syncignore` syncs it anyway.
    ".git/",
];

/// The `.syncignore` file could not be read or has a line that is not a valid pattern.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IgnoreError {
    #[error("reading the ignore file `{path}`: {source}; check its permissions or remove it")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("ignore file `{path}` is not valid UTF-8; save it as UTF-8 text")]
    NotUtf8 { path: PathBuf },
    #[error(
        "`.syncignore` line {line}: `{pattern}` is not a valid pattern ({reason}); fix or delete the line"
    )]
    BadPattern {
        line: usize,
        pattern: String,
        reason: String,
    },
}

/// The ignore rules of one vault. Cheap to share between threads (`Sync`).
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    matcher: Gitignore,
    fingerprint: ObjectId,
}

/// Bumped whenever the meaning of a rule changes in code (not in [`DEFAULT_IGNORES`], which
/// the fingerprint covers), so old fingerprints stop matching.
const RULES_LOGIC_VERSION: u32 = 1;

impl IgnoreRules {
    /// Rules from the built-in defaults plus `syncignore_text` (the content of `.syncignore`,
    /// if the vault has one).
    pub fn new(syncignore_text: Option<&str>) -> Result<IgnoreRules, IgnoreError> {
        // Root `.` tells the matcher not to strip any prefix: paths are already vault-relative.
        let mut builder = GitignoreBuilder::new(".");
        for pattern in DEFAULT_IGNORES {
            builder
                .add_line(None, pattern)
                .map_err(|e| bad_pattern(0, pattern, e))?;
        }
        for (i, line) in syncignore_text.unwrap_or("").lines().enumerate() {
            builder
                .add_line(Some(PathBuf::from(SYNCIGNORE_FILE)), line)
                .map_err(|e| bad_pattern(i + 1, line, e))?;
        }
        let matcher = builder.build().map_err(|e| bad_pattern(0, "", e))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&RULES_LOGIC_VERSION.to_le_bytes());
        for pattern in DEFAULT_IGNORES {
            hasher.update(pattern.as_bytes()).update(b"\n");
        }
        hasher
            .update(b"\0")
            .update(syncignore_text.unwrap_or("").as_bytes());
        Ok(IgnoreRules {
            matcher,
            fingerprint: ObjectId(*hasher.finalize().as_bytes()),
        })
    }

    /// Equal for rules that ignore exactly the same paths (same defaults, same `.syncignore`,
    /// same program logic). The stat cache records it: a path it holds was kept by the rules
    /// of its scan, so under the same rules the next scan need not match it again.
    pub fn fingerprint(&self) -> ObjectId {
        self.fingerprint
    }

    /// Rules for the vault at `vault_root`: defaults plus `<root>/.syncignore` if it exists.
    pub fn load(vault_root: &Path) -> Result<IgnoreRules, IgnoreError> {
        let path = vault_root.join(SYNCIGNORE_FILE);
        let text = match crate::vfs::read(&path) {
            Ok(bytes) => Some(
                String::from_utf8(bytes)
                    .map_err(|_| IgnoreError::NotUtf8 { path: path.clone() })?,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(IgnoreError::Read { path, source }),
        };
        IgnoreRules::new(text.as_deref())
    }

    /// Whether `path` (a folder if `is_dir`) is left out of sync. A path inside an ignored
    /// folder is ignored too, as in git.
    pub fn is_ignored(&self, path: &VaultPath, is_dir: bool) -> bool {
        let comps: Vec<&str> = path.components().collect();
        if comps.iter().any(|c| c.starts_with(TEMP_PREFIX)) {
            return true;
        }
        match comps.first() {
            Some(first) if first.eq_ignore_ascii_case(STATE_DIR) => return true,
            Some(&REVISIONS_DIR) if comps.len() == 1 => return false,
            Some(&SYNCIGNORE_FILE) if comps.len() == 1 && !is_dir => return false,
            _ => {}
        }
        // Folders from the top down: an ignored folder hides everything below it. The
        // protected `.revisions` folder is skipped here, as `is_ignored` never ignores it.
        let text = path.as_str();
        let mut end = 0;
        for (i, comp) in comps.iter().enumerate() {
            end += comp.len();
            let is_last = i + 1 == comps.len();
            let protected = i == 0 && *comp == REVISIONS_DIR;
            if !protected {
                let here = Path::new(&text[..end]);
                if self.matcher.matched(here, is_dir || !is_last).is_ignore() {
                    return true;
                }
            }
            end += 1; // the `/` separator
        }
        false
    }
}

impl IgnoreRules {
    /// [`IgnoreRules::is_ignored`] for a walk that never enters an ignored folder: every
    /// ancestor of `path` is known not to be ignored, so only `path` itself is matched (one
    /// match per file instead of one per folder level).
    pub fn is_ignored_below_kept_folders(&self, path: &VaultPath, is_dir: bool) -> bool {
        let name = path.file_name();
        if name.starts_with(TEMP_PREFIX) {
            return true;
        }
        if !path.as_str().contains('/') {
            if name.eq_ignore_ascii_case(STATE_DIR) {
                return true;
            }
            if name == REVISIONS_DIR || (name == SYNCIGNORE_FILE && !is_dir) {
                return false;
            }
        }
        self.matcher
            .matched(Path::new(path.as_str()), is_dir)
            .is_ignore()
    }
}

fn bad_pattern(line: usize, pattern: &str, err: ignore::Error) -> IgnoreError {
    IgnoreError::BadPattern {
        line,
        pattern: pattern.to_string(),
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a test name, the `.syncignore` text (or `None`), the path, `dir` or `file`,
    /// and whether the path must be ignored.
    macro_rules! ignored {
        ($($name:ident: $syncignore:expr, $path:expr, $kind:ident => $expected:expr;)*) => {$(
            #[test]
            fn $name() {
                let rules = IgnoreRules::new($syncignore).expect("rules build");
                let path = VaultPath::new($path).expect("test path is valid");
                let is_dir = stringify!($kind) == "dir";
                assert_eq!(
                    rules.is_ignored(&path, is_dir),
                    $expected,
                    "{} ({}) with .syncignore {:?}",
                    $path,
                    stringify!($kind),
                    $syncignore
                );
            }
        )*};
    }

    const NONE: Option<&str> = None;

    ignored! {
        // Ordinary content syncs.
        note_syncs: NONE, "notes/todo.md", file => false;
        folder_syncs: NONE, "notes", dir => false;
        attachment_syncs: NONE, "img/photo.png", file => false;
        revisions_folder_syncs: NONE, ".revisions", dir => false;
        revision_file_syncs: NONE, ".revisions/a.2024-01-01.md", file => false;
        syncignore_file_syncs: NONE, ".syncignore", file => false;
        obsidian_config_syncs: NONE, ".obsidian/app.json", file => false;
        tilde_inside_name_syncs: NONE, "a~b.md", file => false;
        hash_inside_name_syncs: NONE, "c#notes.md", file => false;
        number_other_than_4913_syncs: NONE, "4914", file => false;
        vaults_folder_syncs: NONE, "sub/.vaults/x.md", file => false;

        // Always ignored, and cannot be re-included.
        temp_file_at_top: NONE, ".vault-tmp-0123abcd", file => true;
        git_folder: NONE, "notes/.git", dir => true;
        git_internals: NONE, ".git/index", file => true;
        git_reincluded: Some("!.git/"), ".git", dir => false;
        a_file_named_git_syncs: NONE, "git.md", file => false;
        temp_file_in_folder: NONE, "notes/.vault-tmp-0123abcd", file => true;
        temp_file_not_reincluded: Some("!.vault-tmp-*"), "a/.vault-tmp-01", file => true;

        // Defaults.
        mac_ds_store: NONE, "notes/.DS_Store", file => true;
        mac_resource_fork: NONE, "._note.md", file => true;
        windows_thumbs: NONE, "img/Thumbs.db", file => true;
        windows_desktop_ini: NONE, "desktop.ini", file => true;
        vim_swap: NONE, "notes/.todo.md.swp", file => true;
        vim_swap_swo: NONE, ".todo.md.swo", file => true;
        vim_swap_swx: NONE, ".todo.md.swx", file => true;
        vim_probe_file: NONE, "notes/4913", file => true;
        backup_tilde: NONE, "todo.md~", file => true;
        emacs_lock: NONE, "notes/.#todo.md", file => true;
        emacs_autosave: NONE, "notes/#todo.md#", file => true;
        tmp_file: NONE, "x.tmp", file => true;
        office_lock: NONE, "~$report.docx", file => true;
        libreoffice_lock: NONE, ".~lock.report.odt#", file => true;
        jetbrains_safe_write_tmp: NONE, "notes/todo.md___jb_tmp___", file => true;
        jetbrains_safe_write_old: NONE, "todo.md___jb_old___", file => true;
        gio_atomic_save: NONE, "notes/.goutputstream-X1Y2Z3", file => true;
        kate_swap: NONE, ".todo.md.kate-swp", file => true;
        partial_download: NONE, "video.mp4.part", file => true;
        chrome_download: NONE, "a.pdf.crdownload", file => true;
        safari_download_folder: NONE, "a.pdf.download", dir => true;
        inside_safari_download: NONE, "a.pdf.download/data", file => true;
        obsidian_workspace: NONE, ".obsidian/workspace.json", file => true;
        obsidian_workspace_mobile: NONE, ".obsidian/workspace-mobile.json", file => true;
        obsidian_workspace_only_at_top: NONE, "sub/.obsidian/workspace.json", file => false;
        linux_trash: NONE, ".Trash-1000", dir => true;
        inside_linux_trash: NONE, ".Trash-1000/files/a.md", file => true;
        mac_trashes: NONE, ".Trashes", dir => true;
        recycle_bin_folder: NONE, "$RECYCLE.BIN", dir => true;
        recycle_bin_only_as_folder: NONE, "$RECYCLE.BIN", file => false;

        // `.syncignore` patterns.
        user_pattern_ignores: Some("*.log\n"), "logs/a.log", file => true;
        user_folder_pattern: Some("build/\n"), "build", dir => true;
        user_folder_hides_contents: Some("build/\n"), "build/out/x.md", file => true;
        user_folder_pattern_not_a_file: Some("build/\n"), "build", file => false;
        user_anchored_pattern: Some("/drafts\n"), "drafts/a.md", file => true;
        user_anchored_only_at_top: Some("/drafts\n"), "x/drafts/a.md", file => false;
        user_comment_ignored: Some("# *.md\n"), "a.md", file => false;
        user_blank_lines_fine: Some("\n\n  \n"), "a.md", file => false;
        user_crlf_lines: Some("*.log\r\n*.bak\r\n"), "a.bak", file => true;
        user_reincludes_default: Some("!*.tmp\n"), "keep.tmp", file => false;
        user_reincludes_one_file: Some("*.pdf\n!keep.pdf\n"), "keep.pdf", file => false;
        user_reinclude_then_ignore: Some("*.pdf\n!keep.pdf\n"), "other.pdf", file => true;
        user_cannot_reinclude_in_ignored_folder:
            Some("build/\n!build/keep.md\n"), "build/keep.md", file => true;
        user_can_reinclude_with_star: Some("build/*\n!build/keep.md\n"), "build/keep.md", file => false;
        user_double_star: Some("**/cache/**\n"), "a/b/cache/x", file => true;

        // What no pattern can change.
        revisions_protected_from_user: Some(".*\n"), ".revisions", dir => false;
        revision_contents_follow_rules: Some("*.pdf\n"), ".revisions/a.pdf", file => true;
        syncignore_protected_from_user: Some(".*\n"), ".syncignore", file => false;
        other_dotfiles_follow_user: Some(".*\n"), ".obsidian", dir => true;
        nested_syncignore_is_ordinary: Some("**/.syncignore\n"), "a/.syncignore", file => true;
    }

    #[test]
    fn state_dir_is_ignored_in_any_case_even_if_reincluded() {
        // `VaultPath` itself refuses `.vault` at any depth, so the rule is checked through the
        // only door left: the matcher must not be able to re-include it either.
        let rules = IgnoreRules::new(Some("!.vault\n!.vault/**\n!.VAULT\n")).unwrap();
        for p in [
            ".vault",
            ".VAULT",
            ".Vault/x",
            "sub/.vault/token",
            "a/b/.VAULT",
        ] {
            assert!(VaultPath::new(p).is_err(), "{p} must never be a vault path");
        }
        assert!(!rules.is_ignored(&VaultPath::new("a.md").unwrap(), false));
    }

    #[test]
    fn defaults_all_parse() {
        for pattern in DEFAULT_IGNORES {
            let mut b = GitignoreBuilder::new(".");
            assert!(
                b.add_line(None, pattern).is_ok(),
                "{pattern} does not parse"
            );
        }
    }

    #[test]
    fn bad_pattern_names_the_line() {
        let err = IgnoreRules::new(Some("*.log\na{b\n")).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, IgnoreError::BadPattern { line: 2, .. }),
            "{msg}"
        );
        assert!(msg.contains("line 2") && msg.contains("a{b"), "{msg}");
    }

    #[test]
    fn load_reads_syncignore_or_uses_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = VaultPath::new("a.log").unwrap();
        let rules = IgnoreRules::load(dir.path()).unwrap();
        assert!(!rules.is_ignored(&p, false));
        assert!(rules.is_ignored(&VaultPath::new("a.swp").unwrap(), false));
        std::fs::write(dir.path().join(SYNCIGNORE_FILE), "*.log\n").unwrap();
        let rules = IgnoreRules::load(dir.path()).unwrap();
        assert!(rules.is_ignored(&p, false));
    }

    #[test]
    fn load_refuses_non_utf8_syncignore() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SYNCIGNORE_FILE), b"\xff\xfe*.log\n").unwrap();
        let err = IgnoreRules::load(dir.path()).unwrap_err();
        assert!(matches!(err, IgnoreError::NotUtf8 { .. }), "{err}");
    }

    #[test]
    fn the_walk_shortcut_agrees_wherever_the_walk_reaches() {
        let rules =
            IgnoreRules::new(Some("build/\n*.log\n!keep.log\ndocs/**/draft-*\n/top.md\n")).unwrap();
        let paths = [
            "a.md",
            "top.md",
            "x/top.md",
            "build",
            "x/build",
            "x/build/y.md",
            "app.log",
            "x/keep.log",
            "docs/a/draft-1.md",
            "docs/draft-2.md",
            ".revisions",
            ".revisions/a.md",
            ".syncignore",
            ".DS_Store",
            "n/.DS_Store",
            ".obsidian/workspace.json",
            ".obsidian/app.json",
            "n/.vault-tmp-0123456789abcdef",
            "n/4913",
            "n/a.md~",
        ];
        for text in paths {
            let path = VaultPath::new(text).unwrap();
            let mut ancestors_kept = true;
            let mut dir = path.parent();
            while let Some(d) = dir {
                ancestors_kept &= !rules.is_ignored(&d, true);
                dir = d.parent();
            }
            if !ancestors_kept {
                continue;
            }
            for is_dir in [false, true] {
                assert_eq!(
                    rules.is_ignored_below_kept_folders(&path, is_dir),
                    rules.is_ignored(&path, is_dir),
                    "{text} (dir: {is_dir})"
                );
            }
        }
    }
}
