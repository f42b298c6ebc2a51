//! TLS: loads the certificate chain and key (PEM) into a rustls configuration, and swaps in
//! the new pair when the files change (certbot renewing in place) or on SIGHUP, keeping the
//! old one when the new files are unusable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files are looked at for a change (a stat each, nothing more).
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{option} {path}: {source}")]
    Read {
        /// `--tls-cert` or `--tls-key`.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The certificate file holds no certificate.
    #[error(
        "--tls-cert {0}: no certificate in the file (expected PEM: -----BEGIN CERTIFICATE-----)"
    )]
    NoCertificate(PathBuf),
    /// The key file holds no key.
    #[error(
        "--tls-key {0}: no private key in the file (expected PEM: -----BEGIN PRIVATE KEY-----, RSA or EC)"
    )]
    NoKey(PathBuf),
    /// The key is encrypted: webpeek has no way to ask for its passphrase.
    #[error(
        "--tls-key {0}: the key is encrypted with a passphrase, which webpeek cannot ask for; give it a decrypted copy (openssl pkey -in KEY -out KEY.plain, mode 0600)"
    )]
    EncryptedKey(PathBuf),
    /// The key is not the certificate's.
    #[error("--tls-key {key}: this key does not belong to the certificate in {cert}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the pair for another reason.
    #[error("--tls-cert {cert}: {source}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// The certificate chain and key files, as given on the command line.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain (`fullchain.pem`).
    pub cert: PathBuf,
    /// PEM private key (`privkey.pem`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads both files and builds the server configuration (HTTP/1.1 only: WebSocket
    /// upgrades, header limits and per-connection timeouts then work the same as over plain
    /// HTTP).
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let read = |option, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                option,
                path: path.to_owned(),
                source,
            })
        };
        let cert_pem = read("--tls-cert", &self.cert)?;
        let key_pem = read("--tls-key", &self.key)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|_| TlsError::NoCertificate(self.cert.clone()))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(self.cert.clone()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
            // PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's legacy `Proc-Type: 4,ENCRYPTED`
            // header: there is a key, just not one rustls can read ("no private key" misled).
            let encrypted = |label: &[u8]| key_pem.windows(label.len()).any(|w| w == label);
            if encrypted(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
                || encrypted(b"Proc-Type: 4,ENCRYPTED")
            {
                TlsError::EncryptedKey(self.key.clone())
            } else {
                TlsError::NoKey(self.key.clone())
            }
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let refused = |source| TlsError::Refused {
            cert: self.cert.clone(),
            source,
        };
        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|_| TlsError::NoKey(self.key.clone()))?;
        let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing_key);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(_)) => {
                return Err(TlsError::Mismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                });
            }
            Err(e) => return Err(refused(e)),
        }
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(refused)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// What identifies the files' current content cheaply: size, mtime and inode of each
    /// (following symlinks, as certbot's `live/` links to `archive/`).
    fn fingerprint(&self) -> Option<[(u64, SystemTime, u64); 2]> {
        use std::os::unix::fs::MetadataExt;
        let one = |p: &Path| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.len(), m.modified().ok()?, m.ino()))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }
}

/// Reloads `config` from `files` on SIGHUP and whenever the files change, until the process
/// ends. A pair that does not load keeps the old certificate in service, and says why.
pub async fn reload_on_change(files: TlsFiles, config: RustlsConfig) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no SIGHUP handler ({e}); certificates reload on change only");
            None
        }
    };
    let mut seen = files.fingerprint();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let why = tokio::select! {
            _ = tick.tick() => {
                let now = files.fingerprint();
                if now == seen || now.is_none() {
                    continue;
                }
                // certbot writes the two files one after the other: let it finish.
                tokio::time::sleep(Duration::from_millis(200)).await;
                "the files changed"
            }
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
        };
        seen = files.fingerprint();
        let loaded = {
            let files = files.clone();
            tokio::task::spawn_blocking(move || files.load()).await
        };
        match loaded {
            Ok(Ok(new)) => {
                config.reload_from_config(new);
                tracing::info!(
                    "TLS: loaded the new certificate from {} ({why})",
                    files.cert.display()
                );
            }
            Ok(Err(e)) => {
                tracing::warn!("TLS: kept the previous certificate ({why}): {e}");
            }
            Err(e) => tracing::warn!("TLS: reload failed: {e}"),
        }
    }
}
