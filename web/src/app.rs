//! The page: state, rendering, event handlers, and the checkout flow with its root span.

use std::{cell::RefCell, rc::Rc};

use opentelemetry::{
    Context, KeyValue,
    trace::{SpanKind, Status, TraceContextExt, Tracer as _},
};
use opentelemetry_sdk::trace::{IdGenerator as _, SdkTracer};
use otel_browser::{BrowserTelemetry, clock, ids::CryptoIdGenerator};
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlAnchorElement, HtmlButtonElement, HtmlElement};

use crate::{
    api::Api,
    cart::{Cart, Product, format_cents},
    dom::{self, Listener},
};

/// The approving and declining test cards the form offers.
const CARD_APPROVING: &str = "4242 4242 4242 4242";
const CARD_DECLINING: &str = "4000 0000 0000 0002";
const SESSION_KEY: &str = "checkout.session_id";

/// Settings read from `<meta name="checkout:…">` tags, so a deployment can change them without a build.
struct PageConfig {
    jaeger_ui: String,
    otlp_endpoint: String,
    service_name: String,
}

impl PageConfig {
    fn from_document() -> Self {
        let meta = |name: &str, default: &str| {
            dom::document()
                .query_selector(&format!("meta[name='checkout:{name}']"))
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
            otlp_endpoint: meta("otlp-endpoint", "/v1/traces"),
            service_name: meta("service-name", "checkout-web"),
        }
    }
}

#[derive(Default)]
struct State {
    products: Vec<Product>,
    cart: Cart,
    busy: bool,
}

struct App {
    state: RefCell<State>,
    api: Api,
    tracer: SdkTracer,
    session_id: String,
    config: PageConfig,
    // Owned for the page's life: the exporter's lifecycle listeners and the page's own.
    _telemetry: BrowserTelemetry,
    listeners: RefCell<Vec<Listener>>,
}

thread_local! {
    /// The page, kept alive for as long as the document lives.
    static PAGE: RefCell<Option<Rc<App>>> = const { RefCell::new(None) };
}

/// Installs telemetry, wires the page and loads the catalog.
pub fn run() -> Result<(), JsValue> {
    let config = PageConfig::from_document();
    let telemetry = BrowserTelemetry::install(otel_browser::Config {
        service_name: config.service_name.clone().into(),
        service_version: env!("CARGO_PKG_VERSION").into(),
        endpoint: config.otlp_endpoint.clone().into(),
        ..Default::default()
    });
    let tracer = telemetry.tracer("checkout-web");
    let session_id = session_id();
    let app = Rc::new(App {
        state: RefCell::default(),
        api: Api::new(tracer.clone(), session_id.clone(), String::new()),
        tracer,
        session_id,
        config,
        _telemetry: telemetry,
        listeners: RefCell::default(),
    });
    dom::set_input_value("card-number", CARD_APPROVING);
    app.attach()?;
    app.render();
    spawn_local(Rc::clone(&app).load_catalog());
    PAGE.with(|page| *page.borrow_mut() = Some(app));
    Ok(())
}

/// A random id for this browser tab, kept in sessionStorage so reloads share it.
fn session_id() -> String {
    let storage = web_sys::window().and_then(|w| w.session_storage().ok().flatten());
    if let Some(existing) = storage
        .as_ref()
        .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
    {
        return existing;
    }
    let id = CryptoIdGenerator.new_trace_id().to_string();
    if let Some(storage) = storage {
        let _ = storage.set_item(SESSION_KEY, &id);
    }
    id
}

impl App {
    fn attach(self: &Rc<Self>) -> Result<(), JsValue> {
        let mut listeners = self.listeners.borrow_mut();
        let on = |id: &str,
                  handler: Box<dyn Fn(&Rc<App>, web_sys::Event)>|
         -> Result<Listener, JsValue> {
            let app = Rc::downgrade(self);
            let target: HtmlElement = dom::by_id(id)?;
            Listener::new(&target, "click", move |event| {
                if let Some(app) = app.upgrade() {
                    handler(&app, event);
                }
            })
        };
        listeners.push(on(
            "products",
            Box::new(|app, event| {
                if let Some(button) = dom::closest(&event, "[data-action='add']") {
                    app.add(
                        button
                            .get_attribute("data-id")
                            .and_then(|id| id.parse().ok()),
                    );
                }
            }),
        )?);
        listeners.push(on(
            "cart-lines",
            Box::new(|app, event| {
                let Some(button) = dom::closest(&event, "[data-action]") else {
                    return;
                };
                let id = button
                    .get_attribute("data-id")
                    .and_then(|id| id.parse::<i64>().ok());
                match button.get_attribute("data-action").as_deref() {
                    Some("inc") => app.add(id),
                    Some("dec") => {
                        if let Some(id) = id {
                            app.state.borrow_mut().cart.remove_one(id);
                            app.render();
                        }
                    }
                    _ => {}
                }
            }),
        )?);
        listeners.push(on(
            "card-approve",
            Box::new(|_, _| dom::set_input_value("card-number", CARD_APPROVING)),
        )?);
        listeners.push(on(
            "card-decline",
            Box::new(|_, _| dom::set_input_value("card-number", CARD_DECLINING)),
        )?);
        listeners.push(on(
            "checkout",
            Box::new(|app, _| spawn_local(Rc::clone(app).checkout())),
        )?);
        Ok(())
    }

    /// Loads the catalog in a trace of its own.
    async fn load_catalog(self: Rc<Self>) {
        let span = self
            .tracer
            .span_builder("catalog.load")
            .with_kind(SpanKind::Internal)
            .with_start_time(clock::now())
            .with_attributes(vec![KeyValue::new("session.id", self.session_id.clone())])
            .start_with_context(&self.tracer, &Context::new());
        let cx = Context::new().with_span(span);
        match self.api.products(&cx).await {
            Ok(products) => {
                cx.span()
                    .set_attribute(KeyValue::new("product.count", products.len() as i64));
                self.state.borrow_mut().products = products;
                self.render();
            }
            Err(error) => {
                cx.span().set_status(Status::error("catalog unavailable"));
                show_result(
                    "error",
                    &format!(
                        "The shop is unreachable ({}). Reload to try again.",
                        error.0
                    ),
                );
            }
        }
        cx.span().end_with_timestamp(clock::now());
    }

    fn add(&self, product_id: Option<i64>) {
        let Some(product_id) = product_id else { return };
        {
            let mut state = self.state.borrow_mut();
            let State { products, cart, .. } = &mut *state;
            if let Some(product) = products.iter().find(|p| p.id == product_id) {
                cart.add(product);
            }
        }
        self.render();
    }

    /// The click: a root span `checkout` around the POST, then the result and the trace link.
    async fn checkout(self: Rc<Self>) {
        let (lines, item_count, total_cents) = {
            let mut state = self.state.borrow_mut();
            if state.busy || state.cart.is_empty() {
                return;
            }
            state.busy = true;
            (
                state.cart.lines().to_vec(),
                state.cart.item_count(),
                state.cart.total_cents(&state.products),
            )
        };
        self.render();
        show_result("pending", "Placing your order…");

        let root = self
            .tracer
            .span_builder("checkout")
            .with_kind(SpanKind::Internal)
            .with_start_time(clock::now())
            .with_attributes(vec![
                KeyValue::new("checkout.item_count", item_count),
                KeyValue::new("checkout.total_cents", total_cents),
                KeyValue::new("session.id", self.session_id.clone()),
            ])
            .start_with_context(&self.tracer, &Context::new());
        let cx = Context::new().with_span(root);
        let trace_id = cx.span().span_context().trace_id().to_string();

        // The card and email go to the server only: never onto a span.
        let body = json!({
            "items": lines,
            "card": {
                "number": dom::input_value("card-number"),
                "expiry": dom::input_value("card-expiry"),
                "cvc": dom::input_value("card-cvc"),
            },
            "email": dom::input_value("email"),
        });
        match self.api.checkout(&cx, body).await {
            Ok(answer) if answer.status == 201 => {
                let order_id = answer.body["order_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let total = answer.body["total_cents"].as_i64().unwrap_or(total_cents);
                cx.span()
                    .set_attribute(KeyValue::new("checkout.order_id", order_id.clone()));
                {
                    let mut state = self.state.borrow_mut();
                    let State { products, cart, .. } = &mut *state;
                    for line in cart.lines() {
                        if let Some(product) = products.iter_mut().find(|p| p.id == line.product_id)
                        {
                            product.stock -= line.quantity;
                        }
                    }
                    cart.clear();
                }
                show_result(
                    "ok",
                    &format!("Order {order_id} placed. Total {}.", format_cents(total)),
                );
            }
            Ok(answer) => {
                let message = answer.body["error"]["message"].as_str().map_or_else(
                    || format!("The order failed (HTTP {}).", answer.status),
                    str::to_owned,
                );
                cx.span()
                    .set_status(Status::error(format!("HTTP {}", answer.status)));
                show_result("error", &message);
            }
            Err(error) => {
                cx.span().set_status(Status::error("network error"));
                show_result("error", &format!("Could not reach the shop: {}", error.0));
            }
        }
        self.show_trace(&trace_id);
        cx.span().end_with_timestamp(clock::now());
        self.state.borrow_mut().busy = false;
        self.render();
    }

    fn show_trace(&self, trace_id: &str) {
        if let Ok(el) = dom::by_id::<HtmlElement>("trace-id") {
            el.set_text_content(Some(trace_id));
        }
        if let Ok(link) = dom::by_id::<HtmlAnchorElement>("trace-link") {
            link.set_href(&format!("{}/trace/{trace_id}", self.config.jaeger_ui));
            let _ = link.remove_attribute("hidden");
        }
        if let Ok(panel) = dom::by_id::<HtmlElement>("trace") {
            let _ = panel.remove_attribute("hidden");
        }
    }

    fn render(&self) {
        let state = self.state.borrow();
        let _ = render_products(&state);
        let _ = render_cart(&state);
        if let Ok(button) = dom::by_id::<HtmlButtonElement>("checkout") {
            button.set_disabled(state.busy || state.cart.is_empty());
            button.set_text_content(Some(if state.busy {
                "Placing order…"
            } else {
                "Checkout"
            }));
            dom::set_attr(
                &button,
                "aria-busy",
                if state.busy { "true" } else { "false" },
            );
        }
    }
}

fn render_products(state: &State) -> Result<(), JsValue> {
    let list: HtmlElement = dom::by_id("products")?;
    list.set_inner_html("");
    for product in &state.products {
        let row = dom::element("li", "product", "")?;
        dom::set_attr(&row, "data-testid", &format!("product-{}", product.id));
        let info = dom::element("div", "product-info", "")?;
        dom::append(&info, "h3", "", &product.name)?;
        dom::append(&info, "p", "muted", &product.description)?;
        row.append_child(&info)?;
        let left = product.stock - state.cart.quantity_of(product.id);
        let stock = if product.stock > 0 {
            format!("{} in stock", product.stock)
        } else {
            "Sold out".to_owned()
        };
        dom::append(&row, "span", "stock", &stock)?;
        dom::append(&row, "span", "price", &format_cents(product.price_cents))?;
        let add = dom::element("button", "add", "Add")?;
        dom::set_attr(&add, "type", "button");
        dom::set_attr(&add, "data-action", "add");
        dom::set_attr(&add, "data-id", &product.id.to_string());
        dom::set_attr(&add, "data-testid", &format!("add-{}", product.id));
        dom::set_attr(
            &add,
            "aria-label",
            &format!("Add {} to the cart", product.name),
        );
        if left <= 0 {
            dom::set_attr(&add, "disabled", "");
        }
        row.append_child(&add)?;
        list.append_child(&row)?;
    }
    Ok(())
}

fn render_cart(state: &State) -> Result<(), JsValue> {
    let list: HtmlElement = dom::by_id("cart-lines")?;
    list.set_inner_html("");
    if state.cart.is_empty() {
        dom::append(&list, "li", "muted", "Your cart is empty.")?;
    }
    for line in state.cart.lines() {
        let Some(product) = state.products.iter().find(|p| p.id == line.product_id) else {
            continue;
        };
        let row = dom::element("li", "cart-line", "")?;
        dom::set_attr(&row, "data-testid", &format!("cart-{}", product.id));
        dom::append(&row, "span", "name", &product.name)?;
        let qty = dom::element("span", "qty", "")?;
        for (action, label, text) in [("dec", "One less", "−"), ("inc", "One more", "+")] {
            let button = dom::element("button", "qty-button", text)?;
            dom::set_attr(&button, "type", "button");
            dom::set_attr(&button, "data-action", action);
            dom::set_attr(&button, "data-id", &product.id.to_string());
            dom::set_attr(&button, "aria-label", &format!("{label}: {}", product.name));
            if action == "inc" {
                dom::append(&qty, "span", "count", &line.quantity.to_string())?;
            }
            qty.append_child(&button)?;
        }
        row.append_child(&qty)?;
        dom::append(
            &row,
            "span",
            "line-total",
            &format_cents(product.price_cents * line.quantity),
        )?;
        list.append_child(&row)?;
    }
    let total: HtmlElement = dom::by_id("cart-total")?;
    total.set_text_content(Some(&format_cents(state.cart.total_cents(&state.products))));
    Ok(())
}

/// Shows the outcome in the result area; `status` is `ok`, `error` or `pending`.
fn show_result(status: &str, message: &str) {
    if let Ok(result) = dom::by_id::<HtmlElement>("result") {
        result.set_text_content(Some(message));
        if status == "pending" {
            let _ = result.remove_attribute("data-status");
        } else {
            dom::set_attr(&result, "data-status", status);
        }
        result.set_class_name(&format!("result {status}"));
        let _ = result
            .unchecked_ref::<web_sys::Element>()
            .remove_attribute("hidden");
    }
}
