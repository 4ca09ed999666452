//! Full-text search (docs/web.md, "Search"): `GET /v/{vault}/search?q=` over note names and
//! bodies, ranked (BM25, a name hit weighs more), with highlighted snippets; the index is
//! tantivy's, kept per vault under `DATA/web/index/` and brought up to the head incrementally.

mod index;
mod indexes;
mod query;
mod text;
mod tokenizer;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;

use crate::layout::Page;
use crate::session::Viewer;
use crate::{Web, WebError, blocking, urls};

pub use indexes::{SearchIndexes, warm};

/// Results shown for one query.
pub const MAX_RESULTS: usize = 50;

pub fn routes() -> Router<Arc<Web>> {
    Router::new().route("/v/{vault}/search", get(search_page))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// One result as the page shows it.
struct ResultRow {
    href: String,
    /// Escaped, `<mark>` around matches (built by the index from escaped text only).
    name_html: String,
    folder: String,
    folder_href: String,
    /// Escaped, `<mark>` around matches.
    snippet_html: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Page,
    vault: String,
    action: String,
    q: String,
    /// Whether the query had any word to look for.
    asked: bool,
    rows: Vec<ResultRow>,
    total: usize,
    updating: Option<(usize, usize)>,
}

async fn search_page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(vault_name): Path<String>,
    Query(form): Query<SearchQuery>,
) -> Result<Html<String>, WebError> {
    let vault = web.open_vault(&viewer, &vault_name)?;
    let q = form.q.chars().take(1_000).collect::<String>();
    let parts = query::parts(&q);
    let outcome = if parts.is_empty() {
        None
    } else {
        let web = web.clone();
        let vault = vault.clone();
        let parts = parts.clone();
        Some(blocking(move || indexes::search(&web, &vault, &parts, MAX_RESULTS)).await?)
    };
    let title = if q.trim().is_empty() {
        "Search".to_string()
    } else {
        format!("Search: {}", q.trim())
    };
    let (rows, total, updating) = match outcome {
        None => (Vec::new(), 0, None),
        Some(o) => (
            o.found
                .hits
                .into_iter()
                .map(|h| {
                    let folder = text::folder_of(&h.path).to_string();
                    ResultRow {
                        href: urls::note(&vault.name, &h.path),
                        folder_href: urls::folder(&vault.name, &folder),
                        folder,
                        name_html: h.name_html,
                        snippet_html: h.snippet_html,
                    }
                })
                .collect(),
            o.found.total,
            o.updating,
        ),
    };
    let page = SearchPage {
        page: Page::of(&viewer, title).in_vault(&vault.name, "search"),
        vault: vault.name.clone(),
        action: urls::search(&vault.name),
        q,
        asked: !parts.is_empty(),
        rows,
        total,
        updating,
    };
    Ok(Html(page.render().map_err(WebError::internal)?))
}
