//! TLS settings of the client, and certificate failures told as what to do about them.

use std::path::Path;

pub use crate::spec::plan::TlsOptions;

impl TlsOptions {
    /// Applies the options; an unreadable or invalid file is an error naming it and its option.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
        if let Some(path) = &self.cacert {
            let pem = read(path, "--cacert")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!("{} (--cacert) is not a valid PEM certificate file: {}", path.display(), cause(&e))
            })?;
            if certs.is_empty() {
                return Err(format!(
                    "{} (--cacert) holds no certificate: expected PEM blocks starting with -----BEGIN CERTIFICATE-----",
                    path.display()
                ));
            }
            // As curl's --cacert: these CAs, and not the system's, vouch for the server.
            builder = builder.tls_certs_only(certs);
        }
        match (&self.cert, &self.key) {
            (None, None) => {}
            (None, Some(key)) => {
                return Err(format!(
                    "--key {} needs the certificate that goes with it: pass --cert FILE",
                    key.display()
                ));
            }
            (Some(cert), key) => {
                let mut pem = read(cert, "--cert")?;
                if !contains_block(&pem, "CERTIFICATE") {
                    return Err(format!(
                        "{} (--cert) holds no certificate: expected a PEM block starting with -----BEGIN CERTIFICATE-----",
                        cert.display()
                    ));
                }
                match key {
                    Some(key) => {
                        let key_pem = read(key, "--key")?;
                        if !contains_block(&key_pem, "PRIVATE KEY") {
                            return Err(format!(
                                "{} (--key) holds no private key: expected a PEM block such as -----BEGIN PRIVATE KEY-----",
                                key.display()
                            ));
                        }
                        pem.push(b'\n');
                        pem.extend_from_slice(&key_pem);
                    }
                    None if !contains_block(&pem, "PRIVATE KEY") => {
                        return Err(format!(
                            "{} (--cert) holds no private key: pass the key with --key FILE",
                            cert.display()
                        ));
                    }
                    None => {}
                }
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    format!(
                        "the client certificate {} (--cert) and its key cannot be used: {}",
                        cert.display(),
                        cause(&e)
                    )
                })?;
                builder = builder.identity(identity);
            }
        }
        if self.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        Ok(builder)
    }
}

fn read(path: &Path, option: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {} ({option}): {e}", path.display()))
}

/// True when the PEM text has a block whose label ends with `label` (`RSA PRIVATE KEY`, ...).
fn contains_block(pem: &[u8], label: &str) -> bool {
    String::from_utf8_lossy(pem).lines().any(|l| {
        l.trim().strip_prefix("-----BEGIN ").and_then(|r| r.strip_suffix("-----")).is_some_and(|r| r.ends_with(label))
    })
}

fn cause(e: &reqwest::Error) -> String {
    super::root_cause(e)
}

/// What to do about a TLS failure, when the error chain holds one: a sentence for a person
/// rather than rustls' name for it.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let tls = rustls_error(error)?;
    let fix = "pass its CA with --cacert FILE, or --insecure to skip verification";
    Some(match tls {
        rustls::Error::InvalidCertificate(c) => {
            use rustls::CertificateError as C;
            let what = match c {
                C::UnknownIssuer => "signed by an unknown issuer".to_string(),
                C::NotValidForName | C::NotValidForNameContext { .. } => "for another name".to_string(),
                C::Expired | C::ExpiredContext { .. } => "expired".to_string(),
                C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".to_string(),
                C::Revoked => "revoked".to_string(),
                C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => "self-signed".to_string(),
                other => format!("not trusted ({other:?})"),
            };
            format!("the server's certificate is {what}: {fix}")
        }
        rustls::Error::AlertReceived(alert) if refuses_the_client(*alert) => format!(
            "the server refused the TLS handshake ({alert:?}): it may want a client certificate it trusts, given with --cert FILE --key FILE"
        ),
        other => format!("TLS failed: {other}"),
    })
}

fn refuses_the_client(alert: rustls::AlertDescription) -> bool {
    use rustls::AlertDescription as A;
    matches!(alert, A::CertificateRequired | A::HandshakeFailure | A::BadCertificate | A::UnknownCA)
}

/// rustls' error, which arrives wrapped in `io::Error`s (whose `source()` skips the error they
/// wrap, so those are opened with `get_ref`).
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}
