//! Every SQL statement the server runs, each in SQLite's and PostgreSQL's dialect, with the
//! operation and collection its span is named after.
//!
//! Values are always bound (`$1`, …), never formatted in, so `db.query.text` holds no customer data.
//! Columns are selected by name, and the code reads them by name.

/// A SQL statement with what its span says about it, in each database's dialect. Most statements
/// are the same text in both (`$1` parameters work in SQLite too); those that differ say so.
pub(super) struct Statement {
    pub(super) operation: &'static str,
    pub(super) collection: &'static str,
    /// The span name, `{operation} {collection}` (database semantic conventions, "Name"), made
    /// once at compile time rather than formatted for every query.
    pub(super) name: &'static str,
    pub(super) sqlite: &'static str,
    pub(super) postgres: &'static str,
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

pub(super) const SELECT_PRODUCTS: Statement = statement!(
    "SELECT",
    "products",
    "SELECT id, name, description, price_cents, stock FROM products ORDER BY id",
);
pub(super) const SELECT_PRODUCTS_BY_IDS: Statement = statement! {
    operation: "SELECT",
    collection: "products",
    sqlite: "SELECT id, name, description, price_cents, stock FROM products \
             WHERE id IN (SELECT value FROM json_each($1)) ORDER BY id",
    postgres: "SELECT id, name, description, price_cents, stock FROM products \
               WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) ORDER BY id",
};
pub(super) const COUNT_PRODUCTS: Statement =
    statement!("SELECT", "products", "SELECT COUNT(*) FROM products");
// Replicas starting together on an empty database may both seed: the first insert of an id wins.
pub(super) const INSERT_PRODUCT: Statement = statement!(
    "INSERT",
    "products",
    "INSERT INTO products (id, name, description, price_cents, stock) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (id) DO NOTHING",
);
pub(super) const TAKE_STOCK: Statement = statement!(
    "UPDATE",
    "products",
    "UPDATE products SET stock = stock - $1 WHERE id = $2 AND stock >= $1",
);
pub(super) const RETURN_STOCK: Statement = statement!(
    "UPDATE",
    "products",
    "UPDATE products SET stock = stock + $1 WHERE id = $2",
);
pub(super) const INSERT_ORDER: Statement = statement! {
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
pub(super) const INSERT_ORDER_ITEM: Statement = statement!(
    "INSERT",
    "order_items",
    "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) \
     SELECT $1, id, $2, price_cents FROM products WHERE id = $3",
);
// Only the claim's holder settles, and only a pending order: one that was recovered meanwhile
// (its stock already returned) is left alone.
pub(super) const SETTLE_ORDER: Statement = statement! {
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
pub(super) const FAIL_EXPIRED_ORDERS: Statement = statement! {
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
pub(super) const RETURN_ORDER_STOCK: Statement = statement!(
    "UPDATE",
    "products",
    "UPDATE products SET stock = stock + i.quantity FROM order_items i \
     WHERE i.order_id = $1 AND i.product_id = products.id",
);
pub(super) const RENEW_ORDER_CLAIMS: Statement = statement! {
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
pub(super) const SELECT_ORDER: Statement = statement! {
    operation: "SELECT",
    collection: "orders",
    sqlite: "SELECT id, status, total_cents, trace_id, created_at FROM orders WHERE id = $1",
    postgres: "SELECT id, status, total_cents, trace_id, \
               to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
               AS created_at FROM orders WHERE id = $1",
};
pub(super) const SELECT_ORDER_ITEMS: Statement = statement!(
    "SELECT",
    "order_items",
    "SELECT i.product_id, p.name, i.quantity, i.unit_price_cents FROM order_items i \
     JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.product_id",
);
// The unique key is the claim: of any number of replicas inserting one key at once, one inserts.
pub(super) const CLAIM_IDEMPOTENCY_KEY: Statement = statement! {
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
pub(super) const SELECT_IDEMPOTENCY_KEY: Statement = statement! {
    operation: "SELECT",
    collection: "idempotency_keys",
    sqlite: concat!(
        "SELECT fingerprint, status_code, body, claimed_until IS NULL OR claimed_until < ",
        sqlite_now!(),
        " AS expired, order_id FROM idempotency_keys WHERE key = $1"
    ),
    postgres: "SELECT fingerprint, status_code, body, \
               claimed_until IS NULL OR claimed_until < now() AS expired, order_id \
               FROM idempotency_keys WHERE key = $1",
};
// A key whose holder stopped renewing (it crashed) is taken over by the next request with it.
pub(super) const TAKE_OVER_IDEMPOTENCY_KEY: Statement = statement! {
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
pub(super) const LINK_ORDER_TO_IDEMPOTENCY_KEY: Statement = statement!(
    "UPDATE",
    "idempotency_keys",
    "UPDATE idempotency_keys SET order_id = $1 WHERE key = $2 AND claimed_by = $3",
);
pub(super) const ANSWER_IDEMPOTENCY_KEY: Statement = statement!(
    "UPDATE",
    "idempotency_keys",
    "UPDATE idempotency_keys SET status_code = $3, body = $4, claimed_by = NULL, \
     claimed_until = NULL WHERE key = $1 AND claimed_by = $2 AND status_code IS NULL",
);
pub(super) const RELEASE_IDEMPOTENCY_KEY: Statement = statement!(
    "DELETE",
    "idempotency_keys",
    "DELETE FROM idempotency_keys WHERE key = $1 AND claimed_by = $2 AND status_code IS NULL",
);
pub(super) const RENEW_IDEMPOTENCY_CLAIMS: Statement = statement! {
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
pub(super) const DELETE_OLD_IDEMPOTENCY_KEYS: Statement = statement! {
    operation: "DELETE",
    collection: "idempotency_keys",
    sqlite: "DELETE FROM idempotency_keys WHERE created_at < \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $1 || ' seconds')",
    postgres: "DELETE FROM idempotency_keys WHERE created_at < now() - $1 * interval '1 second'",
};
