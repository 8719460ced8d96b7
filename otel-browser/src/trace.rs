//! The tracer provider, tracer and span behind the `opentelemetry` API traits: the browser's SDK.
//!
//! Built as the SDK specification (trace/sdk.md) describes a span's life, for one thread and the
//! browser's clock: the sampler decides before the span exists ("Sampling"); a span that is not
//! sampled is a non-recording span that still carries its context ("IsRecording"); limits apply
//! where attributes, events and links are added, and what they drop is counted for OTLP's
//! `dropped_*_count` ("Span Limits"); `end` takes the span's data out, so nothing changes it after
//! ("End"); the ended span goes to the processor, which encodes it at once.
//!
//! `Send + Sync` because `opentelemetry::global` and `Context` ask it of every provider, tracer and
//! span; in a browser there is one thread, and the shared state sits behind `Arc<Mutex<_>>`,
//! which costs next to nothing there.

use std::{
    borrow::Cow,
    sync::{Arc, OnceLock},
    time::SystemTime,
};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    trace::{
        Event, Link, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _,
        TraceFlags,
    },
};

use crate::{clock, ids, processor::Queue, sampler};

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

/// A span that has ended, as the processor receives it (and, with the `testing` feature, as
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

/// What runs at the start of every recorded span, after its builder's attributes, events and
/// links are in (the SDK specification's `SpanProcessor.OnStart`, for the one thing the page
/// needs of it: [`crate::session`] adds `session.id` there). One for the page, as the session is
/// the page's (its origin's, even): a static, so that a page without a session pays one load
/// and a branch per span for it.
pub(crate) type OnStart = Box<dyn Fn(&mut SpanData, &SpanLimits) + Send + Sync>;
static ON_START: OnceLock<OnStart> = OnceLock::new();

/// Sets what runs at every recorded span's start; `false` when it was set already.
pub(crate) fn set_on_start(hook: OnStart) -> bool {
    ON_START.set(hook).is_ok()
}

/// What the provider's tracers share.
#[derive(Debug)]
struct Shared {
    queue: Queue,
    sampler: sampler::Sampler,
    limits: SpanLimits,
}

/// The browser's tracer provider: [`opentelemetry::trace::TracerProvider`] for `otel-browser`.
/// Cloning it is cheap; every clone exports to the same queue.
#[derive(Debug, Clone)]
pub struct TracerProvider {
    shared: Arc<Shared>,
}

impl TracerProvider {
    pub(crate) fn new(queue: Queue, sampler: sampler::Sampler, limits: SpanLimits) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue,
                sampler,
                limits,
            }),
        }
    }
}

impl opentelemetry::trace::TracerProvider for TracerProvider {
    type Tracer = Tracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        Tracer {
            scope: Arc::new(scope),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A tracer of one instrumentation scope.
#[derive(Debug, Clone)]
pub struct Tracer {
    scope: Arc<InstrumentationScope>,
    shared: Arc<Shared>,
}

impl Tracer {
    /// Starts sending what is queued now, with `keepalive`, as the SDK's `pagehide` listener does:
    /// for an instrumentation that ends spans in a `pagehide` listener of its own, which runs
    /// after the SDK's (listeners at the event's target run in the order they were added).
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn send_keepalive(&self) {
        crate::transport::send_all_keepalive(&self.shared.queue);
    }
}

impl opentelemetry::trace::Tracer for Tracer {
    type Span = Span;

    /// SDK specification, "Span creation": the parent is the context's span when it has a valid
    /// one, local or remote (its trace id, its trace state, its flags); the sampler decides before
    /// the span exists; a new trace gets a random trace id and the `random` flag.
    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Span {
        let parent_span = parent_cx.span();
        let parent = parent_span.span_context();
        let parent = parent.is_valid().then_some(parent);
        let trace_id = parent.map_or_else(ids::new_trace_id, |p| p.trace_id());
        let decision = self.shared.sampler.decide(
            trace_id,
            parent.map(|p| sampler::Parent {
                sampled: p.is_sampled(),
                trace_state: p.trace_state(),
            }),
        );
        // The `random` flag belongs to the trace: a child keeps its parent's (and the parent's
        // other flags), a root sets it because its id is random.
        let flags = parent
            .map_or(TraceFlags::new(trace_context::RANDOM), |p| p.trace_flags())
            .with_sampled(decision.sampled);
        let span_context = SpanContext::new(
            trace_id,
            ids::new_span_id(),
            flags,
            false,
            decision.trace_state,
        );
        if !decision.sampled {
            return Span {
                span_context,
                data: None,
                tracer: self.clone(),
            };
        }
        let limits = &self.shared.limits;
        let mut data = SpanData::started(
            span_context.clone(),
            parent,
            builder.span_kind.unwrap_or(SpanKind::Internal),
            builder.name,
            builder.start_time.unwrap_or_else(clock::now),
            Arc::clone(&self.scope),
        );
        add_all(
            &mut data,
            limits,
            builder.attributes,
            builder.events,
            builder.links,
        );
        if let Some(on_start) = ON_START.get() {
            on_start(&mut data, limits);
        }
        Span {
            span_context,
            data: Some(Box::new(data)),
            tracer: self.clone(),
        }
    }
}

/// A builder's attributes, events and links, through the limits. Out of line: the loops and their
/// drops once in the page, not once per path through `build_with_context`.
#[inline(never)]
fn add_all(
    data: &mut SpanData,
    limits: &SpanLimits,
    attributes: Option<Vec<KeyValue>>,
    events: Option<Vec<Event>>,
    links: Option<Vec<Link>>,
) {
    for attribute in attributes.into_iter().flatten() {
        set_attribute(data, limits, attribute);
    }
    for event in events.into_iter().flatten() {
        add_event(data, limits, event);
    }
    for link in links.into_iter().flatten() {
        add_link(data, limits, link);
    }
}

/// A span: recording (its data held until `end` takes it) or not (sampled out: only a context).
/// Dropped without `end`, it ends then, at [`clock::now`].
#[derive(Debug)]
pub struct Span {
    span_context: SpanContext,
    data: Option<Box<SpanData>>,
    tracer: Tracer,
}

impl Span {
    fn data(&mut self) -> Option<(&mut SpanData, &SpanLimits)> {
        Some((self.data.as_deref_mut()?, &self.tracer.shared.limits))
    }
}

impl opentelemetry::trace::Span for Span {
    /// Events at [`clock::now`], not the API's millisecond clock.
    fn add_event<T>(&mut self, name: T, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        self.add_event_with_timestamp(name, clock::now(), attributes);
    }

    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        if let Some((data, limits)) = self.data() {
            add_event(data, limits, Event::new(name, timestamp, attributes, 0));
        }
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some((data, limits)) = self.data() {
            set_attribute(data, limits, attribute);
        }
    }

    /// API specification, "Set Status": `Unset` is ignored; `Ok` is final; `Error` replaces
    /// `Unset` or an earlier `Error`.
    fn set_status(&mut self, status: Status) {
        if let Some((data, _)) = self.data() {
            match (&data.status, &status) {
                (Status::Ok, _) | (_, Status::Unset) => {}
                _ => data.status = status,
            }
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some((data, _)) = self.data() {
            data.name = new_name.into();
        }
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        if let Some((data, limits)) = self.data() {
            add_link(data, limits, Link::new(span_context, attributes, 0));
        }
    }

    /// Ends at [`clock::now`], not the API's millisecond clock.
    fn end(&mut self) {
        self.end_with_timestamp(clock::now());
    }

    /// The first `end` takes the data out and hands it to the processor; later calls, and every
    /// change after, find no data and do nothing (SDK specification, "End").
    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(mut data) = self.data.take() {
            data.end_time = timestamp;
            self.tracer.shared.queue.push_span(&data);
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.data.is_some() {
            opentelemetry::trace::Span::end(self);
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
fn add_link(data: &mut SpanData, limits: &SpanLimits, mut link: Link) {
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
/// caller, as `opentelemetry_sdk` keeps them) and says how many were dropped.
fn truncate(attributes: &mut Vec<KeyValue>, max: u32) -> u32 {
    let dropped = attributes.len().saturating_sub(limit(max));
    attributes.truncate(limit(max));
    u32::try_from(dropped).unwrap_or(u32::MAX)
}

fn limit(max: u32) -> usize {
    usize::try_from(max).unwrap_or(usize::MAX)
}
