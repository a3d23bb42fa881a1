//! TLS options of the client against a small TLS server on 127.0.0.1, with certificates made by
//! the `openssl` command in a temporary folder.

use crate::support::TempDir;
use llmspec_core::run::http::{self, Outgoing, ReadOptions, TlsOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it,
/// and a self-signed server certificate.
struct Certs {
    dir: TempDir,
}

impl Certs {
    fn make() -> Certs {
        let dir = TempDir::new();
        let d = dir.0.as_path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let days = ["-days", "2"];
        openssl(
            d,
            &[
                &["req", "-x509"][..],
                &ec,
                &days,
                &["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=llmspec test CA"],
            ]
            .concat(),
        );
        dir.write(
            "server.ext",
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        );
        dir.write("client.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
        for who in ["server", "client"] {
            let (key, csr, pem, ext) =
                (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
            openssl(d, &[&["req"][..], &ec, &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={who}")]].concat());
            openssl(
                d,
                &[
                    &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"][..],
                    &days,
                    &["-out", &pem, "-extfile", &ext],
                ]
                .concat(),
            );
        }
        openssl(
            d,
            &[
                &["req", "-x509"][..],
                &ec,
                &days,
                &[
                    "-keyout",
                    "self.key",
                    "-out",
                    "self.pem",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ],
            ]
            .concat(),
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }
}

/// A TLS server answering `200 ok` to every request; with `client_ca`, it requires a client
/// certificate signed by that CA.
async fn tls_server(cert: &Path, key: &Path, client_ca: Option<&Path>) -> String {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let builder = rustls::ServerConfig::builder();
    let config = match client_ca {
        None => builder.with_no_client_auth().with_single_cert(chain, key).unwrap(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
            builder.with_client_cert_verifier(verifier).with_single_cert(chain, key).unwrap()
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    url
}

fn get(url: &str) -> Outgoing {
    Outgoing {
        method: reqwest::Method::GET,
        url: format!("{url}/health"),
        headers: vec![],
        body: None,
        timeout: Duration::from_secs(5),
        read: ReadOptions::default(),
    }
}

async fn status_with(tls: &TlsOptions, url: &str) -> Result<u16, String> {
    let client = http::client(tls)?;
    http::exchange(&client, &get(url)).await.map(|o| o.status).map_err(|e| e.0)
}

#[tokio::test]
async fn server_certificates_are_verified_with_clear_messages_and_the_ways_around() {
    let certs = Certs::make();
    let signed = tls_server(&certs.path("server.pem"), &certs.path("server.key"), None).await;
    let self_signed = tls_server(&certs.path("self.pem"), &certs.path("self.key"), None).await;

    let refused = status_with(&TlsOptions::default(), &signed).await.unwrap_err();
    assert!(refused.contains("the server's certificate is signed by an unknown issuer"), "{refused}");
    assert!(refused.contains("--cacert FILE") && refused.contains("--insecure"), "{refused}");

    let refused = status_with(&TlsOptions::default(), &self_signed).await.unwrap_err();
    assert!(refused.contains("the server's certificate is self-signed"), "{refused}");

    let with_ca = TlsOptions { cacert: Some(certs.path("ca.pem")), ..TlsOptions::default() };
    assert_eq!(status_with(&with_ca, &signed).await, Ok(200));
    let with_own = TlsOptions { cacert: Some(certs.path("ca.pem")), ..TlsOptions::default() };
    let refused = status_with(&with_own, &self_signed).await.unwrap_err();
    assert!(refused.contains("the server's certificate is"), "{refused}");

    let insecure = TlsOptions { insecure: true, ..TlsOptions::default() };
    assert_eq!(status_with(&insecure, &self_signed).await, Ok(200));
    assert_eq!(status_with(&insecure, &signed).await, Ok(200));
}

#[tokio::test]
async fn mutual_tls_sends_the_client_certificate() {
    let certs = Certs::make();
    let url = tls_server(&certs.path("server.pem"), &certs.path("server.key"), Some(&certs.path("ca.pem"))).await;
    let trusted = TlsOptions { cacert: Some(certs.path("ca.pem")), ..TlsOptions::default() };
    let refused = status_with(&trusted, &url).await.unwrap_err();
    assert!(refused.contains("--cert FILE --key FILE"), "{refused}");
    let with_cert =
        TlsOptions { cert: Some(certs.path("client.pem")), key: Some(certs.path("client.key")), ..trusted.clone() };
    assert_eq!(status_with(&with_cert, &url).await, Ok(200));
    // One file holding both the certificate and the key works too.
    let both =
        [std::fs::read(certs.path("client.pem")).unwrap(), std::fs::read(certs.path("client.key")).unwrap()].concat();
    std::fs::write(certs.path("client-both.pem"), both).unwrap();
    let combined = TlsOptions { cert: Some(certs.path("client-both.pem")), ..trusted };
    assert_eq!(status_with(&combined, &url).await, Ok(200));
}

#[test]
fn missing_or_invalid_files_are_errors_naming_the_file_and_option() {
    let dir = TempDir::new();
    let error = |tls: TlsOptions| http::client(&tls).map(|_| ()).unwrap_err();
    let missing = dir.path("nowhere.pem");
    let e = error(TlsOptions { cacert: Some(missing.clone()), ..TlsOptions::default() });
    assert!(e.contains("cannot read") && e.contains("nowhere.pem") && e.contains("--cacert"), "{e}");
    let garbage = dir.write("garbage.pem", "not a certificate\n");
    let e = error(TlsOptions { cacert: Some(garbage.clone()), ..TlsOptions::default() });
    assert!(e.contains("garbage.pem (--cacert) holds no certificate"), "{e}");
    let e = error(TlsOptions { cert: Some(garbage.clone()), key: Some(garbage.clone()), ..TlsOptions::default() });
    assert!(e.contains("garbage.pem (--cert) holds no certificate"), "{e}");
    let e = error(TlsOptions { key: Some(garbage), ..TlsOptions::default() });
    assert!(e.contains("--key") && e.contains("--cert FILE"), "{e}");
    let certs = Certs::make();
    let e = error(TlsOptions { cert: Some(certs.path("client.pem")), ..TlsOptions::default() });
    assert!(e.contains("client.pem (--cert) holds no private key: pass the key with --key FILE"), "{e}");
    let e = error(TlsOptions {
        cert: Some(certs.path("client.pem")),
        key: Some(certs.path("client.pem")),
        ..TlsOptions::default()
    });
    assert!(e.contains("client.pem (--key) holds no private key"), "{e}");
}

/// The real binary, with TLS set per suite (`defaults.tls`, paths relative to the spec) and on
/// the command line (which wins).
#[test]
fn the_command_line_and_the_suite_set_tls() {
    let certs = Certs::make();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mtls =
        rt.block_on(tls_server(&certs.path("server.pem"), &certs.path("server.key"), Some(&certs.path("ca.pem"))));
    let self_signed = rt.block_on(tls_server(&certs.path("self.pem"), &certs.path("self.key"), None));
    let spec = |name: &str, tls: &str, url: &str| {
        certs.dir.write(
            name,
            &format!("suite: tls\ndefaults:\n  base_url: {url}\n{tls}tests:\n  - name: health\n    request: {{ GET: /health }}\n"),
        )
    };
    let run = |args: &[&str]| rt.block_on(async { crate::support::llmspec(args) });

    let with_suite_tls = spec("mtls.yaml", "  tls: { cacert: ca.pem, cert: client.pem, key: client.key }\n", &mtls);
    let out = run(&["run", with_suite_tls.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let plain = spec("plain.yaml", "", &mtls);
    let (ca, cert, key) = (certs.path("ca.pem"), certs.path("client.pem"), certs.path("client.key"));
    let out = run(&["run", plain.to_str().unwrap(), "--cacert", ca.to_str().unwrap()]);
    assert_eq!(out.code, 3, "no client certificate: {}{}", out.stdout, out.stderr);
    let out = run(&[
        "run",
        plain.to_str().unwrap(),
        "--cacert",
        ca.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let self_signed_spec = spec("self.yaml", "", &self_signed);
    let out = run(&["run", self_signed_spec.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("self-signed") && out.stdout.contains("--cacert"), "{}", out.stdout);
    let out = run(&["run", self_signed_spec.to_str().unwrap(), "--insecure"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("warning: TLS certificates are NOT verified"), "{}", out.stderr);

    // Files that are missing or not certificates are usage errors: nothing is sent.
    let missing = spec("missing.yaml", "  tls: { cacert: nowhere.pem }\n", &mtls);
    let out = run(&["validate", missing.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no such file") && out.stderr.contains("nowhere.pem"), "{}", out.stderr);
    let out = run(&["run", plain.to_str().unwrap(), "--cacert", with_suite_tls.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--cacert"), "{}", out.stderr);
}
