//! The smallest page traced with `otel-browser`, and the floor of what the crate costs a page: a
//! click starts a span, a `fetch` runs in a CLIENT span under it and carries its `traceparent`,
//! and the spans are exported as OTLP/HTTP protobuf to `/v1/traces`.
//!
//! `trunk build --release` in this folder builds it; `scripts/test.sh` checks its size. With the
//! `bench` feature it also sets the hooks `scripts/js-peer-bench.sh` drives (`window.__bench`;
//! never in the page whose size is checked).

/// The page's allocator: talc, not Rust's default dlmalloc: 1.7–1.9 KB less gzipped, no slower
/// (BENCHMARKS.md, "Page size"). It needs single-threaded wasm, which a page without threads is.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod page {
    use std::cell::RefCell;

    use opentelemetry::{
        Context, KeyValue,
        trace::{SpanKind, Status, TraceContextExt, Tracer as _},
    };
    use otel_browser::{BrowserTelemetry, Config, clock};
    use wasm_bindgen::{JsCast, prelude::*};
    use wasm_bindgen_futures::{JsFuture, spawn_local};
    use web_sys::{Event, Headers, RequestInit, Response};

    thread_local! {
        /// The exporter and the click listener, kept for the page's life.
        static PAGE: RefCell<Option<(BrowserTelemetry, Closure<dyn FnMut(Event)>)>> =
            const { RefCell::new(None) };
    }

    #[wasm_bindgen(start)]
    fn start() {
        let telemetry = BrowserTelemetry::install(Config {
            service_name: "otel-browser-minimal".into(),
            ..Default::default()
        });
        let tracer = telemetry.tracer("otel-browser-minimal");
        let on_click = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let tracer = tracer.clone();
            spawn_local(async move {
                // A root: its parent is an empty context, not the current one.
                let cx =
                    Context::new().with_span(tracer.start_with_context("click", &Context::new()));
                let span = tracer
                    .span_builder("GET")
                    .with_kind(SpanKind::Client)
                    .with_attributes([KeyValue::new("http.request.method", "GET")])
                    .start_with_context(&tracer, &cx);
                let fetch_cx = cx.with_span(span);
                let traceparent = trace_context::traceparent_of(fetch_cx.span().span_context());
                let status = get("/api/products", &traceparent).await;
                let span = fetch_cx.span();
                match status {
                    Some(code) => {
                        span.set_attribute(KeyValue::new(
                            "http.response.status_code",
                            i64::from(code),
                        ));
                        if code >= 400 {
                            span.set_status(Status::error("HTTP error"));
                        }
                    }
                    None => span.set_status(Status::error("network error")),
                }
                span.end_with_timestamp(clock::now());
                show(status.is_some_and(|code| code < 400));
                cx.span().end_with_timestamp(clock::now());
            });
        });
        let document = web_sys::window().and_then(|w| w.document());
        if let Some(button) = document.and_then(|d| d.get_element_by_id("go")) {
            let _ =
                button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
        }
        PAGE.with(|page| *page.borrow_mut() = Some((telemetry, on_click)));
        #[cfg(feature = "bench")]
        crate::bench::ready();
    }

    /// `GET url` with `traceparent`; the status, or `None` when the request failed.
    async fn get(url: &str, traceparent: &str) -> Option<u16> {
        let headers = Headers::new().ok()?;
        headers.set("traceparent", traceparent).ok()?;
        let init = RequestInit::new();
        init.set_headers(&headers);
        let fetch = web_sys::window()?.fetch_with_str_and_init(url, &init);
        // `fetch` resolves to a `Response`, always.
        let response: Response = JsFuture::from(fetch).await.ok()?.unchecked_into();
        Some(response.status())
    }

    fn show(ok: bool) {
        let status = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("status"));
        if let Some(status) = status {
            status.set_text_content(Some(if ok { "ok" } else { "failed" }));
            let _ = status.set_attribute("data-status", if ok { "ok" } else { "error" });
        }
    }

    /// `f` of the page's telemetry, once it is installed (for the benchmark's hooks).
    #[cfg(feature = "bench")]
    pub(crate) fn with_telemetry<R>(f: impl FnOnce(&BrowserTelemetry) -> R) -> Option<R> {
        PAGE.with(|page| page.borrow().as_ref().map(|(t, _)| f(t)))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
mod bench;
