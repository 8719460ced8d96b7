//! Orders: reserving stock in a pending order, settling it once the payment answers, reading it
//! back, and recovering the orders of replicas that stopped.

use checkout_api::{Order, OrderLine, OrderStatus};
use sqlx::Row;

use super::{
    Db,
    sql::{
        FAIL_EXPIRED_ORDERS, INSERT_ORDER, INSERT_ORDER_ITEM, LINK_ORDER_TO_IDEMPOTENCY_KEY,
        RETURN_ORDER_STOCK, RETURN_STOCK, SELECT_ORDER, SELECT_ORDER_ITEMS, SETTLE_ORDER,
        TAKE_STOCK,
    },
};
use crate::domain::LineItem;

/// Why stock could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Not enough of this product is left.
    #[error("not enough stock for product {0}")]
    OutOfStock(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Db {
    /// In one transaction: takes the stock of every line (never below zero), records a pending
    /// order claimed by this replica, and names it on the idempotency `key` this replica holds, if
    /// any. Either all of it happens or none of it does.
    pub async fn reserve_order(
        &self,
        order_id: &str,
        items: &[LineItem],
        total_cents: i64,
        email: &str,
        trace_id: &str,
        key: Option<&str>,
    ) -> Result<(), ReserveError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for item in items {
                let query = sqlx::query(self.sql(&TAKE_STOCK))
                    .bind(item.quantity)
                    .bind(item.product_id);
                if self
                    .run(&TAKE_STOCK, query.execute(&mut *tx))
                    .await?
                    .rows_affected()
                    == 0
                {
                    // Dropping the transaction rolls back the lines already taken.
                    return Err(ReserveError::OutOfStock(item.product_id));
                }
            }
            let query = sqlx::query(self.sql(&INSERT_ORDER))
                .bind(order_id)
                .bind(total_cents)
                .bind(email)
                .bind(trace_id)
                .bind(&*self.claims.replica)
                .bind(self.claims.lease_seconds);
            self.run(&INSERT_ORDER, query.execute(&mut *tx)).await?;
            for item in items {
                let query = sqlx::query(self.sql(&INSERT_ORDER_ITEM))
                    .bind(order_id)
                    .bind(item.quantity)
                    .bind(item.product_id);
                self.run(&INSERT_ORDER_ITEM, query.execute(&mut *tx))
                    .await?;
            }
            if let Some(key) = key {
                let query = sqlx::query(self.sql(&LINK_ORDER_TO_IDEMPOTENCY_KEY))
                    .bind(order_id)
                    .bind(key)
                    .bind(&*self.claims.replica);
                self.run(&LINK_ORDER_TO_IDEMPOTENCY_KEY, query.execute(&mut *tx))
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Settles this replica's pending order with the payment's answer; a declined or failed order
    /// gives its stock back in the same transaction. Returns `false`, changing nothing, when the
    /// order is no longer this replica's to settle: its claim expired and another replica failed
    /// it (and returned its stock) meanwhile. `status` is the settled one: paid, declined or failed.
    pub async fn settle_order(
        &self,
        order_id: &str,
        items: &[LineItem],
        status: OrderStatus,
        payment_ref: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        debug_assert_ne!(
            status,
            OrderStatus::Pending,
            "an order is settled out of pending"
        );
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let query = sqlx::query(self.sql(&SETTLE_ORDER))
                .bind(status.as_str())
                .bind(payment_ref)
                .bind(order_id)
                .bind(&*self.claims.replica);
            let settled = self.run(&SETTLE_ORDER, query.execute(&mut *tx)).await?;
            if settled.rows_affected() == 0 {
                return Ok(false);
            }
            if status != OrderStatus::Paid {
                for item in items {
                    let query = sqlx::query(self.sql(&RETURN_STOCK))
                        .bind(item.quantity)
                        .bind(item.product_id);
                    self.run(&RETURN_STOCK, query.execute(&mut *tx)).await?;
                }
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// An order with its lines, or `None`.
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, sqlx::Error> {
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&SELECT_ORDER)).bind(order_id);
            let Some(row) = self.run(&SELECT_ORDER, query.fetch_optional(pool)).await? else {
                return Ok(None);
            };
            let query = sqlx::query(self.sql(&SELECT_ORDER_ITEMS)).bind(order_id);
            let lines = self.run(&SELECT_ORDER_ITEMS, query.fetch_all(pool)).await?;
            let items = lines
                .iter()
                .map(|line| {
                    Ok(OrderLine {
                        product_id: line.try_get("product_id")?,
                        name: line.try_get("name")?,
                        quantity: line.try_get("quantity")?,
                        unit_price_cents: line.try_get("unit_price_cents")?,
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
            let status: String = row.try_get("status")?;
            Ok(Some(Order {
                order_id: row.try_get("id")?,
                status: OrderStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
                    index: "status".to_owned(),
                    source: format!("no order status is called {status:?}").into(),
                })?,
                total_cents: row.try_get("total_cents")?,
                trace_id: row.try_get("trace_id")?,
                created_at: row.try_get("created_at")?,
                items,
            }))
        })
    }

    /// Pending orders whose claim expired were cut off by a crash between reserving and settling:
    /// they are marked `failed` and their stock goes back. Returns how many. (The simulated
    /// gateway cannot have charged them; a real one would be asked before this step.)
    pub async fn recover_expired_orders(&self) -> Result<u64, sqlx::Error> {
        let failed: Vec<String> = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let failed: Vec<String> = self
                .run(
                    &FAIL_EXPIRED_ORDERS,
                    sqlx::query_scalar(self.sql(&FAIL_EXPIRED_ORDERS)).fetch_all(&mut *tx),
                )
                .await?;
            for order_id in &failed {
                let query = sqlx::query(self.sql(&RETURN_ORDER_STOCK)).bind(order_id);
                self.run(&RETURN_ORDER_STOCK, query.execute(&mut *tx))
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(failed)
        })?;
        if !failed.is_empty() {
            tracing::warn!(
                orders = failed.len(),
                "pending orders whose replica stopped were failed and their stock returned"
            );
        }
        Ok(u64::try_from(failed.len()).unwrap_or(u64::MAX))
    }
}
