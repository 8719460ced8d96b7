//! The page's state and the messages that change it: pure, no browser, tested natively. The
//! controller (`app.rs`) applies them; the view (`view.rs`) draws the state and sends the messages.

use checkout_api::{LineItemRequest, Product};

use crate::cart::Cart;

/// What the shopper asked for: the view sends these, the controller acts on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// One more of this product in the cart.
    Add(i64),
    /// One less of this product in the cart.
    RemoveOne(i64),
    /// Put this test card number in the form (the form's, not the state's).
    UseCard(&'static str),
}

/// What the page shows: the controller owns it, the view draws it.
#[derive(Debug, Default)]
pub struct State {
    /// The catalog, as last loaded.
    pub products: Vec<Product>,
    /// The shopper's picks.
    pub cart: Cart,
    /// Whether a checkout is in flight.
    pub busy: bool,
}

/// What a checkout sends and records, taken from the cart when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The cart's lines.
    pub items: Vec<LineItemRequest>,
    /// How many items in all.
    pub item_count: i64,
    /// Their price at the catalog's prices.
    pub total_cents: i64,
}

impl State {
    /// Applies `msg`; `false` when it changes nothing here (a product not in the catalog, a card
    /// for the form).
    pub fn update(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Add(product_id) => {
                let Self { products, cart, .. } = self;
                (products.iter().find(|p| p.id == product_id)).is_some_and(|p| cart.add(p))
            }
            Msg::RemoveOne(product_id) => {
                let before = self.cart.quantity_of(product_id);
                self.cart.remove_one(product_id);
                self.cart.quantity_of(product_id) != before
            }
            Msg::UseCard(_) => false,
        }
    }

    /// Starts a checkout: the order, and the page busy until [`finish_checkout`]; `None` while
    /// one is in flight or when the cart is empty.
    ///
    /// [`finish_checkout`]: Self::finish_checkout
    pub fn begin_checkout(&mut self) -> Option<Order> {
        if self.busy || self.cart.is_empty() {
            return None;
        }
        self.busy = true;
        Some(Order {
            items: self.cart.lines().to_vec(),
            item_count: self.cart.item_count(),
            total_cents: self.cart.total_cents(&self.products),
        })
    }

    /// The order was placed: the stock shown goes down by what was bought, and the cart empties.
    pub fn placed(&mut self) {
        let Self { products, cart, .. } = self;
        for line in cart.lines() {
            if let Some(product) = products.iter_mut().find(|p| p.id == line.product_id) {
                product.stock -= line.quantity;
            }
        }
        cart.clear();
    }

    /// The checkout is over, placed or not: another may start.
    pub fn finish_checkout(&mut self) {
        self.busy = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let product = |id, stock| Product {
            id,
            name: format!("p{id}"),
            description: String::new(),
            price_cents: 250 * id,
            stock,
        };
        State {
            products: vec![product(1, 5), product(2, 1)],
            ..Default::default()
        }
    }

    #[test]
    fn adding_and_removing_change_the_cart_within_the_stock() {
        let mut state = state();
        assert!(state.update(Msg::Add(1)));
        assert!(state.update(Msg::Add(2)));
        assert!(!state.update(Msg::Add(2)), "only one in stock");
        assert!(!state.update(Msg::Add(9)), "not in the catalog");
        assert_eq!(state.cart.item_count(), 2);
        assert!(state.update(Msg::RemoveOne(2)));
        assert!(!state.update(Msg::RemoveOne(2)), "none left to remove");
        assert!(!state.update(Msg::UseCard("4242424242424242")));
        assert_eq!(state.cart.item_count(), 1);
    }

    #[test]
    fn a_checkout_takes_the_order_once_and_a_placed_one_empties_the_cart_and_the_stock() {
        let mut state = state();
        assert_eq!(state.begin_checkout(), None, "an empty cart");
        state.update(Msg::Add(1));
        state.update(Msg::Add(1));
        state.update(Msg::Add(2));
        let order = state.begin_checkout().expect("an order");
        assert_eq!((order.item_count, order.total_cents), (3, 2 * 250 + 500));
        assert_eq!(order.items.len(), 2);
        assert!(state.busy);
        assert_eq!(state.begin_checkout(), None, "one in flight");
        state.placed();
        state.finish_checkout();
        assert!(state.cart.is_empty() && !state.busy);
        let stock: Vec<i64> = state.products.iter().map(|p| p.stock).collect();
        assert_eq!(stock, [3, 0]);
    }

    #[test]
    fn a_failed_checkout_keeps_the_cart_and_the_stock() {
        let mut state = state();
        state.update(Msg::Add(1));
        let order = state.begin_checkout().expect("an order");
        state.finish_checkout();
        assert_eq!(state.cart.lines(), order.items.as_slice());
        assert_eq!(state.products[0].stock, 5);
        assert_eq!(state.begin_checkout(), Some(order), "it can be tried again");
    }
}
