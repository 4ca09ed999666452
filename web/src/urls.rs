//! The web view's URLs (docs/web.md lists them; bookmarks keep working), built in one place.
//! A vault path goes into a URL percent-encoded segment by segment, `/` kept.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::WebError;
use vault::paths::VaultPath;

/// Everything but unreserved characters is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One segment (a vault name, a file name) percent-encoded.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A vault path percent-encoded, `/` kept between its segments.
pub fn path(p: &str) -> String {
    p.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// `/v/{vault}/`
pub fn vault(vault: &str) -> String {
    format!("/v/{}/", segment(vault))
}

/// A folder listing: `/v/{vault}/` for the root, `/v/{vault}/f/{path}/` below.
pub fn folder(vault_name: &str, folder: &str) -> String {
    if folder.is_empty() {
        vault(vault_name)
    } else {
        format!("{}f/{}/", vault(vault_name), path(folder))
    }
}

/// A rendered note (or a file's page): `/v/{vault}/n/{path}`.
pub fn note(vault_name: &str, file: &str) -> String {
    format!("{}n/{}", vault(vault_name), path(file))
}

/// A file's bytes, current version: `/v/{vault}/raw/{path}`.
pub fn raw(vault_name: &str, file: &str) -> String {
    format!("{}raw/{}", vault(vault_name), path(file))
}

// --- search ---

/// The search page of a vault: `/v/{vault}/search` (the query goes in `?q=`).
pub fn search(vault_name: &str) -> String {
    format!("{}search", vault(vault_name))
}

// --- end search ---

/// A path taken from a URL (already percent-decoded by the router) as a vault path: `..`,
/// `.vault/`, absolute paths and the like are refused with a 404 that names nothing.
pub fn parse_path(text: &str) -> Result<VaultPath, WebError> {
    let trimmed = text.trim_end_matches('/');
    VaultPath::new(trimmed)
        .map_err(|e| WebError::not_found(format!("there is no file `{text}` in this vault ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_per_segment() {
        assert_eq!(path("a b/c#d?.md"), "a%20b/c%23d%3F.md");
        assert_eq!(
            note("my vault", "日記/x.md"),
            "/v/my%20vault/n/%E6%97%A5%E8%A8%98/x.md"
        );
        assert_eq!(folder("v", ""), "/v/v/");
        assert_eq!(folder("v", "a/b"), "/v/v/f/a/b/");
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            ".vault/config.toml",
            "a/.vault/x",
            "/etc/passwd",
            "",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_path("a/b.md").unwrap().as_str(), "a/b.md");
    }
}
