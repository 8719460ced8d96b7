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
//! ```ignore
//! # // wasm32 only: the browser tests (tests/fetch.rs) run the same calls.
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

use std::borrow::Cow;

#[cfg(target_arch = "wasm32")]
pub use instrumentation::FetchInstrumentation;
use opentelemetry::KeyValue;

#[cfg(target_arch = "wasm32")]
mod instrumentation {
    use std::borrow::Cow;

    use opentelemetry::{
        Context, KeyValue,
        propagation::{Injector, TextMapPropagator as _},
        trace::{SpanKind, Status, TraceContextExt as _, Tracer as _},
    };
    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Headers, Request, Response, Url};

    use super::{method_attributes, span_name, under};
    use crate::{Tracer, clock};

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
            let method = request.method();
            let url = request.url();
            let parsed = Url::new(&url).ok();
            let mut attributes = method_attributes(&method);
            if let Some(parsed) = &parsed {
                attributes.push(KeyValue::new("url.full", url.clone()));
                attributes.push(KeyValue::new("server.address", parsed.hostname()));
                attributes.push(KeyValue::new("server.port", port(parsed)));
            }
            let span = self
                .tracer
                .span_builder(span_name(method))
                .with_kind(SpanKind::Client)
                .with_attributes(attributes)
                .start_with_context(&self.tracer, parent);
            let cx = parent.with_span(span);
            if self.may_propagate(&url, parsed.as_ref()) {
                (self.inject)(&cx, &mut HeaderInjector(&request.headers()));
            }
            let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
            let outcome = JsFuture::from(window.fetch_with_request(request)).await;
            let span = cx.span();
            let outcome = match outcome {
                Ok(response) => {
                    // `fetch` resolves to a `Response`, always.
                    let response: Response = response.unchecked_into();
                    let status = response.status();
                    // An opaque (`no-cors`) response has status 0: nothing is known of it.
                    if status != 0 {
                        span.set_attribute(KeyValue::new(
                            "http.response.status_code",
                            i64::from(status),
                        ));
                    }
                    if status >= 400 {
                        let code = crate::decimal(status.into());
                        span.set_status(Status::error(["HTTP ", &code].concat()));
                        span.set_attribute(KeyValue::new("error.type", code));
                    }
                    Ok(response)
                }
                Err(error) => {
                    span.set_attribute(KeyValue::new("error.type", error_name(&error)));
                    span.set_status(Status::error("network error"));
                    Err(error)
                }
            };
            span.end_with_timestamp(clock::now());
            outcome
        }

        /// Same origin as the page, or under one of [`Self::propagate_to`]'s URLs.
        fn may_propagate(&self, url: &str, parsed: Option<&Url>) -> bool {
            let page = web_sys::window().and_then(|w| w.location().origin().ok());
            let same_origin = parsed.is_some_and(|u| Some(u.origin()) == page);
            same_origin || self.propagate_to.iter().any(|allowed| under(url, allowed))
        }

        /// Sends gloo-net's request in a CLIENT span (see [`Self::fetch`]).
        #[cfg(feature = "gloo-net")]
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

    /// The URL's port, or its scheme's default.
    fn port(url: &Url) -> i64 {
        url.port()
            .parse()
            .unwrap_or(if url.protocol() == "https:" { 443 } else { 80 })
    }

    /// The rejection's error name (`TypeError` for a network failure, `AbortError`), else `_OTHER`.
    fn error_name(error: &JsValue) -> String {
        error
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.name()))
            .unwrap_or_else(|| "_OTHER".to_owned())
    }

    struct HeaderInjector<'a>(&'a Headers);

    impl Injector for HeaderInjector<'_> {
        /// A header the request's guard refuses (a `no-cors` request takes only safelisted ones) is
        /// left out.
        fn set(&mut self, key: &str, value: String) {
            let _ = self.0.set(key, &value);
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

/// The span name: the method when it is a known one, else `HTTP` (HTTP semantic conventions,
/// "Name": `{method}`, with `HTTP` for `_OTHER`).
fn span_name(method: String) -> Cow<'static, str> {
    match known_method(&method) {
        Some(known) => known.into(),
        None => "HTTP".into(),
    }
}

/// `http.request.method`, and `http.request.method_original` when the method is not one the
/// conventions know (then recorded as `_OTHER`).
fn method_attributes(method: &str) -> Vec<KeyValue> {
    match known_method(method) {
        Some(known) => vec![KeyValue::new("http.request.method", known)],
        None => vec![
            KeyValue::new("http.request.method", "_OTHER"),
            KeyValue::new("http.request.method_original", method.to_owned()),
        ],
    }
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
        assert_eq!(span_name("GET".into()), "GET");
        assert_eq!(span_name("PURGE".into()), "HTTP");
        assert_eq!(
            method_attributes("PURGE")
                .iter()
                .map(|kv| kv.value.as_str().into_owned())
                .collect::<Vec<_>>(),
            ["_OTHER", "PURGE"]
        );
    }
}
