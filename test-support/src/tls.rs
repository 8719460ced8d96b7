//! Real TLS for the tests: a certificate authority generated for the test run (rcgen), the
//! certificates it issues, and a listener that accepts TLS connections with them (rustls on aws-lc-rs),
//! so that a client is tested against the handshake it will meet, not a bypass of it.

use std::{io, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// A certificate authority of the test's own.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate the [`TestCa`] issued, and its key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    /// Its private key (PKCS #8).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("a key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-signed"),
        }
    }

    /// Its certificate, PEM: what a client trusts.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Issued {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("params");
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes its certificate to `dir/{file}` and returns the path.
    pub fn write_pem(&self, dir: &Path, file: &str) -> String {
        write(dir, file, &self.pem())
    }
}

impl Issued {
    /// Writes the certificate and the key to `dir/{name}.pem` and `dir/{name}.key`; returns both
    /// paths.
    pub fn write(&self, dir: &Path, name: &str) -> (String, String) {
        (
            write(dir, &format!("{name}.pem"), &self.cert_pem),
            write(dir, &format!("{name}.key"), &self.key_pem),
        )
    }
}

fn write(dir: &Path, file: &str, contents: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, contents).expect("written");
    path.to_str().expect("utf-8 path").to_owned()
}

/// How a [`TlsListener`] authenticates: its certificate, and the CA its clients' certificates
/// must come from (mutual TLS) if any.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server's certificate and key.
    pub server: Issued,
    /// When set, a client without a certificate from this CA (PEM) is refused.
    pub client_ca_pem: Option<String>,
}

/// A TCP listener that completes a TLS handshake before handing a connection over; a connection
/// whose handshake fails is dropped and the next one awaited.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// `tcp`, serving TLS as `tls` says.
    pub fn new(tcp: TcpListener, tls: &ServerTls) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = match &tls.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots.add(cert.expect("CA PEM")).expect("CA certificate");
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let certs = CertificateDer::pem_slice_iter(tls.server.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(tls.server.key_pem.as_bytes()).expect("key PEM");
        let mut config = builder
            .with_single_cert(certs, key)
            .expect("certificate and key");
        // Both, as a collector's OTLP receiver offers: gRPC needs HTTP/2, OTLP/HTTP takes either.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that does not trust this certificate ends the handshake, one that says
            // nothing is given up on: the next one.
            let handshake = self.acceptor.accept(stream);
            if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
