-- The same schema as SQLite's migrations 0001 and 0002 together, in PostgreSQL's types:
-- BIGINT for every integer (the server reads them as i64) and TIMESTAMPTZ for times.
CREATE TABLE products (
    id          BIGINT PRIMARY KEY,
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    -- The last line of defence against overselling: a decrement below zero fails.
    stock       BIGINT NOT NULL CHECK (stock >= 0)
);

CREATE TABLE orders (
    id            TEXT        PRIMARY KEY,
    status        TEXT        NOT NULL CHECK (status IN ('pending', 'paid', 'declined', 'failed')),
    total_cents   BIGINT      NOT NULL CHECK (total_cents >= 0),
    email         TEXT        NOT NULL,
    payment_ref   TEXT,
    trace_id      TEXT,
    -- A pending order belongs to the replica `claimed_by` until `claimed_until` (renewed while it
    -- works); after that, any replica may recover it.
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_pending_claims ON orders (claimed_until) WHERE status = 'pending';

CREATE TABLE order_items (
    order_id         TEXT   NOT NULL REFERENCES orders (id),
    product_id       BIGINT NOT NULL REFERENCES products (id),
    quantity         BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);

-- Claimed before its request runs: `status_code` and `body` stay NULL until the answer is stored.
CREATE TABLE idempotency_keys (
    key           TEXT        PRIMARY KEY,
    fingerprint   TEXT        NOT NULL,
    status_code   BIGINT,
    body          TEXT,
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status_code IS NULL) = (body IS NULL))
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
