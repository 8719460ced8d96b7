//! The OTLP exporters' settings, read once for both pipelines, and the HTTP client they share:
//! the server's own OTLP/HTTP transport ([`super::otlp_http`]) and the stock pipeline
//! ([`super::stock`]: the SDK's batch processor and `opentelemetry-otlp`'s exporter, over gRPC
//! with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, or over HTTP with `EXPORT_PIPELINE=stock`).
//!
//! The standard variables keep their meaning (OTLP exporter configuration, "Configuration Options"),
//! a signal-specific one winning over the generic one: `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`,
//! `…_PROTOCOL` (`http/protobuf`, `grpc`), `…_HEADERS`, `…_TIMEOUT`, `…_COMPRESSION` (`gzip`,
//! `none`), `…_CERTIFICATE` (a PEM file of CAs trusted besides the system's), and
//! `…_CLIENT_CERTIFICATE` with `…_CLIENT_KEY` (PEM files: mutual TLS). A value that cannot be
//! honoured stops the start, naming its variable: sending anyway, in another protocol,
//! uncompressed or unauthenticated, would not be what was asked for.

use std::{env, fs, time::Duration};

use reqwest::{
    blocking::Client,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

use super::{timeout_millis, whole_number};

/// The default endpoints: a collector on this host ("Endpoint URLs for OTLP/HTTP"; gRPC's port).
const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`), retries included.
const DEFAULT_TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

/// An `OTEL_EXPORTER_OTLP_*` setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {expected}")]
pub struct ExporterConfigError {
    name: String,
    value: String,
    expected: String,
}

impl ExporterConfigError {
    pub(super) fn new(
        name: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

/// `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the default: this module's exporter behind [`super::batch`].
    HttpProtobuf,
    /// `grpc`: `opentelemetry-otlp`'s tonic exporter behind the SDK's batch processor.
    Grpc,
}

/// Which batch processor and exporter carry the spans (`EXPORT_PIPELINE`, this server's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    /// `own`, the default for OTLP/HTTP: [`super::batch`] and [`OtlpHttpExporter`](super::otlp_http::OtlpHttpExporter).
    Own,
    /// `stock`: the SDK's `BatchSpanProcessor` and `opentelemetry-otlp`'s exporter
    /// ([`super::stock`]); always so with gRPC.
    Stock,
}

/// `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `none`, the default.
    None,
    /// `gzip`: the request body, with `Content-Encoding: gzip` (gRPC: its message compression).
    Gzip,
}

/// The TLS material the variables name, read and checked at start.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// `…_CERTIFICATE`: PEM certificates trusted, besides the system's, to verify the collector.
    pub ca_pem: Option<Vec<u8>>,
    /// `…_CLIENT_CERTIFICATE` and `…_CLIENT_KEY`: this client's certificate chain and key (PEM).
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
}

/// What the `OTEL_EXPORTER_OTLP_*` variables say, whichever protocol carries the spans.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    pub protocol: Protocol,
    pub pipeline: Pipeline,
    /// Where spans go: for OTLP/HTTP the URL posted to (with `/v1/traces` when it came from the
    /// generic variable), for gRPC the collector's address.
    pub endpoint: String,
    /// Sent with every export (`…_HEADERS`; gRPC: as metadata).
    pub headers: HeaderMap,
    /// One export's limit, retries included (`None`: no limit, `…_TIMEOUT=0`).
    pub timeout: Option<Duration>,
    /// The request body's compression.
    pub compression: Compression,
    /// Certificates to trust and to present.
    pub tls: TlsFiles,
}

impl ExporterSettings {
    /// The settings the `OTEL_EXPORTER_OTLP_*` variables give.
    pub fn from_env() -> Result<Self, ExporterConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The settings the variables `lookup` gives (tests need not touch the environment).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ExporterConfigError> {
        let lookup = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // OTLP exporter configuration: the signal-specific variable, else the generic one.
        let setting = |option: &str| {
            let specific = format!("OTEL_EXPORTER_OTLP_TRACES_{option}");
            let generic = format!("OTEL_EXPORTER_OTLP_{option}");
            lookup(&specific)
                .map(|v| (specific, v.trim().to_owned()))
                .or_else(|| lookup(&generic).map(|v| (generic, v.trim().to_owned())))
        };
        let error = |(name, value): (String, String), expected| {
            ExporterConfigError::new(name, value, expected)
        };

        let protocol = match setting("PROTOCOL") {
            None => Protocol::HttpProtobuf,
            Some((_, value)) if value == "http/protobuf" => Protocol::HttpProtobuf,
            Some((_, value)) if value == "grpc" => Protocol::Grpc,
            Some(other) => {
                return Err(error(
                    other,
                    "http/protobuf or grpc (http/json is not built in)",
                ));
            }
        };
        let pipeline = match (lookup("EXPORT_PIPELINE"), protocol) {
            (None, Protocol::HttpProtobuf) => Pipeline::Own,
            (Some(value), Protocol::HttpProtobuf) if value.trim() == "own" => Pipeline::Own,
            (Some(value), _) if value.trim() == "stock" => Pipeline::Stock,
            (None, Protocol::Grpc) => Pipeline::Stock,
            (Some(value), Protocol::Grpc) => {
                return Err(ExporterConfigError::new(
                    "EXPORT_PIPELINE",
                    value,
                    "stock (gRPC goes through the SDK's batch processor and opentelemetry-otlp)",
                ));
            }
            (Some(value), _) => {
                return Err(ExporterConfigError::new(
                    "EXPORT_PIPELINE",
                    value,
                    "own or stock",
                ));
            }
        };
        let endpoint = match (
            lookup("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            lookup("OTEL_EXPORTER_OTLP_ENDPOINT"),
            protocol,
        ) {
            // The signal's own endpoint is used as it is ("Endpoint URLs for OTLP/HTTP").
            (Some(url), _, _) => url.trim().to_owned(),
            // The generic one is a base to which OTLP/HTTP appends the signal's path; gRPC has none.
            (None, base, Protocol::HttpProtobuf) => {
                let base = base.unwrap_or_else(|| DEFAULT_HTTP_ENDPOINT.to_owned());
                format!("{}/v1/traces", base.trim().trim_end_matches('/'))
            }
            (None, base, Protocol::Grpc) => {
                base.map_or(DEFAULT_GRPC_ENDPOINT.to_owned(), |b| b.trim().to_owned())
            }
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            let name = if lookup("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
            } else {
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            };
            return Err(ExporterConfigError::new(
                name,
                endpoint,
                "an http:// or https:// URL",
            ));
        }
        let compression = match setting("COMPRESSION") {
            None => Compression::None,
            Some((_, value)) if value == "none" => Compression::None,
            Some((_, value)) if value == "gzip" => Compression::Gzip,
            Some(other) => return Err(error(other, "gzip or none")),
        };
        // A number that cannot be used is warned about and ignored (`whole_number`).
        let timeout = match setting("TIMEOUT") {
            None => DEFAULT_TIMEOUT,
            Some((name, value)) => {
                whole_number(&name, Some(value), 0).map_or(DEFAULT_TIMEOUT, timeout_millis)
            }
        };
        let headers = match setting("HEADERS") {
            None => HeaderMap::new(),
            Some(list) => parse_headers(&list.1)
                .ok_or_else(|| error(list, "a comma list of key=value, values percent-encoded"))?,
        };
        let ca_pem = match setting("CERTIFICATE") {
            None => None,
            Some(file) => Some(read_pem(file, PemKind::Certificates)?),
        };
        let client_pem = match (setting("CLIENT_CERTIFICATE"), setting("CLIENT_KEY")) {
            (None, None) => None,
            (Some(certificate), Some(key)) => Some((
                read_pem(certificate, PemKind::Certificates)?,
                read_pem(key, PemKind::PrivateKey)?,
            )),
            (Some(certificate), None) => {
                return Err(error(
                    certificate,
                    "…_CLIENT_KEY too: a client certificate needs its key",
                ));
            }
            (None, Some(key)) => {
                return Err(error(
                    key,
                    "…_CLIENT_CERTIFICATE too: a client key needs its certificate",
                ));
            }
        };
        Ok(Self {
            protocol,
            pipeline,
            endpoint,
            headers,
            timeout,
            compression,
            tls: TlsFiles { ca_pem, client_pem },
        })
    }
}

#[derive(Clone, Copy)]
enum PemKind {
    Certificates,
    PrivateKey,
}

/// The PEM file the variable `(name, path)` names, read and checked for what it must hold.
fn read_pem((name, path): (String, String), kind: PemKind) -> Result<Vec<u8>, ExporterConfigError> {
    let pem = fs::read(&path).map_err(|e| {
        ExporterConfigError::new(&name, &path, format!("a readable PEM file ({e})"))
    })?;
    let usable = match kind {
        PemKind::Certificates => {
            let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
            certificates.is_ok_and(|c| !c.is_empty())
        }
        PemKind::PrivateKey => PrivateKeyDer::from_pem_slice(&pem).is_ok(),
    };
    if !usable {
        let holds = match kind {
            PemKind::Certificates => "a PEM file of one or more certificates",
            PemKind::PrivateKey => "a PEM file of a private key (PKCS #8, PKCS #1 or SEC1)",
        };
        return Err(ExporterConfigError::new(name, path, holds));
    }
    Ok(pem)
}

/// The blocking HTTP client for `settings`' collector: rustls (on aws-lc-rs, reqwest's and tonic's
/// provider when none is installed), the system's roots and the CA of
/// `…_CERTIFICATE`, the client certificate of `…_CLIENT_CERTIFICATE` and `…_CLIENT_KEY`. Built away
/// from any async runtime (it runs one of its own): the batch processors export from threads of
/// their own, never from the server's runtime.
pub(super) fn http_client(settings: &ExporterSettings) -> Result<Client, ExporterConfigError> {
    let client_error = |what: &str, error: reqwest::Error| {
        ExporterConfigError::new(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            settings.endpoint.clone(),
            format!("an HTTP client for it ({what}: {})", chain(&error)),
        )
    };
    let mut builder = Client::builder();
    if let Some(pem) = &settings.tls.ca_pem {
        for certificate in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| client_error("OTEL_EXPORTER_OTLP_CERTIFICATE", e))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some((certificate, key)) = &settings.tls.client_pem {
        let identity = reqwest::Identity::from_pem(&[certificate.as_slice(), key].concat())
            .map_err(|e| client_error("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", e))?;
        builder = builder.identity(identity);
    }
    std::thread::spawn(move || builder.build())
        .join()
        .map_err(|_| {
            ExporterConfigError::new(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                settings.endpoint.clone(),
                "an HTTP client for it (building it panicked)",
            )
        })?
        .map_err(|e| client_error("the client could not be built", e))
}

/// An error and its sources, each after a colon: reqwest's own message says only which request
/// failed, its source why (a refused connection, an unknown certificate issuer).
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `key=value,key2=value2`, values percent-decoded (the `OTEL_EXPORTER_OTLP_HEADERS` format).
fn parse_headers(list: &str) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair.split_once('=')?;
        let name = HeaderName::from_bytes(key.trim().as_bytes()).ok()?;
        let value: Vec<u8> = percent_encoding::percent_decode_str(value.trim()).collect();
        headers.append(name, HeaderValue::from_bytes(&value).ok()?);
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings `vars` give, with their HTTP client built (as the start does).
    fn exporter(vars: &[(&str, &str)]) -> Result<ExporterSettings, ExporterConfigError> {
        let settings = ExporterSettings::from_lookup(crate::config::lookup_in(vars))?;
        http_client(&settings)?;
        Ok(settings)
    }

    #[test]
    fn the_endpoint_follows_the_specification() {
        let endpoint = |vars: &[(&str, &str)]| exporter(vars).expect("valid").endpoint;
        assert_eq!(endpoint(&[]), "http://localhost:4318/v1/traces");
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway/otlp")]),
            "http://gateway/otlp/v1/traces"
        );
        assert_eq!(
            endpoint(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://collector:9999/custom"
                ),
            ]),
            "http://collector:9999/custom",
            "the signal's own endpoint is used as it is"
        );
    }

    #[test]
    fn timeout_and_headers_are_read_the_signals_own_first() {
        let e = exporter(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "api-key=a%20b%3Dc, x-tenant=shop",
            ),
        ])
        .expect("valid");
        assert_eq!(e.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(e.headers["api-key"], "a b=c");
        assert_eq!(e.headers["x-tenant"], "shop");
        assert!(e.headers.get("x-generic").is_none());
        assert_eq!(exporter(&[]).expect("valid").timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn a_timeout_that_is_not_a_number_is_ignored_and_zero_means_no_limit() {
        let timeout = |value| exporter(&[("OTEL_EXPORTER_OTLP_TIMEOUT", value)]).map(|e| e.timeout);
        assert_eq!(timeout("soon").expect("ignored"), DEFAULT_TIMEOUT);
        assert_eq!(timeout("-5").expect("ignored"), DEFAULT_TIMEOUT);
        assert_eq!(timeout("0").expect("valid"), None);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_with_the_variable_named() {
        // Sending anyway, in another protocol, uncompressed or unauthenticated, would not be what
        // was asked for.
        let dir = tempfile::tempdir().expect("temp dir");
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate").expect("written");
        let not_pem = not_pem.to_str().expect("utf-8");
        for vars in [
            &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")][..],
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")],
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
            &[("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign")],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
            &[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")],
            &[("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", not_pem)],
            &[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", not_pem)],
            &[("OTEL_EXPORTER_OTLP_CLIENT_KEY", not_pem)],
            &[("EXPORT_PIPELINE", "fast")],
            &[
                ("EXPORT_PIPELINE", "own"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        ] {
            let name = vars[0].0;
            let error =
                ExporterSettings::from_lookup(crate::config::lookup_in(vars)).expect_err(name);
            assert!(error.to_string().starts_with(name), "{error}");
        }
    }

    #[test]
    fn grpc_and_gzip_are_accepted_and_grpc_has_its_own_default_endpoint() {
        let settings = |vars: &[(&str, &str)]| {
            ExporterSettings::from_lookup(crate::config::lookup_in(vars)).expect("valid")
        };
        let grpc = settings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]);
        assert_eq!(
            (grpc.protocol, grpc.compression, grpc.endpoint.as_str()),
            (Protocol::Grpc, Compression::Gzip, "http://localhost:4317")
        );
        assert_eq!(
            grpc.pipeline,
            Pipeline::Stock,
            "gRPC is the stock pipeline's"
        );
        let stock = settings(&[("EXPORT_PIPELINE", "stock")]);
        assert_eq!(
            (stock.protocol, stock.pipeline),
            (Protocol::HttpProtobuf, Pipeline::Stock)
        );
        let based = settings(&[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ]);
        assert_eq!(
            based.endpoint, "https://collector:4317",
            "gRPC appends no path to the generic endpoint"
        );
        let http = settings(&[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none")]);
        assert_eq!(
            (http.protocol, http.compression),
            (Protocol::HttpProtobuf, Compression::None)
        );
    }
}
