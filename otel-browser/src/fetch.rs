//! Traced `fetch`: a CLIENT span per request, with the stable HTTP client conventions, and the
//! trace headers only where they cannot break CORS.
//!
//! The span is named by the method (`GET`; HTTP semantic conventions, "Name") and carries
//! `http.request.method`, `url.full`, `server.address`, `server.port`, then
//! `http.response.status_code`, or `error.type` with Error status when the request failed or
//! answered ≥ 400 (HTTP client span conventions: a 4xx is an error for a client).
//!
//! The context goes out as W3C Trace Context and Baggage ([`crate::propagation::W3c`]), or,
//! after [`FetchInstrumentation::with_global_propagators`], through whatever
//! `opentelemetry::global::set_text_map_propagator` was given (B3, Jaeger, a composite). W3C is
//! the default because a propagator behind `global` is a `dyn TextMapPropagator`, which links its
//! extraction too: 9.3 KB of wasm (baggage decoding and the `traceparent` parser) a page that only
//! injects ships for nothing. A cross-origin request gets the headers only when its URL matches
//! [`FetchInstrumentation::propagate_to`] (what OpenTelemetry JS calls
//! `propagateTraceHeaderCorsUrls`): `traceparent` is not a CORS-safelisted header, so sending it
//! to a server that does not allow it fails the request's preflight.
//!
//! Nothing is patched: only requests made through [`FetchInstrumentation::fetch`] are traced,
//! and the exporter's own requests never are (they use their own `fetch`).
//!
//! ```no_run
//! # // `FetchInstrumentation` is wasm32's: natively this example compiles to nothing.
//! # #[cfg(target_arch = "wasm32")]
//! # async fn run(telemetry: otel_browser::BrowserTelemetry) -> Result<(), wasm_bindgen::JsValue> {
//! use otel_browser::fetch::FetchInstrumentation;
//! let fetch = FetchInstrumentation::new(telemetry.tracer("my-app"))
//!     .propagate_to("https://api.example.com");
//! let request = web_sys::Request::new_with_str("/api/products")?;
//! let response = fetch.fetch(&request, &opentelemetry::Context::new()).await?;
//! # Ok(()) }
//! ```

// The rules (URL matching, method names) are plain functions, tested natively; the rest is the
// browser's.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

#[cfg(target_arch = "wasm32")]
#[cfg_attr(docsrs, doc(cfg(target_arch = "wasm32")))]
pub use instrumentation::FetchInstrumentation;
use opentelemetry::KeyValue;

#[cfg(target_arch = "wasm32")]
mod instrumentation {
    use std::borrow::Cow;

    use js_sys::{Array, Promise};
    use opentelemetry::{
        Context, KeyValue,
        propagation::{Injector, TextMapPropagator as _},
        trace::{SpanKind, TraceContextExt as _, Tracer as _},
    };
    use wasm_bindgen::{JsCast as _, JsValue, prelude::wasm_bindgen};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Request, Response};

    use super::{method_attributes, under};
    use crate::{Tracer, clock, trace::set_error};

    // The request's side, in a snippet: one import reads what the span needs (`[method, url,
    // hostname, port, same origin]`, the last three only for a URL that parses), instead of
    // web-sys's `Url`, `Location` and their `Result`s; headers are set where the request's guard
    // allows them (a `no-cors` request takes only safelisted ones).
    // Readable in `otel-browser/js/fetch.js`; the literal is its minification (scripts/snippets.py).
    #[wasm_bindgen(
        inline_js = r#"export function describe(t){let r;try{r=new URL(t.url)}catch{}return r?[t.method,t.url,r.hostname,+r.port||(r.protocol=="https:"?443:80),r.origin==self.location.origin]:[t.method,t.url]}export function header(t,r,o){try{t.headers.set(r,o)}catch{}}export function send(t){return fetch(t)}export function errorName(t){return t instanceof Error?t.name:"_OTHER"}"#
    )]
    extern "C" {
        fn describe(request: &Request) -> Array;
        fn header(request: &Request, key: &str, value: &str);
        fn send(request: &Request) -> Promise;
        /// The rejection's error name (`TypeError` for a network failure, `AbortError`), else
        /// `_OTHER`.
        #[wasm_bindgen(js_name = errorName)]
        fn error_name(error: &JsValue) -> String;
    }

    /// The instrumentation: a tracer and the cross-origin URLs that may get trace headers.
    #[derive(Debug, Clone)]
    pub struct FetchInstrumentation {
        tracer: Tracer,
        propagate_to: Vec<Cow<'static, str>>,
        inject: fn(&Context, &mut dyn Injector),
    }

    fn inject_w3c(cx: &Context, injector: &mut dyn Injector) {
        crate::propagation::W3c.inject_context(cx, injector);
    }

    fn inject_global(cx: &Context, injector: &mut dyn Injector) {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(cx, injector);
        });
    }

    impl FetchInstrumentation {
        /// Traces requests with `tracer`; trace headers go to the page's own origin only.
        pub fn new(tracer: Tracer) -> Self {
            Self {
                tracer,
                propagate_to: Vec::new(),
                inject: inject_w3c,
            }
        }

        /// Injects through the global propagators (`opentelemetry::global::
        /// set_text_map_propagator`) instead of W3C's.
        pub fn with_global_propagators(mut self) -> Self {
            self.inject = inject_global;
            self
        }

        /// Also sends trace headers to URLs under `url`: an origin (`https://api.example.com`)
        /// matches that origin's URLs; a URL with a path (`https://cdn.example.com/v2/`) those under
        /// it. The server must allow `traceparent`, `tracestate` and `baggage` in its CORS
        /// `Access-Control-Allow-Headers`.
        pub fn propagate_to(mut self, url: impl Into<Cow<'static, str>>) -> Self {
            self.propagate_to.push(url.into());
            self
        }

        /// Sends `request` in a CLIENT span, child of `parent`'s span. The response is `fetch`'s
        /// (any status); the error is `fetch`'s rejection (a network failure, CORS, an abort).
        pub async fn fetch(
            &self,
            request: &Request,
            parent: &Context,
        ) -> Result<Response, JsValue> {
            // Only the context and the promise are held across the await: the future stays small.
            let cx = self.start(request, parent);
            let outcome = JsFuture::from(send(request)).await;
            finish(&cx, outcome)
        }

        /// Starts the span and injects its context where allowed (same origin as the page, or
        /// under one of [`Self::propagate_to`]'s URLs).
        #[inline(never)]
        fn start(&self, request: &Request, parent: &Context) -> Context {
            let info = describe(request);
            let text = |i| crate::text::text_at(&info, i);
            let url = text(1);
            let parsed = info.length() > 2;
            let same_origin = parsed && info.get(4).is_truthy();
            let propagate =
                same_origin || self.propagate_to.iter().any(|allowed| under(&url, allowed));
            let (name, mut attributes) = method_attributes(text(0));
            if parsed {
                attributes.push(KeyValue::new("url.full", url));
                attributes.push(KeyValue::new("server.address", text(2)));
                let port = info.get(3).as_f64().unwrap_or_default() as i64;
                attributes.push(KeyValue::new("server.port", port));
            }
            let span = self
                .tracer
                .span_builder(name)
                .with_kind(SpanKind::Client)
                .with_attributes(attributes)
                .start_with_context(&self.tracer, parent);
            let cx = parent.with_span(span);
            if propagate {
                (self.inject)(&cx, &mut HeaderInjector(request));
            }
            cx
        }

        /// Sends gloo-net's request in a CLIENT span (see [`Self::fetch`]).
        #[cfg(feature = "gloo-net")]
        #[cfg_attr(docsrs, doc(cfg(feature = "gloo-net")))]
        pub async fn send(
            &self,
            request: gloo_net::http::RequestBuilder,
            parent: &Context,
        ) -> Result<gloo_net::http::Response, gloo_net::Error> {
            let request: web_sys::Request = request.build()?.into();
            self.fetch(&request, parent)
                .await
                .map(gloo_net::http::Response::from)
                .map_err(|error| match gloo_utils::errors::JsError::try_from(error) {
                    Ok(error) => gloo_net::Error::JsError(error),
                    Err(other) => gloo_net::Error::GlooError(other.to_string()),
                })
        }
    }

    /// Records the outcome on the span and ends it.
    #[inline(never)]
    fn finish(cx: &Context, outcome: Result<JsValue, JsValue>) -> Result<Response, JsValue> {
        let span = cx.span();
        match &outcome {
            Ok(response) => {
                // `fetch` resolves to a `Response`, always.
                let status = response.unchecked_ref::<Response>().status();
                // An opaque (`no-cors`) response has status 0: nothing is known of it.
                if status != 0 {
                    span.set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status),
                    ));
                }
                if status >= 400 {
                    let code = crate::text::decimal(status.into());
                    // Pushed, not `concat`ed: `concat` carries an overflow check and its panic.
                    let mut description = String::from("HTTP ");
                    description.push_str(&code);
                    set_error(&span, code, description.into());
                }
            }
            Err(error) => set_error(&span, error_name(error), "network error".into()),
        }
        span.end_with_timestamp(clock::now());
        outcome.map(|response| response.unchecked_into())
    }

    struct HeaderInjector<'a>(&'a Request);

    impl Injector for HeaderInjector<'_> {
        /// A header the request's guard refuses is left out.
        fn set(&mut self, key: &str, value: String) {
            header(self.0, key, &value);
        }
    }
}

/// `url` is `allowed`, or under it: after an origin, a path, query or fragment must follow; after
/// a URL ending in `/`, anything (so `https://api.example.com` does not match
/// `https://api.example.com.evil.test`).
fn under(url: &str, allowed: &str) -> bool {
    url.strip_prefix(allowed).is_some_and(|rest| {
        rest.is_empty() || allowed.ends_with('/') || rest.starts_with(['/', '?', '#'])
    })
}

/// The span name and `http.request.method`: the method when it is a known one; else `HTTP` and
/// `_OTHER`, with `http.request.method_original` (HTTP semantic conventions, "Name": `{method}`,
/// with `HTTP` for `_OTHER`). Room is kept for the URL's three attributes.
fn method_attributes(method: String) -> (&'static str, Vec<KeyValue>) {
    let mut attributes = Vec::with_capacity(5);
    let name = match known_method(&method) {
        Some(known) => {
            attributes.push(KeyValue::new("http.request.method", known));
            known
        }
        None => {
            attributes.push(KeyValue::new("http.request.method", "_OTHER"));
            attributes.push(KeyValue::new("http.request.method_original", method));
            "HTTP"
        }
    };
    (name, attributes)
}

fn known_method(method: &str) -> Option<&'static str> {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|known| *known == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_matches_its_urls_only() {
        let api = "https://api.example.com";
        assert!(under("https://api.example.com", api));
        assert!(under("https://api.example.com/v1/x", api));
        assert!(under("https://api.example.com?q=1", api));
        assert!(!under("https://api.example.com.evil.test/", api));
        assert!(!under("https://api.example.community/", api));
        assert!(!under("http://api.example.com/", api));
    }

    #[test]
    fn a_path_matches_what_is_under_it() {
        let v2 = "https://cdn.example.com/v2/";
        assert!(under("https://cdn.example.com/v2/a.js", v2));
        assert!(!under("https://cdn.example.com/v1/a.js", v2));
    }

    #[test]
    fn unknown_methods_are_other() {
        let (name, attributes) = method_attributes("GET".into());
        assert_eq!(name, "GET");
        assert_eq!(attributes.len(), 1);
        let (name, attributes) = method_attributes("PURGE".into());
        assert_eq!(name, "HTTP");
        assert_eq!(
            attributes
                .iter()
                .map(|kv| kv.value.as_str().into_owned())
                .collect::<Vec<_>>(),
            ["_OTHER", "PURGE"]
        );
    }
}
