//! Screenshots of the main pages on the fixture vault, taken by the real browser: the README
//! shows them (docs/images/). `VAULT_SYNC_SCREENSHOTS=docs/images cargo test --test web
//! screenshots::` writes them there; without it they go to a temp folder and are only checked.

use std::path::PathBuf;

use crate::common::web::{Browser, WebWorld};

/// (file name, page, a word its `<h1>` must hold): the vault list, a folder, a note, the open
/// tasks, a search, the history and the revisions.
const SHOTS: &[(&str, &str, &str)] = &[
    ("web-vaults.png", "/", "Your vaults"),
    ("web-folder.png", "/v/notes/", "notes"),
    ("web-note.png", "/v/notes/n/Home.md", "Home"),
    ("web-tasks.png", "/v/notes/tasks?status=open", "Tasks"),
    ("web-search.png", "/v/notes/search?q=plan", "Search"),
    ("web-history.png", "/v/notes/history", "History"),
    ("web-revisions.png", "/v/notes/revisions", "Revisions"),
];

/// What an error page's `<h1>` says (templates/error.html and the login page).
const NOT_A_PAGE: &[&str] = &[
    "Not found",
    "Refused",
    "Bad request",
    "Something went wrong",
    "Log in",
];

/// Width and height of a PNG (its IHDR chunk), if `bytes` is one.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let signature = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || &bytes[..8] != signature || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    Some((be(16), be(20)))
}

#[test]
fn screenshots_of_the_main_pages() {
    let dir = std::env::var_os("VAULT_SYNC_SCREENSHOTS").map(PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let out = dir.unwrap_or_else(|| temp.path().to_path_buf());
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.rt.block_on(b.client.set_window_size(1100, 800)).unwrap();
    b.login(&w.server.url);
    let mut problems = Vec::new();
    for (file, path, title) in SHOTS {
        b.goto(&w.url(path));
        let h1 = b.text("main h1");
        if NOT_A_PAGE.iter().any(|bad| h1.starts_with(bad)) || !h1.contains(title) {
            problems.push(format!(
                "{path}: the page's <h1> is {h1:?}, not a {title:?} page"
            ));
            continue;
        }
        let target = out.join(file);
        b.screenshot(&target);
        let png = std::fs::read(&target).unwrap();
        match png_size(&png) {
            Some((width, height)) if width >= 600 && height >= 400 && png.len() > 10_000 => {}
            other => problems.push(format!(
                "{path}: {} is not a real screenshot ({other:?}, {} bytes)",
                target.display(),
                png.len()
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn png_sizes_are_read_from_the_header() {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(1100u32.to_be_bytes());
    png.extend(800u32.to_be_bytes());
    assert_eq!(png_size(&png), Some((1100, 800)));
    assert_eq!(png_size(b"<html>not an image</html>"), None);
}
