//! The exporter's settings from the standard variables (OTLP exporter configuration,
//! "Configuration Options"), read once, whichever exporter carries the spans: this crate's
//! [`HttpTransport`](crate::HttpTransport), or `opentelemetry-otlp`'s with the same values.
//!
//! A signal-specific variable wins over the generic one: `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`,
//! `…_PROTOCOL` (`http/protobuf`, `grpc`), `…_HEADERS`, `…_TIMEOUT`, `…_COMPRESSION` (`gzip`,
//! `none`), `…_CERTIFICATE` (a PEM file of CAs trusted besides the system's), and
//! `…_CLIENT_CERTIFICATE` with `…_CLIENT_KEY` (PEM files: mutual TLS). A value that cannot be
//! honoured is an error naming its variable: sending anyway, in another protocol, uncompressed or
//! unauthenticated, would not be what was asked for.

use std::{env, fs, time::Duration};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

use crate::env::{timeout_millis, whole_number};

/// The default endpoints: a collector on this host ("Endpoint URLs for OTLP/HTTP"; gRPC's port).
const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`), retries included.
const DEFAULT_TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

/// A setting that cannot be used: its variable, its value, and what was expected of it.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {expected}")]
pub struct ExporterConfigError {
    name: String,
    value: String,
    expected: String,
}

impl ExporterConfigError {
    /// The variable `name` is set to `value`, where `expected` was: for the settings a program
    /// reads beside these, so that every refusal reads alike.
    pub fn new(
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
    /// `http/protobuf`, the default: [`HttpTransport`](crate::HttpTransport)'s.
    HttpProtobuf,
    /// `grpc`: for `opentelemetry-otlp`'s tonic exporter; [`HttpTransport`](crate::HttpTransport)
    /// refuses it.
    Grpc,
}

/// `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `none`, the default.
    None,
    /// `gzip`: the request body, with `Content-Encoding: gzip` (gRPC: its message compression).
    Gzip,
}

/// The TLS material the variables name, read and checked when the settings are.
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
    /// The protocol asked for.
    pub protocol: Protocol,
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
        let variables = Variables(lookup);
        let protocol = variables.protocol()?;
        Ok(Self {
            protocol,
            endpoint: variables.endpoint(protocol)?,
            compression: variables.compression()?,
            timeout: variables.timeout(),
            headers: variables.headers()?,
            tls: variables.tls_files()?,
        })
    }
}

/// The variables as the settings read them: one set to blanks is unset.
struct Variables<F>(F);

/// A variable that is set: its name and its value, trimmed.
struct Setting {
    name: String,
    value: String,
}

/// Each setting read from the variables.
impl<F: Fn(&str) -> Option<String>> Variables<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    /// `OTEL_EXPORTER_OTLP_TRACES_{option}`, else `OTEL_EXPORTER_OTLP_{option}` (OTLP exporter
    /// configuration: the signal-specific variable, else the generic one).
    fn setting(&self, option: &str) -> Option<Setting> {
        [
            format!("OTEL_EXPORTER_OTLP_TRACES_{option}"),
            format!("OTEL_EXPORTER_OTLP_{option}"),
        ]
        .into_iter()
        .find_map(|name| {
            let value = self.get(&name)?.trim().to_owned();
            Some(Setting { name, value })
        })
    }

    fn protocol(&self) -> Result<Protocol, ExporterConfigError> {
        match self.setting("PROTOCOL") {
            None => Ok(Protocol::HttpProtobuf),
            Some(setting) => match setting.value.as_str() {
                "http/protobuf" => Ok(Protocol::HttpProtobuf),
                "grpc" => Ok(Protocol::Grpc),
                _ => Err(setting.refused("http/protobuf or grpc (http/json is not built in)")),
            },
        }
    }

    /// The signal's own endpoint as it is; else the generic one, to which OTLP/HTTP appends the
    /// signal's path ("Endpoint URLs for OTLP/HTTP") and gRPC nothing; else the default.
    fn endpoint(&self, protocol: Protocol) -> Result<String, ExporterConfigError> {
        const TRACES: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
        const GENERIC: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
        let (name, endpoint) = match (self.get(TRACES), self.get(GENERIC), protocol) {
            (Some(url), _, _) => (TRACES, url.trim().to_owned()),
            (None, base, Protocol::HttpProtobuf) => {
                let base = base.unwrap_or_else(|| DEFAULT_HTTP_ENDPOINT.to_owned());
                (
                    GENERIC,
                    format!("{}/v1/traces", base.trim().trim_end_matches('/')),
                )
            }
            (None, base, Protocol::Grpc) => (
                GENERIC,
                base.map_or(DEFAULT_GRPC_ENDPOINT.to_owned(), |b| b.trim().to_owned()),
            ),
        };
        if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            Ok(endpoint)
        } else {
            Err(ExporterConfigError::new(
                name,
                endpoint,
                "an http:// or https:// URL",
            ))
        }
    }

    fn compression(&self) -> Result<Compression, ExporterConfigError> {
        match self.setting("COMPRESSION") {
            None => Ok(Compression::None),
            Some(setting) => match setting.value.as_str() {
                "none" => Ok(Compression::None),
                "gzip" => Ok(Compression::Gzip),
                _ => Err(setting.refused("gzip or none")),
            },
        }
    }

    /// A number that cannot be used is warned about and ignored (`whole_number`); 0 is no limit.
    fn timeout(&self) -> Option<Duration> {
        match self.setting("TIMEOUT") {
            None => DEFAULT_TIMEOUT,
            Some(Setting { name, value }) => {
                whole_number(&name, Some(value), 0).map_or(DEFAULT_TIMEOUT, timeout_millis)
            }
        }
    }

    fn headers(&self) -> Result<HeaderMap, ExporterConfigError> {
        match self.setting("HEADERS") {
            None => Ok(HeaderMap::new()),
            Some(list) => parse_headers(&list.value)
                .ok_or_else(|| list.refused("a comma list of key=value, values percent-encoded")),
        }
    }

    /// The CA to trust and the client's certificate and key, each file read and checked; a client
    /// certificate without its key, or a key without its certificate, is refused.
    fn tls_files(&self) -> Result<TlsFiles, ExporterConfigError> {
        let ca_pem = match self.setting("CERTIFICATE") {
            None => None,
            Some(file) => Some(read_pem(file, PemKind::Certificates)?),
        };
        let client_pem = match (
            self.setting("CLIENT_CERTIFICATE"),
            self.setting("CLIENT_KEY"),
        ) {
            (None, None) => None,
            (Some(certificate), Some(key)) => Some((
                read_pem(certificate, PemKind::Certificates)?,
                read_pem(key, PemKind::PrivateKey)?,
            )),
            (Some(certificate), None) => {
                return Err(
                    certificate.refused("…_CLIENT_KEY too: a client certificate needs its key")
                );
            }
            (None, Some(key)) => {
                return Err(
                    key.refused("…_CLIENT_CERTIFICATE too: a client key needs its certificate")
                );
            }
        };
        Ok(TlsFiles { ca_pem, client_pem })
    }
}

impl Setting {
    /// This setting refused, with what was `expected` instead.
    fn refused(self, expected: impl Into<String>) -> ExporterConfigError {
        ExporterConfigError::new(self.name, self.value, expected)
    }
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

#[derive(Clone, Copy)]
enum PemKind {
    Certificates,
    PrivateKey,
}

/// The PEM file `file` names, read and checked for what it must hold.
fn read_pem(file: Setting, kind: PemKind) -> Result<Vec<u8>, ExporterConfigError> {
    let pem = match fs::read(&file.value) {
        Ok(pem) => pem,
        Err(e) => return Err(file.refused(format!("a readable PEM file ({e})"))),
    };
    let usable = match kind {
        PemKind::Certificates => {
            let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
            certificates.is_ok_and(|c| !c.is_empty())
        }
        PemKind::PrivateKey => PrivateKeyDer::from_pem_slice(&pem).is_ok(),
    };
    if !usable {
        return Err(file.refused(match kind {
            PemKind::Certificates => "a PEM file of one or more certificates",
            PemKind::PrivateKey => "a PEM file of a private key (PKCS #8, PKCS #1 or SEC1)",
        }));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{env::lookup_in, http_client};

    /// The settings `vars` give, with their HTTP client built (as the start does).
    fn exporter(vars: &[(&str, &str)]) -> Result<ExporterSettings, ExporterConfigError> {
        let settings = ExporterSettings::from_lookup(lookup_in(vars))?;
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
        ] {
            let name = vars[0].0;
            let error = ExporterSettings::from_lookup(lookup_in(vars)).expect_err(name);
            assert!(error.to_string().starts_with(name), "{error}");
        }
    }

    #[test]
    fn grpc_is_read_but_the_http_transport_refuses_it() {
        let grpc =
            ExporterSettings::from_lookup(lookup_in(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]))
                .expect("valid");
        let error = crate::HttpTransport::new(grpc).expect_err("gRPC");
        assert!(
            error.to_string().starts_with("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{error}"
        );
    }

    #[test]
    fn grpc_and_gzip_are_accepted_and_grpc_has_its_own_default_endpoint() {
        let settings =
            |vars: &[(&str, &str)]| ExporterSettings::from_lookup(lookup_in(vars)).expect("valid");
        let grpc = settings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]);
        assert_eq!(
            (grpc.protocol, grpc.compression, grpc.endpoint.as_str()),
            (Protocol::Grpc, Compression::Gzip, "http://localhost:4317")
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
