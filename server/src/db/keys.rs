//! Idempotency keys: claiming one for a request, taking over one whose holder stopped, storing
//! its answer or releasing it, and forgetting old ones. The protocol built on these is
//! [`idempotency`](crate::idempotency)'s.

use std::time::Duration;

use sqlx::Row;

use super::{
    Db,
    sql::{
        ANSWER_IDEMPOTENCY_KEY, CLAIM_IDEMPOTENCY_KEY, DELETE_OLD_IDEMPOTENCY_KEYS,
        RELEASE_IDEMPOTENCY_KEY, SELECT_IDEMPOTENCY_KEY, TAKE_OVER_IDEMPOTENCY_KEY,
    },
};

/// What one attempt to claim an idempotency key found.
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
    /// The key was released (its request failed) between the insert and the look: try again.
    Released,
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

impl Db {
    /// Tries once to claim `key` for a request identified by `fingerprint`: inserted if new, taken
    /// over if its holder's lease expired; otherwise says what the key holds. The waiting and
    /// retrying are [`idempotency`](crate::idempotency)'s.
    pub async fn claim_key(&self, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
        with_pool!(self, |pool| {
            let insert = sqlx::query(self.sql(&CLAIM_IDEMPOTENCY_KEY))
                .bind(key)
                .bind(fingerprint)
                .bind(&*self.claims.replica)
                .bind(self.claims.lease_seconds);
            let inserted = self
                .run(&CLAIM_IDEMPOTENCY_KEY, insert.execute(pool))
                .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Claim::Claimed {
                    earlier_order: None,
                });
            }
            let select = sqlx::query(self.sql(&SELECT_IDEMPOTENCY_KEY)).bind(key);
            let Some(row) = self
                .run(&SELECT_IDEMPOTENCY_KEY, select.fetch_optional(pool))
                .await?
            else {
                return Ok(Claim::Released);
            };
            let stored_fingerprint: String = row.try_get("fingerprint")?;
            let status: Option<i64> = row.try_get("status_code")?;
            let body: Option<String> = row.try_get("body")?;
            if let (Some(status), Some(body)) = (status, body) {
                return Ok(Claim::Answered(StoredResponse {
                    fingerprint: stored_fingerprint,
                    status_code: u16::try_from(status).unwrap_or(500),
                    body,
                }));
            }
            let expired: bool = row.try_get("expired")?;
            if expired && stored_fingerprint == fingerprint {
                let take_over = sqlx::query(self.sql(&TAKE_OVER_IDEMPOTENCY_KEY))
                    .bind(key)
                    .bind(&*self.claims.replica)
                    .bind(self.claims.lease_seconds);
                let taken = self
                    .run(&TAKE_OVER_IDEMPOTENCY_KEY, take_over.execute(pool))
                    .await?;
                if taken.rows_affected() == 1 {
                    return Ok(Claim::Claimed {
                        earlier_order: row.try_get("order_id")?,
                    });
                }
            }
            Ok(Claim::InProgress {
                fingerprint: stored_fingerprint,
            })
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
}
