//! What a database holds after a run: stock, paid quantities and every order's status, read alike
//! from SQLite or PostgreSQL, and the invariant that ties stock to paid orders.

use std::collections::HashMap;

use sqlx::{AnyConnection, Connection as _};

/// The orders and stock of a database.
pub struct Ledger {
    /// Stock left, by product id.
    pub stock: HashMap<i64, i64>,
    /// Units sold in paid orders, by product id.
    pub paid_quantity: HashMap<i64, i64>,
    /// Every order's status, by order id.
    pub status_of: HashMap<String, String>,
}

impl Ledger {
    /// Reads the database at `database_url` (`sqlite://…` or `postgres://…`).
    pub async fn read(database_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(database_url)
            .await
            .unwrap_or_else(|e| panic!("the database opens: {e}"));
        let stock: Vec<(i64, i64)> = sqlx::query_as("SELECT id, stock FROM products")
            .fetch_all(&mut conn)
            .await
            .expect("stock");
        // CAST: PostgreSQL sums BIGINTs as NUMERIC.
        let paid: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT i.product_id, CAST(SUM(i.quantity) AS BIGINT) FROM order_items i \
             JOIN orders o ON o.id = i.order_id WHERE o.status = 'paid' GROUP BY i.product_id",
        )
        .fetch_all(&mut conn)
        .await
        .expect("paid");
        let orders: Vec<(String, String)> = sqlx::query_as("SELECT id, status FROM orders")
            .fetch_all(&mut conn)
            .await
            .expect("orders");
        Self {
            stock: stock.into_iter().collect(),
            paid_quantity: paid.into_iter().collect(),
            status_of: orders.into_iter().collect(),
        }
    }

    /// How many orders have `status`.
    pub fn count(&self, status: &str) -> usize {
        self.status_of.values().filter(|s| *s == status).count()
    }

    /// Every product whose stock is not `seed` minus its paid units, or is negative, described.
    pub fn stock_mismatches(&self, seed: i64) -> Vec<String> {
        let mut products: Vec<i64> = self.stock.keys().copied().collect();
        products.sort_unstable();
        products
            .into_iter()
            .filter_map(|product| {
                let stock = self.stock[&product];
                let paid = self.paid_quantity.get(&product).copied().unwrap_or(0);
                (stock != seed - paid || stock < 0).then(|| {
                    format!(
                        "product {product} has stock {stock}, seed {seed} - paid {paid} = {}",
                        seed - paid
                    )
                })
            })
            .collect()
    }
}
