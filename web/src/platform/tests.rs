use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use tower::ServiceExt;

use super::*;
use crate::{Backend, LoginRefused, VaultAccess, WebConfig};

struct NoAccounts;

impl Backend for NoAccounts {
    fn check_password(&self, _: &str, _: &str, _: IpAddr) -> Result<(), LoginRefused> {
        Err(LoginRefused::WrongPassword)
    }
    fn user_exists(&self, _: &str) -> Option<bool> {
        Some(false)
    }
    fn vault_names(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn vault(&self, _: &str, _: &str) -> Option<Arc<dyn VaultAccess>> {
        None
    }
}

/// The catch-all beside the routes the other parts add (as `router` merges them): it must
/// neither clash with them at start-up nor take their requests.
fn app(dir: &std::path::Path) -> Router {
    let web = Web::new(
        Arc::new(NoAccounts),
        WebConfig {
            folder: dir.to_path_buf(),
            tls: false,
        },
    );
    let others: Router<Arc<Web>> = Router::new()
        .route("/v/{vault}/", get(|| async { "root" }))
        .route("/v/{vault}/n/{*path}", get(|| async { "note" }))
        .route("/v/{vault}/raw/{*path}", get(|| async { "raw" }))
        .route("/v/{vault}/tasks", get(|| async { "tasks" }))
        .route("/v/{vault}/tasks/toggle", post(|| async { "toggle" }))
        .route("/v/{vault}/f/{*path}", get(|| async { "folder" }))
        .route("/v/{vault}/search", get(|| async { "search" }))
        .route("/v/{vault}/history", get(|| async { "history" }))
        .route(
            "/v/{vault}/history/{*path}",
            get(|| async { "file history" }),
        )
        .route("/v/{vault}/diff", get(|| async { "diff" }))
        .route(
            "/v/{vault}/version/{snapshot}/{*path}",
            get(|| async { "version" }),
        )
        .route("/v/{vault}/revisions", get(|| async { "revisions" }))
        .route("/v/{vault}/revisions/restore", post(|| async { "restore" }));
    others.merge(routes()).with_state(web)
}

async fn answer(app: Router, path: &str) -> (StatusCode, String, String) {
    let res = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn the_catch_all_leaves_the_other_routes_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (path, want) in [
        ("/v/notes/", "root"),
        ("/v/notes/n/a/b.md", "note"),
        ("/v/notes/raw/a.png", "raw"),
        ("/v/notes/tasks", "tasks"),
        ("/v/notes/f/a/b/", "folder"),
        ("/v/notes/search?q=x", "search"),
        ("/v/notes/history", "history"),
        ("/v/notes/history/a/b.md", "file history"),
        ("/v/notes/diff?path=a.md", "diff"),
        ("/v/notes/version/0123/a.md", "version"),
        ("/v/notes/revisions", "revisions"),
    ] {
        let (status, _, body) = answer(app(dir.path()), path).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, want), "{path}");
    }
}

#[tokio::test]
async fn unclaimed_pages_without_a_session_go_to_the_login_page_and_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for path in [
        "/v/notes/nothing",
        "/v/notes/folder/x/",
        "/v/other/histories/a.md",
        "/v/notes",
        "/v",
        "/v/",
    ] {
        let (status, location, _) = answer(app(dir.path()), path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            location.starts_with("/login?next=%2Fv"),
            "{path}: {location}"
        );
    }
    for path in ["/v/notes/raw/", "/v/x/version/1/"] {
        let (status, _, _) = answer(app(dir.path()), path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[test]
fn file_requests_are_told_from_pages() {
    assert!(is_file_request("notes/raw/a.png"));
    assert!(is_file_request("notes/version/0123/a.md"));
    assert!(!is_file_request("notes/n/raw/a.md"));
    assert!(!is_file_request("raw/x"));
    assert!(!is_file_request("notes"));
}

#[test]
fn the_not_found_page_is_html_with_the_security_headers() {
    let res = not_found_page();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let h = res.headers();
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], crate::CSP);
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}
