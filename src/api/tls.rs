//! TLS for the API (rustls): the certificate chain and key named by
//! `[server] api_tls_cert` and `api_tls_key`, so tokens and signed
//! requests need not travel in clear. SIGHUP reads the files again, so a
//! renewed certificate is served without a restart; a broken pair keeps
//! the running one.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::ApiTls;

/// Why the API's certificate or key cannot be used; each names the file
/// by its config setting and says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or holds no PEM certificate.
    #[error("api_tls_cert {path}: {why}")]
    Cert {
        /// The file as configured.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The key file is unreadable or holds no PEM private key.
    #[error("api_tls_key {path}: {why}")]
    Key {
        /// The file as configured.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// rustls refused the pair (the key does not match the certificate...).
    #[error("api_tls_cert and api_tls_key cannot be used together: {0}")]
    Pair(rustls::Error),
}

/// The acceptor built from the API's TLS files, swapped whole at SIGHUP.
pub struct TlsFiles {
    acceptor: ArcSwap<TlsAcceptor>,
}

impl TlsFiles {
    /// Reads and checks the certificate chain and key.
    pub fn load(files: &ApiTls) -> Result<TlsFiles, TlsError> {
        Ok(TlsFiles {
            acceptor: ArcSwap::from_pointee(acceptor(files)?),
        })
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> Arc<TlsAcceptor> {
        self.acceptor.load_full()
    }

    /// Reads `files` again (SIGHUP); on error the running pair stays.
    pub fn reload(&self, files: &ApiTls) -> Result<(), TlsError> {
        self.acceptor.store(Arc::new(acceptor(files)?));
        Ok(())
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn acceptor(files: &ApiTls) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: shown(&files.cert),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_err(format!("cannot read it: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err(
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: shown(&files.key),
        why: format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Pair)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Pair)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
