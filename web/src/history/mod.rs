//! History and revisions (docs/web.md "History and revisions"): the snapshot log, one file's
//! history, a line diff of any two versions, any version's bytes, and the `.revisions/` of the
//! head with a Restore button that does what `syncd restore` does, published as a snapshot by
//! device `web`. Everything is read from the vault's hub alone (`vault::history::HubHistory`).

mod cache;
mod diff_page;
mod linediff;
mod log;
mod restore;
mod revisions;
mod version;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use vault::history::HistoryError;
use vault::id::ObjectId;

use crate::{Web, WebError};

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/v/{vault}/history", get(log::vault_log))
        .route("/v/{vault}/history/{*path}", get(log::file_log))
        .route("/v/{vault}/diff", get(diff_page::diff))
        .route(
            "/v/{vault}/version/{snapshot}/{*path}",
            get(version::version),
        )
        .route("/v/{vault}/revisions", get(revisions::page))
        .route("/v/{vault}/revisions/restore", post(revisions::restore))
}

/// A time as the pages show it: local to the server and exact (UTC, nanoseconds).
#[derive(Debug, Clone)]
pub struct When {
    /// `2026-12-06 02:10:19 CET`
    pub local: String,
    /// RFC 3339 in UTC with every digit the snapshot has, for `<time datetime>`.
    pub exact: String,
}

pub fn when(ns: i64) -> When {
    let ts =
        jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let zoned = ts.to_zoned_datetime(jiff::tz::TimeZone::system());
    When {
        local: zoned.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        exact: ts.to_string(),
    }
}

/// A snapshot named in a URL or form: 64 hex digits (what the pages link); anything else
/// names nothing here.
pub fn parse_snapshot(text: &str) -> Result<ObjectId, WebError> {
    text.parse::<ObjectId>()
        .map_err(|_| WebError::not_found(format!("there is no snapshot `{text}` in this vault")))
}

/// A history error in the reader's terms: an unknown snapshot is a 404, the rest the
/// server's problem (its log has the hub's words).
pub fn history_error(e: HistoryError) -> WebError {
    match e {
        HistoryError::UnknownSnapshot(s) | HistoryError::BadSnapshotName(s) => WebError::not_found(
            format!("there is no snapshot `{s}` in this vault's history"),
        ),
        // Retention thinned it: the snapshot is in the log, its files are gone for good.
        thinned @ HistoryError::Thinned { .. } => WebError::not_found(thinned.to_string()),
        other => WebError::internal(other),
    }
}

/// The current time in nanoseconds since the Unix epoch (a restore's modification time).
fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// The snapshot `id` a URL names, read from `history`: one this vault's hub does not hold as
/// a snapshot is a 404 (a damaged hub still shows as the server's problem).
pub fn named_snapshot(
    history: &mut vault::history::HubHistory,
    id: ObjectId,
) -> Result<vault::object::Snapshot, WebError> {
    history.snapshot(id).map_err(|e| match e {
        HistoryError::Hub(vault::hub::HubError::Missing { .. })
        | HistoryError::Object(_)
        | HistoryError::Miscount { .. } => {
            WebError::not_found(format!("there is no snapshot `{id}` in this vault"))
        }
        other => history_error(other),
    })
}
