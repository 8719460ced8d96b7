//! The database: one SQLite pool (WAL), migrations at start, the seeded catalog, and every query.
//!
//! Every statement runs inside its own CLIENT span ([`Statement`]) carrying `db.system.name`,
//! `db.operation.name`, `db.collection.name` and the parameterised `db.query.text`. Values are bound,
//! never formatted into SQL, so the query text in a span can never hold customer data.

use std::{
    future::Future,
    path::Path,
    str::FromStr,
    time::{Duration, Instant},
};

use checkout_api::Product;
use opentelemetry::{KeyValue, trace::SpanKind};
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_SYSTEM_NAME,
};
use serde::Serialize;
use sqlx::{
    Row, Sqlite, SqlitePool, Transaction,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};

use crate::{
    domain::LineItem,
    faults::Faults,
    telemetry::{
        self, SpanFailure, Tracer,
        timing::{self, Part},
    },
};

/// The pool and the tracer its statement spans are made with.
#[derive(Clone)]
pub struct Db {
    pool: SqlitePool,
    tracer: Tracer,
    faults: Faults,
}

/// An order as `GET /api/orders/{id}` shows it (the email stays in the database).
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// The order id (a UUID).
    pub order_id: String,
    /// `pending`, `paid`, `declined` or `failed`.
    pub status: String,
    /// The sum of the lines.
    pub total_cents: i64,
    /// The trace of the checkout that made it.
    pub trace_id: Option<String>,
    /// When it was made (UTC, RFC 3339).
    pub created_at: String,
    /// Its lines.
    pub items: Vec<OrderLine>,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderLine {
    /// The product bought.
    pub product_id: i64,
    /// Its name.
    pub name: String,
    /// How many.
    pub quantity: i64,
    /// The price paid for each.
    pub unit_price_cents: i64,
}

/// A response stored under an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// Identifies the request the key was first used with.
    pub fingerprint: String,
    /// The HTTP status first answered.
    pub status_code: u16,
    /// The JSON body first answered.
    pub body: String,
}

/// A SQL statement with what its span says about it.
struct Statement {
    operation: &'static str,
    collection: &'static str,
    text: &'static str,
}

const SELECT_PRODUCTS: Statement = Statement {
    operation: "SELECT",
    collection: "products",
    text: "SELECT id, name, description, price_cents, stock FROM products ORDER BY id",
};
const SELECT_PRODUCTS_BY_IDS: Statement = Statement {
    operation: "SELECT",
    collection: "products",
    text: "SELECT id, name, description, price_cents, stock FROM products \
           WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
};
const COUNT_PRODUCTS: Statement = Statement {
    operation: "SELECT",
    collection: "products",
    text: "SELECT COUNT(*) FROM products",
};
const INSERT_PRODUCT: Statement = Statement {
    operation: "INSERT",
    collection: "products",
    text: "INSERT INTO products (id, name, description, price_cents, stock) VALUES (?1, ?2, ?3, ?4, ?5)",
};
const TAKE_STOCK: Statement = Statement {
    operation: "UPDATE",
    collection: "products",
    text: "UPDATE products SET stock = stock - ?1 WHERE id = ?2 AND stock >= ?1",
};
const RETURN_STOCK: Statement = Statement {
    operation: "UPDATE",
    collection: "products",
    text: "UPDATE products SET stock = stock + ?1 WHERE id = ?2",
};
const INSERT_ORDER: Statement = Statement {
    operation: "INSERT",
    collection: "orders",
    text: "INSERT INTO orders (id, status, total_cents, email, trace_id) VALUES (?1, 'pending', ?2, ?3, ?4)",
};
const INSERT_ORDER_ITEM: Statement = Statement {
    operation: "INSERT",
    collection: "order_items",
    text: "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) \
           SELECT ?1, id, ?2, price_cents FROM products WHERE id = ?3",
};
const SETTLE_ORDER: Statement = Statement {
    operation: "UPDATE",
    collection: "orders",
    text: "UPDATE orders SET status = ?1, payment_ref = ?2, \
           updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?3 AND status = 'pending'",
};
const RETURN_PENDING_STOCK: Statement = Statement {
    operation: "UPDATE",
    collection: "products",
    text: "UPDATE products SET stock = stock + (SELECT SUM(i.quantity) FROM order_items i \
           JOIN orders o ON o.id = i.order_id WHERE o.status = 'pending' AND i.product_id = products.id) \
           WHERE id IN (SELECT i.product_id FROM order_items i JOIN orders o ON o.id = i.order_id \
           WHERE o.status = 'pending')",
};
const FAIL_PENDING_ORDERS: Statement = Statement {
    operation: "UPDATE",
    collection: "orders",
    text: "UPDATE orders SET status = 'failed', updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
           WHERE status = 'pending'",
};
const SELECT_ORDER: Statement = Statement {
    operation: "SELECT",
    collection: "orders",
    text: "SELECT id, status, total_cents, trace_id, created_at FROM orders WHERE id = ?1",
};
const SELECT_ORDER_ITEMS: Statement = Statement {
    operation: "SELECT",
    collection: "order_items",
    text: "SELECT i.product_id, p.name, i.quantity, i.unit_price_cents FROM order_items i \
           JOIN products p ON p.id = i.product_id WHERE i.order_id = ?1 ORDER BY i.product_id",
};
const SELECT_IDEMPOTENCY_KEY: Statement = Statement {
    operation: "SELECT",
    collection: "idempotency_keys",
    text: "SELECT fingerprint, status_code, body FROM idempotency_keys WHERE key = ?1",
};
const INSERT_IDEMPOTENCY_KEY: Statement = Statement {
    operation: "INSERT",
    collection: "idempotency_keys",
    text: "INSERT INTO idempotency_keys (key, fingerprint, status_code, body) VALUES (?1, ?2, ?3, ?4)",
};

const DELETE_OLD_IDEMPOTENCY_KEYS: Statement = Statement {
    operation: "DELETE",
    collection: "idempotency_keys",
    text: "DELETE FROM idempotency_keys WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
};

/// The catalog a new database starts with: (name, description, price in cents).
const CATALOG: [(&str, &str, i64); 6] = [
    (
        "Espresso beans, 1 kg",
        "Dark roast, chocolate and cherry",
        2400,
    ),
    ("Pour-over dripper", "Ceramic, fits most mugs", 3200),
    ("Gooseneck kettle", "1 litre, with thermometer", 5900),
    (
        "Burr grinder",
        "40 steps from espresso to French press",
        12900,
    ),
    ("Paper filters", "Pack of 100, unbleached", 650),
    ("Tasting notebook", "Log your brews, 120 pages", 1200),
];

/// The statuses an order can be settled with once the payment has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The charge went through.
    Paid,
    /// The card was declined.
    Declined,
    /// The gateway failed.
    Failed,
}

impl Settlement {
    fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Declined => "declined",
            Self::Failed => "failed",
        }
    }
}

/// Why stock could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Not enough of this product is left.
    #[error("not enough stock for product {0}")]
    OutOfStock(i64),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Db {
    /// The same database, with every statement from now on delayed as `faults` says (start-up's
    /// statements run before, undelayed).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Opens the pool (creating the file and its directory if missing), runs the migrations and
    /// seeds the catalog with `seed_stock` of each product when the database is new.
    pub async fn connect(
        database_url: &str,
        seed_stock: i64,
        tracer: Tracer,
    ) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(dir) = Path::new(options.get_filename()).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let db = Self {
            pool,
            tracer,
            faults: Faults::default(),
        };
        // One root span for start-up, so its statements show as one trace rather than many.
        let start_up = async {
            sqlx::migrate!("./migrations").run(&db.pool).await?;
            db.seed(seed_stock).await?;
            db.recover_pending_orders().await
        };
        telemetry::in_span(
            &db.tracer,
            "db.migrate",
            SpanKind::Internal,
            vec![KeyValue::new(DB_SYSTEM_NAME, "sqlite")],
            start_up,
            |_, _| {},
        )
        .await?;
        Ok(db)
    }

    async fn seed(&self, stock: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let count: i64 = self
            .run(
                &COUNT_PRODUCTS,
                sqlx::query_scalar(COUNT_PRODUCTS.text).fetch_one(&mut *tx),
            )
            .await?;
        if count == 0 {
            for (id, (name, description, price)) in (1_i64..).zip(CATALOG) {
                let query = sqlx::query(INSERT_PRODUCT.text)
                    .bind(id)
                    .bind(name)
                    .bind(description)
                    .bind(price)
                    .bind(stock);
                self.run(&INSERT_PRODUCT, query.execute(&mut *tx)).await?;
            }
        }
        tx.commit().await
    }

    /// Waits for the pool's connections to close (and SQLite to checkpoint its WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Orders still `pending` at start were cut off by a crash between reserving and settling:
    /// their stock goes back and they are marked `failed`. (The simulated gateway cannot have
    /// charged them; a real one would be asked before this step.)
    async fn recover_pending_orders(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        self.run(
            &RETURN_PENDING_STOCK,
            sqlx::query(RETURN_PENDING_STOCK.text).execute(&mut *tx),
        )
        .await?;
        let failed = self
            .run(
                &FAIL_PENDING_ORDERS,
                sqlx::query(FAIL_PENDING_ORDERS.text).execute(&mut *tx),
            )
            .await?;
        tx.commit().await?;
        if failed.rows_affected() > 0 {
            tracing::warn!(
                orders = failed.rows_affected(),
                "pending orders from an earlier run were failed and their stock returned"
            );
        }
        Ok(())
    }

    /// The whole catalog, by id.
    pub async fn products(&self) -> Result<Vec<Product>, sqlx::Error> {
        let rows = self
            .run(
                &SELECT_PRODUCTS,
                sqlx::query(SELECT_PRODUCTS.text).fetch_all(&self.pool),
            )
            .await?;
        rows.iter().map(product).collect()
    }

    /// The products with these ids; ids not in the catalog are simply absent.
    pub async fn products_by_ids(&self, ids: &[i64]) -> Result<Vec<Product>, sqlx::Error> {
        let ids = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let query = sqlx::query(SELECT_PRODUCTS_BY_IDS.text).bind(ids);
        let rows = self
            .run(&SELECT_PRODUCTS_BY_IDS, query.fetch_all(&self.pool))
            .await?;
        rows.iter().map(product).collect()
    }

    /// In one transaction: takes the stock of every line (never below zero) and records a pending
    /// order. Either all of it happens or none of it does.
    pub async fn reserve_order(
        &self,
        order_id: &str,
        items: &[LineItem],
        total_cents: i64,
        email: &str,
        trace_id: &str,
    ) -> Result<(), ReserveError> {
        let mut tx = self.pool.begin().await?;
        for item in items {
            let query = sqlx::query(TAKE_STOCK.text)
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
        let query = sqlx::query(INSERT_ORDER.text)
            .bind(order_id)
            .bind(total_cents)
            .bind(email)
            .bind(trace_id);
        self.run(&INSERT_ORDER, query.execute(&mut *tx)).await?;
        for item in items {
            let query = sqlx::query(INSERT_ORDER_ITEM.text)
                .bind(order_id)
                .bind(item.quantity)
                .bind(item.product_id);
            self.run(&INSERT_ORDER_ITEM, query.execute(&mut *tx))
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Settles a pending order with the payment's answer; a declined or failed order gives its
    /// stock back in the same transaction.
    pub async fn settle_order(
        &self,
        order_id: &str,
        items: &[LineItem],
        settlement: Settlement,
        payment_ref: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut tx: Transaction<'_, Sqlite> = self.pool.begin().await?;
        if settlement != Settlement::Paid {
            for item in items {
                let query = sqlx::query(RETURN_STOCK.text)
                    .bind(item.quantity)
                    .bind(item.product_id);
                self.run(&RETURN_STOCK, query.execute(&mut *tx)).await?;
            }
        }
        let query = sqlx::query(SETTLE_ORDER.text)
            .bind(settlement.as_str())
            .bind(payment_ref)
            .bind(order_id);
        self.run(&SETTLE_ORDER, query.execute(&mut *tx)).await?;
        tx.commit().await
    }

    /// An order with its lines, or `None`.
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, sqlx::Error> {
        let query = sqlx::query(SELECT_ORDER.text).bind(order_id);
        let Some(row) = self
            .run(&SELECT_ORDER, query.fetch_optional(&self.pool))
            .await?
        else {
            return Ok(None);
        };
        let query = sqlx::query(SELECT_ORDER_ITEMS.text).bind(order_id);
        let lines = self
            .run(&SELECT_ORDER_ITEMS, query.fetch_all(&self.pool))
            .await?;
        let items = lines
            .iter()
            .map(|line| {
                Ok(OrderLine {
                    product_id: line.try_get(0)?,
                    name: line.try_get(1)?,
                    quantity: line.try_get(2)?,
                    unit_price_cents: line.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(Some(Order {
            order_id: row.try_get(0)?,
            status: row.try_get(1)?,
            total_cents: row.try_get(2)?,
            trace_id: row.try_get(3)?,
            created_at: row.try_get(4)?,
            items,
        }))
    }

    /// The response stored under an idempotency key, if any.
    pub async fn stored_response(&self, key: &str) -> Result<Option<StoredResponse>, sqlx::Error> {
        let query = sqlx::query(SELECT_IDEMPOTENCY_KEY.text).bind(key);
        let row = self
            .run(&SELECT_IDEMPOTENCY_KEY, query.fetch_optional(&self.pool))
            .await?;
        row.map(|row| {
            let status: i64 = row.try_get(1)?;
            Ok(StoredResponse {
                fingerprint: row.try_get(0)?,
                status_code: u16::try_from(status).unwrap_or(500),
                body: row.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Stores the response answered under an idempotency key.
    pub async fn store_response(
        &self,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), sqlx::Error> {
        let query = sqlx::query(INSERT_IDEMPOTENCY_KEY.text)
            .bind(key)
            .bind(&response.fingerprint)
            .bind(i64::from(response.status_code))
            .bind(&response.body);
        self.run(&INSERT_IDEMPOTENCY_KEY, query.execute(&self.pool))
            .await?;
        Ok(())
    }

    /// Forgets the idempotency keys stored more than `retention` ago; returns how many.
    pub async fn prune_idempotency_keys(&self, retention: Duration) -> Result<u64, sqlx::Error> {
        // An SQLite date modifier: '-86400 seconds'.
        let modifier = ["-", &retention.as_secs().to_string(), " seconds"].concat();
        let query = sqlx::query(DELETE_OLD_IDEMPOTENCY_KEYS.text).bind(modifier);
        let done = self
            .run(&DELETE_OLD_IDEMPOTENCY_KEYS, query.execute(&self.pool))
            .await?;
        Ok(done.rows_affected())
    }

    /// Runs one statement inside its CLIENT span.
    async fn run<T>(
        &self,
        statement: &Statement,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let work = async {
            let started = Instant::now();
            let delay = self.faults.db_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = query.await;
            timing::record(Part::Database, started.elapsed());
            result
        };
        telemetry::in_span(
            &self.tracer,
            format!("{} {}", statement.operation, statement.collection),
            SpanKind::Client,
            vec![
                KeyValue::new(DB_SYSTEM_NAME, "sqlite"),
                KeyValue::new(DB_OPERATION_NAME, statement.operation),
                KeyValue::new(DB_COLLECTION_NAME, statement.collection),
                KeyValue::new(DB_QUERY_TEXT, statement.text),
            ],
            work,
            |_, _| {},
        )
        .await
    }
}

impl SpanFailure for sqlx::Error {
    fn error_type(&self) -> &'static str {
        error_type(self)
    }
}

/// A low-cardinality name for a database error (never its message, which may quote values).
fn error_type(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(db) if db.is_check_violation() => "check_violation",
        sqlx::Error::Database(db) if db.is_unique_violation() => "unique_violation",
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => "foreign_key_violation",
        sqlx::Error::Database(_) => "database_error",
        sqlx::Error::PoolTimedOut => "pool_timeout",
        sqlx::Error::RowNotFound => "row_not_found",
        _ => "sqlx_error",
    }
}

fn product(row: &SqliteRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        price_cents: row.try_get(3)?,
        stock: row.try_get(4)?,
    })
}
