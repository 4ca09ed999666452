//! `syncd tray` (an icon for an agent that runs elsewhere, e.g. as a service) and the icon of
//! `syncd watch --tray`. Both exist in every build, so that a build without the `tray`
//! feature says how to get one instead of rejecting the words as unknown.

#[cfg(feature = "tray")]
pub use with_tray::{beside_agent, run};

#[cfg(not(feature = "tray"))]
pub use without_tray::{beside_agent, run};

#[cfg(feature = "tray")]
mod with_tray {
    use anyhow::{Context as _, Result};
    use vault::local::LocalVault;

    use super::super::{is_url, open_vault};
    use crate::cli::TrayArgs;
    use crate::exit;
    use crate::tray::{self, Context};

    /// `syncd tray`: until "Quit tray"; an error when there is no session bus (a bus whose
    /// tray is not up yet is waited on).
    pub fn run(args: TrayArgs) -> Result<u8> {
        let vault = open_vault(&args.vault)?;
        let running =
            tray::spawn(&vault.state_dir(), context(&vault, true)).with_context(|| {
                format!(
                    "cannot show the tray icon for `{}` (the agent, if one runs, keeps syncing)",
                    vault.root().display()
                )
            })?;
        running.serve();
        Ok(exit::OK)
    }

    /// The icon of `syncd watch --tray`, on a thread of its own. No session bus costs one
    /// warning: the agent's job is syncing, not the icon.
    pub fn beside_agent(vault: &LocalVault) -> Result<()> {
        let state_dir = vault.state_dir();
        let ctx = context(vault, false);
        std::thread::Builder::new()
            .name("tray".into())
            .spawn(move || match tray::spawn(&state_dir, ctx) {
                Ok(running) => running.serve(),
                Err(e) => tracing::warn!("{e}; the agent goes on syncing without an icon"),
            })
            .context("cannot start a thread for the tray icon; run `syncd watch` without --tray")?;
        Ok(())
    }

    fn context(vault: &LocalVault, standalone: bool) -> Context {
        let config = vault.config();
        Context {
            vault_name: vault.name(),
            root: vault.root().to_path_buf(),
            web_url: (is_url(&config.hub) && config.server.is_some()).then(|| config.hub.clone()),
            standalone,
            tz: jiff::tz::TimeZone::system(),
        }
    }
}

#[cfg(not(feature = "tray"))]
mod without_tray {
    use anyhow::{Result, bail};
    use vault::local::LocalVault;

    use crate::cli::TrayArgs;

    const NO_TRAY: &str = "this syncd was built without the system-tray icon (the `tray` feature); build one with it from the source: `cargo build --release --features tray`, or `cargo install --path . --features tray` in the repository";

    pub fn run(_args: TrayArgs) -> Result<u8> {
        bail!("{NO_TRAY}");
    }

    pub fn beside_agent(_vault: &LocalVault) -> Result<()> {
        bail!("{NO_TRAY}; or run `syncd watch` without --tray");
    }

    #[cfg(test)]
    mod tests {
        use crate::cli::{TrayArgs, VaultOpt};

        #[test]
        fn a_build_without_the_tray_says_how_to_get_one() {
            let err = super::run(TrayArgs {
                vault: VaultOpt { vault: None },
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains("built without the system-tray icon"), "{err}");
            assert!(
                err.contains("cargo build --release --features tray"),
                "{err}"
            );
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("notes");
            let vault = vault::local::LocalVault::init(&root, "/hub", "laptop").unwrap();
            let err = super::beside_agent(&vault).unwrap_err().to_string();
            assert!(
                err.ends_with("or run `syncd watch` without --tray"),
                "{err}"
            );
        }
    }
}
