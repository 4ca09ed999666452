//! Logging in and out, sessions, CSRF, and what a visitor without a session gets.

use crate::common::web::{Browser, USER, WebClient, WebWorld};

#[test]
fn a_visitor_without_a_session_is_sent_to_the_login_page() {
    let w = WebWorld::with_fixture();
    let c = WebClient::new(&w.server.url);
    let page = c.get("/");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login?next=%2F"));
}

#[test]
fn logging_in_in_a_browser_shows_the_vaults() {
    let w = WebWorld::with_fixture();
    let b = Browser::start();
    b.login(&w.server.url);
    assert!(b.source().contains(USER));
    assert!(b.text("main").contains("notes"));
}
