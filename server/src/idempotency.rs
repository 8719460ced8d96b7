//! `Idempotency-Key`: one request per key at a time, on every replica, and the first answer
//! replayed after.
//!
//! The whole protocol is here. A route reads the [`key`] from the headers and names what makes two
//! requests the same ([`fingerprint`]); [`begin`] then either hands it a [`Guard`] on the key, or
//! the [`Replay`] of the key's stored answer. The request runs holding the guard and ends it with
//! [`Guard::finish`]: its answer is stored and replayed from then on, unless it was an internal
//! error, after which the key is released so that a retry runs again.
//!
//! The key is claimed in the database ([`Db::claim_key`]): its unique constraint lets one request
//! in, whichever replica it reached; the others wait for its stored answer and replay it. The
//! answer is kept for `IDEMPOTENCY_RETENTION_HOURS`.

use std::time::Duration;

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::{
    db::{Claim, Db, StoredResponse},
    domain::Checkout,
    error::{AppError, InternalError},
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
pub enum Turn {
    /// Run, holding the key.
    Run(Guard),
    /// Answer with what the key's first request answered.
    Replay(Replay),
}

/// A request's hold on its key, from [`begin`] until [`finish`](Guard::finish) (or, on a path
/// with an answer of its own, [`answer`](Guard::answer)).
///
/// A guard dropped without either (the task panicked) leaves the key claimed until its lease
/// expires; the next request with it then takes it over.
#[must_use = "a request holding a key ends with finish() or answer()"]
pub struct Guard {
    db: Db,
    key: String,
    fingerprint: String,
    earlier_order: Option<String>,
}

/// The key's stored answer, sent again with `Idempotent-Replayed: true`.
#[derive(Debug)]
pub struct Replay(StoredResponse);

/// The `Idempotency-Key` header, if present; a malformed one is a 400. A key is 1 to 255 visible
/// ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if is_valid_key(key) => Ok(Some(key.to_owned())),
        _ => Err(AppError::IdempotencyKeyInvalid),
    }
}

/// What identifies "the same request" for a key: the lines, the card's last four and the email.
/// Only this digest is stored, never the card number.
pub fn fingerprint(checkout: &Checkout) -> String {
    let mut hasher = Sha256::new();
    for item in &checkout.items {
        hasher.update(format!("{}x{};", item.product_id, item.quantity));
    }
    hasher.update(checkout.card.last4());
    hasher.update(checkout.email.as_str());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Claims `key` for the request with `fingerprint`, waiting while another request (on any
/// replica) holds it: the one loop of the protocol.
pub async fn begin(db: &Db, key: String, fingerprint: String) -> Result<Turn, AppError> {
    let deadline = Instant::now() + WAIT_FOR_ANSWER;
    let mut pause = FIRST_PAUSE;
    loop {
        let held_by = match db.claim_key(&key, &fingerprint).await? {
            Claim::Claimed { earlier_order } => {
                return Ok(Turn::Run(Guard {
                    db: db.clone(),
                    key,
                    fingerprint,
                    earlier_order,
                }));
            }
            Claim::Answered(stored) if stored.fingerprint == fingerprint => {
                return Ok(Turn::Replay(Replay(stored)));
            }
            // Released between the insert and the look: claim it anew at once.
            Claim::Released => continue,
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

impl Guard {
    /// The key held.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Taken over from a holder that stopped: the order that holder had placed, if any.
    pub fn earlier_order(&self) -> Option<&str> {
        self.earlier_order.as_deref()
    }

    /// Ends the request with its outcome: a success answered `status`, or an error. Every settled
    /// answer becomes the key's, a 4xx or a 502 included (its order is recorded as failed); only an
    /// internal error, after which the state is unknown, releases the key for a retry to run again.
    pub async fn finish<T: Serialize>(
        self,
        status: StatusCode,
        outcome: &Result<T, AppError>,
    ) -> Result<(), AppError> {
        match outcome {
            Ok(body) => self.answer(status, body).await.map(drop),
            Err(error) if error.status_code() == StatusCode::INTERNAL_SERVER_ERROR => {
                self.release().await
            }
            Err(error) => self
                .answer(error.status_code(), &error.body())
                .await
                .map(drop),
        }
    }

    /// Stores `body` answered `status` as the key's answer, and returns it as a retry gets it.
    pub async fn answer(
        self,
        status: StatusCode,
        body: &impl Serialize,
    ) -> Result<Replay, AppError> {
        let body = match serde_json::to_string(body) {
            Ok(body) => body,
            Err(error) => {
                self.release().await?;
                return Err(InternalError::Answer(error).into());
            }
        };
        self.db
            .answer_key(&self.key, status.as_u16(), &body)
            .await?;
        Ok(Replay(StoredResponse {
            fingerprint: self.fingerprint,
            status_code: status.as_u16(),
            body,
        }))
    }

    /// Gives the key up without an answer, so that a retry runs the request again.
    async fn release(self) -> Result<(), AppError> {
        Ok(self.db.release_key(&self.key).await?)
    }
}

impl IntoResponse for Replay {
    fn into_response(self) -> Response {
        let Replay(stored) = self;
        let status =
            StatusCode::from_u16(stored.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            stored.body,
        )
            .into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        response
    }
}

/// Whether `key` is a usable idempotency key: 1 to 255 visible ASCII characters.
fn is_valid_key(key: &str) -> bool {
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

    #[test]
    fn a_key_header_is_read_or_refused() {
        let mut headers = HeaderMap::new();
        assert!(matches!(key(&headers), Ok(None)));
        headers.insert("idempotency-key", HeaderValue::from_static("order-7f3e"));
        assert_eq!(key(&headers).expect("read").as_deref(), Some("order-7f3e"));
        headers.insert("idempotency-key", HeaderValue::from_static("has space"));
        assert!(matches!(
            key(&headers),
            Err(AppError::IdempotencyKeyInvalid)
        ));
    }
}
