//! The OTLP/HTTP transport: each batch's body posted as protobuf with a blocking HTTP client (rustls:
//! TLS against the system's roots and a CA of one's own, mutual TLS with a client certificate),
//! gzipped if asked, retried as OTLP/HTTP says.
//!
//! Why not `opentelemetry-otlp`'s HTTP exporter: it first transforms every span into
//! `opentelemetry-proto`'s message tree (a `String` per attribute key and value), then prost
//! encodes the tree (recomputing nested lengths), then drops it. Profiled, that was nearly all the
//! CPU tracing added to a request (BENCHMARKS.md, "Span cost"); here the spans arrive encoded
//! already, by the hand-written writer the page uses too (`otlp_wire`, on the threads that end
//! them: [`crate::BatchProcessor`]), which goes from the SDK's `SpanData` straight to bytes, about
//! five times faster. The output is standard OTLP protobuf: the writer's tests decode it with
//! `opentelemetry-proto`, and the server's process tests decode what a collector receives.

use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use rand::Rng as _;
use reqwest::{
    Url,
    blocking::{Body, Client, Response},
    header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER},
};

use crate::{Compression, ExportError, ExporterConfigError, ExporterSettings, Protocol, Transport};

/// Retries after the first attempt, and their backoff: exponential from the first delay, capped,
/// with up to `MAX_JITTER` added (the same policy as `opentelemetry-otlp`'s recommended one).
const MAX_RETRIES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER: Duration = Duration::from_millis(100);
/// The longest `Retry-After` honoured; the export timeout bounds it too.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// Posts batches of spans to an OTLP/HTTP collector as protobuf: the [`Transport`] of
/// [`BatchProcessor::from_env`](crate::BatchProcessor::from_env).
#[derive(Debug)]
pub struct HttpTransport {
    client: Client,
    /// Parsed once: reqwest would parse the text at every post.
    endpoint: Url,
    headers: HeaderMap,
    /// `None`: no limit (`OTEL_EXPORTER_OTLP_TIMEOUT=0`).
    timeout: Option<Duration>,
    compression: Compression,
}

impl HttpTransport {
    /// The transport `settings` describe: their endpoint, headers, timeout, compression and
    /// certificates. gRPC settings are refused: this transport speaks OTLP/HTTP only
    /// (`opentelemetry-otlp`'s tonic exporter speaks gRPC).
    pub fn new(settings: ExporterSettings) -> Result<Self, ExporterConfigError> {
        if settings.protocol == Protocol::Grpc {
            return Err(ExporterConfigError::new(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "grpc",
                "http/protobuf: this exporter speaks OTLP/HTTP",
            ));
        }
        let endpoint = Url::parse(&settings.endpoint).map_err(|e| {
            ExporterConfigError::new(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                settings.endpoint.clone(),
                format!("a URL ({e})"),
            )
        })?;
        Ok(Self {
            client: http_client(&settings)?,
            endpoint,
            headers: settings.headers,
            timeout: settings.timeout,
            compression: settings.compression,
        })
    }

    /// The URL batches are posted to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// One POST of `body` (prepared: compressed if the exporter compresses), bounded by what is
    /// left of the export's time, if it has a limit.
    fn post(&self, body: &Bytes, remaining: Option<Duration>) -> Result<Response, reqwest::Error> {
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, otlp_wire::CONTENT_TYPE)
            .body(Body::from(body.clone()));
        if self.compression == Compression::Gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        match remaining {
            Some(remaining) => request.timeout(remaining),
            None => request,
        }
        .send()
    }
}

/// `body` gzipped (OTLP/HTTP, "Request": `Content-Encoding: gzip`).
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

impl Transport for HttpTransport {
    fn prepare(&self, request: Vec<u8>) -> Bytes {
        Bytes::from(match self.compression {
            Compression::Gzip => gzip(&request),
            Compression::None => request,
        })
    }

    /// Posts `body`, within `timeout` and the exporter's own `OTEL_EXPORTER_OTLP_TIMEOUT`.
    fn send(&self, body: Bytes, timeout: Option<Duration>) -> Result<(), ExportError> {
        let timeout = match (timeout, self.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (limit, None) | (None, limit) => limit,
        };
        let timed_out = |t: Duration| {
            ExportError::Unavailable(format!("no answer within {} ms", t.as_millis()))
        };
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        let mut retries = 0;
        loop {
            let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
            if let (Some(timeout), Some(Duration::ZERO)) = (timeout, remaining) {
                return Err(timed_out(timeout));
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
                    let retryable = matches!(status, 429 | 502 | 503 | 504);
                    if !retryable {
                        return Err(ExportError::Rejected(format!(
                            "the collector answered {status}"
                        )));
                    }
                    if retries == MAX_RETRIES {
                        return Err(ExportError::Unavailable(format!(
                            "the collector answered {status}"
                        )));
                    }
                    retry_after(&response).unwrap_or_else(|| backoff(delay))
                }
                Err(error) if retries == MAX_RETRIES => {
                    return Err(ExportError::Unavailable(chain(&error)));
                }
                Err(_) => backoff(delay),
            };
            if let Some(timeout) = timeout
                && started.elapsed() + wait >= timeout
            {
                return Err(timed_out(timeout));
            }
            std::thread::sleep(wait);
            retries += 1;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }
}

/// The exponential delay with up to [`MAX_JITTER`] added, capped at [`MAX_DELAY`].
fn backoff(delay: Duration) -> Duration {
    let jitter = rand::rng().random_range(Duration::ZERO..=MAX_JITTER);
    (delay + jitter).min(MAX_DELAY)
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

/// The blocking HTTP client for `settings`' collector: rustls (on aws-lc-rs, reqwest's and tonic's
/// provider when none is installed), the system's roots and the CA of `…_CERTIFICATE`, the client
/// certificate of `…_CLIENT_CERTIFICATE` and `…_CLIENT_KEY`. Built on a thread of its own, away
/// from any async runtime (the client runs one of its own), so it can be called from within one;
/// use it from threads of your own, as the batch processors do (`opentelemetry-otlp`'s HTTP
/// exporter takes it with `with_http_client`).
pub fn http_client(settings: &ExporterSettings) -> Result<Client, ExporterConfigError> {
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
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gzipped_body_decompresses_to_the_body() {
        use std::io::Read as _;
        let body: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let compressed = gzip(&body);
        assert!(compressed.len() < body.len() / 4, "{}", compressed.len());
        let mut decompressed = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut decompressed)
            .expect("gzip");
        assert_eq!(decompressed, body);
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
