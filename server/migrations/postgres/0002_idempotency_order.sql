-- The order a key's request placed, recorded when the order is reserved: a request that takes over
-- a key whose holder died after charging answers with that order instead of charging again.
ALTER TABLE idempotency_keys ADD COLUMN order_id TEXT;
