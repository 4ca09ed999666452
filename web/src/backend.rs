//! What the web view needs from the server that runs it: accounts (a password check with the
//! server's own rate limit) and each user's vaults as hubs. `vault-server` implements
//! [`Backend`] (`server/src/web_backend.rs`); the web view never touches the account file or a
//! vault's folder itself, so it cannot disagree with the hub protocol about either.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use vault::hub::Hub;
use vault::id::ObjectId;

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefused {
    /// Unknown user or wrong password (the same answer for both).
    WrongPassword,
    /// Too many wrong passwords for this account from this address.
    TooManyAttempts { retry_after: Duration },
    /// The accounts could not be read; the detail is for the server's log.
    Unavailable(String),
}

/// The accounts and vaults of the server.
pub trait Backend: Send + Sync + 'static {
    /// Check `password` against `user`'s argon2 hash, counting failures per account and
    /// address like the device login does.
    fn check_password(&self, user: &str, password: &str, from: IpAddr) -> Result<(), LoginRefused>;
    /// Whether `user` still exists (a session of a removed user ends); `None` when the
    /// accounts cannot be read just now (the session is kept, this request refused).
    fn user_exists(&self, user: &str) -> Option<bool>;
    /// The names of `user`'s vaults, sorted.
    fn vault_names(&self, user: &str) -> Vec<String>;
    /// `user`'s vault `name`, or `None` when `user` has no such vault (then it is a 404,
    /// whoever else may have one by that name).
    fn vault(&self, user: &str, name: &str) -> Option<Arc<dyn VaultAccess>>;
}

/// One vault's hub, as the hub protocol serves it.
pub trait VaultAccess: Send + Sync {
    fn hub(&self) -> &dyn Hub;
    /// Tell the server the web view moved the head to `head`, so devices waiting on the
    /// vault's changes hear of it at once.
    fn published(&self, head: ObjectId);
    /// The head as the server moves it (devices' uploads and the web view's own changes), so
    /// work that follows the vault (the search index) can run when it moves rather than when
    /// a page asks. `None`: no such signal; that work waits for a page.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<Option<ObjectId>>> {
        None
    }
    /// Where the server serves this vault's history as a git repository
    /// (`/git/<user>/<vault>.git`), when it keeps one (`serve --git-mirror`): the history page
    /// shows the `git clone` command.
    fn git_mirror_path(&self) -> Option<String> {
        None
    }
}
