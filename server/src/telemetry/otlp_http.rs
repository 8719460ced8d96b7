//! The server's own OTLP/HTTP transport: batches encoded by the hand-written protobuf writer the
//! page uses (`otlp_wire`, on the threads that end the spans: [`super::batch`]), posted with a
//! blocking HTTP client, retried as OTLP/HTTP says.
//!
//! Why not `opentelemetry-otlp`'s HTTP exporter: it first transforms every span into
//! `opentelemetry-proto`'s message tree (a `String` per attribute key and value), then prost
//! encodes the tree (recomputing nested lengths), then drops it. Profiled, that was nearly all the
//! CPU tracing added to a request (BENCHMARKS.md, "Span cost"); the writer goes from the SDK's
//! `SpanData` straight to bytes, about five times faster. Its output is standard OTLP protobuf: the
//! writer's tests decode it with `opentelemetry-proto`, and the server's process tests decode what
//! a collector receives. `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, or `EXPORT_PIPELINE=stock`, is the
//! stock pipeline instead: the SDK's batch processor and `opentelemetry-otlp`'s exporter
//! ([`super::stock`]), with the same settings.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use rand::Rng as _;
use reqwest::{
    blocking::{Body, Client, Response},
    header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER},
};

use super::{
    batch::{ExportError, Transport},
    export::{Compression, ExporterConfigError, ExporterSettings, chain, http_client},
};

/// Retries after the first attempt, and their backoff: exponential from the first delay, capped,
/// with up to `MAX_JITTER` added (the same policy as `opentelemetry-otlp`'s recommended one).
const MAX_RETRIES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER: Duration = Duration::from_millis(100);
/// The longest `Retry-After` honoured; the export timeout bounds it too.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// Posts batches of spans to an OTLP/HTTP collector as protobuf.
#[derive(Debug)]
pub struct OtlpHttpExporter {
    client: Client,
    endpoint: String,
    headers: HeaderMap,
    /// `None`: no limit (`OTEL_EXPORTER_OTLP_TIMEOUT=0`).
    timeout: Option<Duration>,
    compression: Compression,
}

impl OtlpHttpExporter {
    /// The exporter the variables `lookup` gives describe (tests need not touch the environment).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ExporterConfigError> {
        Self::new(ExporterSettings::from_lookup(lookup)?)
    }

    /// The exporter `settings` describe (their protocol is taken to be OTLP/HTTP).
    pub fn new(settings: ExporterSettings) -> Result<Self, ExporterConfigError> {
        Ok(Self {
            client: http_client(&settings)?,
            endpoint: settings.endpoint,
            headers: settings.headers,
            timeout: settings.timeout,
            compression: settings.compression,
        })
    }

    /// The URL batches are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One POST of `body` (prepared: compressed if the exporter compresses), bounded by what is
    /// left of the export's time, if it has a limit.
    fn post(&self, body: &Bytes, remaining: Option<Duration>) -> Result<Response, reqwest::Error> {
        let mut request = self
            .client
            .post(&self.endpoint)
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

impl Transport for OtlpHttpExporter {
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
