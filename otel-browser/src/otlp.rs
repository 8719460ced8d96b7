//! OTLP encoding: a batch of finished spans as the protobuf body of `POST /v1/traces`.

use opentelemetry_proto::{
    tonic::collector::trace::v1::ExportTraceServiceRequest,
    transform::{
        common::tonic::ResourceAttributesWithSchema,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{Resource, trace::SpanData};
use prost::Message;

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// `spans` with `resource` as an OTLP `ExportTraceServiceRequest`, protobuf-encoded.
pub fn encode(spans: Vec<SpanData>, resource: &Resource) -> Vec<u8> {
    request(spans, resource).encode_to_vec()
}

/// `spans` with `resource` as an OTLP `ExportTraceServiceRequest`.
pub fn request(spans: Vec<SpanData>, resource: &Resource) -> ExportTraceServiceRequest {
    let resource = ResourceAttributesWithSchema::from(resource);
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &resource),
    }
}
