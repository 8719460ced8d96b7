//! What a database holds after a run: stock, paid quantities and every order's status, read alike
//! from SQLite or PostgreSQL, and the invariant that ties stock to paid orders.

use std::collections::HashMap;

use checkout_api::OrderStatus;
use sqlx::{AnyConnection, Connection as _};

/// The orders and stock of a database.
pub struct Ledger {
    /// Stock left, by product id.
    pub stock: HashMap<i64, i64>,
    /// Units sold in paid orders, by product id.
    pub paid_quantity: HashMap<i64, i64>,
    /// Every order's status, by order id.
    pub status_of: HashMap<String, OrderStatus>,
}

impl Ledger {
    /// Reads the database at `database_url` (`sqlite://…` or `postgres://…`).
    pub async fn read(database_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(database_url)
            .await
            .unwrap_or_else(|e| panic!("the database opens: {e}"));
        // One snapshot for the three reads: a recovery returning stock between them would
        // otherwise show its stock still taken and its order no longer pending. (PostgreSQL's
        // default, read committed, takes a snapshot per statement; a SQLite read transaction keeps
        // one from its first read.)
        let mut tx = conn.begin().await.expect("a read transaction");
        if database_url.starts_with("postgres") {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .expect("repeatable read");
        }
        let stock: Vec<(i64, i64)> = sqlx::query_as("SELECT id, stock FROM products")
            .fetch_all(&mut *tx)
            .await
            .expect("stock");
        // CAST: PostgreSQL sums BIGINTs as NUMERIC.
        let paid: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT i.product_id, CAST(SUM(i.quantity) AS BIGINT) FROM order_items i \
             JOIN orders o ON o.id = i.order_id WHERE o.status = $1 GROUP BY i.product_id",
        )
        .bind(OrderStatus::Paid.as_str())
        .fetch_all(&mut *tx)
        .await
        .expect("paid");
        let orders: Vec<(String, String)> = sqlx::query_as("SELECT id, status FROM orders")
            .fetch_all(&mut *tx)
            .await
            .expect("orders");
        tx.commit().await.expect("the read transaction ends");
        Self {
            stock: stock.into_iter().collect(),
            paid_quantity: paid.into_iter().collect(),
            status_of: orders
                .into_iter()
                .map(|(id, status)| {
                    let status = OrderStatus::parse(&status)
                        .unwrap_or_else(|| panic!("order {id} has no known status: {status:?}"));
                    (id, status)
                })
                .collect(),
        }
    }

    /// How many orders have `status`.
    pub fn count(&self, status: OrderStatus) -> usize {
        self.status_of.values().filter(|s| **s == status).count()
    }

    /// Whether the order `id` exists and is paid.
    pub fn is_paid(&self, id: &str) -> bool {
        self.status_of.get(id) == Some(&OrderStatus::Paid)
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
