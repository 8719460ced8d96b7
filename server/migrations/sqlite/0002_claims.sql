-- Claims, so that several processes can share one database: a pending order and an idempotency key
-- in progress belong to the replica named in `claimed_by` until `claimed_until` (renewed while it
-- works); after that, any replica may recover them. Orders left pending by an older version have
-- no claim and are recovered at once.
ALTER TABLE orders ADD COLUMN claimed_by TEXT;
ALTER TABLE orders ADD COLUMN claimed_until TEXT;
CREATE INDEX orders_pending_claims ON orders (claimed_until) WHERE status = 'pending';

-- An idempotency key is claimed before its request runs: `status_code` and `body` stay NULL until
-- the answer is stored. SQLite cannot drop NOT NULL in place, so the table is rebuilt.
CREATE TABLE idempotency_keys_claimed (
    key           TEXT    PRIMARY KEY,
    fingerprint   TEXT    NOT NULL,
    status_code   INTEGER,
    body          TEXT,
    claimed_by    TEXT,
    claimed_until TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK ((status_code IS NULL) = (body IS NULL))
);
INSERT INTO idempotency_keys_claimed (key, fingerprint, status_code, body, created_at)
    SELECT key, fingerprint, status_code, body, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_claimed RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
