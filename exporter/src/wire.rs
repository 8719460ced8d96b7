//! The SDK's span data as the OTLP writer (`otlp_wire`) borrows it: nothing copied.

use opentelemetry_sdk::{Resource, trace::SpanData};

/// The SDK's span as the OTLP writer takes it (borrowed, nothing copied).
pub fn wire_span(span: &SpanData) -> otlp_wire::Span<'_> {
    otlp_wire::Span {
        context: &span.span_context,
        parent_span_id: span.parent_span_id,
        parent_is_remote: span.parent_span_is_remote,
        kind: &span.span_kind,
        name: &span.name,
        start_time: span.start_time,
        end_time: span.end_time,
        attributes: &span.attributes,
        dropped_attributes_count: span.dropped_attributes_count,
        events: &span.events.events,
        dropped_events_count: span.events.dropped_count,
        links: &span.links.links,
        dropped_links_count: span.links.dropped_count,
        status: &span.status,
        scope: &span.instrumentation_scope,
    }
}

/// The SDK's resource as the OTLP writer takes it.
pub fn wire_resource(resource: &Resource) -> otlp_wire::Resource {
    otlp_wire::Resource {
        attributes: resource
            .iter()
            .map(|(key, value)| opentelemetry::KeyValue::new(key.clone(), value.clone()))
            .collect(),
        schema_url: resource.schema_url().map(|url| url.to_owned().into()),
    }
}
