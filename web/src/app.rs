//! The controller: what each [`Msg`] does (the state's rules are `state.rs`'s), and the checkout
//! flow with its root span. Drawing is the view's (`view.rs`).

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
    time::SystemTime,
};

use checkout_api::{CardRequest, CheckoutRequest, semconv};
use opentelemetry::{
    Context, KeyValue,
    trace::{SpanKind, TraceContextExt, Tracer as _},
};
use otel_browser::{
    BrowserTelemetry, Tracer, clock,
    errors::Errors,
    fetch::FetchInstrumentation,
    page_load::PageLoad,
    session::{Session, SessionConfig},
    trace::set_error,
    web_vitals::WebVitals,
};
use wasm_bindgen_futures::spawn_local;

use crate::{
    api::{Api, ApiError},
    cart::format_cents,
    dom,
    state::{Msg, Order, State},
    view::{Outcome, View},
    waterfall,
};

/// Settings read from `<meta name="checkout:…">` tags, so a deployment can change them without a build.
struct PageConfig {
    jaeger_ui: String,
    /// The share of ordinary traces the collectors keep, in percent (`100`: every trace). The
    /// page's nginx writes its `TAIL_SAMPLING_PERCENTAGE` here (web/nginx.conf).
    tail_sampling_percentage: String,
    otlp_endpoint: String,
    service_name: String,
}

impl PageConfig {
    fn from_document() -> Self {
        let meta = |name: &str, default: &str| {
            dom::document()
                .query_selector(&["meta[name='checkout:", name, "']"].concat())
                .ok()
                .flatten()
                .and_then(|m| m.get_attribute("content"))
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            jaeger_ui: meta("jaeger-ui", "http://localhost:16686")
                .trim_end_matches('/')
                .to_owned(),
            tail_sampling_percentage: meta("tail-sampling-percentage", "100"),
            otlp_endpoint: meta("otlp-endpoint", "/v1/traces"),
            service_name: meta("service-name", "checkout-web"),
        }
    }
}

struct App {
    state: RefCell<State>,
    view: View,
    api: Api,
    tracer: Tracer,
    jaeger_ui: String,
    /// Whether the collectors keep only a share of the ordinary traces: then the trace link of a
    /// placed checkout says its trace may not be in Jaeger (a failed or slow one always is).
    sampled: bool,
    // Owned for the page's life: the error and web-vitals listeners, then the exporter's
    // lifecycle listeners.
    _errors: Errors,
    _vitals: WebVitals,
    _telemetry: BrowserTelemetry,
}

thread_local! {
    /// The page, kept alive for as long as the document lives.
    static PAGE: RefCell<Option<Rc<App>>> = const { RefCell::new(None) };
}

/// Installs telemetry, wires the page and loads the catalog.
pub fn run() {
    let config = PageConfig::from_document();
    let share = config.tail_sampling_percentage;
    let telemetry = BrowserTelemetry::install(otel_browser::Config {
        service_name: config.service_name.into(),
        service_version: env!("CARGO_PKG_VERSION").into(),
        endpoint: config.otlp_endpoint.into(),
        ..Default::default()
    });
    let tracer = telemetry.tracer("checkout-web");
    // First: the module has just been instantiated (the page-load trace's wasm phases end here).
    let page_load = PageLoad::install(&tracer);
    // Every instrumentation is installed here, explicitly: the page-load trace (above), the
    // session (its id on every span and in the baggage), the offline queue (what the collector
    // could not take waits in IndexedDB for the next load, or for `online`), errors, web vitals,
    // traced fetch and the checkout button's interaction span.
    Session::install(SessionConfig::default());
    let _ = otel_browser::offline::install(&telemetry, Default::default());
    let errors = Errors::install(&tracer, on_panic);
    let vitals = WebVitals::install(&tracer);
    let app = Rc::new_cyclic(|app: &Weak<App>| {
        let on_checkout = {
            let app = Weak::clone(app);
            otel_browser::interaction::traced(&tracer, move |_event, cx| {
                let app = app.upgrade();
                async move {
                    if let Some(app) = app {
                        app.checkout(cx).await;
                    }
                }
            })
        };
        let app = Weak::clone(app);
        App {
            state: RefCell::default(),
            view: View::new(
                move |msg| {
                    if let Some(app) = app.upgrade() {
                        app.update(msg);
                    }
                },
                on_checkout,
            ),
            api: Api::new(FetchInstrumentation::new(tracer.clone()), String::new()),
            tracer,
            jaeger_ui: config.jaeger_ui,
            sampled: share != "100",
            _errors: errors,
            _vitals: vitals,
            _telemetry: telemetry,
        }
    });
    app.view.set_card(checkout_api::test_cards::APPROVED);
    if app.sampled {
        app.view.set_share(&share);
    }
    app.render();
    page_load.rendered();
    spawn_local(Rc::clone(&app).load_catalog());
    PAGE.with(|page| *page.borrow_mut() = Some(app));
}

/// After a panic the module is dead (`panic = "abort"`): otel-browser's hook has recorded it and
/// logged it to the console; the shopper gets a plain message instead of a page that no longer
/// answers.
fn on_panic(_: &std::panic::PanicHookInfo<'_>) {
    crate::view::show_crash();
}

impl App {
    fn update(self: Rc<Self>, msg: Msg) {
        if let Msg::UseCard(number) = msg {
            self.view.set_card(number);
        } else if self.state.borrow_mut().update(msg) {
            self.render();
        }
    }

    fn render(&self) {
        self.view.render(&self.state.borrow());
    }

    /// A span of the page's own, started at `start`, child of `parent` (a root when it is empty).
    fn span(
        &self,
        name: &'static str,
        parent: &Context,
        start: SystemTime,
        attributes: Vec<KeyValue>,
    ) -> Context {
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, parent);
        parent.with_span(span)
    }

    /// Loads the catalog in a trace of its own.
    async fn load_catalog(self: Rc<Self>) {
        let cx = self.span(
            semconv::SPAN_CATALOG_LOAD,
            &Context::new(),
            clock::now(),
            Vec::new(),
        );
        match self.api.products(&cx).await {
            Ok(products) => {
                cx.span()
                    .set_attribute(KeyValue::new(semconv::PRODUCT_COUNT, products.len() as i64));
                self.state.borrow_mut().products = products;
                self.render();
            }
            Err(error) => {
                set_error(&cx.span(), error.error_type(), "catalog unavailable".into());
                self.view.show_result(
                    Outcome::Error,
                    &[
                        "The shop is unreachable (",
                        &describe(&error),
                        "). Reload to try again.",
                    ]
                    .concat(),
                );
            }
        }
        cx.span().end_with_timestamp(clock::now());
    }

    /// The click (`click`, the interaction's span, is `click_cx`'s): a span `checkout` around the
    /// POST, then the result and the trace link.
    async fn checkout(self: Rc<Self>, click_cx: Context) {
        let clicked = clock::now();
        let Some(order) = self.state.borrow_mut().begin_checkout() else {
            return;
        };
        self.render();
        self.view
            .show_result(Outcome::Pending, "Placing your order…");

        let cx = self.span(
            semconv::SPAN_CHECKOUT,
            &click_cx,
            clicked,
            vec![
                KeyValue::new(semconv::CHECKOUT_ITEM_COUNT, order.item_count),
                KeyValue::new(semconv::CHECKOUT_TOTAL_CENTS, order.total_cents),
            ],
        );
        let trace_id = otel_browser::text::hex(&cx.span().span_context().trace_id().to_bytes());
        let (answer, exchange) = self.api.checkout(&cx, &self.checkout_request(order)).await;
        let failed = answer.is_err();
        match answer {
            Ok(placed) => {
                cx.span().set_attribute(KeyValue::new(
                    semconv::CHECKOUT_ORDER_ID,
                    placed.order_id.clone(),
                ));
                self.state.borrow_mut().placed();
                self.view.show_result(
                    Outcome::Ok,
                    &[
                        "Order ",
                        &placed.order_id,
                        " placed. Total ",
                        &format_cents(placed.total_cents),
                        ".",
                    ]
                    .concat(),
                );
            }
            Err(error) => self.checkout_failed(&cx, error),
        }
        self.view.show_trace(
            &trace_id,
            &[&self.jaeger_ui, "/trace/", &trace_id].concat(),
            self.sampled && !failed,
        );
        let done = clock::now();
        cx.span().end_with_timestamp(done);
        if let Some(exchange) = exchange {
            self.view
                .show_waterfall(&waterfall::bars(clicked, done, &exchange));
        }
        self.state.borrow_mut().finish_checkout();
        self.render();
    }

    /// The body of the checkout: the order's lines and the form. The card and email go to the
    /// server only: never onto a span.
    fn checkout_request(&self, order: Order) -> CheckoutRequest {
        let form = self.view.form();
        CheckoutRequest {
            items: order.items,
            card: CardRequest {
                number: form.number,
                expiry: form.expiry,
                cvc: form.cvc,
            },
            email: form.email,
        }
    }

    /// A refused or failed checkout: on the span (its `error.type` and status), and for the
    /// shopper, in the server's words when it gave some.
    fn checkout_failed(&self, cx: &Context, error: ApiError) {
        let description = match &error {
            ApiError::Network(_) => "network error".to_owned(),
            other => describe(other),
        };
        set_error(&cx.span(), error.error_type(), description.into());
        let message = match error {
            ApiError::Rejected {
                body: Some(body), ..
            } => body.error.message,
            ApiError::Network(_) => ["Could not reach the shop: ", &describe(&error)].concat(),
            other => ["The order failed (", &describe(&other), ")."].concat(),
        };
        self.view.show_result(Outcome::Error, &message);
    }
}

/// A short description of a failed call, for the shopper.
fn describe(error: &ApiError) -> String {
    match error {
        ApiError::Network(message) => message.clone(),
        ApiError::Rejected { status, .. } | ApiError::Unexpected(status) => {
            ["HTTP ", &otel_browser::text::decimal((*status).into())].concat()
        }
        ApiError::Encode => "the order could not be encoded".to_owned(),
    }
}
