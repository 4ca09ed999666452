//! `vault-server cert`: a key and a server certificate that clients accept, made here rather
//! than with an openssl recipe that yields a CA:TRUE certificate without the right names.
//!
//! The certificate is a self-signed leaf (CA:FALSE, extended key usage serverAuth) whose
//! subject alternative names are the hosts given (an IP address becomes an IP SAN): clients
//! check the host of their URL against those names only. syncd trusts it when given the file
//! with `--ca-cert`. Existing files are never replaced without `--force`; both are written
//! atomically (temp file in the same folder, fsync, rename), the key readable by its owner
//! only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

/// `vault-server cert`'s options.
#[derive(Debug, Args)]
pub struct CertArgs {
    /// A name clients will use in the server's URL (DNS name or IP address); repeat for each
    #[arg(long = "host", value_name = "NAME", required = true)]
    hosts: Vec<String>,
    /// Folder for `cert.pem` and `key.pem` (default: the current folder)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["cert", "key"])]
    out: Option<PathBuf>,
    /// Where to write the certificate (PEM), instead of DIR/cert.pem
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Where to write the private key (PEM, mode 0600), instead of DIR/key.pem
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Days the certificate is valid
    #[arg(long, value_name = "N", default_value_t = 825)]
    days: u32,
    /// The port `vault-server serve --listen` will use, for the commands printed
    #[arg(long, value_name = "PORT", default_value_t = 7878)]
    port: u16,
    /// Replace existing files
    #[arg(long)]
    force: bool,
}

/// A certificate and its key, PEM-encoded, and the certificate's DER.
pub struct Made {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

/// Refuse what clients could never match: a URL instead of a name, spaces, an empty name.
fn check_host(host: &str) -> Result<()> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        bail!(
            "`{host}` is not a host name or IP address: give the name as it appears in the server's URL, without scheme or port (`--host vault.example.org`, `--host 192.168.1.5`)"
        );
    }
    Ok(())
}

/// A self-signed server certificate for `hosts`, valid from yesterday (a client whose clock
/// is a little behind still accepts it) for `days` days after `today` (`(year, month, day)`).
pub fn make(hosts: &[String], today: (i16, i8, i8), days: u32) -> Result<Made> {
    for host in hosts {
        check_host(host)?;
    }
    if days == 0 {
        bail!("--days must be at least 1");
    }
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut params = CertificateParams::new(hosts.to_vec())
        .with_context(|| format!("not a host name or IP address: {}", hosts.join(", ")))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hosts[0].clone());
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let date = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
    };
    let today = jiff::civil::Date::new(today.0, today.1, today.2)?;
    params.not_before = date(today.yesterday()?);
    params.not_after = date(today.checked_add(jiff::Span::new().days(i64::from(days)))?);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Made {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    })
}

/// `AB:CD:...`: the SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Write `data` to `path` atomically with `mode`: a temp file in the same folder, fsync,
/// rename, fsync of the folder.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().context("a file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write `{}`", path.display()))
}

/// Run `vault-server cert`.
pub fn run(args: CertArgs) -> Result<()> {
    let (cert_path, key_path) = match (args.cert, args.key) {
        (Some(c), Some(k)) => (c, k),
        _ => {
            let dir = args.out.unwrap_or_else(|| PathBuf::from("."));
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the folder `{}`", dir.display()))?;
            (dir.join("cert.pem"), dir.join("key.pem"))
        }
    };
    let cert_path = std::path::absolute(&cert_path)?;
    let key_path = std::path::absolute(&key_path)?;
    if !args.force {
        let existing: Vec<String> = [&cert_path, &key_path]
            .iter()
            .filter(|p| p.exists())
            .map(|p| format!("`{}`", p.display()))
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} already exist{}: nothing written. Pass --force to replace {} (clients that trust the old certificate must then be given the new one)",
                existing.join(" and "),
                if existing.len() == 1 { "s" } else { "" },
                if existing.len() == 1 { "it" } else { "them" },
            );
        }
    }
    let today = jiff::tz::Offset::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    let made = make(
        &args.hosts,
        (today.year(), today.month(), today.day()),
        args.days,
    )?;
    write_atomic(&key_path, made.key_pem.as_bytes(), 0o600)?;
    write_atomic(&cert_path, made.cert_pem.as_bytes(), 0o644)?;
    print!(
        "{}",
        summary(
            &args.hosts,
            args.port,
            &cert_path,
            &key_path,
            &made.der,
            args.days
        )
    );
    Ok(())
}

/// What was made and the commands that use it.
fn summary(hosts: &[String], port: u16, cert: &Path, key: &Path, der: &[u8], days: u32) -> String {
    let host = &hosts[0];
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let url = format!("https://{url_host}:{port}");
    let listen = if host.parse::<std::net::IpAddr>().is_ok() {
        format!("{url_host}:{port}")
    } else {
        format!("0.0.0.0:{port}")
    };
    let (cert, key) = (cert.display(), key.display());
    format!(
        "wrote the certificate {cert} (for {names}, valid {days} days) and its key {key} (readable by you only)
SHA-256 fingerprint: {fp}

serve with it:
  vault-server serve --data DIR --listen {listen} --tls-cert {cert} --tls-key {key}

on each device, trust it (copy {cert} there; compare the fingerprint with `openssl x509 -noout -fingerprint -sha256 -in FILE`):
  a new vault:                      syncd init --hub {url} --ca-cert {cert} --user NAME --password-stdin
  a vault on another hub, moving:   syncd hub set {url} --ca-cert {cert} --user NAME --password-stdin
  a vault on this server already:   syncd hub set {url} --ca-cert {cert}
",
        names = hosts.join(", "),
        fp = fingerprint(der),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_for_the_names_given_valid_from_yesterday() {
        let hosts = vec!["hub.example".to_string(), "10.0.0.5".to_string()];
        let made = make(&hosts, (2026, 3, 1), 30).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&made.der).unwrap();
        assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["DNSName(hub.example)", "IPAddress(0a:00:00:05)"]);
        assert_eq!(
            cert.validity().not_before.to_datetime().date().to_string(),
            "2026-02-28"
        );
        assert_eq!(
            cert.validity().not_after.to_datetime().date().to_string(),
            "2026-03-31"
        );
        assert!(made.key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn names_clients_could_never_match_are_refused() {
        for bad in [
            "https://hub.example",
            "hub.example:7878",
            "my hub",
            "",
            "-a.example",
        ] {
            assert!(make(&[bad.to_string()], (2026, 3, 1), 30).is_err(), "{bad}");
        }
        for good in [
            "localhost",
            "*.example.org",
            "::1",
            "10.0.0.5",
            "hub-1.example",
        ] {
            check_host(good).unwrap();
        }
        assert!(make(&["a".to_string()], (2026, 3, 1), 0).is_err());
    }

    #[test]
    fn the_fingerprint_is_openssls_format() {
        let fp = fingerprint(b"abc");
        assert_eq!(
            fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn the_summary_prints_commands_that_trust_it() {
        let text = summary(
            &["10.0.0.5".to_string()],
            7878,
            Path::new("/etc/vault/cert.pem"),
            Path::new("/etc/vault/key.pem"),
            b"abc",
            30,
        );
        assert!(
            text.contains(
                "--listen 10.0.0.5:7878 --tls-cert /etc/vault/cert.pem --tls-key /etc/vault/key.pem"
            ),
            "{text}"
        );
        assert!(text.contains("syncd init --hub https://10.0.0.5:7878 --ca-cert /etc/vault/cert.pem --user NAME --password-stdin"), "{text}");
        assert!(
            text.contains("syncd hub set https://10.0.0.5:7878 --ca-cert /etc/vault/cert.pem"),
            "{text}"
        );
    }
}
