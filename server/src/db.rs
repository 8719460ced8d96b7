//! The database: SQLite (one file, WAL) or PostgreSQL (shared by replicas), migrations at start,
//! the seeded catalog, every query, and the claims that make replicas safe.
//!
//! Every statement runs inside its own CLIENT span ([`Statement`]) carrying `db.system.name`,
//! `db.operation.name`, `db.collection.name` and the parameterised `db.query.text` (and, for
//! PostgreSQL, `db.namespace`, `server.address` and `server.port`). Values are bound, never
//! formatted into SQL, so the query text in a span can never hold customer data.
//!
//! Each method is written once: [`with_pool!`] runs its body against whichever pool is open, and
//! [`Db::sql`] gives each statement's text in that database's dialect.
//!
//! ## Claims
//! A pending order and an idempotency key in progress are *claimed* by the replica working on them
//! (`claimed_by`, its random id, and `claimed_until`, renewed every third of the lease while it
//! works). Only a claim whose lease expired — its replica died — is recovered, by any replica: the
//! order is failed and its stock returned; the key is taken over by the next request with it.

use std::{
    future::Future,
    path::Path,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use checkout_api::Product;
use opentelemetry::{KeyValue, trace::SpanKind};
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_NAMESPACE, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_SYSTEM_NAME,
    SERVER_ADDRESS, SERVER_PORT,
};
use serde::Serialize;
use sqlx::{
    ColumnIndex, Decode, PgPool, Row, SqlitePool, Type,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    config::{Backend, DatabaseUrl},
    domain::LineItem,
    faults::Faults,
    telemetry::{
        self, SpanFailure, Tracer,
        timing::{self, Part},
    },
};

/// Connections per replica.
const MAX_CONNECTIONS: u32 = 8;

/// The pool of the database in use.
#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the open pool (a `SqlitePool` or a `PgPool`): one body,
/// compiled for each database. Statement texts come from [`Db::sql`].
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// The pool, the tracer its statement spans are made with, and this replica's claims.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    tracer: Tracer,
    faults: Faults,
    /// What every statement span says about the database: `db.system.name` and, for a server,
    /// where it is.
    attributes: Arc<[KeyValue]>,
    claims: Claims,
}

/// Who this replica is to its claims, and how long they last unrenewed.
#[derive(Clone)]
struct Claims {
    replica: Arc<str>,
    lease_seconds: i64,
}

/// What claiming an idempotency key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's now: run it, then [`Db::answer_key`] or [`Db::release_key`].
    /// Taken over from a holder that died, it names the order that holder had placed, if any.
    Claimed {
        /// The order an earlier holder of the key placed before it stopped.
        earlier_order: Option<String>,
    },
    /// The key's request was answered; replay the answer (if the fingerprint matches).
    Answered(StoredResponse),
    /// Another request holds the key and is still running (its fingerprint is given).
    InProgress {
        /// Identifies the request holding the key.
        fingerprint: String,
    },
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

/// A SQL statement with what its span says about it, in each database's dialect. Most statements
/// are the same text in both (`$1` parameters work in SQLite too); those that differ say so.
struct Statement {
    operation: &'static str,
    collection: &'static str,
    /// The span name, `{operation} {collection}` (database semantic conventions, "Name"), made
    /// once at compile time rather than formatted for every query.
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// A [`Statement`]: `statement!("SELECT", "products", "SELECT …")` when the text is the same in
/// both databases, else `statement! { operation: …, collection: …, sqlite: …, postgres: … }`.
macro_rules! statement {
    (
        operation: $operation:literal,
        collection: $collection:literal,
        sqlite: $sqlite:expr,
        postgres: $postgres:expr $(,)?
    ) => {
        Statement {
            operation: $operation,
            collection: $collection,
            name: concat!($operation, " ", $collection),
            sqlite: $sqlite,
            postgres: $postgres,
        }
    };
    ($operation:literal, $collection:literal, $text:expr $(,)?) => {
        statement! {
            operation: $operation,
            collection: $collection,
            sqlite: $text,
            postgres: $text,
        }
    };
}

/// "Now" as each database writes times (SQLite keeps them as RFC 3339 text, which sorts as time).
macro_rules! sqlite_now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}
/// The end of a claim's lease: now plus `$n` seconds.
macro_rules! sqlite_lease_end {
    ($n:literal) => {
        concat!(
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || $",
            $n,
            " || ' seconds')"
        )
    };
}
macro_rules! postgres_lease_end {
    ($n:literal) => {
        concat!("now() + $", $n, " * interval '1 second'")
    };
}

const SELECT_PRODUCTS: Statement = statement!(
    "SELECT",
    "products",
    "SELECT id, name, description, price_cents, stock FROM products ORDER BY id",
);
const SELECT_PRODUCTS_BY_IDS: Statement = statement! {
    operation: "SELECT",
    collection: "products",
    sqlite: "SELECT id, name, description, price_cents, stock FROM products \
             WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id",
    postgres: "SELECT id, name, description, price_cents, stock FROM products \
               WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) ORDER BY id",
};
const COUNT_PRODUCTS: Statement = statement!("SELECT", "products", "SELECT COUNT(*) FROM products");
// Replicas starting together on an empty database may both seed: the first insert of an id wins.
const INSERT_PRODUCT: Statement = statement!(
    "INSERT",
    "products",
    "INSERT INTO products (id, name, description, price_cents, stock) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (id) DO NOTHING",
);
const TAKE_STOCK: Statement = statement!(
    "UPDATE",
    "products",
    "UPDATE products SET stock = stock - $1 WHERE id = $2 AND stock >= $1",
);
const RETURN_STOCK: Statement = statement!(
    "UPDATE",
    "products",
    "UPDATE products SET stock = stock + $1 WHERE id = $2",
);
const INSERT_ORDER: Statement = statement! {
    operation: "INSERT",
    collection: "orders",
    sqlite: concat!(
        "INSERT INTO orders (id, status, total_cents, email, trace_id, claimed_by, claimed_until) \
         VALUES ($1, 'pending', $2, $3, $4, $5, ",
        sqlite_lease_end!(6),
        ")"
    ),
    postgres: concat!(
        "INSERT INTO orders (id, status, total_cents, email, trace_id, claimed_by, claimed_until) \
         VALUES ($1, 'pending', $2, $3, $4, $5, ",
        postgres_lease_end!(6),
        ")"
    ),
};
const INSERT_ORDER_ITEM: Statement = statement!(
    "INSERT",
    "order_items",
    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) \
     SELECT $1, id, $2, price_cents FROM products WHERE id = $3",
);
// Only the claim's holder settles, and only a pending order: one that was recovered meanwhile
// (its stock already returned) is left alone.
const SETTLE_ORDER: Statement = statement! {
    operation: "UPDATE",
    collection: "orders",
    sqlite: concat!(
        "UPDATE orders SET status = $1, payment_ref = $2, claimed_by = NULL, claimed_until = NULL, \
         updated_at = ",
        sqlite_now!(),
        " WHERE id = $3 AND status = 'pending' AND claimed_by = $4"
    ),
    postgres: "UPDATE orders SET status = $1, payment_ref = $2, claimed_by = NULL, \
               claimed_until = NULL, updated_at = now() \
               WHERE id = $3 AND status = 'pending' AND claimed_by = $4",
};
// Row locks make this safe with replicas: of two replicas failing the same order at once, the
// second finds it no longer pending and returns nothing, so its stock goes back once.
const FAIL_EXPIRED_ORDERS: Statement = statement! {
    operation: "UPDATE",
    collection: "orders",
    sqlite: concat!(
        "UPDATE orders SET status = 'failed', claimed_by = NULL, claimed_until = NULL, updated_at = ",
        sqlite_now!(),
        " WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < ",
        sqlite_now!(),
        ") RETURNING id"
    ),
    postgres: "UPDATE orders SET status = 'failed', claimed_by = NULL, claimed_until = NULL, \
               updated_at = now() \
               WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < now()) \
               RETURNING id",
};
const RETURN_ORDER_STOCK: Statement = statement!(
    "UPDATE",
    "products",
    "UPDATE products SET stock = stock + i.quantity FROM order_items i \
     WHERE i.order_id = $1 AND i.product_id = products.id",
);
const RENEW_ORDER_CLAIMS: Statement = statement! {
    operation: "UPDATE",
    collection: "orders",
    sqlite: concat!(
        "UPDATE orders SET claimed_until = ",
        sqlite_lease_end!(2),
        " WHERE claimed_by = $1 AND status = 'pending'"
    ),
    postgres: concat!(
        "UPDATE orders SET claimed_until = ",
        postgres_lease_end!(2),
        " WHERE claimed_by = $1 AND status = 'pending'"
    ),
};
const SELECT_ORDER: Statement = statement! {
    operation: "SELECT",
    collection: "orders",
    sqlite: "SELECT id, status, total_cents, trace_id, created_at FROM orders WHERE id = $1",
    postgres: "SELECT id, status, total_cents, trace_id, \
               to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
               FROM orders WHERE id = $1",
};
const SELECT_ORDER_ITEMS: Statement = statement!(
    "SELECT",
    "order_items",
    "SELECT i.product_id, p.name, i.quantity, i.unit_price_cents FROM order_items i \
     JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.product_id",
);
// The unique key is the claim: of any number of replicas inserting one key at once, one inserts.
const CLAIM_IDEMPOTENCY_KEY: Statement = statement! {
    operation: "INSERT",
    collection: "idempotency_keys",
    sqlite: concat!(
        "INSERT INTO idempotency_keys (key, fingerprint, claimed_by, claimed_until) \
         VALUES ($1, $2, $3, ",
        sqlite_lease_end!(4),
        ") ON CONFLICT (key) DO NOTHING"
    ),
    postgres: concat!(
        "INSERT INTO idempotency_keys (key, fingerprint, claimed_by, claimed_until) \
         VALUES ($1, $2, $3, ",
        postgres_lease_end!(4),
        ") ON CONFLICT (key) DO NOTHING"
    ),
};
const SELECT_IDEMPOTENCY_KEY: Statement = statement! {
    operation: "SELECT",
    collection: "idempotency_keys",
    sqlite: concat!(
        "SELECT fingerprint, status_code, body, claimed_until IS NULL OR claimed_until < ",
        sqlite_now!(),
        ", order_id FROM idempotency_keys WHERE key = $1"
    ),
    postgres: "SELECT fingerprint, status_code, body, \
               claimed_until IS NULL OR claimed_until < now(), order_id \
               FROM idempotency_keys WHERE key = $1",
};
// A key whose holder stopped renewing (it crashed) is taken over by the next request with it.
const TAKE_OVER_IDEMPOTENCY_KEY: Statement = statement! {
    operation: "UPDATE",
    collection: "idempotency_keys",
    sqlite: concat!(
        "UPDATE idempotency_keys SET claimed_by = $2, claimed_until = ",
        sqlite_lease_end!(3),
        " WHERE key = $1 AND status_code IS NULL \
         AND (claimed_until IS NULL OR claimed_until < ",
        sqlite_now!(),
        ")"
    ),
    postgres: concat!(
        "UPDATE idempotency_keys SET claimed_by = $2, claimed_until = ",
        postgres_lease_end!(3),
        " WHERE key = $1 AND status_code IS NULL \
         AND (claimed_until IS NULL OR claimed_until < now())"
    ),
};
const LINK_ORDER_TO_IDEMPOTENCY_KEY: Statement = statement!(
    "UPDATE",
    "idempotency_keys",
    "UPDATE idempotency_keys SET order_id = $1 WHERE key = $2 AND claimed_by = $3",
);
const ANSWER_IDEMPOTENCY_KEY: Statement = statement!(
    "UPDATE",
    "idempotency_keys",
    "UPDATE idempotency_keys SET status_code = $3, body = $4, claimed_by = NULL, \
     claimed_until = NULL WHERE key = $1 AND claimed_by = $2 AND status_code IS NULL",
);
const RELEASE_IDEMPOTENCY_KEY: Statement = statement!(
    "DELETE",
    "idempotency_keys",
    "DELETE FROM idempotency_keys WHERE key = $1 AND claimed_by = $2 AND status_code IS NULL",
);
const RENEW_IDEMPOTENCY_CLAIMS: Statement = statement! {
    operation: "UPDATE",
    collection: "idempotency_keys",
    sqlite: concat!(
        "UPDATE idempotency_keys SET claimed_until = ",
        sqlite_lease_end!(2),
        " WHERE claimed_by = $1 AND status_code IS NULL"
    ),
    postgres: concat!(
        "UPDATE idempotency_keys SET claimed_until = ",
        postgres_lease_end!(2),
        " WHERE claimed_by = $1 AND status_code IS NULL"
    ),
};
const DELETE_OLD_IDEMPOTENCY_KEYS: Statement = statement! {
    operation: "DELETE",
    collection: "idempotency_keys",
    sqlite: "DELETE FROM idempotency_keys WHERE created_at < \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $1 || ' seconds')",
    postgres: "DELETE FROM idempotency_keys WHERE created_at < now() - $1 * interval '1 second'",
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

    /// Opens the pool (for SQLite, creating the file and its directory if missing), runs the
    /// migrations, seeds the catalog with `seed_stock` of each product when the database is new,
    /// and recovers the orders of replicas whose claims expired. This replica's claims last
    /// `lease` unrenewed.
    pub async fn connect(
        url: &DatabaseUrl,
        seed_stock: i64,
        lease: Duration,
        tracer: Tracer,
    ) -> Result<Self, sqlx::Error> {
        let (pool, attributes) = match url.backend() {
            Backend::Sqlite => (
                Pool::Sqlite(open_sqlite(url.expose()).await?),
                vec![KeyValue::new(DB_SYSTEM_NAME, "sqlite")],
            ),
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url.expose())?;
                // Shared strings: every statement span clones these without allocating.
                let namespace = options
                    .get_database()
                    .unwrap_or_else(|| options.get_username());
                let attributes = vec![
                    KeyValue::new(DB_SYSTEM_NAME, "postgresql"),
                    KeyValue::new(DB_NAMESPACE, Arc::<str>::from(namespace)),
                    KeyValue::new(SERVER_ADDRESS, Arc::<str>::from(options.get_host())),
                    KeyValue::new(SERVER_PORT, i64::from(options.get_port())),
                ];
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                (Pool::Postgres(pool), attributes)
            }
        };
        let db = Self {
            pool,
            tracer,
            faults: Faults::default(),
            attributes: attributes.into(),
            claims: Claims {
                replica: uuid::Uuid::new_v4().to_string().into(),
                lease_seconds: i64::try_from(lease.as_secs().max(1)).unwrap_or(i64::MAX),
            },
        };
        // One root span for start-up, so its statements show as one trace rather than many.
        let start_up = async {
            match &db.pool {
                Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
                Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
            }?;
            db.seed(seed_stock).await?;
            db.recover_expired_orders().await.map(drop)
        };
        telemetry::in_span(
            &db.tracer,
            "db.migrate",
            SpanKind::Internal,
            db.attributes[..1].to_vec(),
            start_up,
            |_, _| {},
        )
        .await?;
        Ok(db)
    }

    /// The id this replica's claims carry.
    pub fn replica(&self) -> &str {
        &self.claims.replica
    }

    async fn seed(&self, stock: i64) -> Result<(), sqlx::Error> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let count: i64 = self
                .run(
                    &COUNT_PRODUCTS,
                    sqlx::query_scalar(self.sql(&COUNT_PRODUCTS)).fetch_one(&mut *tx),
                )
                .await?;
            if count == 0 {
                for (id, (name, description, price)) in (1_i64..).zip(CATALOG) {
                    let query = sqlx::query(self.sql(&INSERT_PRODUCT))
                        .bind(id)
                        .bind(name)
                        .bind(description)
                        .bind(price)
                        .bind(stock);
                    self.run(&INSERT_PRODUCT, query.execute(&mut *tx)).await?;
                }
            }
            tx.commit().await
        })
    }

    /// Waits for the pool's connections to close (and SQLite to checkpoint its WAL).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
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

    /// Extends the lease of every claim this replica holds; returns how many it renewed.
    pub async fn renew_claims(&self) -> Result<u64, sqlx::Error> {
        with_pool!(self, |pool| {
            let mut renewed = 0;
            for statement in [&RENEW_ORDER_CLAIMS, &RENEW_IDEMPOTENCY_CLAIMS] {
                let query = sqlx::query(self.sql(statement))
                    .bind(&*self.claims.replica)
                    .bind(self.claims.lease_seconds);
                renewed += self
                    .run(statement, query.execute(pool))
                    .await?
                    .rows_affected();
            }
            Ok(renewed)
        })
    }

    /// The whole catalog, by id.
    pub async fn products(&self) -> Result<Vec<Product>, sqlx::Error> {
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&SELECT_PRODUCTS));
            let rows = self.run(&SELECT_PRODUCTS, query.fetch_all(pool)).await?;
            rows.iter().map(product).collect()
        })
    }

    /// The products with these ids; ids not in the catalog are simply absent.
    pub async fn products_by_ids(&self, ids: &[i64]) -> Result<Vec<Product>, sqlx::Error> {
        let ids = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&SELECT_PRODUCTS_BY_IDS)).bind(&ids);
            let rows = self
                .run(&SELECT_PRODUCTS_BY_IDS, query.fetch_all(pool))
                .await?;
            rows.iter().map(product).collect()
        })
    }

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
    /// it (and returned its stock) meanwhile.
    pub async fn settle_order(
        &self,
        order_id: &str,
        items: &[LineItem],
        settlement: Settlement,
        payment_ref: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let query = sqlx::query(self.sql(&SETTLE_ORDER))
                .bind(settlement.as_str())
                .bind(payment_ref)
                .bind(order_id)
                .bind(&*self.claims.replica);
            let settled = self.run(&SETTLE_ORDER, query.execute(&mut *tx)).await?;
            if settled.rows_affected() == 0 {
                return Ok(false);
            }
            if settlement != Settlement::Paid {
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
        })
    }

    /// Claims `key` for a request identified by `fingerprint`: inserted if new, taken over if its
    /// holder's lease expired; otherwise says what the key holds.
    pub async fn claim_key(&self, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
        with_pool!(self, |pool| {
            loop {
                let insert = sqlx::query(self.sql(&CLAIM_IDEMPOTENCY_KEY))
                    .bind(key)
                    .bind(fingerprint)
                    .bind(&*self.claims.replica)
                    .bind(self.claims.lease_seconds);
                if self
                    .run(&CLAIM_IDEMPOTENCY_KEY, insert.execute(pool))
                    .await?
                    .rows_affected()
                    == 1
                {
                    return Ok(Claim::Claimed {
                        earlier_order: None,
                    });
                }
                let select = sqlx::query(self.sql(&SELECT_IDEMPOTENCY_KEY)).bind(key);
                let Some(row) = self
                    .run(&SELECT_IDEMPOTENCY_KEY, select.fetch_optional(pool))
                    .await?
                else {
                    // Released (its request failed) between the two statements: claim it anew.
                    continue;
                };
                let stored_fingerprint: String = row.try_get(0)?;
                let status: Option<i64> = row.try_get(1)?;
                let body: Option<String> = row.try_get(2)?;
                let expired: bool = row.try_get(3)?;
                let earlier_order: Option<String> = row.try_get(4)?;
                if let (Some(status), Some(body)) = (status, body) {
                    return Ok(Claim::Answered(StoredResponse {
                        fingerprint: stored_fingerprint,
                        status_code: u16::try_from(status).unwrap_or(500),
                        body,
                    }));
                }
                if expired && stored_fingerprint == fingerprint {
                    let take_over = sqlx::query(self.sql(&TAKE_OVER_IDEMPOTENCY_KEY))
                        .bind(key)
                        .bind(&*self.claims.replica)
                        .bind(self.claims.lease_seconds);
                    if self
                        .run(&TAKE_OVER_IDEMPOTENCY_KEY, take_over.execute(pool))
                        .await?
                        .rows_affected()
                        == 1
                    {
                        return Ok(Claim::Claimed { earlier_order });
                    }
                }
                return Ok(Claim::InProgress {
                    fingerprint: stored_fingerprint,
                });
            }
        })
    }

    /// Stores the answer of the request that claimed `key`; replays answer with it from now on.
    pub async fn answer_key(
        &self,
        key: &str,
        status_code: u16,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&ANSWER_IDEMPOTENCY_KEY))
                .bind(key)
                .bind(&*self.claims.replica)
                .bind(i64::from(status_code))
                .bind(body);
            self.run(&ANSWER_IDEMPOTENCY_KEY, query.execute(pool))
                .await
                .map(drop)
        })
    }

    /// Gives up the claim on `key` without an answer, so that a retry runs the request again.
    pub async fn release_key(&self, key: &str) -> Result<(), sqlx::Error> {
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&RELEASE_IDEMPOTENCY_KEY))
                .bind(key)
                .bind(&*self.claims.replica);
            self.run(&RELEASE_IDEMPOTENCY_KEY, query.execute(pool))
                .await
                .map(drop)
        })
    }

    /// Forgets the idempotency keys stored more than `retention` ago; returns how many.
    pub async fn prune_idempotency_keys(&self, retention: Duration) -> Result<u64, sqlx::Error> {
        let seconds = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
        with_pool!(self, |pool| {
            let query = sqlx::query(self.sql(&DELETE_OLD_IDEMPOTENCY_KEYS)).bind(seconds);
            let done = self
                .run(&DELETE_OLD_IDEMPOTENCY_KEYS, query.execute(pool))
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// `statement`'s text in the dialect of the open database.
    fn sql(&self, statement: &Statement) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => statement.sqlite,
            Pool::Postgres(_) => statement.postgres,
        }
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
        let mut attributes = Vec::with_capacity(self.attributes.len() + 3);
        attributes.extend_from_slice(&self.attributes);
        attributes.extend([
            KeyValue::new(DB_OPERATION_NAME, statement.operation),
            KeyValue::new(DB_COLLECTION_NAME, statement.collection),
            KeyValue::new(DB_QUERY_TEXT, self.sql(statement)),
        ]);
        telemetry::in_span(
            &self.tracer,
            statement.name,
            SpanKind::Client,
            attributes,
            work,
            |_, _| {},
        )
        .await
    }
}

/// Opens a SQLite pool on `url` in WAL mode, creating the file and its directory if missing.
async fn open_sqlite(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
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
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
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

/// A product from a row of `id, name, description, price_cents, stock`, in either database.
fn product<R>(row: &R) -> Result<Product, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Product {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        price_cents: row.try_get(3)?,
        stock: row.try_get(4)?,
    })
}
