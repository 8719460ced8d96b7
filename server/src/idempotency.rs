//! `Idempotency-Key` support: one request per key at a time, on every replica, and the first answer
//! replayed after.
//!
//! The key is claimed in the database ([`Db::claim_key`](crate::db::Db::claim_key)): its unique
//! constraint lets one request in, whichever replica it reached; the others wait for its stored
//! answer and replay it. The answer is kept for `IDEMPOTENCY_RETENTION_HOURS`.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    db::{Claim, Db, StoredResponse},
    error::AppError,
};

/// The longest key accepted, as most payment APIs allow.
pub const MAX_KEY_LEN: usize = 255;

/// How long a request waits for the answer of another request holding its key before it is
/// answered 409 `idempotency_key_in_progress` (under the 15 s request timeout).
const WAIT_FOR_ANSWER: Duration = Duration::from_secs(10);
/// The pauses between looks at a key held by another request: doubling from the first to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE: Duration = Duration::from_millis(250);

/// What a request with an `Idempotency-Key` is to do.
#[derive(Debug)]
pub enum Turn {
    /// Run: the key is this request's. Taken over from a holder that stopped, it names the order
    /// that holder had placed, if any.
    Run {
        /// The order an earlier holder of the key placed before it stopped.
        earlier_order: Option<String>,
    },
    /// Answer with what the key's first request answered.
    Replay(StoredResponse),
}

/// Claims `key` for the request with `fingerprint`, waiting while another request (on any
/// replica) holds it.
pub async fn claim(db: &Db, key: &str, fingerprint: &str) -> Result<Turn, AppError> {
    let deadline = Instant::now() + WAIT_FOR_ANSWER;
    let mut pause = FIRST_PAUSE;
    loop {
        let held_by = match db.claim_key(key, fingerprint).await? {
            Claim::Claimed { earlier_order } => return Ok(Turn::Run { earlier_order }),
            Claim::Answered(stored) if stored.fingerprint == fingerprint => {
                return Ok(Turn::Replay(stored));
            }
            Claim::Answered(stored) => stored.fingerprint,
            Claim::InProgress { fingerprint } => fingerprint,
        };
        if held_by != fingerprint {
            return Err(AppError::IdempotencyKeyReused);
        }
        if Instant::now() + pause > deadline {
            return Err(AppError::IdempotencyKeyInProgress);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Whether `key` is a usable idempotency key: 1 to 255 visible ASCII characters.
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(is_valid_key("order-7f3e"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("has space"));
        assert!(!is_valid_key(&"k".repeat(256)));
    }
}
