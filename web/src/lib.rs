//! The web view of `vault-server` (docs/web.md): the vaults as their hubs hold them, read,
//! searched and ticked in a browser. Server-rendered HTML (askama templates, escaped by
//! default), a little progressive JavaScript, a strict Content-Security-Policy on every answer.
//!
//! The server gives the web view its accounts and vaults through [`Backend`]; the web view
//! changes a vault only by publishing a snapshot on its hub (`vault::hub_write`), as a device
//! named `web`, so every device pulls what the browser changed like any other change.

pub mod backend;
mod content;
mod error;
mod history;
mod layout;
mod login;
mod notes;
mod platform;
pub mod render;
pub mod search;
mod session;
mod statics;
mod tasks;
pub mod urls;
mod vaults;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;

pub use backend::{Backend, LoginRefused, VaultAccess};
pub use error::WebError;
pub use layout::{Crumb, Page};
pub use platform::not_found_page;
pub use session::{Sessions, Viewer, ViewerForFile};
pub use vaults::{HeadView, OpenedVault};

/// The device name (and id) under which the web view publishes its changes.
pub const WEB_DEVICE: &str = "web";

/// How the web view is set up by the server.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The web view's own folder (sessions, search indexes): `DATA/web/`.
    pub folder: PathBuf,
    /// Served over TLS: cookies are `Secure`.
    pub tls: bool,
}

/// What every page handler can reach.
pub struct Web {
    backend: Arc<dyn Backend>,
    config: WebConfig,
    sessions: Sessions,
    heads: vaults::HeadCache,
    notes: notes::index::NotesState,
    tasks: tasks::TaskCache,
    search: search::SearchIndexes,
}

impl Web {
    pub fn new(backend: Arc<dyn Backend>, config: WebConfig) -> Arc<Web> {
        let sessions = Sessions::open(&config.folder);
        let search = search::SearchIndexes::new(&config.folder);
        Arc::new(Web {
            backend,
            config,
            sessions,
            heads: vaults::HeadCache::default(),
            notes: notes::index::NotesState::default(),
            tasks: tasks::TaskCache::default(),
            search,
        })
    }

    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub fn config(&self) -> &WebConfig {
        &self.config
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The vaults' search indexes (`DATA/web/index/`).
    pub fn search_indexes(&self) -> &search::SearchIndexes {
        &self.search
    }
}

/// The web view's routes. It has no fallback of its own: the server's router answers
/// everything else (the API's JSON errors, an HTML 404 for the rest).
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .merge(login::routes())
        .merge(notes::routes())
        .merge(statics::routes())
        .merge(tasks::routes())
        .merge(search::routes())
        .merge(history::routes())
        .merge(platform::routes())
        .layer(middleware::from_fn(security_headers))
        .with_state(web)
}

/// The Content-Security-Policy of every page: nothing but this server's own scripts, styles,
/// images and forms; no inline script, no plugins, no framing. A note's raw HTML is sanitised
/// before it is served, and this is the second line.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every answer of the web view carries.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    add_security_headers(res.headers_mut());
    res
}

/// The web view's security headers, set where a handler has not set its own (also used by the
/// server's HTML 404 page, which is answered outside this router).
pub(crate) fn add_security_headers(headers: &mut axum::http::HeaderMap) {
    let mut set = |name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");
    set(header::CACHE_CONTROL, "no-store");
}

/// Run blocking work (hub reads, rendering of large notes) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::internal(format!("a page's work failed: {e}")))?
}

/// Hand the heap's free memory back to the system after a large build (the first read of a
/// vault's notes, tasks or search index): glibc keeps what many threads freed in their arenas,
/// and an idle server would otherwise keep the peak of its busiest minute for good.
pub fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
