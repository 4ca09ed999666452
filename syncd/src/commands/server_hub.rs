//! A `vault-server` as the hub: joining it at `init` (log in or create the first account,
//! choose the vault), logging in again, and opening it for a round from the config and
//! `.vault/token`.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, bail};
use vault::local::{LocalVault, ServerConfig, vault_name};

use super::init::{Created, prepare};
use super::{config_path, open_vault};
use crate::cli::{ConnectionArgs, LoginArgs, ServerArgs};
use crate::exit;
use crate::http_hub::{Credentials, HttpHub, Server};
use crate::output::{self, line};

/// Make `root` a vault that syncs with the vault-server at `url`: log in (or create the first
/// account with a setup token), choose or create the vault on the server, and only then create
/// `.vault/`, so a wrong password or an unreachable server leaves the folder as it was.
pub fn create(
    root: &Path,
    url: &str,
    device: Option<String>,
    args: &ServerArgs,
) -> Result<Created> {
    let (root, device) = prepare(root, device)?;
    let joined = join(&root, url, &device, args)?;
    let vault = LocalVault::init_with_server(
        &root,
        url,
        &device,
        Some((joined.config.clone(), &joined.creds.token)),
    )?;
    joined.tell();
    Ok(Created {
        vault,
        hub_state: joined.hub_state,
    })
}

/// A server joined: the settings and token for `.vault/`, the hub, what it holds.
pub struct Joined {
    pub config: ServerConfig,
    pub creds: Credentials,
    pub hub: HttpHub,
    pub hub_state: String,
}

impl Joined {
    /// Tell the user which device the server knows this one as.
    pub fn tell(&self) {
        let creds = &self.creds;
        eprintln!(
            "logged in as `{}`; this device is `{}` on the server (`vault-server device revoke {} {}` would shut it out); its token is in `.vault/token`",
            creds.user, creds.device, creds.user, creds.device
        );
    }
}

/// Log in to the server at `url` (or create its first account), choose or create the vault on
/// it, and open it; nothing on this device is touched.
pub fn join(root: &Path, url: &str, device: &str, args: &ServerArgs) -> Result<Joined> {
    let Some(user) = args.user.clone() else {
        bail!(
            "a server hub needs an account: pass --user NAME and the password with --password-stdin"
        );
    };
    let mut config = ServerConfig {
        user,
        vault: String::new(),
        ca_cert: None,
        insecure_skip_verify: false,
        proxy: None,
        device: None,
    };
    apply_connection(&args.connection, &mut config)?;
    let server = Server::new(url, &config)?.joining();
    // Before any account is touched: a device with a wrong clock must not join yet.
    let now = vault::statcache::now_ns();
    vault::sync::compare_clocks(server.url(), now, server.time_ns()?)?;
    let password = read_password(args.password_stdin)?;
    let creds = match &args.setup_token {
        Some(token) => server
            .setup(&config.user, &password, device, token)
            .context("cannot create the server's first account")?,
        None => server
            .login(&config.user, &password, device)
            .with_context(|| format!("cannot log in to `{url}` as `{}`", config.user))?,
    };
    config.device = Some(creds.device.clone());
    config.vault = choose_vault(&server, &creds, args.vault_name.as_deref(), root)?;
    let hub = server.vault(&config.vault, &creds.token);
    let (created, head) = hub
        .create()
        .with_context(|| format!("cannot open the vault `{}` on `{url}`", config.vault))?;
    let hub_state = match (created, head) {
        (true, _) => format!("new vault `{}` on the server", config.vault),
        (false, None) => format!("empty vault `{}` on the server", config.vault),
        (false, Some(head)) => format!(
            "vault `{}` on the server at snapshot {}; the first sync merges this folder with it",
            config.vault,
            head.short()
        ),
    };
    Ok(Joined {
        config,
        creds,
        hub,
        hub_state,
    })
}

/// The vault to sync: the one named, the account's only one, or (for an account without
/// vaults) one named after the folder. Several and none named is a question for the user.
fn choose_vault(
    server: &Server,
    creds: &Credentials,
    named: Option<&str>,
    root: &Path,
) -> Result<String> {
    if let Some(name) = named {
        return Ok(name.to_string());
    }
    let existing = server.vaults(&creds.token)?;
    match existing.as_slice() {
        [] => Ok(server_name_for(&vault_name(root))),
        [only] => Ok(only.clone()),
        several => bail!(
            "the account `{}` has several vaults on the server ({}); choose one with --vault-name NAME (a new name creates a new vault)",
            creds.user,
            several.join(", ")
        ),
    }
}

/// A folder name as a server vault name (`My Notes` -> `my-notes`): 1 to 64 of a-z, 0-9,
/// `.`, `_`, `-`, starting with a letter or digit.
fn server_name_for(folder: &str) -> String {
    let mut name = String::new();
    for c in folder.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    let name: String = name
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(64)
        .collect();
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "notes".to_string()
    } else {
        name
    }
}

/// The first line of standard input, without its line ending.
pub fn read_password(from_stdin: bool) -> Result<String> {
    if !from_stdin {
        bail!(
            "pass the password on standard input with --password-stdin (for example `... --password-stdin < password-file`, or `printf '%s\\n' \"$PASSWORD\" | syncd ...`); passwords on the command line end up in shell history and process lists"
        );
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("standard input held no password; write it as the first line");
    }
    Ok(password)
}

pub fn warn_insecure() {
    eprintln!(
        "warning: certificate checks are OFF for this vault's server (insecure_skip_verify): anyone on the network path can read and change what is synced. Trust the server's certificate instead with `syncd hub set URL --ca-cert FILE` (on a vault that is not one yet: `syncd init --hub URL --ca-cert FILE`), which turns the checks back on"
    );
}

/// The connection options given on the command line, over the settings a vault has (or a
/// new one's defaults). Trusting a certificate turns checks skipped in an emergency back on;
/// skipping them warns. A certificate file that is not there is refused before anything is
/// sent.
pub fn apply_connection(args: &ConnectionArgs, config: &mut ServerConfig) -> Result<()> {
    if let Some(ca) = &args.ca_cert {
        let ca = std::path::absolute(ca).context("cannot resolve the --ca-cert path")?;
        if !ca.is_file() {
            bail!(
                "the certificate file `{}` does not exist; pass the PEM file of the server's certificate or its CA with --ca-cert",
                ca.display()
            );
        }
        config.ca_cert = Some(ca);
        config.insecure_skip_verify = args.insecure_skip_verify;
    } else if args.insecure_skip_verify {
        config.insecure_skip_verify = true;
    }
    if let Some(proxy) = &args.proxy {
        config.proxy = Some(proxy.clone());
    }
    if config.insecure_skip_verify {
        warn_insecure();
    }
    Ok(())
}

/// The config's `[server]` table, or an error that says how to repair the config.
pub fn settings(vault: &LocalVault) -> Result<&ServerConfig> {
    vault.config().server.as_ref().with_context(|| {
        format!(
            "the hub `{}` is a server, but `{}` has no [server] table with the account and vault; write it again with `syncd hub set {} --user NAME --password-stdin --no-history --vault {}` (the history is on that server already; this device's last sync is kept when the server's vault holds it)",
            vault.config().hub,
            config_path(vault).display(),
            vault.config().hub,
            vault.root().display()
        )
    })
}

/// The server hub of a vault, for a round or a command that reads it.
pub fn open(vault: &LocalVault) -> Result<HttpHub> {
    let settings = settings(vault)?;
    if settings.insecure_skip_verify {
        warn_insecure();
    }
    let Some(token) = vault.token()? else {
        bail!(
            "this device has no token for `{}` (`{}` is missing); log in again with `syncd login --password-stdin`",
            vault.config().hub,
            vault.state_dir().join(vault::local::TOKEN_FILE).display()
        );
    };
    let server = Server::new(&vault.config().hub, settings)?;
    Ok(server.vault(&settings.vault, &token))
}

/// `syncd login`: a new token for this device, replacing the stored one. `--ca-cert`,
/// `--proxy` and `--insecure-skip-verify` are used for this login and, once it succeeded,
/// stored in the config (so a vault whose server needs them never needs a hand edit).
pub fn login(args: LoginArgs) -> Result<u8> {
    let mut vault = open_vault(&args.vault)?;
    let mut settings = settings(&vault)?.clone();
    if let Some(user) = &args.user {
        settings.user = user.clone();
    }
    apply_connection(&args.connection, &mut settings)?;
    let user = settings.user.clone();
    // New TLS options are being tried: a failure's fix is another --ca-cert on this command.
    let mut server = Server::new(&vault.config().hub, &settings)?;
    if args.connection.any() {
        server = server.joining();
    }
    let password = read_password(args.password_stdin)?;
    let creds = server
        .login(&user, &password, &vault.config().device_name)
        .with_context(|| format!("cannot log in to `{}` as `{user}`", server.url()))?;
    vault.save_token(&creds.token)?;
    // The account, the connection settings and the server's id of this device as they are
    // now (a login is a new device on the server), so `syncd status` names the device
    // `vault-server` lists.
    settings.device = Some(creds.device.clone());
    if vault.config().server.as_ref() != Some(&settings) {
        let mut config = vault.config().clone();
        config.server = Some(settings);
        vault.set_config(config)?;
    }
    let mut out = String::new();
    line!(
        out,
        "logged in to `{}` as `{}`; this device is `{}` on the server",
        server.url(),
        creds.user,
        creds.device
    );
    output::emit(&out)?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::server_name_for;

    #[test]
    fn folder_names_become_server_vault_names() {
        for (folder, name) in [
            ("notes", "notes"),
            ("My Notes", "my-notes"),
            ("  --Work & Life!! ", "work-life"),
            ("Ünïcode", "n-code"),
            ("日記", "notes"),
            (".hidden", "hidden"),
            ("a.b_c-d", "a.b_c-d"),
        ] {
            assert_eq!(server_name_for(folder), name, "{folder:?}");
        }
        assert_eq!(server_name_for(&"x".repeat(100)).len(), 64);
    }
}
