//! The server's web view through a real `vault-server`, real `syncd` devices and a real
//! headless Chromium (chromedriver): logging in and out, reading notes, ticking tasks,
//! searching, history and revisions, and what hostile input must never do. One module per
//! part of docs/web.md.

#[path = "../common/mod.rs"]
mod common;

mod history;
mod hostile;
mod login;
mod notes;
mod screenshots;
mod search;
mod security;
mod tasks;
