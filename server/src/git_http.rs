//! The git mirrors over git's "dumb" HTTP protocol, read-only, to each vault's owner:
//! `git clone https://HOST/git/<user>/<vault>.git`. A dumb client reads `info/refs`, then
//! `HEAD`, `objects/info/packs` and the objects by their paths; those files (and nothing
//! else of the repository) are served, and nothing is ever written: there is no push.
//!
//! Logins are HTTP basic auth, as git sends them: the account's name and password, or a
//! device token as the password. Another account's repository, and one that does not exist,
//! are the same 404, so a name tells nothing. A password is checked once (Argon2 takes tens
//! of milliseconds and a clone makes a request per object), then remembered, hashed, until
//! the accounts file changes (a new password, a revoked device) or ten minutes pass.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;

use crate::accounts::{AccountError, Accounts, check_name};
use crate::api::AppState;

/// How long a checked password is remembered.
const REMEMBER: Duration = Duration::from_secs(600);
/// Most logins remembered at once (all forgotten when there are more).
const MAX_REMEMBERED: usize = 1024;
const REALM: &str = "Basic realm=\"Vault Sync git mirror\", charset=\"UTF-8\"";

/// The mirrors' routes (GET, and HEAD with it).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/git/{*rest}", get(serve_file))
}

/// Whose repository, which, and the file in it, from the path after `/git/`:
/// `<user>/<vault>[.git]/<file>`, or `<vault>.git/<file>` for the logged-in account's own
/// (`None`: the owner is whoever logs in).
fn split_request(rest: &str) -> Option<(Option<&str>, &str, &str)> {
    let (first, after) = rest.split_once('/')?;
    if first.ends_with(".git") && vault_of(first).is_some() {
        return Some((None, vault_of(first)?, after));
    }
    let (repo, path) = after.split_once('/')?;
    Some((Some(first), vault_of(repo)?, path))
}

/// A file of a bare repository a dumb client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GitFile {
    InfoRefs,
    Head,
    Packs,
    /// `objects/xx/yyyy...`: a loose object.
    Loose(String),
    /// `objects/pack/pack-<id>.pack` or `.idx`.
    Pack(String),
}

impl GitFile {
    /// The file's path in the repository.
    fn relative(&self) -> String {
        match self {
            GitFile::InfoRefs => "info/refs".into(),
            GitFile::Head => "HEAD".into(),
            GitFile::Packs => "objects/info/packs".into(),
            GitFile::Loose(p) | GitFile::Pack(p) => format!("objects/{p}"),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            GitFile::InfoRefs | GitFile::Head | GitFile::Packs => "text/plain; charset=utf-8",
            GitFile::Loose(_) => "application/x-git-loose-object",
            GitFile::Pack(p) if p.ends_with(".idx") => "application/x-git-packed-objects-toc",
            GitFile::Pack(_) => "application/x-git-packed-objects",
        }
    }

    /// Objects never change under their name; the lists and refs do.
    fn cache_control(&self) -> &'static str {
        match self {
            GitFile::Loose(_) | GitFile::Pack(_) => "private, max-age=31536000, immutable",
            _ => "no-cache",
        }
    }
}

/// The file `path` names, if it is one a dumb client reads (anything else is refused, so no
/// request reaches the repository's config, its export map or a path outside it).
fn git_file(path: &str) -> Option<GitFile> {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let lower = |s: &str| !s.bytes().any(|b| b.is_ascii_uppercase());
    match path {
        "info/refs" => return Some(GitFile::InfoRefs),
        "HEAD" => return Some(GitFile::Head),
        "objects/info/packs" => return Some(GitFile::Packs),
        _ => {}
    }
    let rest = path.strip_prefix("objects/")?;
    if let Some(name) = rest.strip_prefix("pack/") {
        let id = name
            .strip_prefix("pack-")?
            .strip_suffix(".pack")
            .or_else(|| name.strip_prefix("pack-")?.strip_suffix(".idx"))?;
        return (hex(id, 40) && lower(id)).then(|| GitFile::Pack(rest.to_string()));
    }
    let (dir, file) = rest.split_once('/')?;
    (hex(dir, 2) && hex(file, 38) && lower(rest)).then(|| GitFile::Loose(rest.to_string()))
}

/// The vault a repository name (`notes.git`, or `notes`) stands for.
fn vault_of(repo: &str) -> Option<&str> {
    let name = repo.strip_suffix(".git").unwrap_or(repo);
    check_name("vault", name).ok().map(|()| name)
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "no such repository: its URL is https://HOST/git/<your account>/<vault>.git, and you log in as that account",
    )
}

fn challenge(message: &str) -> Response {
    let mut res = text(StatusCode::UNAUTHORIZED, message);
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
    res
}

async fn serve_file(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !state.vaults().git_mirror() {
        return text(
            StatusCode::NOT_FOUND,
            "this server keeps no git mirrors; its operator turns them on with `vault-server serve --git-mirror`",
        );
    }
    let who = match requester(&state, &headers, peer.ip()).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let Some((owner, vault, file)) = split_request(&rest) else {
        return not_found();
    };
    let Some(file) = git_file(file) else {
        return not_found();
    };
    if owner.is_some_and(|owner| owner != who) {
        return not_found();
    }
    let owner = who;
    if query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "service=git-receive-pack"))
    {
        return text(
            StatusCode::FORBIDDEN,
            "this repository is read-only: it follows the vault's history; change the notes in the vault (on a device or in the web view), not with git push",
        );
    }
    let Ok(open) = state.vaults().get(state.data(), &owner, vault) else {
        return not_found();
    };
    let Some(dir) = open.mirror().map(|m| m.dir().to_path_buf()) else {
        return not_found();
    };
    if file == GitFile::InfoRefs {
        // Every fetch starts here: the mirror catches up with the vault first.
        let name = format!("{owner}/{vault}");
        let updated = tokio::task::spawn_blocking(move || {
            let mirror = open.mirror().expect("checked above");
            mirror.update(open.hub())
        })
        .await;
        match updated {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(vault = %name, "could not update the git mirror: {e}"),
            Err(e) => tracing::error!(vault = %name, "the git mirror's update failed: {e}"),
        }
    }
    send(&dir.join(file.relative()), &file).await
}

/// The file's bytes, streamed, or 404.
async fn send(path: &std::path::Path, file: &GitFile) -> Response {
    let opened = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if *file == GitFile::InfoRefs {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this vault's git mirror could not be made; the server's log says why (its operator can run `vault-server git-mirror rebuild`)",
                );
            }
            return text(StatusCode::NOT_FOUND, "no such object");
        }
        Err(e) => {
            tracing::error!(path = %path.display(), "reading a git mirror: {e}");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not read its git mirror; its log says why",
            );
        }
    };
    let len = opened.metadata().await.ok().map(|m| m.len());
    let mut res = Body::from_stream(tokio_util::io::ReaderStream::new(opened)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(file.cache_control()),
    );
    if let Some(len) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    res
}

/// Logins remembered after a password check, by a hash of name and password.
#[derive(Default)]
pub(crate) struct CheckedLogins {
    remembered: Mutex<HashMap<blake3::Hash, (Arc<Accounts>, Instant)>>,
}

impl CheckedLogins {
    fn knows(&self, key: &blake3::Hash, accounts: &Arc<Accounts>) -> bool {
        let remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        remembered
            .get(key)
            .is_some_and(|(a, at)| Arc::ptr_eq(a, accounts) && at.elapsed() < REMEMBER)
    }

    fn remember(&self, key: blake3::Hash, accounts: Arc<Accounts>) {
        let mut remembered = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key, (accounts, Instant::now()));
    }
}

/// The account a request logs in as (basic auth: a name and a password or device token), or
/// the answer that refuses it.
async fn requester(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    from: IpAddr,
) -> Result<String, Response> {
    const HOW: &str =
        "log in with your account's name and password (or a device token as the password)";
    let Some((name, secret)) = basic_credentials(headers) else {
        return Err(challenge(HOW));
    };
    let accounts = state.accounts().map_err(IntoResponse::into_response)?;
    if let Some(session) = accounts.authenticate(secret.trim()) {
        return Ok(session.user);
    }
    let key = blake3::hash(format!("{name}\0{secret}").as_bytes());
    if state.git_logins.knows(&key, &accounts) {
        return Ok(name);
    }
    state
        .may_try(&name, from)
        .map_err(IntoResponse::into_response)?;
    let checking = accounts.clone();
    let (user, password) = (name.clone(), secret);
    let checked = crate::api::blocking(move || Ok(checking.check_password(&user, &password)))
        .await
        .map_err(IntoResponse::into_response)?;
    match checked {
        Ok(()) => {
            state.git_logins.remember(key, accounts);
            Ok(name)
        }
        Err(AccountError::WrongPassword) => {
            state.failed(&name, from);
            tracing::info!(user = %name, peer = %from, "git mirror: wrong password");
            Err(challenge(&format!("wrong name or password; {HOW}")))
        }
        Err(e) => Err(crate::api::ApiError::internal(e).into_response()),
    }
}

/// The name and secret of `Authorization: Basic ...`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, secret) = text.split_once(':')?;
    Some((name.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_a_dumb_client_reads_are_served() {
        let loose = "objects/ab/".to_string() + &"c".repeat(38);
        let pack = format!("objects/pack/pack-{}.pack", "d".repeat(40));
        let idx = format!("objects/pack/pack-{}.idx", "e".repeat(40));
        assert_eq!(git_file("info/refs"), Some(GitFile::InfoRefs));
        assert_eq!(git_file("HEAD"), Some(GitFile::Head));
        assert_eq!(git_file("objects/info/packs"), Some(GitFile::Packs));
        assert_eq!(git_file(&loose), Some(GitFile::Loose(loose[8..].into())));
        assert_eq!(git_file(&pack), Some(GitFile::Pack(pack[8..].into())));
        assert_eq!(git_file(&idx), Some(GitFile::Pack(idx[8..].into())));
        for refused in [
            "config",
            "vault-sync-export",
            "refs/heads/main",
            "objects/info/alternates",
            "objects/ab/../../config",
            "objects/AB/".to_string().as_str(),
            &format!("objects/ab/{}", "C".repeat(38)),
            &format!("objects/ab/{}", "c".repeat(37)),
            &format!("objects/pack/pack-{}.keep", "d".repeat(40)),
            &format!("objects/pack/pack-{}.pack/x", "d".repeat(40)),
            "../../accounts.json",
            "",
        ] {
            assert_eq!(git_file(refused), None, "{refused}");
        }
    }

    #[test]
    fn a_request_names_an_account_and_a_vault_or_only_a_vault_of_ones_own() {
        assert_eq!(
            split_request("alice/notes.git/info/refs"),
            Some((Some("alice"), "notes", "info/refs"))
        );
        assert_eq!(
            split_request("alice/notes/HEAD"),
            Some((Some("alice"), "notes", "HEAD"))
        );
        assert_eq!(
            split_request("notes.git/objects/info/packs"),
            Some((None, "notes", "objects/info/packs"))
        );
        assert_eq!(split_request("notes.git"), None);
        assert_eq!(split_request("alice/Notes.git/HEAD"), None);
        assert_eq!(split_request("alice/notes.git"), None);
    }

    #[test]
    fn a_repository_name_is_a_vault_name_with_or_without_dot_git() {
        assert_eq!(vault_of("notes.git"), Some("notes"));
        assert_eq!(vault_of("notes"), Some("notes"));
        assert_eq!(vault_of("..git"), None);
        assert_eq!(vault_of("Notes.git"), None);
    }

    #[test]
    fn basic_credentials_are_read_as_git_sends_them() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:pa:ss");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("alice".into(), "pa:ss".into()))
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_credentials(&headers), None);
    }
}
