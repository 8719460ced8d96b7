//! `Idempotency-Key` support: one request per key at a time, and the first answer replayed after.
//!
//! A per-key async lock serialises concurrent retries inside this process (one SQLite file means one
//! writer process); the answer itself is stored in the database, so replays survive a restart.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The longest key accepted, as most payment APIs allow.
pub const MAX_KEY_LEN: usize = 255;

/// The locks of the keys in flight; a key's entry is removed when its last holder lets go.
#[derive(Default, Clone)]
pub struct KeyLocks {
    locks: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Held while a request with this key is processed.
pub struct KeyGuard {
    key: String,
    locks: KeyLocks,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Waits until no other request holds `key`, then holds it.
    pub async fn lock(&self, key: &str) -> KeyGuard {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry(key.to_owned()).or_default())
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            key: key.to_owned(),
            locks: self.clone(),
            guard: Some(guard),
        }
    }

    fn release(&self, key: &str, guard: OwnedMutexGuard<()>) {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        drop(guard);
        // Only the map still holds it: nobody is waiting, so forget the key.
        if locks
            .get(key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            self.locks.release(&self.key, guard);
        }
    }
}

/// Whether `key` is a usable idempotency key: 1 to 255 visible ASCII characters.
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first_and_keys_are_forgotten_after() {
        let locks = KeyLocks::default();
        let first = locks.lock("k").await;
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { drop(locks.lock("k").await) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second holder must wait");
        drop(first);
        waiting.await.expect("second holder finishes");
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let locks = KeyLocks::default();
        let _a = locks.lock("a").await;
        let _b = tokio::time::timeout(Duration::from_secs(1), locks.lock("b"))
            .await
            .expect("no wait");
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(is_valid_key("order-7f3e"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("has space"));
        assert!(!is_valid_key(&"k".repeat(256)));
    }
}
