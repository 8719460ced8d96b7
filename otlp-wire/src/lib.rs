//! OTLP encoding: finished spans as the protobuf body of `POST /v1/traces`.
//!
//! A small writer for the few messages an exporter sends (`ExportTraceServiceRequest` down to
//! `AnyValue`), written by hand because `opentelemetry-proto` + `prost` build a full message tree
//! first: that cost a browser page tens of kilobytes, and the server 5–8× the CPU per span
//! (BENCHMARKS.md). The wire format is the one in `opentelemetry/proto/trace/v1/trace.proto`
//! (OTLP 1.x); the tests encode the same spans as `opentelemetry-proto` messages with prost and
//! compare the bytes, which is the proof that the two agree.
//!
//! It takes plain data, [`Span`], borrowed from whatever SDK made the span (the browser's own in
//! `otel-browser`, `opentelemetry_sdk`'s `SpanData` in the server), and the API crate's types
//! for values, events, links and scopes.
//!
//! The crate, a file a job:
//!
//! - `lib.rs` (here): what callers use: [`Span`] and [`Resource`] in; [`encode`] for a batch at
//!   once; [`encode_span`] with [`EncodedBatch`] (grouping by a [`ScopeHandle`]) or
//!   [`encode_scopes`] for spans encoded as they end; [`CONTENT_TYPE`]. Also the request around
//!   the spans (`ExportTraceServiceRequest`, `ResourceSpans`).
//! - `writer.rs`: the protobuf wire format (varints, tags, nested messages), knowing nothing of
//!   OTLP.
//! - `trace.rs`: the messages of `trace.proto`: `ScopeSpans`, `Span` with its events, links and
//!   status.
//! - `common.rs`: the messages of `common.proto`: `InstrumentationScope`, `KeyValue`, `AnyValue`.
//! - `tests.rs`: the byte-for-byte comparison with `opentelemetry-proto` and prost.
//!
//! Proto3 rules followed here, as prost does them: a scalar or string field equal to its default is
//! not written, a set message field is written even when empty, and a member of a `oneof`
//! (`AnyValue`) is written even when it holds its default.

mod common;
mod trace;
mod writer;

#[cfg(test)]
mod tests;

use std::{borrow::Cow, sync::Arc, time::SystemTime};

use opentelemetry::{
    InstrumentationScope, KeyValue,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status},
};

use writer::Writer;

/// The content type of an encoded request.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// One finished span, as the writer needs it: borrowed from the SDK's own record.
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// Trace id, span id, flags and trace state.
    pub context: &'a SpanContext,
    /// The parent's span id, [`SpanId::INVALID`] for a root.
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// The span's kind.
    pub kind: &'a SpanKind,
    /// The span's name.
    pub name: &'a str,
    /// When it started.
    pub start_time: SystemTime,
    /// When it ended.
    pub end_time: SystemTime,
    /// Its attributes, written in this order (`Span.attributes`, field 9).
    pub attributes: &'a [KeyValue],
    /// Attributes not kept (span limits).
    pub dropped_attributes_count: u32,
    /// Its events, each with its own time and attributes (`Span.events`, field 11).
    pub events: &'a [Event],
    /// Events not kept.
    pub dropped_events_count: u32,
    /// Its links, each with the linked span's context (`Span.links`, field 13).
    pub links: &'a [Link],
    /// Links not kept.
    pub dropped_links_count: u32,
    /// Its status (`Span.status`, field 15: an empty message when Unset, as prost writes it).
    pub status: &'a Status,
    /// The instrumentation scope of the tracer that made it.
    pub scope: &'a InstrumentationScope,
}

/// The resource every span of a request is sent with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    /// `service.name` and the rest.
    pub attributes: Vec<KeyValue>,
    /// The resource's schema URL, if it has one.
    pub schema_url: Option<Cow<'static, str>>,
}

/// `spans` with `resource` as an OTLP `ExportTraceServiceRequest`, protobuf-encoded: one
/// `ResourceSpans`, and one `ScopeSpans` per instrumentation scope, in order of first appearance.
pub fn encode(spans: &[Span<'_>], resource: &Resource) -> Vec<u8> {
    let mut scopes: Vec<&InstrumentationScope> = Vec::new();
    for span in spans {
        if !scopes.iter().any(|s| same_scope(s, span.scope)) {
            scopes.push(span.scope);
        }
    }
    // A span with its attributes takes a few hundred bytes.
    request(resource, 512 + spans.len() * 384, |w| {
        for scope in scopes {
            w.scope_spans(scope, |w| {
                for span in spans.iter().filter(|s| same_scope(s.scope, scope)) {
                    w.span_entry(span);
                }
            });
        }
    })
}

/// Appends `span` to `out` as one entry of `ScopeSpans.spans`: the form in which [`EncodedBatch`]
/// keeps spans. An exporter can encode each span when it ends, while its data is still in cache,
/// and hold bytes rather than span records until the batch is sent.
pub fn encode_span(out: &mut Vec<u8>, span: &Span<'_>) {
    let mut w = Writer {
        buf: std::mem::take(out),
    };
    w.span_entry(span);
    *out = w.buf;
}

/// Spans encoded by [`encode_span`], grouped by instrumentation scope in order of first
/// appearance, until [`to_request`](Self::to_request) makes them one `ExportTraceServiceRequest`
/// (the same bytes [`encode`] makes of the same spans).
///
/// `S` is what a span's scope is held by, and so how two scopes are told apart (see
/// [`ScopeHandle`]): by default an owned [`InstrumentationScope`], compared by value; an
/// `EncodedBatch<Arc<InstrumentationScope>>` compares the `Arc`s by pointer.
#[derive(Debug)]
pub struct EncodedBatch<S = InstrumentationScope> {
    scopes: Vec<(S, Vec<u8>)>,
    len: usize,
}

// By hand: a derive would ask for `S: Default`, which a batch never needs.
impl<S> Default for EncodedBatch<S> {
    fn default() -> Self {
        Self {
            scopes: Vec::new(),
            len: 0,
        }
    }
}

impl<S: ScopeHandle> EncodedBatch<S> {
    /// Adds one span of `scope`, as [`encode_span`] encoded it. The handle is cloned only for the
    /// first span of a scope.
    pub fn push(&mut self, scope: &S, encoded: &[u8]) {
        match self.scopes.iter_mut().find(|(s, _)| s.same(scope)) {
            Some((_, spans)) => spans.extend_from_slice(encoded),
            None => self.scopes.push((scope.clone(), encoded.to_vec())),
        }
        self.len += 1;
    }

    /// [`push`](Self::push) for a span whose bytes the caller no longer needs (a queue that
    /// drains its spans): the first span of a scope keeps its buffer and its handle, uncopied.
    pub fn push_owned(&mut self, scope: S, encoded: Vec<u8>) {
        match self.scopes.iter_mut().find(|(s, _)| s.same(&scope)) {
            Some((_, spans)) => spans.extend_from_slice(&encoded),
            None => self.scopes.push((scope, encoded)),
        }
        self.len += 1;
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes the encoded spans take (the request adds the resource and scopes).
    pub fn encoded_len(&self) -> usize {
        self.scopes.iter().map(|(_, spans)| spans.len()).sum()
    }

    /// The batch with `resource` as the protobuf body of `POST /v1/traces`.
    pub fn to_request(&self, resource: &Resource) -> Vec<u8> {
        encode_scopes(
            resource,
            self.scopes
                .iter()
                .map(|(scope, spans)| (scope.scope(), spans.as_slice())),
        )
    }
}

/// How an [`EncodedBatch`] holds a span's scope and tells whether two spans share one (then they
/// go in one `ScopeSpans`).
///
/// Either way, a scope split in two is not an error: OTLP allows two `ScopeSpans` of one scope.
pub trait ScopeHandle: Clone {
    /// The scope written in the request.
    fn scope(&self) -> &InstrumentationScope;

    /// Whether `self` and `other` are the same scope.
    fn same(&self, other: &Self) -> bool;
}

/// An owned scope, as each of `opentelemetry_sdk`'s spans holds one (the server): compared by
/// value, cheaply (see `same_scope`).
impl ScopeHandle for InstrumentationScope {
    fn scope(&self) -> &InstrumentationScope {
        self
    }

    fn same(&self, other: &Self) -> bool {
        same_scope(self, other)
    }
}

/// A scope shared by the spans of one tracer (the browser's): compared by pointer, so no scope is
/// compared or copied. Two tracers of equal scopes send two `ScopeSpans`.
impl ScopeHandle for Arc<InstrumentationScope> {
    fn scope(&self) -> &InstrumentationScope {
        self
    }

    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(self, other)
    }
}

/// An `ExportTraceServiceRequest` of spans already encoded by [`encode_span`] and grouped by
/// scope by the caller: one `ScopeSpans` per item, in order. (For an exporter that groups spans
/// its own way; [`EncodedBatch`] is one.)
pub fn encode_scopes<'a>(
    resource: &Resource,
    scopes: impl Iterator<Item = (&'a InstrumentationScope, &'a [u8])> + Clone,
) -> Vec<u8> {
    let size: usize = scopes.clone().map(|(_, spans)| spans.len()).sum();
    request(resource, 512 + size, |w| {
        for (scope, spans) in scopes {
            w.scope_spans(scope, |w| w.buf.extend_from_slice(spans));
        }
    })
}

/// An `ExportTraceServiceRequest` holding one `ResourceSpans` for `resource`, whose `ScopeSpans`
/// `scope_spans` writes.
fn request(resource: &Resource, capacity: usize, scope_spans: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer {
        buf: Vec::with_capacity(capacity),
    };
    // ExportTraceServiceRequest.resource_spans = 1; a batch takes 16 KiB to 2 MiB: three bytes.
    w.message_sized(1, 3, |w| {
        // ResourceSpans.resource = 1
        w.message(1, |w| w.attributes(1, &resource.attributes));
        scope_spans(w);
        w.string(3, resource.schema_url.as_deref().unwrap_or_default());
    });
    w.buf
}

/// Whether two scopes are the same. `InstrumentationScope`'s own `==` sorts the attributes of
/// both sides to compare them, and that sort costs a page ~10 KB; scopes come from the same few
/// tracers, so attributes in the same order is the case that matters (at worst, one scope is sent
/// as two `ScopeSpans`, which OTLP allows).
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    a.name() == b.name()
        && a.version() == b.version()
        && a.schema_url() == b.schema_url()
        && a.attributes().eq(b.attributes())
}
