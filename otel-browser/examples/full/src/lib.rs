//! The minimal page with every `otel-browser` instrumentation installed, and what all of it costs
//! a page: the same click and fetch as `examples/minimal`, plus the session, errors, the
//! page-load trace with the wasm phases, web vitals, the click's interaction span and the traced
//! fetch. Each is one line below; a page takes the ones it wants.
//!
//! `trunk build --release` in this folder builds it; `scripts/test.sh` checks its size. With the
//! `bench` feature it also sets the hooks `scripts/js-peer-bench.sh` drives (`window.__bench`).

/// The page's allocator: talc, not Rust's default dlmalloc: 1.7–1.9 KB less gzipped, no slower
/// (BENCHMARKS.md, "Page size"). It needs single-threaded wasm, which a page without threads is.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod page {
    use std::cell::RefCell;

    use opentelemetry::Context;
    use otel_browser::{
        BrowserTelemetry, Config,
        errors::Errors,
        fetch::FetchInstrumentation,
        interaction,
        page_load::PageLoad,
        session::{Session, SessionConfig},
        web_vitals::WebVitals,
    };
    use wasm_bindgen::{JsCast, prelude::*};
    use web_sys::Event;

    /// What the page keeps for its life: the exporter, the instrumentations' listeners, the click.
    struct Page {
        #[cfg_attr(
            not(feature = "bench"),
            allow(
                dead_code,
                reason = "kept for its listeners; read by the benchmark's hooks"
            )
        )]
        telemetry: BrowserTelemetry,
        _errors: Errors,
        _vitals: WebVitals,
        _on_click: Closure<dyn FnMut(Event)>,
    }

    thread_local! {
        static PAGE: RefCell<Option<Page>> = const { RefCell::new(None) };
    }

    #[wasm_bindgen(start)]
    fn start() {
        let telemetry = BrowserTelemetry::install(Config {
            service_name: "otel-browser-full".into(),
            ..Default::default()
        });
        let tracer = telemetry.tracer("otel-browser-full");
        // First: the moment the module started is the end of its instantiation.
        let page_load = PageLoad::install(&tracer);
        Session::install(SessionConfig::default());
        // Undelivered batches wait in IndexedDB for the next load, or for `online`.
        let _ = otel_browser::offline::install(&telemetry, Default::default());
        let errors = Errors::install(&tracer, |_| {});
        let vitals = WebVitals::install(&tracer);
        let fetch = FetchInstrumentation::new(tracer.clone());
        let on_click = interaction::traced(&tracer, move |_event, cx| {
            let fetch = fetch.clone();
            async move { show(get(&fetch, &cx).await) }
        });
        let document = web_sys::window().and_then(|w| w.document());
        if let Some(button) = document.and_then(|d| d.get_element_by_id("go")) {
            let _ =
                button.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
        }
        page_load.rendered();
        PAGE.with(|page| {
            *page.borrow_mut() = Some(Page {
                telemetry,
                _errors: errors,
                _vitals: vitals,
                _on_click: on_click,
            })
        });
        #[cfg(feature = "bench")]
        crate::bench::ready();
    }

    /// `GET /api/products`, traced; whether it answered below 400.
    async fn get(fetch: &FetchInstrumentation, cx: &Context) -> bool {
        let Ok(request) = web_sys::Request::new_with_str("/api/products") else {
            return false;
        };
        fetch
            .fetch(&request, cx)
            .await
            .is_ok_and(|response| response.status() < 400)
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
        PAGE.with(|page| page.borrow().as_ref().map(|p| f(&p.telemetry)))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "bench"))]
#[path = "../../minimal/src/bench.rs"]
mod bench;
