//! The `checkout-api` bodies to and from the browser's own JSON values, written out by hand.
//!
//! serde through `serde-wasm-bindgen` cost the page 21.3 KB gzipped (BENCHMARKS.md, "Page size"):
//! its error paths format floats, and every visitor ships its own messages. The page reads three
//! bodies and writes one; here each is a few lines over `Reflect`, the types stay `checkout-api`'s,
//! and the names are the ones serde uses (`checkout-api`'s tests hold `ErrorCode::as_str` and
//! `OrderStatus::as_str` to serde's spelling; the browser tests read real answers with these).
//! A body that does not have the contract's shape reads as `None`.

use checkout_api::{
    CheckoutRequest, ErrorBody, ErrorCode, ErrorDetail, OrderPlaced, OrderStatus, Product,
};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

/// The largest integer a JSON number (an `f64`) holds exactly: 2^53 - 1.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A body the page reads.
pub trait FromJson: Sized {
    /// The value parsed from JSON by the browser, if it has this body's shape.
    fn from_json(value: &JsValue) -> Option<Self>;
}

fn field(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string(object: &JsValue, key: &str) -> Option<String> {
    field(object, key).as_string()
}

/// A whole number within what a JSON number holds exactly.
fn integer(object: &JsValue, key: &str) -> Option<i64> {
    let number = field(object, key).as_f64()?;
    (number.fract() == 0.0 && number.abs() <= MAX_SAFE_INTEGER).then_some(number as i64)
}

impl FromJson for Product {
    fn from_json(value: &JsValue) -> Option<Self> {
        Some(Self {
            id: integer(value, "id")?,
            name: string(value, "name")?,
            description: string(value, "description")?,
            price_cents: integer(value, "price_cents")?,
            stock: integer(value, "stock")?,
        })
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &JsValue) -> Option<Self> {
        if !Array::is_array(value) {
            return None;
        }
        Array::from(value)
            .iter()
            .map(|v| T::from_json(&v))
            .collect()
    }
}

impl FromJson for OrderPlaced {
    fn from_json(value: &JsValue) -> Option<Self> {
        Some(Self {
            order_id: string(value, "order_id")?,
            total_cents: integer(value, "total_cents")?,
            status: OrderStatus::parse(&string(value, "status")?)?,
            trace_id: string(value, "trace_id")?,
        })
    }
}

impl FromJson for ErrorBody {
    fn from_json(value: &JsValue) -> Option<Self> {
        let error = field(value, "error");
        Some(Self {
            error: ErrorDetail {
                code: ErrorCode::parse(&string(&error, "code")?),
                message: string(&error, "message")?,
                field: string(&error, "field"),
            },
        })
    }
}

/// `request` as the browser's JSON value, for `JSON.stringify`.
pub fn checkout_request(request: &CheckoutRequest) -> Result<JsValue, JsValue> {
    let items = Array::new();
    for item in &request.items {
        items.push(&object(&[
            ("product_id", JsValue::from_f64(item.product_id as f64)),
            ("quantity", JsValue::from_f64(item.quantity as f64)),
        ])?);
    }
    let card = object(&[
        ("number", JsValue::from_str(&request.card.number)),
        ("expiry", JsValue::from_str(&request.card.expiry)),
        ("cvc", JsValue::from_str(&request.card.cvc)),
    ])?;
    object(&[
        ("items", items.into()),
        ("card", card),
        ("email", JsValue::from_str(&request.email)),
    ])
}

fn object(fields: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let object = Object::new();
    for (key, value) in fields {
        Reflect::set(&object, &JsValue::from_str(key), value)?;
    }
    Ok(object.into())
}
