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

// --- history and revisions (docs/web.md "History and revisions") ---

/// The vault's snapshot log: `/v/{vault}/history`, older pages `?before={snapshot}`.
pub fn history(vault_name: &str, before: Option<&str>) -> String {
    match before {
        None => format!("{}history", vault(vault_name)),
        Some(id) => format!("{}history?before={}", vault(vault_name), segment(id)),
    }
}

/// One file's history: `/v/{vault}/history/{path}`.
pub fn file_history(vault_name: &str, file: &str) -> String {
    format!("{}history/{}", vault(vault_name), path(file))
}

/// A file's bytes as snapshot `snapshot` holds them: `/v/{vault}/version/{snapshot}/{path}`
/// (`download`: always as an attachment).
pub fn version(vault_name: &str, snapshot: &str, file: &str, download: bool) -> String {
    let url = format!(
        "{}version/{}/{}",
        vault(vault_name),
        segment(snapshot),
        path(file)
    );
    if download { url + "?download=1" } else { url }
}

/// The diff of `file` between two snapshots (`to` `None`: the head).
pub fn diff(vault_name: &str, file: &str, from: &str, to: Option<&str>) -> String {
    let mut url = format!(
        "{}diff?path={}&from={}",
        vault(vault_name),
        segment(file),
        segment(from)
    );
    if let Some(to) = to {
        url.push_str("&to=");
        url.push_str(&segment(to));
    }
    url
}

/// The diff of the current version against the revision `rev` (a `.revisions/` path).
pub fn diff_revision(vault_name: &str, rev: &str) -> String {
    format!("{}diff?rev={}", vault(vault_name), segment(rev))
}

/// The revisions page: `/v/{vault}/revisions`.
pub fn revisions(vault_name: &str) -> String {
    format!("{}revisions", vault(vault_name))
}

/// Where the revisions page's Restore buttons post.
pub fn restore(vault_name: &str) -> String {
    format!("{}revisions/restore", vault(vault_name))
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
