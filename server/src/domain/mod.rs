//! Domain types: input is parsed once into these, so the rest of the server only sees valid values.
//!
//! Secrets (card number, CVC, email) are newtypes whose `Debug` prints nothing of the value, so a stray
//! `{:?}` in a log line or span cannot leak them.

mod card;
mod checkout;
mod email;

pub use card::{CardBrand, CardNumber, Cvc, Expiry, YearMonth};
pub use checkout::{Checkout, CheckoutRequest, LineItem, MAX_LINE_ITEMS, MAX_QUANTITY};
pub use email::Email;

/// Why a piece of input was refused: the JSON path of the field and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The JSON path of the offending field, e.g. `items[0].quantity`.
    pub field: String,
    /// What is wrong, in plain words; never echoes a secret.
    pub message: String,
}

impl Invalid {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
