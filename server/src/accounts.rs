//! Accounts, their devices and the devices' tokens, kept in `DATA/accounts.json`.
//!
//! A password is stored only as an argon2id hash (PHC string, the crate's default cost, which
//! is OWASP's recommendation). Logging in with it creates a *device*: a random 256-bit token
//! that the device keeps instead of the password. The server stores only the token's blake3
//! hash (a token has 256 bits of entropy, so a fast hash is as safe as a slow one here), which
//! lets it find the device of a request with one lookup and lets an operator revoke one device
//! without touching the others.
//!
//! The file is the source of truth for both the running server and the operator's
//! `vault-server user` / `device` commands: every change takes an exclusive `flock` on
//! `accounts.lock`, reads the file, changes it and replaces it atomically (temp file, fsync,
//! rename), so a revocation made while the server runs is seen by its next request.
//!
//! Files are reached through `vault::vfs` (the operating system's, or a simulated machine's
//! in `vault-sim`), as the hub folders next to them are.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use vault::fsutil::{PathIoError, io_at, random_hex, write_atomic};
use vault::vfs::{self, OpenOptions};

const ACCOUNTS_FILE: &str = "accounts.json";
const LOCK_FILE: &str = "accounts.lock";
/// Version of `accounts.json`; a newer file is refused rather than half understood.
const FORMAT: u32 = 1;
/// Shorter passwords are refused (NIST SP 800-63B's minimum for chosen passwords).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer ones too: hashing megabytes on every login would be a cheap way to load the server.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why an account operation failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "{what} name `{name}` is not allowed: {why}; use 1 to 64 lowercase letters, digits, `.`, `_` or `-`, starting with a letter or digit"
    )]
    BadName {
        what: &'static str,
        name: String,
        why: &'static str,
    },
    #[error(
        "user `{0}` already exists; choose another name, or change its password with `vault-server user passwd`"
    )]
    UserExists(String),
    #[error("there is no user `{0}`; list them with `vault-server user list`")]
    NoSuchUser(String),
    #[error(
        "user `{user}` has no device `{device}`; list them with `vault-server device list {user}`"
    )]
    NoSuchDevice { user: String, device: String },
    #[error("wrong user name or password")]
    WrongPassword,
    #[error("the password is unusable: {0}")]
    BadPassword(String),
    #[error("{0}; check that the data folder exists and that this user may read and write it")]
    Io(#[from] PathIoError),
    #[error("`{path}` is damaged ({detail}); restore it from a backup")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "`{path}` was written by a newer vault-server (format {found}, this one reads {FORMAT}); upgrade vault-server"
    )]
    NewerFormat { path: PathBuf, found: u32 },
}

/// Everything `accounts.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accounts {
    format: u32,
    users: BTreeMap<String, User>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            format: FORMAT,
            users: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// argon2id hash in PHC form (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    password: String,
    pub created_ns: i64,
    /// Device id -> device.
    pub devices: BTreeMap<String, Device>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Device {
    /// The name the device gave when it logged in (its `syncd` device name).
    pub name: String,
    /// blake3 of the token, hex.
    token_hash: String,
    pub created_ns: i64,
    /// When it was revoked; its token is refused from then on.
    pub revoked_ns: Option<i64>,
}

/// A request's verified identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub device: String,
}

/// A device's credentials, given once, at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub device: String,
    pub token: String,
}

/// Check a user (or vault) name: it becomes a folder name on the server, so it must be plain.
pub fn check_name(what: &'static str, name: &str) -> Result<(), AccountError> {
    let bad = |why| {
        Err(AccountError::BadName {
            what,
            name: name.chars().take(80).collect(),
            why,
        })
    };
    if name.is_empty() || name.len() > 64 {
        return bad("it must have 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("it has a character other than a-z, 0-9, `.`, `_` and `-`");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("it must start with a letter or a digit");
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::BadPassword(format!(
            "it has fewer than {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::BadPassword(format!(
            "it is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    let mut random = [0u8; 16];
    // The operating system's random source (a simulation's seeded one in vault-sim).
    vfs::fill_random(&mut random);
    let salt =
        SaltString::encode_b64(&random).map_err(|e| AccountError::BadPassword(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::BadPassword(e.to_string()))
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

impl Accounts {
    pub fn users(&self) -> impl Iterator<Item = (&str, &User)> {
        self.users.iter().map(|(n, u)| (n.as_str(), u))
    }

    pub fn user(&self, name: &str) -> Result<&User, AccountError> {
        self.users
            .get(name)
            .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        now_ns: i64,
    ) -> Result<(), AccountError> {
        check_name("user", name)?;
        if self.users.contains_key(name) {
            return Err(AccountError::UserExists(name.to_string()));
        }
        check_password(password)?;
        self.users.insert(
            name.to_string(),
            User {
                password: hash_password(password)?,
                created_ns: now_ns,
                devices: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Change a password. Devices already logged in keep their tokens (revoke them to cut
    /// them off).
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), AccountError> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let user = self
            .users
            .get_mut(name)
            .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))?;
        user.password = hash;
        Ok(())
    }

    /// Check `password` against `name`'s hash (the web view's login). An unknown user and a
    /// wrong password give the same error, and take the same time, so a login cannot tell
    /// which names exist.
    pub fn check_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        let Some(user) = self.users.get(name) else {
            // Spend the time a real check would, so timing does not tell either.
            let _ = hash_password(password);
            return Err(AccountError::WrongPassword);
        };
        let parsed = PasswordHash::new(&user.password).map_err(|e| AccountError::Corrupt {
            path: PathBuf::from(ACCOUNTS_FILE),
            detail: format!("password hash of `{name}`: {e}"),
        })?;
        if password.len() > MAX_PASSWORD_BYTES
            || Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_err()
        {
            return Err(AccountError::WrongPassword);
        }
        Ok(())
    }

    /// Check `password` and give a new device of `user` its token.
    pub fn login(
        &mut self,
        name: &str,
        password: &str,
        device_name: &str,
        now_ns: i64,
    ) -> Result<Login, AccountError> {
        self.check_password(name, password)?;
        let Some(user) = self.users.get_mut(name) else {
            return Err(AccountError::WrongPassword);
        };
        let device = loop {
            let id = random_hex(8);
            if !user.devices.contains_key(&id) {
                break id;
            }
        };
        let token = random_hex(32);
        user.devices.insert(
            device.clone(),
            Device {
                name: device_name.chars().take(128).collect(),
                token_hash: token_hash(&token),
                created_ns: now_ns,
                revoked_ns: None,
            },
        );
        Ok(Login { device, token })
    }

    /// The user and device a token belongs to, unless it is unknown or revoked.
    pub fn authenticate(&self, token: &str) -> Option<Session> {
        let hash = token_hash(token);
        self.users.iter().find_map(|(user, u)| {
            u.devices.iter().find_map(|(id, d)| {
                (d.revoked_ns.is_none() && d.token_hash == hash).then(|| Session {
                    user: user.clone(),
                    device: id.clone(),
                })
            })
        })
    }

    pub fn revoke(&mut self, user: &str, device: &str, now_ns: i64) -> Result<(), AccountError> {
        let u = self
            .users
            .get_mut(user)
            .ok_or_else(|| AccountError::NoSuchUser(user.to_string()))?;
        let d = u
            .devices
            .get_mut(device)
            .ok_or_else(|| AccountError::NoSuchDevice {
                user: user.to_string(),
                device: device.to_string(),
            })?;
        d.revoked_ns.get_or_insert(now_ns);
        Ok(())
    }
}

/// `accounts.json` in a data folder, changed under its lock.
#[derive(Debug, Clone)]
pub struct AccountStore {
    path: PathBuf,
    lock_path: PathBuf,
}

impl AccountStore {
    /// The store of the data folder `data` (created if missing).
    pub fn open(data: &Path) -> Result<AccountStore, AccountError> {
        vfs::create_dir_all(data).map_err(io_at("creating data folder", data))?;
        Ok(AccountStore {
            path: data.join(ACCOUNTS_FILE),
            lock_path: data.join(LOCK_FILE),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The accounts as they are on disk now (none if the file does not exist yet).
    pub fn read(&self) -> Result<Accounts, AccountError> {
        let bytes = match vfs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Accounts::default()),
            Err(e) => return Err(io_at("reading", &self.path)(e).into()),
        };
        #[derive(Deserialize)]
        struct Version {
            format: u32,
        }
        let corrupt = |e: serde_json::Error| AccountError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        };
        let version: Version = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if version.format > FORMAT {
            return Err(AccountError::NewerFormat {
                path: self.path.clone(),
                found: version.format,
            });
        }
        serde_json::from_slice(&bytes).map_err(corrupt)
    }

    /// Apply `change` to the accounts on disk, under the lock, and save the result atomically
    /// if it succeeded. A failed change writes nothing.
    pub fn modify<T>(
        &self,
        change: impl FnOnce(&mut Accounts) -> Result<T, AccountError>,
    ) -> Result<T, AccountError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io_at("opening", &self.lock_path))?;
        lock.lock().map_err(io_at("locking", &self.lock_path))?;
        let mut accounts = self.read()?;
        let out = change(&mut accounts)?;
        let mut text = serde_json::to_vec_pretty(&accounts).map_err(|e| AccountError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        text.push(b'\n');
        write_atomic(&self.path, &text).map_err(io_at("writing", &self.path))?;
        // The lock goes with the file handle.
        drop(lock);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
