//! The stock pipeline: the SDK's `BatchSpanProcessor` and `opentelemetry-otlp`'s exporter, over
//! gRPC (tonic; always, with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`) or OTLP/HTTP (reqwest; with
//! `EXPORT_PIPELINE=stock`), configured from the same `OTEL_*` settings as the server's own
//! pipeline ([`ExporterSettings`], [`BatchConfig`]), passed explicitly so that a value is read and
//! checked in one place.
//!
//! ```ignore
//! let exporter = opentelemetry_otlp::SpanExporter::builder()
//!     .with_tonic()
//!     .with_endpoint("https://collector:4317")
//!     .with_compression(opentelemetry_otlp::Compression::Gzip)
//!     .build()?;
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! ```
//!
//! is the whole of it for a program that needs nothing else; this adds the certificates, the
//! headers and the batch settings.

use std::{collections::HashMap, time::Duration};

use opentelemetry_otlp::{
    SpanExporter, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
    tonic_types::{
        metadata::MetadataMap,
        transport::{Certificate, ClientTlsConfig, Identity},
    },
};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor};

use otlp_batch_exporter::{
    BatchConfig, Compression, ExporterConfigError, ExporterSettings, Protocol, http_client,
};

/// An export with no limit (`OTEL_EXPORTER_OTLP_TIMEOUT=0`): the exporter takes a duration, so a
/// day.
const NO_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The SDK's batch processor exporting through `opentelemetry-otlp`, over `settings.protocol`.
/// Call from within the server's tokio runtime: a gRPC channel's connection lives there.
pub fn processor(
    settings: ExporterSettings,
    batch: BatchConfig,
) -> Result<BatchSpanProcessor, ExporterConfigError> {
    let endpoint = settings.endpoint.clone();
    let timeout = settings.timeout.unwrap_or(NO_LIMIT);
    let compression = (settings.compression == Compression::Gzip)
        .then_some(opentelemetry_otlp::Compression::Gzip);
    let exporter = match settings.protocol {
        Protocol::Grpc => {
            let mut builder = SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(timeout)
                .with_metadata(MetadataMap::from_headers(settings.headers));
            if let Some(compression) = compression {
                builder = builder.with_compression(compression);
            }
            if endpoint.starts_with("https://") {
                // The system's roots, and the CA of `…_CERTIFICATE` besides them.
                let mut tls = ClientTlsConfig::new().with_native_roots();
                if let Some(pem) = settings.tls.ca_pem {
                    tls = tls.ca_certificate(Certificate::from_pem(pem));
                }
                if let Some((certificate, key)) = settings.tls.client_pem {
                    tls = tls.identity(Identity::from_pem(certificate, key));
                }
                builder = builder.with_tls_config(tls);
            }
            builder.build()
        }
        Protocol::HttpProtobuf => {
            // The same client the server's own pipeline posts with (TLS, certificates).
            let client = http_client(&settings)?;
            let headers: HashMap<String, String> = (settings.headers.iter())
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                .collect();
            let mut builder = SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_endpoint(endpoint.clone())
                .with_timeout(timeout)
                .with_headers(headers);
            if let Some(compression) = compression {
                builder = builder.with_compression(compression);
            }
            builder.build()
        }
    }
    .map_err(|error| {
        ExporterConfigError::new(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            endpoint,
            format!("an exporter for it ({error})"),
        )
    })?;
    // `OTEL_BSP_EXPORT_TIMEOUT` is an experimental setting of this processor: the exporter's own
    // timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`) bounds each export instead.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(batch.max_queue_size)
        .with_max_export_batch_size(batch.max_export_batch_size)
        .with_scheduled_delay(batch.schedule_delay);
    Ok(BatchSpanProcessor::builder(exporter)
        .with_batch_config(config.build())
        .build())
}
