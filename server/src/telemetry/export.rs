//! Which pipeline exports the server's spans (`EXPORT_PIPELINE`, this server's own variable), and the
//! span processor it makes from the standard variables:
//!
//! - `own`, the default for OTLP/HTTP: `otlp_batch_exporter`'s batch processor and its OTLP/HTTP
//!   transport;
//! - `stock`: the SDK's `BatchSpanProcessor` and `opentelemetry-otlp`'s exporter ([`super::stock`]),
//!   over gRPC with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (always the stock pipeline), or over HTTP.
//!
//! Both read the same settings, once: `OTEL_EXPORTER_OTLP_*` ([`ExporterSettings`]) and
//! `OTEL_BSP_*` ([`BatchConfig`]).

use std::env;

use opentelemetry_sdk::trace::TracerProviderBuilder;
use otlp_batch_exporter::{
    BatchConfig, BatchProcessor, ExporterConfigError, ExporterSettings, HttpTransport, Protocol,
};

use super::stock;

/// Which batch processor and exporter carry the spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipeline {
    /// `own`, the default for OTLP/HTTP: [`BatchProcessor`] and [`HttpTransport`].
    Own,
    /// `stock`: the SDK's `BatchSpanProcessor` and `opentelemetry-otlp`'s exporter
    /// ([`super::stock`]); always so with gRPC.
    Stock,
}

impl Pipeline {
    /// The pipeline `EXPORT_PIPELINE` names for spans sent over `protocol`.
    pub fn from_env(protocol: Protocol) -> Result<Self, ExporterConfigError> {
        Self::from_lookup(|name| env::var(name).ok(), protocol)
    }

    /// The pipeline the variables `lookup` gives name (tests need not touch the environment).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        protocol: Protocol,
    ) -> Result<Self, ExporterConfigError> {
        let named = lookup("EXPORT_PIPELINE").filter(|v| !v.trim().is_empty());
        match (named, protocol) {
            (None, Protocol::HttpProtobuf) => Ok(Self::Own),
            (Some(value), Protocol::HttpProtobuf) if value.trim() == "own" => Ok(Self::Own),
            (Some(value), _) if value.trim() == "stock" => Ok(Self::Stock),
            (None, Protocol::Grpc) => Ok(Self::Stock),
            (Some(value), Protocol::Grpc) => Err(ExporterConfigError::new(
                "EXPORT_PIPELINE",
                value,
                "stock (gRPC goes through the SDK's batch processor and opentelemetry-otlp)",
            )),
            (Some(value), _) => Err(ExporterConfigError::new(
                "EXPORT_PIPELINE",
                value,
                "own or stock",
            )),
        }
    }
}

/// `builder` with the span processor the variables describe.
pub fn with_span_processor(
    builder: TracerProviderBuilder,
) -> Result<TracerProviderBuilder, ExporterConfigError> {
    let settings = ExporterSettings::from_env()?;
    let batch = BatchConfig::from_env();
    Ok(match Pipeline::from_env(settings.protocol)? {
        Pipeline::Own => {
            builder.with_span_processor(BatchProcessor::new(HttpTransport::new(settings)?, batch))
        }
        Pipeline::Stock => builder.with_span_processor(stock::processor(settings, batch)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup_in;

    fn pipeline(vars: &[(&str, &str)]) -> Result<Pipeline, ExporterConfigError> {
        let settings = ExporterSettings::from_lookup(lookup_in(vars)).expect("valid");
        Pipeline::from_lookup(lookup_in(vars), settings.protocol)
    }

    #[test]
    fn grpc_is_the_stock_pipelines_and_http_the_servers_own_unless_stock_is_named() {
        assert_eq!(pipeline(&[]).expect("valid"), Pipeline::Own);
        assert_eq!(
            pipeline(&[("EXPORT_PIPELINE", "own")]).expect("valid"),
            Pipeline::Own
        );
        assert_eq!(
            pipeline(&[("EXPORT_PIPELINE", "stock")]).expect("valid"),
            Pipeline::Stock
        );
        assert_eq!(
            pipeline(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).expect("valid"),
            Pipeline::Stock,
            "gRPC is the stock pipeline's"
        );
    }

    #[test]
    fn a_pipeline_that_cannot_carry_the_spans_is_refused_by_name() {
        for vars in [
            &[("EXPORT_PIPELINE", "fast")][..],
            &[
                ("EXPORT_PIPELINE", "own"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        ] {
            let error = pipeline(vars).expect_err("refused");
            assert!(error.to_string().starts_with("EXPORT_PIPELINE"), "{error}");
        }
    }
}
