//! Extractors whose every rejection is the protocol's JSON error (docs/protocol.md): axum's
//! own rejections are plain text (which a client reads as "not a vault-server") and give 422
//! for a JSON body missing a field, a status the protocol keeps for a refused head move.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::api::ApiError;

/// `Json<T>` whose rejections are JSON errors like every other: malformed JSON or a body that
/// does not have the request's fields (a missing field, a wrong type) 400, too large 413, not
/// `Content-Type: application/json` 415. (axum's own answer is plain text, and 422 for a
/// missing field, which the protocol reserves for a head move the hub refuses.)
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// The protocol's error for a JSON body axum could not take.
fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let detail = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            format!("{detail}; send the body as JSON"),
        ),
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too large", detail)
        }
        _ => ApiError::bad_request(detail),
    }
}

/// `Query<T>` whose rejection (a parameter that is not of its type) is the protocol's 400 JSON
/// error; axum's own is plain text, which clients read as "not a vault-server".
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|rejection| {
                ApiError::bad_request(format!(
                    "the query `{}` is not valid: {}",
                    parts.uri.query().unwrap_or_default(),
                    rejection.body_text()
                ))
            })
    }
}

/// `Path<T>` whose rejection (a segment that is not UTF-8 once percent-decoded) is the
/// protocol's 400 JSON error.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A body of objects (`vault::wire`), decoded from the pieces it arrived in: never gathered into
/// one buffer first (which made one more pass over every byte of an upload, and held the
/// batch twice). Over the body limit 413 (and a warning in the log: the device may not get to
/// read the answer, so the operator must see it here), a malformed stream 400.
pub struct ApiObjects(pub Vec<vault::object::Object>);

impl<S: Send + Sync> FromRequest<S> for ApiObjects {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        use axum::RequestExt;
        use bytes::Buf;
        use http_body_util::BodyExt;
        let body = req.with_limited_body().into_body();
        let collected = match body.collect().await {
            Ok(collected) => collected,
            Err(e) => {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    tracing::warn!(
                        "refused an upload larger than --max-body-mib; raise it if devices hold files that large"
                    );
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too large",
                        format!("the body is larger than this server takes ({e})"),
                    ));
                }
                return Err(ApiError::bad_request(format!(
                    "reading the body failed: {e}"
                )));
            }
        };
        vault::wire::decode_buffered(collected.aggregate().reader())
            .map(ApiObjects)
            .map_err(ApiError::bad_request)
    }
}
