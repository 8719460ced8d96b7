//! The OTLP/HTTP transport: batches encoded by the hand-written protobuf writer the page uses
//! (`otlp_wire`, on the threads that end the spans: [`super::batch`]), posted with a
//! blocking HTTP client, retried as OTLP/HTTP says.
//!
//! Why not `opentelemetry-otlp`'s exporter: it first transforms every span into
//! `opentelemetry-proto`'s message tree (a `String` per attribute key and value), then prost
//! encodes the tree (recomputing nested lengths), then drops it. Profiled, that was nearly all the
//! CPU tracing added to a request (BENCHMARKS.md, "Span cost"); the writer goes from the SDK's
//! `SpanData` straight to bytes, about five times faster. Its output is standard OTLP protobuf: the
//! writer's tests decode it with `opentelemetry-proto`, and the server's process tests decode what
//! a collector receives.
//!
//! The standard variables keep their meaning (OTLP exporter configuration, "Configuration Options"):
//! `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `…_HEADERS`, `…_TIMEOUT`, `…_PROTOCOL` (only
//! `http/protobuf` is built in) and `…_COMPRESSION` (only `none`); a signal-specific variable
//! wins over the generic one.

use std::{
    collections::hash_map::RandomState,
    env,
    hash::{BuildHasher as _, Hasher as _},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use prost::Message as _;
use reqwest::{
    blocking::{Body, Client, Response},
    header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER},
};

use super::{batch::Transport, timeout_millis, whole_number};

/// The default endpoint: a collector on this host.
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`), retries included.
const DEFAULT_TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));
/// Retries after the first attempt, and their backoff: exponential from the first delay, capped,
/// with up to `MAX_JITTER` added (the same policy as `opentelemetry-otlp`'s recommended one).
const MAX_RETRIES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER: Duration = Duration::from_millis(100);
/// The longest `Retry-After` honoured; the export timeout bounds it too.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// An `OTEL_EXPORTER_OTLP_*` or `OTEL_BSP_*` setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {expected}")]
pub struct ExporterConfigError {
    name: String,
    value: String,
    expected: &'static str,
}

impl ExporterConfigError {
    pub(super) fn new(name: impl Into<String>, value: String, expected: &'static str) -> Self {
        Self {
            name: name.into(),
            value,
            expected,
        }
    }
}

/// Posts batches of spans to an OTLP/HTTP collector as protobuf.
#[derive(Debug)]
pub struct OtlpHttpExporter {
    client: Client,
    endpoint: String,
    headers: HeaderMap,
    /// `None`: no limit (`OTEL_EXPORTER_OTLP_TIMEOUT=0`).
    timeout: Option<Duration>,
}

impl OtlpHttpExporter {
    /// The exporter the `OTEL_EXPORTER_OTLP_*` variables describe.
    pub fn from_env() -> Result<Self, ExporterConfigError> {
        Self::from_lookup(|name| env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// The exporter the variables `lookup` gives describe (tests need not touch the environment).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ExporterConfigError> {
        // OTLP exporter configuration: the signal-specific variable, else the generic one.
        let setting = |option: &str| {
            let specific = format!("OTEL_EXPORTER_OTLP_TRACES_{option}");
            let generic = format!("OTEL_EXPORTER_OTLP_{option}");
            lookup(&specific)
                .map(|v| (specific, v))
                .or_else(|| lookup(&generic).map(|v| (generic, v)))
        };
        let error = |(name, value): (String, String), expected| {
            ExporterConfigError::new(name, value, expected)
        };

        // The generic endpoint is a base to which the signal's path is appended; the signal's own
        // is used as it is ("Endpoint URLs for OTLP/HTTP").
        let endpoint = match (
            lookup("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            lookup("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(url), _) => url.trim().to_owned(),
            (None, base) => {
                let base = base.unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
                format!("{}/v1/traces", base.trim().trim_end_matches('/'))
            }
        };
        if let Some(protocol) = setting("PROTOCOL")
            && protocol.1.trim() != "http/protobuf"
        {
            return Err(error(
                protocol,
                "http/protobuf (the only protocol built in)",
            ));
        }
        if let Some(compression) = setting("COMPRESSION")
            && compression.1.trim() != "none"
        {
            return Err(error(compression, "none (no compression is built in)"));
        }
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
        // A blocking client, built away from any async runtime (it runs one of its own). The batch
        // processor exports from its own thread, never from the server's runtime.
        let client = std::thread::spawn(|| Client::builder().build())
            .join()
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                ExporterConfigError::new(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    endpoint.clone(),
                    "an HTTP client for it (the client could not be built)",
                )
            })?;
        Ok(Self {
            client,
            endpoint,
            headers,
            timeout,
        })
    }

    /// The URL batches are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One POST of `body`, bounded by what is left of the export's time, if it has a limit.
    fn post(&self, body: &Bytes, remaining: Option<Duration>) -> Result<Response, reqwest::Error> {
        let request = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, otlp_wire::CONTENT_TYPE)
            .body(Body::from(body.clone()));
        match remaining {
            Some(remaining) => request.timeout(remaining),
            None => request,
        }
        .send()
    }
}

impl Transport for OtlpHttpExporter {
    /// Posts `body`, within `timeout` and the exporter's own `OTEL_EXPORTER_OTLP_TIMEOUT`.
    fn send(&self, body: Vec<u8>, timeout: Option<Duration>) -> OTelSdkResult {
        // Shared, not copied, by each attempt.
        let body = Bytes::from(body);
        let timeout = match (timeout, self.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (limit, None) | (None, limit) => limit,
        };
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        let mut retries = 0;
        loop {
            let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
            if let (Some(timeout), Some(Duration::ZERO)) = (timeout, remaining) {
                return Err(OTelSdkError::Timeout(timeout));
            }
            // OTLP/HTTP, "Failures" and "OTLP/HTTP Throttling": 429, 502, 503 and 504 are retryable,
            // after the server's Retry-After when it gives one; every other status is final.
            let wait = match self.post(&body, remaining) {
                Ok(response) if response.status().is_success() => {
                    report_partial_success(response);
                    return Ok(());
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    if !matches!(status, 429 | 502 | 503 | 504) || retries == MAX_RETRIES {
                        return Err(OTelSdkError::InternalFailure(format!(
                            "the collector answered {status}"
                        )));
                    }
                    retry_after(&response).unwrap_or_else(|| backoff(delay))
                }
                Err(error) if retries == MAX_RETRIES => {
                    return Err(OTelSdkError::InternalFailure(error.to_string()));
                }
                Err(_) => backoff(delay),
            };
            if let Some(timeout) = timeout
                && started.elapsed() + wait >= timeout
            {
                return Err(OTelSdkError::Timeout(timeout));
            }
            std::thread::sleep(wait);
            retries += 1;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }
}

/// The exponential delay with up to [`MAX_JITTER`] added, capped at [`MAX_DELAY`].
fn backoff(delay: Duration) -> Duration {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    let jitter_ms = hasher.finish() % (u64::try_from(MAX_JITTER.as_millis()).unwrap_or(0) + 1);
    (delay + Duration::from_millis(jitter_ms)).min(MAX_DELAY)
}

/// `Retry-After` in seconds (the form collectors send), at most [`MAX_THROTTLE`].
fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_THROTTLE))
}

/// A 2xx may still say some spans were rejected (OTLP, "Partial Success"): logged, not retried.
fn report_partial_success(response: Response) {
    let Ok(body) = response.bytes() else { return };
    if let Ok(answer) = ExportTraceServiceResponse::decode(body.as_ref())
        && let Some(partial) = answer.partial_success
        && (partial.rejected_spans > 0 || !partial.error_message.is_empty())
    {
        tracing::warn!(
            rejected_spans = partial.rejected_spans,
            message = %partial.error_message,
            "the collector rejected some spans"
        );
    }
}

/// `key=value,key2=value2`, values percent-decoded (the `OTEL_EXPORTER_OTLP_HEADERS` format).
fn parse_headers(list: &str) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair.split_once('=')?;
        let name = HeaderName::from_bytes(key.trim().as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(&percent_decode(value.trim())?).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

fn percent_decode(value: &str) -> Option<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exporter(vars: &[(&str, &str)]) -> Result<OtlpHttpExporter, ExporterConfigError> {
        OtlpHttpExporter::from_lookup(crate::config::lookup_in(vars))
    }

    #[test]
    fn the_endpoint_follows_the_specification() {
        let endpoint = |vars: &[(&str, &str)]| exporter(vars).expect("valid").endpoint().to_owned();
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
    fn what_is_not_built_in_is_refused_with_the_variable_named() {
        // Values the specification defines that this exporter cannot honour: sending anyway, in
        // another protocol or uncompressed, would not be what was asked for.
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "no-equals-sign"),
        ] {
            let error = exporter(&[(name, value)]).expect_err(name);
            assert!(error.to_string().starts_with(name), "{error}");
        }
        exporter(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).expect("the built-in one");
        exporter(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]).expect("none");
    }

    #[test]
    fn backoff_stays_within_its_cap() {
        for _ in 0..100 {
            let wait = backoff(FIRST_DELAY);
            assert!(
                (FIRST_DELAY..=FIRST_DELAY + MAX_JITTER).contains(&wait),
                "{wait:?}"
            );
            assert!(backoff(MAX_DELAY * 4) <= MAX_DELAY);
        }
    }
}
