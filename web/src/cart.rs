//! The cart: pure logic, no browser, tested natively.

use checkout_api::{LineItemRequest, MAX_QUANTITY, Product};

/// What the shopper has picked, in the order they picked it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    lines: Vec<LineItemRequest>,
}

impl Cart {
    /// Adds one of `product`, unless that would exceed its stock or the per-order limit.
    /// Returns whether it was added.
    pub fn add(&mut self, product: &Product) -> bool {
        let current = self.quantity_of(product.id);
        if current >= product.stock.min(MAX_QUANTITY) {
            return false;
        }
        match self.lines.iter_mut().find(|l| l.product_id == product.id) {
            Some(line) => line.quantity += 1,
            None => self.lines.push(LineItemRequest {
                product_id: product.id,
                quantity: 1,
            }),
        }
        true
    }

    /// Removes one of `product_id`; the line goes when it reaches zero.
    pub fn remove_one(&mut self, product_id: i64) {
        if let Some(line) = self.lines.iter_mut().find(|l| l.product_id == product_id) {
            line.quantity -= 1;
        }
        self.lines.retain(|l| l.quantity > 0);
    }

    /// How many of `product_id` are in the cart.
    pub fn quantity_of(&self, product_id: i64) -> i64 {
        self.lines
            .iter()
            .find(|l| l.product_id == product_id)
            .map_or(0, |l| l.quantity)
    }

    /// The lines, for the checkout body.
    pub fn lines(&self) -> &[LineItemRequest] {
        &self.lines
    }

    /// Whether nothing is in the cart.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How many items in all.
    pub fn item_count(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// The total in cents at `products`' prices; lines for unknown products count nothing.
    pub fn total_cents(&self, products: &[Product]) -> i64 {
        self.lines
            .iter()
            .filter_map(|line| {
                products
                    .iter()
                    .find(|p| p.id == line.product_id)
                    .map(|p| p.price_cents * line.quantity)
            })
            .sum()
    }

    /// Empties the cart.
    pub fn clear(&mut self) {
        self.lines.clear();
    }
}

/// `2400` → `"$24.00"`. Integer cents all the way: no float, no formatting machinery.
pub fn format_cents(cents: i64) -> String {
    let abs = cents.unsigned_abs();
    let mut text = String::from(if cents < 0 { "-$" } else { "$" });
    text.push_str(&otel_browser::text::decimal((cents / 100).abs()));
    text.push('.');
    let rest = (abs % 100) as u8;
    text.push(char::from(b'0' + rest / 10));
    text.push(char::from(b'0' + rest % 10));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64, price_cents: i64, stock: i64) -> Product {
        Product {
            id,
            name: format!("p{id}"),
            description: String::new(),
            price_cents,
            stock,
        }
    }

    #[test]
    fn totals_sum_price_times_quantity() {
        let products = [product(1, 2400, 10), product(2, 650, 10)];
        let mut cart = Cart::default();
        cart.add(&products[0]);
        cart.add(&products[0]);
        cart.add(&products[1]);
        assert_eq!(cart.total_cents(&products), 2 * 2400 + 650);
        assert_eq!(cart.item_count(), 3);
        assert_eq!(
            cart.lines(),
            [
                LineItemRequest {
                    product_id: 1,
                    quantity: 2
                },
                LineItemRequest {
                    product_id: 2,
                    quantity: 1
                }
            ]
        );
    }

    #[test]
    fn the_cart_never_holds_more_than_the_stock() {
        let scarce = product(3, 100, 2);
        let mut cart = Cart::default();
        assert!(cart.add(&scarce));
        assert!(cart.add(&scarce));
        assert!(!cart.add(&scarce));
        assert_eq!(cart.quantity_of(3), 2);
        assert!(!Cart::default().add(&product(4, 100, 0)), "sold out");
    }

    #[test]
    fn removing_the_last_one_removes_the_line() {
        let p = product(1, 100, 5);
        let mut cart = Cart::default();
        cart.add(&p);
        cart.remove_one(1);
        assert!(cart.is_empty());
        cart.remove_one(1);
        assert!(cart.is_empty());
    }

    #[test]
    fn money_is_formatted_in_dollars_and_cents() {
        assert_eq!(format_cents(2400), "$24.00");
        assert_eq!(format_cents(5), "$0.05");
        assert_eq!(format_cents(123_456), "$1234.56");
        assert_eq!(format_cents(-650), "-$6.50");
    }
}
