//! The tracer provider, tracer and span behind the `opentelemetry` API traits: the browser's SDK.
//!
//! Built as the SDK specification (trace/sdk.md) describes a span's life, for one thread and the
//! browser's clock: the sampler decides before the span exists ("Sampling"); a span that is not
//! sampled is a non-recording span that still carries its context ("IsRecording"); limits apply
//! where attributes, events and links are added, and what they drop is counted for OTLP's
//! `dropped_*_count` ("Span Limits"); `end` takes the span's data out, so nothing changes it after
//! ("End"); the ended span goes to the exporter, whose queue encodes it at once.
//!
//! `Send + Sync` because `opentelemetry::global` and `Context` ask it of every provider, tracer and
//! span; in a browser there is one thread, and the shared state sits behind `Arc<Mutex<_>>`,
//! which costs next to nothing there.

#[cfg(feature = "session")]
use std::sync::OnceLock;
use std::{borrow::Cow, sync::Arc, time::SystemTime};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    trace::{
        Event, Link, SpanBuilder, SpanContext, SpanKind, SpanRef, Status, TraceContextExt as _,
        TraceFlags,
    },
};

use crate::{
    clock,
    exporter::Exporter,
    ids, sampler,
    span_data::{SpanData, SpanLimits, add_event, add_link, set_attribute, truncate},
};

/// What runs at the start of every recorded span, after its builder's attributes, events and
/// links are in (the SDK specification's `SpanProcessor.OnStart`, for the one thing the page
/// needs of it: [`crate::session`] adds `session.id` there). One for the page, as the session is
/// the page's (its origin's, even): a static, so that a page without a session pays one load
/// and a branch per span for it, and a page built without the `session` feature nothing.
#[cfg(feature = "session")]
pub(crate) type OnStart = Box<dyn Fn(&mut SpanData, &SpanLimits) + Send + Sync>;
#[cfg(feature = "session")]
static ON_START: OnceLock<OnStart> = OnceLock::new();

/// Sets what runs at every recorded span's start; `false` when it was set already.
#[cfg(feature = "session")]
pub(crate) fn set_on_start(hook: OnStart) -> bool {
    ON_START.set(hook).is_ok()
}

/// What the provider's tracers share.
#[derive(Debug)]
struct Shared {
    exporter: Exporter,
    sampler: sampler::Sampler,
    limits: SpanLimits,
}

/// The browser's tracer provider: [`opentelemetry::trace::TracerProvider`] for `otel-browser`.
/// Cloning it is cheap; every clone exports through the same exporter.
#[derive(Debug, Clone)]
pub struct TracerProvider {
    shared: Arc<Shared>,
}

impl TracerProvider {
    pub(crate) fn new(exporter: Exporter, sampler: sampler::Sampler, limits: SpanLimits) -> Self {
        Self {
            shared: Arc::new(Shared {
                exporter,
                sampler,
                limits,
            }),
        }
    }

    /// The exporter its spans go to.
    pub(crate) fn exporter(&self) -> &Exporter {
        &self.shared.exporter
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
    /// the one way an instrumentation flushes (a crash's `exception`, a web vital final at
    /// `pagehide`).
    #[cfg(all(
        any(feature = "errors", feature = "web-vitals"),
        target_arch = "wasm32"
    ))]
    pub(crate) fn send_keepalive(&self) {
        self.shared.exporter.send_keepalive();
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
        #[cfg(feature = "session")]
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
    // The span has no event yet: the builder's are kept in bulk, up to the limit, in their order
    // (what `add_event` one by one keeps), without draining them: 95 B gzipped less on the
    // minimal page (BENCHMARKS.md, "Page size").
    if let Some(mut events) = events {
        data.dropped_events_count += truncate(&mut events, limits.max_events_per_span);
        for event in &mut events {
            event.dropped_attributes_count +=
                truncate(&mut event.attributes, limits.max_attributes_per_event);
        }
        data.events = events;
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

    /// The first `end` takes the data out and hands it to the exporter; later calls, and every
    /// change after, find no data and do nothing (SDK specification, "End").
    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(mut data) = self.data.take() {
            data.end_time = timestamp;
            self.tracer.shared.exporter.export(&mut data);
        }
    }
}

/// Marks `span` failed, the one way every error span of the SDK and of a page is marked:
/// `error.type`, a low-cardinality type (semantic conventions, "Recording errors": an exception's
/// type, a status code, a name the code gives its failure), and Error status with `description`,
/// which may say more.
#[inline(never)]
pub fn set_error(span: &SpanRef<'_>, error_type: String, description: Cow<'static, str>) {
    span.set_attribute(KeyValue::new("error.type", error_type));
    span.set_status(Status::error(description));
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.data.is_some() {
            opentelemetry::trace::Span::end(self);
        }
    }
}

#[cfg(test)]
mod tests;
