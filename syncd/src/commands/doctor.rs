//! `syncd doctor`: the "test sync" button. Each step that a round depends on is checked on its
//! own, in the order a round needs them, so the first failure names the real cause (a proxy
//! that refuses, not "sync failed"); each failure carries the fix.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use vault::Hub;
use vault::hub::HubError;
use vault::local::{LocalVault, ServerConfig};

use super::{is_url, open_folder_hub, open_vault, server_hub};
use crate::cli::DoctorArgs;
use crate::exit;
use crate::http_hub::{Failure, Server};
use crate::output::{self, line};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Warn,
    Fail,
    /// Not run: a step it depends on failed.
    Skip,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    hub: String,
    ok: bool,
    checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, name: &'static str, status: Status, detail: String, fix: Option<String>) {
        self.checks.push(Check {
            name,
            status,
            detail,
            fix,
        });
    }
    fn pass(&mut self, name: &'static str, detail: String) {
        self.add(name, Status::Pass, detail, None);
    }
    fn fail(&mut self, name: &'static str, detail: String, fix: String) {
        self.add(name, Status::Fail, detail, Some(fix));
    }
    fn skip(&mut self, names: &[&'static str]) {
        for name in names {
            self.add(
                name,
                Status::Skip,
                "not checked: an earlier step failed".into(),
                None,
            );
        }
    }
}

pub fn run(args: DoctorArgs) -> Result<u8> {
    let vault = open_vault(&args.vault)?;
    let mut report = Report {
        hub: vault.config().hub.clone(),
        ..Report::default()
    };
    if is_url(&vault.config().hub) {
        check_server(&vault, &mut report);
    } else {
        check_folder(&vault, &mut report);
    }
    report.ok = report
        .checks
        .iter()
        .all(|c| matches!(c.status, Status::Pass | Status::Warn));
    if args.json {
        output::json(&report)?;
    } else {
        let mut out = String::new();
        line!(out, "hub: {}", report.hub);
        for c in &report.checks {
            let mark = match c.status {
                Status::Pass => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            line!(out, "{mark} {:<8} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                line!(out, "              fix: {fix}");
            }
        }
        if report.ok {
            line!(out, "All checks passed: this vault can sync.");
        }
        output::emit(&out)?;
    }
    Ok(if report.ok { exit::OK } else { exit::ERROR })
}

fn check_folder(vault: &LocalVault, report: &mut Report) {
    let hub = match open_folder_hub(vault) {
        Ok(hub) => {
            report.pass("folder", format!("`{}` is a hub folder", hub.describe()));
            hub
        }
        Err(e) => {
            report.fail(
                "folder",
                format!("{e:#}"),
                format!(
                    "mount the drive or share the hub is on; if the hub moved, point the vault at it with `syncd hub set HUB_DIR --vault {}`; if it is lost for good, `syncd hub set NEW_HUB_DIR --no-history --vault {}`",
                    vault.root().display(),
                    vault.root().display()
                ),
            );
            report.skip(&["clock", "head"]);
            return;
        }
    };
    // The hub's clock is the time its filesystem (the file server, for a share) stamps on a
    // file created there.
    match hub.time_ns() {
        Ok(hub_time) => check_clock(report, &hub.describe(), hub_time, "the hub folder"),
        Err(e) => report.fail(
            "clock",
            e.to_string(),
            "check that this device may create files in the hub folder".into(),
        ),
    }
    check_head(report, &hub);
}

/// Our clock against `theirs` (ns since the Unix epoch), read from `hub` (`what`, in words).
fn check_clock(report: &mut Report, hub: &str, theirs: i64, what: &str) {
    let now = vault::statcache::now_ns();
    match vault::sync::compare_clocks(hub, now, theirs) {
        Ok(()) => report.pass(
            "clock",
            format!(
                "this machine and {what} agree within {} s",
                (now - theirs).unsigned_abs() / 1_000_000_000
            ),
        ),
        Err(e) => report.fail(
            "clock",
            e.to_string(),
            "set the clock on the wrong machine (enable NTP: `timedatectl set-ntp true`)".into(),
        ),
    }
}

/// The steps of reaching a server: configuration, name, connection (or proxy), TLS and HTTP,
/// clock, the device's token, and the vault's head.
fn check_server(vault: &LocalVault, report: &mut Report) {
    const LATER: [&str; 5] = ["connect", "tls", "clock", "login", "head"];
    let url = vault.config().hub.clone();
    let settings = match server_hub::settings(vault) {
        Ok(s) => s.clone(),
        Err(e) => {
            report.fail("config", format!("{e:#}"), "see docs/server.md".into());
            report.skip(&LATER);
            return;
        }
    };
    report.pass(
        "config",
        format!(
            "vault `{}` as `{}`{}",
            settings.vault,
            settings.user,
            if settings.ca_cert.is_some() {
                ", with an extra trusted certificate"
            } else {
                ""
            }
        ),
    );
    let Ok(parsed) = reqwest::Url::parse(&url) else {
        report.fail(
            "config",
            format!("`{url}` is not a URL"),
            format!(
                "point the vault at the server with `syncd hub set https://host:port --user NAME --password-stdin --vault {}`",
                vault.root().display()
            ),
        );
        report.skip(&LATER);
        return;
    };
    let target = (
        parsed
            .host_str()
            .unwrap_or("")
            .trim_matches(['[', ']'])
            .to_string(),
        parsed.port_or_known_default().unwrap_or(443),
    );
    let proxy = proxy_for(&settings, &parsed);
    let (dial, what) = match &proxy {
        Some((proxy_url, source)) => match reqwest::Url::parse(proxy_url) {
            Ok(p) => {
                report.pass("proxy", format!("through `{proxy_url}` ({source})"));
                (
                    (
                        p.host_str()
                            .unwrap_or("")
                            .trim_matches(['[', ']'])
                            .to_string(),
                        p.port_or_known_default().unwrap_or(3128),
                    ),
                    "the proxy",
                )
            }
            Err(e) => {
                report.fail(
                    "proxy",
                    format!("`{proxy_url}` ({source}) is not a URL: {e}"),
                    "write the proxy as http://host:port".into(),
                );
                report.skip(&LATER);
                return;
            }
        },
        None => {
            report.pass("proxy", "none: connecting directly".into());
            (target.clone(), "the server")
        }
    };
    let addrs: Vec<SocketAddr> = match (dial.0.as_str(), dial.1).to_socket_addrs() {
        Ok(found) => found.collect(),
        Err(e) => {
            report.fail(
                "dns",
                format!("cannot resolve `{}`: {e}", dial.0),
                "check the host name for typos, and this machine's network and DNS settings".into(),
            );
            report.skip(&LATER);
            return;
        }
    };
    report.pass(
        "dns",
        format!(
            "`{}` is {}",
            dial.0,
            addrs
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let connected = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).ok());
    match connected {
        Some(stream) => report.pass(
            "connect",
            format!(
                "{what} answers on {}",
                stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            ),
        ),
        None => {
            report.fail(
                "connect",
                format!("cannot connect to {what} at {}:{}", dial.0, dial.1),
                if proxy.is_some() {
                    format!(
                        "check that the proxy runs and its address is right; set another with `syncd hub set {} --proxy http://host:port`, or HTTPS_PROXY",
                        vault.config().hub
                    )
                } else {
                    "check that vault-server runs and listens on that address (`--listen`), and that no firewall blocks the port".into()
                },
            );
            report.skip(&LATER[1..]);
            return;
        }
    }
    let server = match Server::new(&url, &settings) {
        Ok(s) => s,
        Err(e) => {
            report.fail(
                "tls",
                e.to_string(),
                "fix the settings the message names".into(),
            );
            report.skip(&LATER[2..]);
            return;
        }
    };
    let server_time = match server.probe() {
        Ok(t) => {
            report.add(
                "tls",
                if settings.insecure_skip_verify {
                    Status::Warn
                } else {
                    Status::Pass
                },
                match (parsed.scheme(), settings.insecure_skip_verify) {
                    ("http", _) => "not used: plain HTTP to this machine; vault-server answers".into(),
                    (_, true) => "vault-server answers, but certificate checks are OFF".into(),
                    _ => "vault-server answers; its certificate is valid".into(),
                },
                settings.insecure_skip_verify.then(|| {
                    format!("trust the server's certificate instead: `syncd hub set {url} --ca-cert FILE` (FILE: the server's --tls-cert file, or the CA that signed it)")
                }),
            );
            t
        }
        // The same explanation and fix as a sync would give (crate::tls_explain).
        Err(Failure::Tls(why)) => {
            report.fail("tls", why.what, why.fix);
            report.skip(&LATER[2..]);
            return;
        }
        Err(Failure::Other(e)) => {
            let fix = if proxy.is_some() {
                "the proxy did not pass the request on: check that it allows CONNECT to this host and port"
            } else {
                "check that this address is vault-server (not another service) and that it speaks the scheme in the URL"
            };
            report.fail("tls", e.to_string(), fix.into());
            report.skip(&LATER[2..]);
            return;
        }
    };
    check_clock(report, url.as_str(), server_time, "the server");
    let token = match vault.token() {
        Ok(Some(t)) => t,
        Ok(None) | Err(_) => {
            report.fail(
                "login",
                "this device has no token (.vault/token is missing or unreadable)".into(),
                "log in again: `syncd login --password-stdin`".into(),
            );
            report.skip(&["head"]);
            return;
        }
    };
    match server.whoami(&token) {
        Ok(me) => report.pass(
            "login",
            format!(
                "this device is `{}` of the account `{}`",
                me.device, me.user
            ),
        ),
        Err(e @ HubError::Unauthorized { .. }) => {
            report.fail(
                "login",
                e.to_string(),
                "the token was revoked or the password changed: `syncd login --password-stdin`"
                    .into(),
            );
            report.skip(&["head"]);
            return;
        }
        Err(e) => {
            report.fail(
                "login",
                e.to_string(),
                "try again; see the server's log".into(),
            );
            report.skip(&["head"]);
            return;
        }
    }
    check_head(report, &server.vault(&settings.vault, &token));
}

fn check_head(report: &mut Report, hub: &dyn Hub) {
    match hub.head() {
        Ok(Some(head)) => report.pass("head", format!("the hub is at snapshot {}", head.short())),
        Ok(None) => report.pass(
            "head",
            "the hub is empty; the first sync uploads this vault".into(),
        ),
        Err(e) => report.fail(
            "head",
            e.to_string(),
            "see the message; `syncd sync` repairs a hub that lacks objects".into(),
        ),
    }
}

/// The proxy a request to `url` goes through, and where that setting comes from, as
/// reqwest chooses it: the config's proxy, else the system's variables unless `NO_PROXY`
/// names the host.
fn proxy_for(settings: &ServerConfig, url: &reqwest::Url) -> Option<(String, String)> {
    if let Some(p) = &settings.proxy {
        return Some((p.clone(), "the vault's config".into()));
    }
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| std::env::var(name.to_lowercase()).ok())
            .filter(|v| !v.is_empty())
    };
    let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
    if let Some(no_proxy) = env("NO_PROXY")
        && no_proxy_matches(&no_proxy, host)
    {
        return None;
    }
    let names: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "ALL_PROXY"]
    } else {
        &["HTTP_PROXY", "ALL_PROXY"]
    };
    names
        .iter()
        .find_map(|n| env(n).map(|v| (v, format!("from {n}"))))
}

/// Whether a `NO_PROXY` list names `host`: `*`, the host itself, or a domain it is in.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        entry == "*"
            || entry.eq_ignore_ascii_case(host)
            || (!entry.is_empty()
                && host.len() > entry.len()
                && host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", entry.to_ascii_lowercase())))
    })
}

#[cfg(test)]
mod tests {
    use super::no_proxy_matches;

    #[test]
    fn no_proxy_lists_match_hosts_and_their_domains() {
        assert!(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches("*", "hub.example"));
        assert!(no_proxy_matches("example.com", "hub.example.com"));
        assert!(no_proxy_matches(".example.com", "hub.example.com"));
        assert!(!no_proxy_matches("example.com", "badexample.com"));
        assert!(!no_proxy_matches("", "hub.example"));
        assert!(!no_proxy_matches("other.org, x", "hub.example"));
    }
}
