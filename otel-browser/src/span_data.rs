//! A span's data and the limits that bound it (SDK specification, "Span Limits"): what a span
//! records while it runs, what it hands the exporter when it ends, and the rules for adding
//! attributes, events and links within the limits, with what they drop counted for OTLP's
//! `dropped_*_count`. The leaf of the SDK: it imports nothing of the crate.

use std::{borrow::Cow, sync::Arc, time::SystemTime};

use opentelemetry::{
    InstrumentationScope, KeyValue,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status},
};

/// The most attributes, events and links a span keeps (SDK specification, "Span Limits"; the
/// defaults are the specification's, 128 each). What is beyond a limit is dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes of a span.
    pub max_attributes_per_span: u32,
    /// Events of a span.
    pub max_events_per_span: u32,
    /// Links of a span.
    pub max_links_per_span: u32,
    /// Attributes of one event.
    pub max_attributes_per_event: u32,
    /// Attributes of one link.
    pub max_attributes_per_link: u32,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
        }
    }
}

/// A span that has ended, as the exporter receives it (and, with the `testing` feature, as
/// [`BrowserTelemetry::finished_spans`](crate::BrowserTelemetry::finished_spans) returns it).
#[derive(Debug, Clone)]
pub struct SpanData {
    /// Trace id, span id, flags and trace state.
    pub span_context: SpanContext,
    /// The parent's span id ([`SpanId::INVALID`] for a root).
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_span_is_remote: bool,
    /// The span's kind.
    pub span_kind: SpanKind,
    /// The span's name.
    pub name: Cow<'static, str>,
    /// When it started.
    pub start_time: SystemTime,
    /// When it ended.
    pub end_time: SystemTime,
    /// Its attributes, each key once.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
    /// Its events, in the order they were added, up to the events limit.
    pub events: Vec<Event>,
    /// Events dropped by the limit.
    pub dropped_events_count: u32,
    /// Its links (to spans of this trace or others), in the order added, up to the links limit.
    pub links: Vec<Link>,
    /// Links dropped by the limit.
    pub dropped_links_count: u32,
    /// Unset, Ok or Error with its description: once Ok, it stays Ok (API specification, "Set
    /// Status").
    pub status: Status,
    /// The scope of the tracer that made it.
    pub instrumentation_scope: Arc<InstrumentationScope>,
}

impl SpanData {
    /// A span just started: no attributes, events or links yet, status unset.
    pub(crate) fn started(
        span_context: SpanContext,
        parent: Option<&SpanContext>,
        span_kind: SpanKind,
        name: Cow<'static, str>,
        start_time: SystemTime,
        instrumentation_scope: Arc<InstrumentationScope>,
    ) -> Self {
        Self {
            span_context,
            parent_span_id: parent.map_or(SpanId::INVALID, |p| p.span_id()),
            parent_span_is_remote: parent.is_some_and(|p| p.is_remote()),
            span_kind,
            name,
            start_time,
            end_time: SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status::Unset,
            instrumentation_scope,
        }
    }

    /// The value of the attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&opentelemetry::Value> {
        (self.attributes.iter())
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// The span as the OTLP writer takes it.
    pub(crate) fn wire(&self) -> otlp_wire::Span<'_> {
        otlp_wire::Span {
            context: &self.span_context,
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_span_is_remote,
            kind: &self.span_kind,
            name: &self.name,
            start_time: self.start_time,
            end_time: self.end_time,
            attributes: &self.attributes,
            dropped_attributes_count: self.dropped_attributes_count,
            events: &self.events,
            dropped_events_count: self.dropped_events_count,
            links: &self.links,
            dropped_links_count: self.dropped_links_count,
            status: &self.status,
            scope: &self.instrumentation_scope,
        }
    }
}

/// Sets `attribute`: an existing key gets the new value (API specification, "Set Attributes": a
/// key set twice keeps the last value), a new key is kept while the limit allows, else counted.
pub(crate) fn set_attribute(data: &mut SpanData, limits: &SpanLimits, attribute: KeyValue) {
    if let Some(existing) = data
        .attributes
        .iter_mut()
        .find(|kv| kv.key == attribute.key)
    {
        existing.value = attribute.value;
    } else if data.attributes.len() < limit(limits.max_attributes_per_span) {
        data.attributes.push(attribute);
    } else {
        data.dropped_attributes_count += 1;
    }
}

pub(crate) fn add_event(data: &mut SpanData, limits: &SpanLimits, mut event: Event) {
    if data.events.len() < limit(limits.max_events_per_span) {
        event.dropped_attributes_count +=
            truncate(&mut event.attributes, limits.max_attributes_per_event);
        data.events.push(event);
    } else {
        data.dropped_events_count += 1;
    }
}

/// Links to invalid contexts are not kept (as the API's `SpanBuilder::with_links` does).
pub(crate) fn add_link(data: &mut SpanData, limits: &SpanLimits, mut link: Link) {
    if !link.span_context.is_valid() {
        return;
    }
    if data.links.len() < limit(limits.max_links_per_span) {
        link.dropped_attributes_count +=
            truncate(&mut link.attributes, limits.max_attributes_per_link);
        data.links.push(link);
    } else {
        data.dropped_links_count += 1;
    }
}

/// Keeps the first `max` of an event's or a link's `attributes` (given all at once, by the
/// caller, as `opentelemetry_sdk` keeps them), or of a new span's events, and says how many were
/// dropped.
pub(crate) fn truncate<T>(items: &mut Vec<T>, max: u32) -> u32 {
    let dropped = items.len().saturating_sub(limit(max));
    items.truncate(limit(max));
    u32::try_from(dropped).unwrap_or(u32::MAX)
}

fn limit(max: u32) -> usize {
    usize::try_from(max).unwrap_or(usize::MAX)
}
