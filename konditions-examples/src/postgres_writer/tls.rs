//! TLS to PostgreSQL through rustls (`tokio-postgres-rustls`), configured
//! by PSQL_SSLMODE and PSQL_SSLROOTCERT ([`SslMode`]).
//!
//! The crypto provider is `ring`, the one the Kubernetes client uses, named
//! explicitly so no process-wide default has to be installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::SslMode;

/// Why TLS cannot be set up. Reported at start-up: the operator does not
/// run with a TLS configuration it cannot honour.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// PSQL_SSLROOTCERT cannot be read or holds no PEM certificate.
    #[error("PSQL_SSLROOTCERT {path}: {reason}")]
    RootCertificates {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No CA file was given and the system has no usable root certificate.
    #[error(
        "PSQL_SSLMODE=verify-full without PSQL_SSLROOTCERT needs the system's root certificates, and none could be loaded"
    )]
    NoSystemRoots,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The connector for `mode`. With [`SslMode::Disable`] it is never used
/// (tokio-postgres does not start TLS), but the pool needs one type.
pub(crate) fn connector(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> Result<MakeRustlsConnect, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match mode {
        SslMode::Disable => builder
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
        SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(root_cert)?)
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The CAs of `file`, else the system's.
fn roots(file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let Some(path) = file else {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        return if added == 0 {
            Err(TlsError::NoSystemRoots)
        } else {
            Ok(roots)
        };
    };
    let invalid = |reason: String| TlsError::RootCertificates {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|e| invalid(format!("not PEM: {e}")))?;
        roots
            .add(certificate)
            .map_err(|e| invalid(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid("no CERTIFICATE block in the file".into()));
    }
    Ok(roots)
}

/// `sslmode=require`: the handshake is checked (the server proves it holds
/// the key of the certificate it sent) but the certificate itself is not,
/// as libpq does. Encrypted; not protected from a man in the middle.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_with_its_path() {
        let missing = Path::new("/nonexistent/ca.pem");
        let Err(err) = connector(SslMode::VerifyFull, Some(missing)) else {
            panic!("a missing CA file was accepted");
        };
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

        let dir = std::env::temp_dir().join(format!("pgw-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let Err(err) = connector(SslMode::VerifyFull, Some(&empty)) else {
            panic!("a file with no certificate was accepted");
        };
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn disable_and_require_need_no_ca() {
        for mode in [SslMode::Disable, SslMode::Require] {
            if let Err(error) = connector(mode, None) {
                panic!("{mode}: {error}");
            }
        }
    }
}
