//! Typed helpers over `web_sys`, so the app reads as what it does.

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{Document, Element, Event, EventTarget, HtmlElement, HtmlInputElement, Node};

/// The page's document.
pub fn document() -> Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a page has a document")
}

/// The element with `id`, as `T`.
pub fn by_id<T: JsCast>(id: &str) -> Result<T, JsValue> {
    document()
        .get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&["#", id, " is missing from the page"].concat()))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&["#", id, " has an unexpected type"].concat()))
}

/// The value of the input with `id` (empty if it is missing).
pub fn input_value(id: &str) -> String {
    by_id::<HtmlInputElement>(id)
        .map(|i| i.value())
        .unwrap_or_default()
}

/// Sets the value of the input with `id`.
pub fn set_input_value(id: &str, value: &str) {
    if let Ok(input) = by_id::<HtmlInputElement>(id) {
        input.set_value(value);
    }
}

/// A new element `<tag class="…">` with `text`.
pub fn element(tag: &str, class: &str, text: &str) -> Result<HtmlElement, JsValue> {
    let el: HtmlElement = document().create_element(tag)?.dyn_into()?;
    if !class.is_empty() {
        el.set_class_name(class);
    }
    if !text.is_empty() {
        el.set_text_content(Some(text));
    }
    Ok(el)
}

/// Creates `<tag class="…">` with `text` as the last child of `parent`.
pub fn append(parent: &Node, tag: &str, class: &str, text: &str) -> Result<HtmlElement, JsValue> {
    let child = element(tag, class, text)?;
    parent.append_child(&child)?;
    Ok(child)
}

/// Sets attribute `name` on `el`, ignoring failures (attribute names here are constants).
pub fn set_attr(el: &Element, name: &str, value: &str) {
    let _ = el.set_attribute(name, value);
}

/// The element the event happened in, or its nearest ancestor, that matches `selector`.
pub fn closest(event: &Event, selector: &str) -> Option<Element> {
    event
        .target()?
        .dyn_into::<Element>()
        .ok()?
        .closest(selector)
        .ok()?
}

/// An event listener that is removed when this is dropped (never `forget()`-ed).
pub struct Listener {
    target: EventTarget,
    event: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Listener {
    /// Listens for `event` on `target`.
    pub fn new(
        target: &EventTarget,
        event: &'static str,
        handler: impl FnMut(Event) + 'static,
    ) -> Result<Self, JsValue> {
        Self::with_closure(target, event, Closure::<dyn FnMut(Event)>::new(handler))
    }

    /// Listens for `event` on `target` with a closure made elsewhere (an instrumentation's).
    pub fn with_closure(
        target: &EventTarget,
        event: &'static str,
        callback: Closure<dyn FnMut(Event)>,
    ) -> Result<Self, JsValue> {
        target.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref())?;
        Ok(Self {
            target: target.clone(),
            event,
            callback,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}
