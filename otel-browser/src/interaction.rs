//! User interactions: a DOM event handler wrapped in a span, so that one click parents
//! everything it causes (what OpenTelemetry JS's user-interaction instrumentation does by
//! patching `addEventListener`; here the page wraps the handlers it wants traced).
//!
//! The span is a root named `{event type} {target}`: the listening element's `data-testid`, else
//! its `id` (`click checkout`), or the event type alone. The handler gets the span's context to
//! parent its own spans and fetches; while its future runs, that context is also the current one
//! (`Context::current()`), which [`crate::errors`] uses. The span ends when the future does.
//!
//! ```no_run
//! # use wasm_bindgen::JsCast as _;
//! # fn main() {
//! # let telemetry = otel_browser::BrowserTelemetry::install(Default::default());
//! # let button: web_sys::Element = todo!();
//! let on_click = otel_browser::interaction::traced(&telemetry.tracer("my-app"), |_event, cx| async move {
//!     // … spans and fetches under `cx` …
//! });
//! button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref()).ok();
//! // Keep `on_click` while the listener is attached.
//! # }
//! ```

use opentelemetry::{
    Context,
    context::FutureExt as _,
    trace::{TraceContextExt as _, Tracer as _},
};
use wasm_bindgen::{JsCast as _, closure::Closure};
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, Event};

use crate::{Tracer, clock};

/// `handler` as an event listener whose every call runs in a span of its own.
pub fn traced<F, Fut>(tracer: &Tracer, mut handler: F) -> Closure<dyn FnMut(Event)>
where
    F: FnMut(Event, Context) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let tracer = tracer.clone();
    Closure::new(move |event: Event| {
        let span = tracer.start_with_context(span_name(&event), &Context::new());
        let cx = Context::new().with_span(span);
        let work = handler(event, cx.clone());
        spawn_local(async move {
            work.with_context(cx.clone()).await;
            cx.span().end_with_timestamp(clock::now());
        });
    })
}

/// `{type} {data-testid or id}` of the element the listener is on.
fn span_name(event: &Event) -> String {
    let mut name = event.type_();
    let element = event
        .current_target()
        .and_then(|t| t.dyn_into::<Element>().ok());
    let label = element.and_then(|e| {
        e.get_attribute("data-testid")
            .or_else(|| Some(e.id()).filter(|id| !id.is_empty()))
    });
    if let Some(label) = label {
        name.push(' ');
        name.push_str(&label);
    }
    name
}
