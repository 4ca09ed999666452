//! The pure half of `syncd service`: what the vault's unit is called, what its file says, and
//! how its command line is quoted for systemd. Functions of data only, so every rule is pinned
//! by a unit test below; the unit file and `systemctl --user` are handled in `mod.rs`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use vault::ObjectId;

/// The first line of every unit this command writes: a unit without it is someone else's, and
/// is never overwritten or removed.
pub(super) const MARKER: &str = "# Written by syncd service install";

/// Longest part of the vault folder's name kept in the unit name; the hash keeps it unique.
const NAME_PART_MAX: usize = 32;

/// The unit's name for the vault whose absolute (canonical) path is `vault`:
/// `vault-sync-<folder name>-<hash>.service`. The folder name is only there for people reading
/// `systemctl --user list-units`: bytes outside `[A-Za-z0-9_.]` become `-` (runs of them one
/// `-`), at most 32 are kept, and an empty result is `vault`. The 8 hex digits are the start of
/// the blake3 hash of the path's bytes, so two vaults with the same folder name get different
/// units, and the same path always gets the same one (which is how uninstall finds it).
pub(super) fn unit_name(vault: &Path) -> String {
    let name = vault
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let hash = ObjectId::of(vault.as_os_str().as_bytes()).to_hex();
    format!("vault-sync-{}-{}.service", name_part(&name), &hash[..8])
}

fn name_part(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(NAME_PART_MAX).collect();
    // Leading dots and dashes read badly; a trailing `-` would double the separator.
    out = out.trim_matches(['-', '.']).to_string();
    if out.is_empty() {
        "vault".to_string()
    } else {
        out
    }
}

/// One word of a systemd command line (systemd.service(5), "Command lines"), always in double
/// quotes so spaces and a lone `;` stay inside the word. systemd expands `%` specifiers in the
/// whole line first, then unquotes with C escapes, then (in arguments only, not in the
/// executable's path) replaces `$VAR`, so `%` is doubled everywhere and `$` only when
/// `substitutes_env`. Unit files must be UTF-8: bytes that are not, and control characters,
/// are written as `\xNN`, which systemd turns back into the same byte.
fn exec_word(word: &OsStr, substitutes_env: bool) -> String {
    let mut out = String::from("\"");
    for chunk in word.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '%' => out.push_str("%%"),
                '$' if substitutes_env => out.push_str("$$"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Why systemd would refuse `exe` as the program of `ExecStart=`, if it would: it accepts
/// quotes, backslashes and control characters in arguments but not in the executable's path
/// ("Executable name contains special characters").
pub(super) fn unusable_executable(exe: &Path) -> Option<String> {
    let bad = exe
        .as_os_str()
        .as_bytes()
        .iter()
        .find(|&&b| b < b' ' || b == 0x7f || matches!(b, b'"' | b'\'' | b'\\'))?;
    Some(format!(
        "systemd runs no program whose path holds quotes, backslashes or control characters, and the path of this syncd, `{}`, holds {:?}; put syncd in a folder without them (such as ~/.local/bin) and run `syncd service install` from there",
        exe.display(),
        char::from(*bad)
    ))
}

/// The `ExecStart=` value running `exe` with `args`.
pub(super) fn exec_line(exe: &Path, args: &[&OsStr]) -> String {
    let mut line = exec_word(exe.as_os_str(), false);
    for arg in args {
        line.push(' ');
        line.push_str(&exec_word(arg, true));
    }
    line
}

/// Free text for a setting that expands specifiers but does not unquote (`Description=`):
/// `%` doubled, control characters (a newline would end the setting) shown as `?`.
fn plain_value(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '%' => "%%".to_string(),
            c if c.is_control() => "?".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The unit file for the agent of the vault at `vault`, run by the syncd at `exe` (both
/// absolute).
///
/// Only hardening that works in a user manager without user namespaces is set (seccomp and
/// no_new_privs); the mount-namespace options (ProtectHome, ProtectSystem, PrivateTmp) would
/// hide or fail on a vault in the home folder or in /tmp. `Restart=on-failure` covers a crash
/// and an agent that refused to start because another one runs: it takes over within 5 s of
/// that one stopping.
pub(super) fn render_unit(exe: &Path, vault: &Path) -> String {
    let exec = exec_line(exe, &watch_args(vault));
    // The description ends with a quote, so a path ending in `\` cannot continue the line.
    let description = plain_value(&format!(
        "Vault Sync agent for \"{}\"",
        vault.to_string_lossy()
    ));
    format!(
        "{MARKER}; `syncd service uninstall` removes it, a new install replaces it.
# Edit with `systemctl --user edit UNIT` (a drop-in survives reinstalls), not here.
[Unit]
Description={description}

[Service]
Type=exec
ExecStart={exec}
Restart=on-failure
RestartSec=5
Environment=RUST_LOG=info
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native

[Install]
WantedBy=default.target
"
    )
}

pub(super) fn watch_args(vault: &Path) -> [&OsStr; 3] {
    [
        OsStr::new("watch"),
        OsStr::new("--vault"),
        vault.as_os_str(),
    ]
}

/// Whether a unit file's text was written by this command.
pub(super) fn is_ours(text: &str) -> bool {
    text.lines().next().is_some_and(|l| l.starts_with(MARKER))
}

/// The commands that enable and start the unit, for the user to run when syncd could not. A
/// replaced unit may be running with its old command, which `enable --now` would leave alone.
pub(super) fn start_commands(unit: &str, replaced: bool) -> String {
    if replaced {
        format!(
            "systemctl --user daemon-reload && systemctl --user enable {unit} && systemctl --user restart {unit}"
        )
    } else {
        format!("systemctl --user daemon-reload && systemctl --user enable --now {unit}")
    }
}

/// The cargo build folder (`target/`) holding `exe`, if it is in one: the nearest folder above
/// it that `is_cargo_target` says holds cargo's `CACHEDIR.TAG`. A unit that runs a binary from
/// there breaks on `cargo clean` and changes under the service with every rebuild.
pub(super) fn cargo_build_folder(
    exe: &Path,
    is_cargo_target: impl Fn(&Path) -> bool,
) -> Option<&Path> {
    exe.ancestors().skip(1).find(|dir| is_cargo_target(dir))
}

/// The program of the `ExecStart=` line of a unit `render_unit` wrote (its path is quoted, with
/// `%` doubled; it holds no quote, see [`unusable_executable`]).
pub(super) fn unit_program(text: &str) -> Option<PathBuf> {
    let rest = text.lines().find_map(|l| l.strip_prefix("ExecStart=\""))?;
    let (quoted, _) = rest.split_once('"')?;
    Some(PathBuf::from(quoted.replace("%%", "%")))
}

/// What `install` and `status` say of a unit whose program is in cargo's build folder.
pub(super) fn build_folder_note(exe: &Path, target: &Path) -> String {
    format!(
        "the service runs `{}`, a binary in cargo's build folder `{}`: `cargo clean` deletes it (the service then fails to start) and every rebuild replaces it under the service. For a service that outlives builds, install syncd to a stable place (`cargo install --path .` puts it in ~/.cargo/bin, or copy it to ~/.local/bin) and run `syncd service install` again from there",
        exe.display(),
        target.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn executables_systemd_refuses_are_named() {
        assert_eq!(
            unusable_executable(Path::new("/opt/my apps/50% $x/syncd")),
            None
        );
        for bad in ["/a\"b/syncd", "/it's/syncd", "/a\\b/syncd", "/a\nb/syncd"] {
            let why = unusable_executable(Path::new(bad)).expect(bad);
            assert!(why.contains("~/.local/bin"), "{why}");
        }
    }

    #[test]
    fn unit_names_are_readable_stable_and_distinct() {
        let a = unit_name(Path::new("/home/me/notes"));
        assert!(a.starts_with("vault-sync-notes-"), "{a}");
        assert!(a.ends_with(".service"));
        assert_eq!(a.len(), "vault-sync-notes-".len() + 8 + ".service".len());
        assert_eq!(a, unit_name(Path::new("/home/me/notes")), "stable");
        assert_ne!(
            a,
            unit_name(Path::new("/home/you/notes")),
            "same folder name"
        );
        assert_eq!(name_part("My Notes % 100$"), "My-Notes-100");
        assert_eq!(name_part("..hidden--vault-"), "hidden-vault");
        assert_eq!(name_part("Заметки"), "vault");
        assert_eq!(name_part(""), "vault");
        assert_eq!(name_part(&"x".repeat(100)).len(), NAME_PART_MAX);
        assert!(unit_name(Path::new("/")).starts_with("vault-sync-vault-"));
        // Only characters systemd allows in unit names.
        let odd = unit_name(Path::new("/tmp/a b%c\"d\\e\n"));
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{odd}"
        );
    }

    #[test]
    fn exec_words_are_quoted_for_systemd() {
        let w = |s: &str, env: bool| exec_word(OsStr::new(s), env);
        assert_eq!(w("watch", true), r#""watch""#);
        assert_eq!(w("/a b/c", true), r#""/a b/c""#);
        assert_eq!(w("100%", true), r#""100%%""#);
        assert_eq!(w("a$HOME", true), r#""a$$HOME""#);
        // systemd does not substitute variables in the executable's path.
        assert_eq!(w("/opt/a$b/syncd", false), r#""/opt/a$b/syncd""#);
        assert_eq!(w(r#"say "hi"\"#, true), r#""say \"hi\"\\""#);
        assert_eq!(w("a\nb\tc\u{7f}", true), r#""a\nb\tc\x7f""#);
        assert_eq!(w(";", true), r#"";""#);
        assert_eq!(w("it's é", true), r#""it's é""#);
        let latin1 = OsString::from_vec(b"caf\xe9".to_vec());
        assert_eq!(exec_word(&latin1, true), r#""caf\xe9""#);
        assert_eq!(
            exec_line(
                Path::new("/usr/bin/syncd"),
                &watch_args(Path::new("/v/50% off"))
            ),
            r#""/usr/bin/syncd" "watch" "--vault" "/v/50%% off""#
        );
    }

    #[test]
    fn the_unit_runs_the_agent_and_is_marked_ours() {
        let text = render_unit(
            Path::new("/usr/bin/syncd"),
            Path::new("/home/me/100% notes"),
        );
        assert!(is_ours(&text));
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            r#"ExecStart="/usr/bin/syncd" "watch" "--vault" "/home/me/100%% notes""#,
            r#"Description=Vault Sync agent for "/home/me/100%% notes""#,
            "Restart=on-failure",
            "RestartSec=5",
            "WantedBy=default.target",
            "[Unit]",
            "[Service]",
            "[Install]",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("ProtectHome"), "would hide a vault in home");
        let weird = render_unit(Path::new("/s"), Path::new("/v/a\nb\\"));
        assert!(
            weird
                .lines()
                .any(|l| l == r#"Description=Vault Sync agent for "/v/a?b\""#),
            "{weird}"
        );
        assert!(!is_ours("[Unit]\nDescription=mine\n"));
        assert!(
            !is_ours(&format!("[Unit]\n{MARKER}\n")),
            "only as the first line"
        );
    }

    #[test]
    fn a_program_in_cargos_build_folder_is_noticed_and_read_back_from_the_unit() {
        let target = Path::new("/home/me/src/vault-sync/target");
        let is_target = |d: &Path| d == target;
        let exe = Path::new("/home/me/src/vault-sync/target/release/syncd");
        assert_eq!(cargo_build_folder(exe, is_target), Some(target));
        assert_eq!(
            cargo_build_folder(Path::new("/usr/local/bin/syncd"), is_target),
            None
        );
        let unit = render_unit(
            Path::new("/opt/100% sync/syncd"),
            Path::new("/home/me/notes"),
        );
        assert_eq!(
            unit_program(&unit),
            Some(PathBuf::from("/opt/100% sync/syncd"))
        );
        assert_eq!(unit_program("[Service]\n"), None);
    }
}
