//! A checkout as it arrives (`CheckoutRequest`, from the shared `checkout-api` crate) and as the
//! server acts on it (`Checkout`).

pub use checkout_api::{CheckoutRequest, MAX_LINE_ITEMS, MAX_QUANTITY};

use super::{CardNumber, Cvc, Email, Expiry, Invalid, YearMonth};

/// A validated checkout: known-good shapes, line items merged by product.
#[derive(Debug)]
pub struct Checkout {
    /// One entry per product, in the order first seen.
    pub items: Vec<LineItem>,
    /// The validated card number.
    pub card: CardNumber,
    /// The validated expiry; kept to show it was checked.
    pub expiry: Expiry,
    /// The validated CVC; only its shape matters to the simulated gateway.
    pub cvc: Cvc,
    /// The customer's email.
    pub email: Email,
}

/// A product and how many of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineItem {
    /// The catalog id.
    pub product_id: i64,
    /// How many, at least 1.
    pub quantity: i64,
    /// Where the product first appears in the request's `items`, for error messages.
    pub index: usize,
}

impl LineItem {
    /// The JSON path of this line's product id in the request.
    pub fn field(&self) -> String {
        format!("items[{}].product_id", self.index)
    }
}

impl Checkout {
    /// Validates every field of `request` as of the month `today`, reporting the first problem found.
    pub fn parse(request: CheckoutRequest, today: YearMonth) -> Result<Self, Invalid> {
        if request.items.is_empty() {
            return Err(Invalid::new("items", "must contain at least one item"));
        }
        if request.items.len() > MAX_LINE_ITEMS {
            return Err(Invalid::new(
                "items",
                format!("must contain at most {MAX_LINE_ITEMS} items"),
            ));
        }
        let mut items: Vec<LineItem> = Vec::with_capacity(request.items.len());
        for (i, item) in request.items.iter().enumerate() {
            if item.product_id <= 0 {
                return Err(Invalid::new(
                    format!("items[{i}].product_id"),
                    "must be a positive product id",
                ));
            }
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                return Err(Invalid::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            match items
                .iter_mut()
                .find(|merged| merged.product_id == item.product_id)
            {
                Some(merged) if merged.quantity + item.quantity > MAX_QUANTITY => {
                    return Err(Invalid::new(
                        format!("items[{i}].quantity"),
                        format!(
                            "at most {MAX_QUANTITY} of one product per order, across all its lines"
                        ),
                    ));
                }
                Some(merged) => merged.quantity += item.quantity,
                None => items.push(LineItem {
                    product_id: item.product_id,
                    quantity: item.quantity,
                    index: i,
                }),
            }
        }
        let card = &request.card;
        Ok(Self {
            items,
            card: CardNumber::parse(&card.number).map_err(|m| Invalid::new("card.number", m))?,
            expiry: Expiry::parse(&card.expiry, today)
                .map_err(|m| Invalid::new("card.expiry", m))?,
            cvc: Cvc::parse(&card.cvc).map_err(|m| Invalid::new("card.cvc", m))?,
            email: Email::parse(&request.email).map_err(|m| Invalid::new("email", m))?,
        })
    }

    /// The distinct product ids, in order.
    pub fn product_ids(&self) -> Vec<i64> {
        self.items.iter().map(|item| item.product_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::fixtures::{self, test_cards};

    const TODAY: YearMonth = YearMonth {
        year: 2026,
        month: 11,
    };

    fn request(items: &[(i64, i64)]) -> CheckoutRequest {
        fixtures::checkout(items, test_cards::APPROVED)
    }

    #[test]
    fn repeated_products_are_merged_into_one_line() {
        let checkout = Checkout::parse(request(&[(1, 2), (3, 1), (1, 5)]), TODAY).expect("valid");
        assert_eq!(
            checkout.items,
            [
                LineItem {
                    product_id: 1,
                    quantity: 7,
                    index: 0
                },
                LineItem {
                    product_id: 3,
                    quantity: 1,
                    index: 1
                }
            ]
        );
    }

    #[test]
    fn each_bad_field_is_named_by_its_json_path() {
        let field = |r| Checkout::parse(r, TODAY).expect_err("invalid").field;
        assert_eq!(field(request(&[])), "items");
        assert_eq!(field(request(&[(1, 0)])), "items[0].quantity");
        assert_eq!(field(request(&[(1, 1), (2, 100)])), "items[1].quantity");
        assert_eq!(
            field(request(&[(1, 99), (1, 1)])),
            "items[1].quantity",
            "merged lines obey the limit"
        );
        assert_eq!(field(request(&[(-4, 1)])), "items[0].product_id");
        let mut r = request(&[(1, 1)]);
        r.card.number = "4242 4242 4242 4241".into();
        assert_eq!(field(r), "card.number");
        let mut r = request(&[(1, 1)]);
        r.card.expiry = "01/20".into();
        assert_eq!(field(r), "card.expiry");
        let mut r = request(&[(1, 1)]);
        r.card.cvc = "12".into();
        assert_eq!(field(r), "card.cvc");
        let mut r = request(&[(1, 1)]);
        r.email = "nobody".into();
        assert_eq!(field(r), "email");
    }
}
