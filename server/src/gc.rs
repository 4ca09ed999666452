//! `vault-server gc`: compact and clean the vaults of a data folder (each a hub folder under
//! `DATA/vaults/<user>/<vault>/`) with [`vault::hub_gc`]. Safe while the server runs: a
//! server's own background compaction and devices reading are handled by the hub's rules
//! (docs/format.md, "Hub folder").

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use vault::hub_gc::{self, Options, Report};

use crate::accounts::check_name;

#[derive(Debug, Args)]
#[command(after_help = "\
Small packs are merged; objects no kept snapshot reaches (uploads of devices cut off midway)
are dropped from packs older than the grace period; replaced packs go to packs/retired/ and
are deleted by a later run once older than the grace period. The server also compacts a
vault by itself after pushes, once it holds more than 16 packs.")]
pub struct GcArgs {
    #[command(flatten)]
    vaults: VaultSelection,
    /// Say what would be merged, dropped and freed; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Leave alone packs and temp files younger than this, and keep retired packs this long
    /// (90s, 30m, 1h, 2d)
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = vault::duration::parse)]
    grace: Duration,
    /// Print the counts as one JSON object on stdout
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct VaultReport {
    user: String,
    vault: String,
    #[serde(flatten)]
    report: Report,
}

/// Which of a server's vaults an operator's command (`gc`, `fsck`) works on.
#[derive(Debug, Args)]
pub(crate) struct VaultSelection {
    /// The server's data folder
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Only this user's vaults
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only this vault (with --user)
    #[arg(long, value_name = "VAULT", requires = "user")]
    vault: Option<String>,
}

impl VaultSelection {
    /// The data folder, which must exist (a mistyped path is no empty server).
    pub fn data(&self) -> Result<&Path> {
        if !self.data.is_dir() {
            bail!(
                "the data folder `{}` does not exist; give the folder `vault-server serve --data` uses",
                self.data.display()
            );
        }
        Ok(&self.data)
    }

    /// The (user, vault, folder) of every vault selected; `command` names the command in the
    /// message for a vault that is not there.
    pub fn select(&self, command: &str) -> Result<Vec<(String, String, PathBuf)>> {
        select_vaults(
            self.data()?,
            self.user.as_deref(),
            self.vault.as_deref(),
            command,
        )
    }
}

/// The (user, vault, folder) of every vault of `data` (or of `user`, or that one `vault`):
/// `command` names the vault-server command in the message for a vault that is not there.
fn select_vaults(
    data: &Path,
    user: Option<&str>,
    vault: Option<&str>,
    command: &str,
) -> Result<Vec<(String, String, PathBuf)>> {
    let root = data.join("vaults");
    let names = |dir: &Path| -> Result<Vec<String>> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .with_context(|| format!("listing `{}`", dir.display()))?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        Ok(out)
    };
    let users = match user {
        Some(u) => {
            check_name("user", u)?;
            vec![u.to_string()]
        }
        None if root.is_dir() => names(&root)?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for user in users {
        if check_name("user", &user).is_err() {
            continue;
        }
        let dir = root.join(&user);
        let list = match vault {
            Some(v) => {
                check_name("vault", v)?;
                vec![v.to_string()]
            }
            None if dir.is_dir() => names(&dir)?,
            None => Vec::new(),
        };
        for name in list {
            let folder = dir.join(&name);
            if folder.join(vault::folder_hub::MARKER_FILE).is_file() {
                out.push((user.clone(), name, folder));
            } else if vault.is_some() {
                bail!(
                    "user `{user}` has no vault `{name}` in `{}`; `vault-server {command} --data DIR --user {user}` takes all of theirs",
                    data.display()
                );
            }
        }
    }
    Ok(out)
}

pub fn run(args: GcArgs) -> Result<()> {
    let mut done = Vec::new();
    for (user, vault, folder) in args.vaults.select("gc")? {
        let options = Options::gc(args.grace, args.dry_run);
        let report = hub_gc::run(&folder, &options, &hub_gc::Quiet)
            .with_context(|| format!("cleaning vault `{vault}` of `{user}`"))?;
        if !args.json {
            print!("{}", hub_gc::summary(&format!("{user}/{vault}"), &report));
        }
        done.push(VaultReport {
            user,
            vault,
            report,
        });
    }
    if args.json {
        let sum = |f: fn(&Report) -> u64| done.iter().map(|v| f(&v.report)).sum::<u64>();
        let value = serde_json::json!({
            "dry_run": args.dry_run,
            "vaults": &done,
            "bytes_freed": sum(|r| r.bytes_freed),
            "objects_dropped": sum(|r| r.objects_dropped as u64),
            "packs_before": sum(|r| r.packs_before as u64),
            "packs_after": sum(|r| r.packs_after as u64),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if done.is_empty() {
        println!("no vaults to clean in `{}`", args.vaults.data.display());
    }
    Ok(())
}
