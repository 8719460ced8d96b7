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

use std::{
    pin::Pin,
    task::{self, Poll},
};

use opentelemetry::{
    Context,
    trace::{TraceContextExt as _, Tracer as _},
};
use wasm_bindgen::{closure::Closure, prelude::wasm_bindgen};
use wasm_bindgen_futures::spawn_local;
use web_sys::Event;

use crate::{Tracer, clock};

// `{type} {data-testid or id}` of the element the listener is on, or the type alone: one
// import instead of web-sys's `currentTarget` → `Element` → `getAttribute`/`id` chain.
// Readable in `otel-browser/js/interaction.js`; the literal is its minification (scripts/snippets.py).
#[wasm_bindgen(
    inline_js = r#"export function name(t){const e=t.currentTarget,n=e instanceof Element&&(e.getAttribute("data-testid")??e.id);return n?t.type+" "+n:t.type}"#
)]
extern "C" {
    fn name(event: &Event) -> String;
}

/// `handler` as an event listener whose every call runs in a span of its own.
pub fn traced<F, Fut>(tracer: &Tracer, mut handler: F) -> Closure<dyn FnMut(Event)>
where
    F: FnMut(Event, Context) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let tracer = tracer.clone();
    Closure::new(move |event: Event| {
        let cx = start(&tracer, &event);
        let work = Box::pin(handler(event, cx.clone()));
        spawn_local(InSpan { cx, work });
    })
}

/// The interaction's span, a root, as the current context's.
#[inline(never)]
fn start(tracer: &Tracer, event: &Event) -> Context {
    Context::new().with_span(tracer.start_with_context(name(event), &Context::new()))
}

/// The handler's future, polled with its span's context as the current one; the span ends when
/// it does. One type for every handler (the future boxed), so the page has one copy of it.
struct InSpan {
    cx: Context,
    work: Pin<Box<dyn Future<Output = ()>>>,
}

impl Future for InSpan {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, waker: &mut task::Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let _current = this.cx.clone().attach();
        let poll = this.work.as_mut().poll(waker);
        if poll.is_ready() {
            this.cx.span().end_with_timestamp(clock::now());
        }
        poll
    }
}
