//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`: the stock pipeline, the SDK's `BatchSpanProcessor` and
//! `opentelemetry-otlp`'s tonic exporter, configured from the same `OTEL_*` settings as the
//! OTLP/HTTP one ([`ExporterSettings`], [`BatchConfig`]), passed explicitly so that a value is read
//! and checked in one place.
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

use std::time::Duration;

use opentelemetry_otlp::{
    SpanExporter, WithExportConfig as _, WithTonicConfig as _,
    tonic_types::{
        metadata::MetadataMap,
        transport::{Certificate, ClientTlsConfig, Identity},
    },
};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor};

use super::{
    batch::BatchConfig,
    export::{Compression, ExporterConfigError, ExporterSettings, install_tls_provider},
};

/// An export with no limit (`OTEL_EXPORTER_OTLP_TIMEOUT=0`): tonic takes a duration, so a day.
const NO_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The SDK's batch processor exporting through `opentelemetry-otlp`'s tonic exporter. Call from
/// within the server's tokio runtime: the channel's connection lives there.
pub fn processor(
    settings: ExporterSettings,
    batch: BatchConfig,
) -> Result<BatchSpanProcessor, ExporterConfigError> {
    install_tls_provider();
    let mut builder = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.clone())
        .with_timeout(settings.timeout.unwrap_or(NO_LIMIT))
        .with_metadata(MetadataMap::from_headers(settings.headers));
    if settings.compression == Compression::Gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    if settings.endpoint.starts_with("https://") {
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
    let exporter = builder.build().map_err(|error| {
        ExporterConfigError::new(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            settings.endpoint,
            format!("a gRPC exporter for it ({error})"),
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
