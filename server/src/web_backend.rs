//! The server's side of the web view (`vault-web`): its accounts and vaults, with the same
//! password check and failed-login limit as the device login (`api.rs`), and the same vaults
//! as the hub protocol (`hub_api.rs`), so a tick in the browser wakes waiting devices.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use vault_web::{Backend, LoginRefused, VaultAccess};

use crate::accounts::AccountError;
use crate::api::AppState;

pub struct ServerBackend {
    pub state: Arc<AppState>,
}

impl Backend for ServerBackend {
    fn check_password(&self, user: &str, password: &str, from: IpAddr) -> Result<(), LoginRefused> {
        if self.state.may_try(user, from).is_err() {
            return Err(LoginRefused::TooManyAttempts {
                retry_after: Duration::from_secs(60),
            });
        }
        let accounts = self
            .state
            .accounts()
            .map_err(|e| LoginRefused::Unavailable(format!("{e:?}")))?;
        match accounts.check_password(user, password) {
            Ok(()) => Ok(()),
            Err(AccountError::WrongPassword) => {
                self.state.failed(user, from);
                tracing::warn!(%user, %from, "web login refused: wrong password");
                Err(LoginRefused::WrongPassword)
            }
            Err(e) => Err(LoginRefused::Unavailable(e.to_string())),
        }
    }

    fn user_exists(&self, user: &str) -> Option<bool> {
        match self.state.accounts() {
            Ok(accounts) => Some(accounts.user(user).is_ok()),
            Err(e) => {
                tracing::error!("web view: the accounts cannot be read: {e:?}");
                None
            }
        }
    }

    fn vault_names(&self, user: &str) -> Vec<String> {
        self.state.vaults().list(self.state.data(), user)
    }

    fn vault(&self, user: &str, name: &str) -> Option<Arc<dyn VaultAccess>> {
        let open = self
            .state
            .vaults()
            .get(self.state.data(), user, name)
            .ok()?;
        Some(open)
    }
}
