//! TLS as Redis 7.0 offers it, with rustls (no OpenSSL): the `tls-*` parameters turned into
//! a rustls server configuration, the TLS listening sockets, and the acceptor that new
//! connections on them use. A connection, once its handshake is done, is served by the same
//! code as a plain TCP one (`connection::serve` is generic over the stream).
//!
//! The configuration is rebuilt whenever CONFIG SET changes a `tls-*` parameter; a value
//! that does not give a working configuration (a missing file, a key that does not match
//! the certificate) fails the CONFIG SET and the old configuration stays in force.

use std::net::TcpListener;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rustls::crypto::{ring, CryptoProvider};
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The TLS state of the server: the acceptor for new connections and the TLS sockets.
#[derive(Default)]
pub struct Tls {
    /// None while TLS is not configured (no `tls-port`).
    acceptor: RwLock<Option<TlsAcceptor>>,
    /// The sockets of `tls-port`; workers accept on clones of them.
    pub listeners: Mutex<Vec<TcpListener>>,
}

impl Tls {
    /// The acceptor new connections on the TLS port use (the latest configuration).
    pub fn acceptor(&self) -> Option<TlsAcceptor> {
        self.acceptor.read().clone()
    }

    /// Use `config` for the connections accepted from now on.
    pub fn install(&self, config: Option<Arc<ServerConfig>>) {
        *self.acceptor.write() = config.map(TlsAcceptor::from);
    }
}

/// The parameters whose change needs the TLS configuration rebuilt (Redis's `applyTlsCfg`).
pub const PARAMS: &[&str] = &[
    "tls-port",
    "tls-cert-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
    "tls-dh-params-file",
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-auth-clients",
    "tls-protocols",
    "tls-ciphers",
    "tls-ciphersuites",
    "tls-prefer-server-ciphers",
    "tls-session-caching",
    "tls-session-cache-size",
    "tls-session-cache-timeout",
    "tls-replication",
    "tls-cluster",
];

/// Whether these settings call for a TLS configuration at all (as Redis: a TLS port, or
/// TLS for replication or the cluster bus).
pub fn wanted(get: &dyn Fn(&str) -> String) -> bool {
    get("tls-port") != "0" || get("tls-replication") == "yes" || get("tls-cluster") == "yes"
}

/// What a CONFIG SET changes in TLS, prepared (files read, sockets bound) before any
/// parameter is applied, so that a failure leaves everything as it was.
pub struct Change {
    /// The new configuration (None: TLS off), when a `tls-*` parameter is set.
    config: Option<Option<Arc<ServerConfig>>>,
    /// The new TLS sockets, when `tls-port` or `bind` changes.
    listeners: Option<Vec<TcpListener>>,
}

impl Change {
    /// Put the prepared change in force (after the parameters were stored).
    pub fn apply(self, server: &super::Server) {
        if let Some(config) = self.config {
            server.tls.install(config);
        }
        if let Some(listeners) = self.listeners {
            server.replace_tls_listeners(listeners);
        }
    }
}

/// Check and prepare what CONFIG SET `pairs` changes in TLS. Ok(None): nothing to do (or a
/// value that CONFIG SET itself refuses). The error is the whole reply, in Redis's words.
pub fn prepare(server: &super::Server, pairs: &[(&str, &str)]) -> Result<Option<Change>, String> {
    let mut overlay: Vec<(&'static str, String)> = Vec::new();
    let mut first_tls: Option<&str> = None;
    let mut bind_arg: Option<&str> = None;
    for (name, value) in pairs {
        let Some((canonical, v)) = server.config.validated(name, value) else {
            // An unknown name or an invalid value: CONFIG SET reports it in its own words.
            return Ok(None);
        };
        if PARAMS.contains(&canonical) {
            first_tls.get_or_insert(name);
        }
        if canonical == "bind" {
            bind_arg = Some(name);
        }
        overlay.push((canonical, v));
    }
    if first_tls.is_none() && bind_arg.is_none() {
        return Ok(None);
    }
    let get = |n: &str| {
        overlay
            .iter()
            .rev()
            .find(|(c, _)| *c == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| server.config.get(n))
    };
    let mut change = Change {
        config: None,
        listeners: None,
    };
    if let Some(name) = first_tls {
        if wanted(&get) {
            match build(&get) {
                Ok(c) => change.config = Some(Some(c)),
                Err(e) => {
                    tracing::warn!("{}", e);
                    tracing::warn!("Failed applying new configuration. Possibly related to new {} setting. Restoring previous settings.", name);
                    return Err(format!("ERR CONFIG SET failed (possibly related to argument '{}') - Unable to update TLS configuration. Check server logs.", name));
                }
            }
        } else {
            change.config = Some(None);
        }
    }
    let port: u16 = get("tls-port").parse().unwrap_or(0);
    let old_port: u16 = server.config.get("tls-port").parse().unwrap_or(0);
    let bind = get("bind");
    if port != old_port || (port != 0 && bind != server.config.get("bind")) {
        change.listeners = Some(if port == 0 {
            Vec::new()
        } else {
            let backlog = server.config.get("tcp-backlog").parse().unwrap_or(511);
            super::bind_tls_listener(&bind, port, backlog).map_err(|e| {
                tracing::warn!("CONFIG SET: {}", e);
                match (port != old_port, bind_arg) {
                    (false, Some(b)) => format!("ERR CONFIG SET failed (possibly related to argument '{}') - Failed to bind to specified addresses.", b),
                    _ => format!("ERR CONFIG SET failed (possibly related to argument '{}') - Unable to listen on this port. Check server logs.", pairs.iter().find(|(n, _)| crate::config::Config::canonical_name(n) == Some("tls-port")).map_or("tls-port", |(n, _)| n)),
                }
            })?
        });
    }
    Ok(Some(change))
}

/// Build the rustls server configuration from the `tls-*` parameters read with `get`.
/// The error is the line Redis logs for the same fault.
pub fn build(get: &dyn Fn(&str) -> String) -> Result<Arc<ServerConfig>, String> {
    let cert_file = get("tls-cert-file");
    if cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    let key_file = get("tls-key-file");
    if key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    let auth = get("tls-auth-clients");
    let (ca_file, ca_dir) = (get("tls-ca-cert-file"), get("tls-ca-cert-dir"));
    let needs_ca = auth != "no" || get("tls-replication") == "yes" || get("tls-cluster") == "yes";
    if needs_ca && ca_file.is_empty() && ca_dir.is_empty() {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let versions = protocol_versions(&get("tls-protocols"))?;
    let suites = cipher_suites(&get("tls-ciphersuites"), &get("tls-ciphers"))?;
    // The ring provider is deprecated for lacking post-quantum key exchange, which
    // Redis 7.0 with OpenSSL 3.0 lacks too; aws-lc-rs would need cmake and a long build.
    #[allow(deprecated)]
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..ring::default_provider()
    });
    let chain = load_certs(&cert_file)
        .map_err(|e| format!("Failed to load certificate: {}: {}", cert_file, e))?;
    let key = load_key(&key_file, &get("tls-key-file-pass"))
        .map_err(|e| format!("Failed to load private key: {}: {}", key_file, e))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Failed to configure TLS protocols: {}", e))?;
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let roots = load_roots(&ca_file, &ca_dir)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if auth == "optional" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        let verifier = verifier
            .build()
            .map_err(|e| format!("Failed to configure CA certificate(s): {}", e))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("Failed to load private key: {}: {}", key_file, e))?;
    config.ignore_client_order = get("tls-prefer-server-ciphers") == "yes";
    config.session_storage = if get("tls-session-caching") == "yes" {
        // OpenSSL reads a cache size of 0 as "no limit"; rustls needs a bound.
        let size = match get("tls-session-cache-size").parse::<usize>() {
            Ok(0) | Err(_) => 1 << 20,
            Ok(n) => n,
        };
        ServerSessionMemoryCache::new(size)
    } else {
        config.send_tls13_tickets = 0;
        Arc::new(NoServerSessionStorage {})
    };
    Ok(Arc::new(config))
}

/// `tls-protocols`: a list of `TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3` (any case); empty
/// means TLS 1.2 and 1.3. rustls has no TLS 1.0 or 1.1, so those are accepted and left
/// out; a list of only those is refused.
fn protocol_versions(value: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    if value.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS12, &rustls::version::TLS13]);
    }
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        match word.to_ascii_lowercase().as_str() {
            "tlsv1" | "tlsv1.1" => {}
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            _ => return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.".into()),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "Failed to configure TLS protocols: {}: TLSv1 and TLSv1.1 are not supported",
            value
        ));
    }
    Ok(out)
}

/// The TLS 1.3 suites by their OpenSSL names (`tls-ciphersuites`).
const TLS13_NAMES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

/// The TLS 1.2 suites by their OpenSSL names (`tls-ciphers`).
const TLS12_NAMES: &[(&str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        ring::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// OpenSSL cipher-string keywords that select groups of suites: any of them (positive)
/// enables every TLS 1.2 suite rustls has, all of which are strong ECDHE AEAD suites.
const CIPHER_KEYWORDS: &[&str] = &[
    "DEFAULT",
    "ALL",
    "HIGH",
    "ECDHE",
    "EECDH",
    "KECDHE",
    "AESGCM",
    "AES",
    "AES128",
    "AES256",
    "CHACHA20",
    "ECDSA",
    "AECDSA",
    "RSA",
    "ARSA",
    "SHA256",
    "SHA384",
    "TLSV1.2",
    "AEAD",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFALL",
    "SUITEB128",
    "SUITEB192",
];

/// The cipher suites for `tls-ciphersuites` (TLS 1.3, `:`-separated names) and
/// `tls-ciphers` (TLS 1.2, an OpenSSL cipher string). Empty means all that rustls has.
/// Names rustls lacks are skipped; a list that selects nothing is refused, as OpenSSL does.
fn cipher_suites(suites13: &str, ciphers12: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut out = Vec::new();
    if suites13.trim().is_empty() {
        out.extend(TLS13_NAMES.iter().map(|(_, s)| *s));
    } else {
        for name in suites13.split(':').map(str::trim) {
            if let Some((_, s)) = TLS13_NAMES.iter().find(|(n, _)| *n == name) {
                out.push(*s);
            }
        }
        if out.is_empty() {
            return Err(format!("Failed to configure ciphersuites: {}", suites13));
        }
    }
    if ciphers12.trim().is_empty() {
        out.extend(TLS12_NAMES.iter().map(|(_, s)| *s));
        return Ok(out);
    }
    let mut tls12 = Vec::new();
    let mut all = false;
    for token in ciphers12.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        // Exclusions, re-orderings and @STRENGTH / @SECLEVEL change nothing here.
        if token.starts_with(['!', '-', '+', '@']) {
            continue;
        }
        if let Some((_, s)) = TLS12_NAMES.iter().find(|(n, _)| *n == token) {
            tls12.push(*s);
        } else if token
            .split('+')
            .all(|k| CIPHER_KEYWORDS.contains(&k.to_ascii_uppercase().as_str()))
        {
            all = true;
        }
    }
    if all {
        tls12 = TLS12_NAMES.iter().map(|(_, s)| *s).collect();
    }
    if tls12.is_empty() {
        return Err(format!("Failed to configure ciphers: {}", ciphers12));
    }
    out.extend(tls12);
    Ok(out)
}

/// Every certificate in a PEM file (the server's chain).
fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#1, PKCS#8 or SEC1), or a PKCS#8 key encrypted
/// with `pass` (`tls-key-file-pass`; what OpenSSL 3 writes with `-aes256`). Keys in the
/// old OpenSSL encrypted format (`Proc-Type: 4,ENCRYPTED`) are refused.
fn load_key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&data);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return decrypt_pkcs8(&text, pass);
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err("keys encrypted in the traditional OpenSSL format are not supported; convert the key to PKCS#8 (openssl pkcs8 -topk8)".into());
    }
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| e.to_string())
}

/// Decrypt the first `ENCRYPTED PRIVATE KEY` block of `pem` with `pass`.
fn decrypt_pkcs8(pem: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let start = pem.find(BEGIN).ok_or("no encrypted key")?;
    let end = pem[start..]
        .find(END)
        .map(|e| start + e + END.len())
        .ok_or("unterminated encrypted key")?;
    let block = pem.get(start..end).ok_or("bad encrypted key")?;
    let (_, doc) = pkcs8::der::Document::from_pem(block).map_err(|e| e.to_string())?;
    let info =
        pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| e.to_string())?;
    let plain = info
        .decrypt(pass.as_bytes())
        .map_err(|_| "bad decrypt (wrong tls-key-file-pass?)".to_string())?;
    Ok(PrivateKeyDer::Pkcs8(
        rustls_pki_types::PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()),
    ))
}

/// The trusted CAs for client certificates: `tls-ca-cert-file` and every certificate in
/// the files of `tls-ca-cert-dir`.
fn load_roots(ca_file: &str, ca_dir: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add = |path: &str, certs: Vec<CertificateDer<'static>>| -> Result<(), String> {
        for c in certs {
            roots.add(c).map_err(|e| {
                format!(
                    "Failed to configure CA certificate(s) file/directory: {}: {}",
                    path, e
                )
            })?;
        }
        Ok(())
    };
    if !ca_file.is_empty() {
        let certs = load_certs(ca_file).map_err(|e| {
            format!(
                "Failed to configure CA certificate(s) file/directory: {}: {}",
                ca_file, e
            )
        })?;
        add(ca_file, certs)?;
    }
    if !ca_dir.is_empty() {
        let entries = std::fs::read_dir(ca_dir).map_err(|e| {
            format!(
                "Failed to configure CA certificate(s) file/directory: {}: {}",
                ca_dir, e
            )
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            // Files that hold no certificate (OpenSSL's c_rehash links hold the same) are
            // skipped, as OpenSSL's lookup would never find them.
            if let Ok(certs) = load_certs(&path.display().to_string()) {
                add(&path.display().to_string(), certs)?;
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_like_redis() {
        assert_eq!(protocol_versions("").map(|v| v.len()), Ok(2));
        assert_eq!(protocol_versions("TLSv1.2").map(|v| v.len()), Ok(1));
        assert_eq!(protocol_versions("tlsv1.2 TLSV1.3").map(|v| v.len()), Ok(2));
        assert_eq!(protocol_versions("TLSv1 TLSv1.3").map(|v| v.len()), Ok(1));
        assert!(protocol_versions("TLSv1.4")
            .unwrap_err()
            .starts_with("Invalid tls-protocols specified."));
        assert!(protocol_versions("TLSv1.1").is_err());
    }

    #[test]
    fn cipher_names_map_to_rustls() {
        let all = cipher_suites("", "").map(|v| v.len());
        assert_eq!(all, Ok(TLS13_NAMES.len() + TLS12_NAMES.len()));
        let one = cipher_suites("TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256");
        assert_eq!(one.map(|v| v.len()), Ok(2));
        assert_eq!(
            cipher_suites("", "DEFAULT:!MEDIUM").map(|v| v.len()),
            Ok(TLS13_NAMES.len() + TLS12_NAMES.len())
        );
        assert_eq!(
            cipher_suites("FOO", "").unwrap_err(),
            "Failed to configure ciphersuites: FOO"
        );
        assert_eq!(
            cipher_suites("", "FOO").unwrap_err(),
            "Failed to configure ciphers: FOO"
        );
    }

    #[test]
    fn missing_files_are_reported() {
        let get = |name: &str| match name {
            "tls-port" => "6380".to_string(),
            "tls-cert-file" => "/nonexistent/cert.pem".to_string(),
            "tls-key-file" => "/nonexistent/key.pem".to_string(),
            "tls-auth-clients" => "no".to_string(),
            _ => String::new(),
        };
        let err = build(&get).unwrap_err();
        assert!(
            err.starts_with("Failed to load certificate: /nonexistent/cert.pem"),
            "{}",
            err
        );
        let no_ca = |name: &str| match name {
            "tls-auth-clients" => "yes".to_string(),
            other => get(other),
        };
        assert!(build(&no_ca)
            .unwrap_err()
            .starts_with("Either tls-ca-cert-file"));
    }
}
