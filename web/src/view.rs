//! The view: draws the controller's [`State`] into the page and turns clicks into typed [`Msg`]s
//! for it (`app.rs`). It never changes the state itself.
//!
//! Clicks are delegated: one listener per region of the page. Each button the view draws is
//! remembered with the message it stands for, so a click is looked up, never parsed from strings.

use std::{cell::RefCell, rc::Rc};

use checkout_api::test_cards;

use wasm_bindgen::{JsValue, closure::Closure};
use web_sys::{Element, Event, HtmlAnchorElement, HtmlButtonElement, HtmlElement};

use crate::{
    cart::format_cents,
    dom::{self, Listener},
    state::{Msg, State},
    waterfall::{self, Bar},
};

/// The outcome shown in the result area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Waiting for the server.
    Pending,
    /// The checkout went through.
    Ok,
    /// Failed; the message says why.
    Error,
}

/// The checkout form as typed.
pub struct Form {
    pub number: String,
    /// `MM/YY`.
    pub expiry: String,
    pub cvc: String,
    pub email: String,
}

/// The page's DOM, and the listeners that feed the controller.
pub struct View {
    /// The buttons of the current rendering of the catalog and the cart, and what each one means.
    drawn: Rc<RefCell<Vec<(Element, Msg)>>>,
    _listeners: Vec<Listener>,
}

impl View {
    /// Wires the page: every click on a drawn button becomes `dispatch(msg)`; the checkout
    /// button's clicks go to `on_checkout` (the controller's, wrapped in an interaction span).
    pub fn new(dispatch: impl Fn(Msg) + 'static, on_checkout: Closure<dyn FnMut(Event)>) -> Self {
        let fixed: Rc<[(Element, Msg)]> = [
            ("card-approve", Msg::UseCard(test_cards::APPROVED)),
            ("card-decline", Msg::UseCard(test_cards::DECLINED)),
        ]
        .into_iter()
        .filter_map(|(id, msg)| Some((dom::by_id::<Element>(id).ok()?, msg)))
        .collect();
        let drawn: Rc<RefCell<Vec<(Element, Msg)>>> = Rc::default();
        let dispatch = Rc::new(dispatch);
        let on_click = {
            let drawn = Rc::clone(&drawn);
            move |event: Event| {
                let Some(button) = dom::closest(&event, "button") else {
                    return;
                };
                let msg = fixed
                    .iter()
                    .chain(drawn.borrow().iter())
                    .find(|(el, _)| *el == button)
                    .map(|(_, msg)| *msg);
                // The borrow of `drawn` has ended: the controller may render.
                if let Some(msg) = msg {
                    dispatch(msg);
                }
            }
        };
        let mut listeners: Vec<Listener> = ["products", "cart-lines", "payment"]
            .into_iter()
            .filter_map(|id| {
                let region = dom::by_id::<Element>(id).ok()?;
                Listener::new(&region, "click", on_click.clone()).ok()
            })
            .collect();
        if let Ok(button) = dom::by_id::<Element>("checkout") {
            listeners.extend(Listener::with_closure(&button, "click", on_checkout).ok());
        }
        Self {
            drawn,
            _listeners: listeners,
        }
    }

    /// Draws the catalog, the cart and the checkout button.
    pub fn render(&self, state: &State) {
        let mut drawn = self.drawn.borrow_mut();
        drawn.clear();
        let _ = render_products(state, &mut drawn);
        let _ = render_cart(state, &mut drawn);
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

    /// The card, expiry, CVC and email as typed.
    pub fn form(&self) -> Form {
        Form {
            number: dom::input_value("card-number"),
            expiry: dom::input_value("card-expiry"),
            cvc: dom::input_value("card-cvc"),
            email: dom::input_value("email"),
        }
    }

    /// Puts `number` in the card field.
    pub fn set_card(&self, number: &str) {
        dom::set_input_value("card-number", number);
    }

    /// Shows the outcome in the result area (`data-status` is `ok` or `error` once settled).
    pub fn show_result(&self, outcome: Outcome, message: &str) {
        let Ok(result) = dom::by_id::<HtmlElement>("result") else {
            return;
        };
        result.set_text_content(Some(message));
        let status = match outcome {
            Outcome::Pending => "pending",
            Outcome::Ok => "ok",
            Outcome::Error => "error",
        };
        if outcome == Outcome::Pending {
            let _ = result.remove_attribute("data-status");
        } else {
            dom::set_attr(&result, "data-status", status);
        }
        result.set_class_name(&["result ", status].concat());
        let _ = result.remove_attribute("hidden");
    }

    /// Draws the checkout's trace as a waterfall: one row per bar, on one axis from the click.
    pub fn show_waterfall(&self, bars: &[Bar]) {
        let Ok(chart) = dom::by_id::<HtmlElement>("waterfall") else {
            return;
        };
        chart.set_inner_html("");
        let end = bars.iter().map(Bar::end_us).max().unwrap_or(1);
        for bar in bars {
            let _ = draw_bar(&chart, bar, end);
        }
        let _ = chart.remove_attribute("hidden");
    }

    /// The share of ordinary traces the collectors keep, in the trace link's note.
    pub fn set_share(&self, percent: &str) {
        if let Ok(el) = dom::by_id::<HtmlElement>("trace-share") {
            el.set_text_content(Some(percent));
        }
    }

    /// Shows the trace id and the link to it in Jaeger; `note`: with the note that the trace is
    /// kept only if slow or sampled.
    pub fn show_trace(&self, trace_id: &str, link: &str, note: bool) {
        if let Ok(el) = dom::by_id::<HtmlElement>("trace-id") {
            el.set_text_content(Some(trace_id));
        }
        if let Ok(anchor) = dom::by_id::<HtmlAnchorElement>("trace-link") {
            anchor.set_href(link);
            let _ = anchor.remove_attribute("hidden");
        }
        if let Ok(el) = dom::by_id::<HtmlElement>("trace-note") {
            let _ = if note {
                el.remove_attribute("hidden")
            } else {
                el.set_attribute("hidden", "")
            };
        }
        if let Ok(panel) = dom::by_id::<HtmlElement>("trace") {
            let _ = panel.remove_attribute("hidden");
        }
    }
}

/// One row: the label, the bar on a track as wide as the whole trace, the duration.
fn draw_bar(chart: &HtmlElement, bar: &Bar, end_us: i64) -> Result<(), JsValue> {
    let row = dom::append(chart, "div", "wf-row", "")?;
    dom::set_attr(&row, "data-testid", "waterfall-row");
    dom::set_attr(&row, "data-name", &bar.name);
    dom::set_attr(
        &row,
        "data-start-us",
        &otel_browser::text::decimal(bar.start_us),
    );
    dom::set_attr(
        &row,
        "data-end-us",
        &otel_browser::text::decimal(bar.end_us()),
    );
    dom::set_attr(&row, "data-error", if bar.error { "true" } else { "false" });
    dom::append(&row, "span", "wf-label", &bar.label)?;
    let track = dom::append(&row, "span", "wf-track", "")?;
    let class = if bar.error { "wf-bar error" } else { "wf-bar" };
    let fill = dom::append(&track, "span", class, "")?;
    // Through the CSSOM: the page's Content-Security-Policy (web/nginx.conf) refuses `style`
    // attributes, as it refuses every inline style (CSP Level 3, "style-src-attr"), not this.
    let style = fill.style();
    let _ = style.set_property("margin-left", &waterfall::percent(bar.start_us, end_us));
    let _ = style.set_property("width", &waterfall::percent(bar.duration_us, end_us));
    dom::append(
        &row,
        "span",
        "wf-ms",
        &waterfall::format_ms(bar.duration_us),
    )?;
    Ok(())
}

fn render_products(state: &State, targets: &mut Vec<(Element, Msg)>) -> Result<(), JsValue> {
    let list: HtmlElement = dom::by_id("products")?;
    list.set_inner_html("");
    for product in &state.products {
        let id = otel_browser::text::decimal(product.id);
        let row = dom::append(&list, "li", "product", "")?;
        dom::set_attr(&row, "data-testid", &["product-", &id].concat());
        let info = dom::append(&row, "div", "product-info", "")?;
        dom::append(&info, "h3", "", &product.name)?;
        dom::append(&info, "p", "muted", &product.description)?;
        let stock = if product.stock > 0 {
            [&otel_browser::text::decimal(product.stock), " in stock"].concat()
        } else {
            "Sold out".to_owned()
        };
        dom::append(&row, "span", "stock", &stock)?;
        dom::append(&row, "span", "price", &format_cents(product.price_cents))?;
        let add = dom::append(&row, "button", "add", "Add")?;
        dom::set_attr(&add, "type", "button");
        dom::set_attr(&add, "data-testid", &["add-", &id].concat());
        dom::set_attr(
            &add,
            "aria-label",
            &["Add ", &product.name, " to the cart"].concat(),
        );
        if product.stock - state.cart.quantity_of(product.id) <= 0 {
            dom::set_attr(&add, "disabled", "");
        }
        targets.push((add.into(), Msg::Add(product.id)));
    }
    Ok(())
}

fn render_cart(state: &State, targets: &mut Vec<(Element, Msg)>) -> Result<(), JsValue> {
    let list: HtmlElement = dom::by_id("cart-lines")?;
    list.set_inner_html("");
    if state.cart.is_empty() {
        dom::append(&list, "li", "muted", "Your cart is empty.")?;
    }
    for line in state.cart.lines() {
        let Some(product) = state.products.iter().find(|p| p.id == line.product_id) else {
            continue;
        };
        let row = dom::append(&list, "li", "cart-line", "")?;
        dom::set_attr(
            &row,
            "data-testid",
            &["cart-", &otel_browser::text::decimal(product.id)].concat(),
        );
        dom::append(&row, "span", "name", &product.name)?;
        let qty = dom::append(&row, "span", "qty", "")?;
        for (msg, label, text) in [
            (Msg::RemoveOne(product.id), "One less: ", "−"),
            (Msg::Add(product.id), "One more: ", "+"),
        ] {
            if msg == Msg::Add(product.id) {
                dom::append(
                    &qty,
                    "span",
                    "count",
                    &otel_browser::text::decimal(line.quantity),
                )?;
            }
            let button = dom::append(&qty, "button", "qty-button", text)?;
            dom::set_attr(&button, "type", "button");
            dom::set_attr(&button, "aria-label", &[label, &product.name].concat());
            targets.push((button.into(), msg));
        }
        dom::append(
            &row,
            "span",
            "line-total",
            &format_cents(product.price_cents * line.quantity),
        )?;
    }
    let total: HtmlElement = dom::by_id("cart-total")?;
    total.set_text_content(Some(&format_cents(state.cart.total_cents(&state.products))));
    Ok(())
}

/// The page has crashed (a panic): a plain message in the result area, and no more checkout.
/// Straight on the DOM, as the view's own state may be mid-change.
pub fn show_crash() {
    if let Ok(button) = dom::by_id::<HtmlButtonElement>("checkout") {
        button.set_disabled(true);
    }
    if let Ok(result) = dom::by_id::<HtmlElement>("result") {
        result.set_text_content(Some("Something went wrong on this page. Please reload it."));
        dom::set_attr(&result, "data-status", "error");
        result.set_class_name("result error");
        let _ = result.remove_attribute("hidden");
    }
}
