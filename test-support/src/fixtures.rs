//! What tests, benches and drills pay with, built from `checkout-api`'s types: the simulated
//! gateway's test cards (defined once, in [`checkout_api::test_cards`]), an expiry, a CVC and an
//! email distinctive enough to search every span and log line for, and a checkout body.

pub use checkout_api::test_cards;
use checkout_api::{CardRequest, CheckoutRequest, LineItemRequest};

/// An expiry years ahead.
pub const EXPIRY: &str = "12/34";
/// A CVC that occurs in no id by chance as a whole token (see [`CardData`](crate::secrets::CardData)).
pub const CVC: &str = "9317";
/// The customer's email.
pub const EMAIL: &str = "grace.hopper@example.com";

/// A checkout of `items` (product id, quantity) paid with `card` (one of [`test_cards`]).
pub fn checkout(items: &[(i64, i64)], card: &str) -> CheckoutRequest {
    CheckoutRequest {
        items: items
            .iter()
            .map(|&(product_id, quantity)| LineItemRequest {
                product_id,
                quantity,
            })
            .collect(),
        card: CardRequest {
            number: card.to_owned(),
            expiry: EXPIRY.to_owned(),
            cvc: CVC.to_owned(),
        },
        email: EMAIL.to_owned(),
    }
}

/// [`checkout`] as JSON, for a test that then breaks a field of it.
pub fn checkout_json(items: &[(i64, i64)], card: &str) -> serde_json::Value {
    serde_json::to_value(checkout(items, card)).expect("a checkout body is JSON")
}
