//! Faults injected at run time, for demos and drills (as Jaeger's HotROD and the OpenTelemetry Demo
//! offer): the payment gateway's latency and failure rate, and a delay before every SQL statement.
//! They start from `PAYMENT_LATENCY_MS` and `PAYMENT_FAILURE_RATE` (no database delay) and change
//! without a restart through `GET`/`PUT /api/faults`, which exists only with `FAULTS_ENDPOINT=1`.
//! The slow or failing work shows in the trace: the delays sit inside the `payment.charge` and
//! SQL spans.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::domain::Invalid;

/// The longest latency or delay accepted, so a typo cannot hang every request for hours.
pub const MAX_DELAY_MS: u64 = 60_000;

/// The faults in force, shared by the gateway, the database and the endpoint.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Settings>);

#[derive(Debug, Default)]
struct Settings {
    payment_latency_ms: AtomicU64,
    /// An `f64`, as its bits.
    payment_failure_rate: AtomicU64,
    db_delay_ms: AtomicU64,
}

/// The faults as the endpoint shows them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaultSettings {
    /// How long each charge takes.
    pub payment_latency_ms: u64,
    /// The share of charges (0.0–1.0) that fail as gateway errors.
    pub payment_failure_rate: f64,
    /// How long each SQL statement waits before it runs.
    pub db_delay_ms: u64,
}

/// A change of some of the faults: what is absent stays as it is.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsUpdate {
    /// New payment latency, 0 to [`MAX_DELAY_MS`].
    pub payment_latency_ms: Option<u64>,
    /// New payment failure rate, 0.0 to 1.0.
    pub payment_failure_rate: Option<f64>,
    /// New database delay, 0 to [`MAX_DELAY_MS`].
    pub db_delay_ms: Option<u64>,
}

impl Faults {
    /// Faults starting at `payment_latency` and `payment_failure_rate`, with no database delay.
    pub fn new(payment_latency: Duration, payment_failure_rate: f64) -> Self {
        let faults = Self::default();
        faults.store(FaultSettings {
            payment_latency_ms: u64::try_from(payment_latency.as_millis()).unwrap_or(u64::MAX),
            payment_failure_rate,
            db_delay_ms: 0,
        });
        faults
    }

    /// The faults in force.
    pub fn settings(&self) -> FaultSettings {
        FaultSettings {
            payment_latency_ms: self.0.payment_latency_ms.load(Ordering::Relaxed),
            payment_failure_rate: f64::from_bits(
                self.0.payment_failure_rate.load(Ordering::Relaxed),
            ),
            db_delay_ms: self.0.db_delay_ms.load(Ordering::Relaxed),
        }
    }

    /// Applies `update` when every value in it is valid; otherwise changes nothing and names the
    /// first invalid field.
    pub fn update(&self, update: FaultsUpdate) -> Result<FaultSettings, Invalid> {
        let delay = |field: &'static str, ms: Option<u64>| match ms {
            Some(ms) if ms > MAX_DELAY_MS => Err(Invalid::new(
                field,
                format!("must be at most {MAX_DELAY_MS} milliseconds"),
            )),
            _ => Ok(ms),
        };
        let payment_latency_ms = delay("payment_latency_ms", update.payment_latency_ms)?;
        let db_delay_ms = delay("db_delay_ms", update.db_delay_ms)?;
        if let Some(rate) = update.payment_failure_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(Invalid::new(
                "payment_failure_rate",
                "must be a number from 0.0 to 1.0",
            ));
        }
        let current = self.settings();
        let settings = FaultSettings {
            payment_latency_ms: payment_latency_ms.unwrap_or(current.payment_latency_ms),
            payment_failure_rate: update
                .payment_failure_rate
                .unwrap_or(current.payment_failure_rate),
            db_delay_ms: db_delay_ms.unwrap_or(current.db_delay_ms),
        };
        self.store(settings);
        Ok(settings)
    }

    fn store(&self, settings: FaultSettings) {
        let s = &self.0;
        s.payment_latency_ms
            .store(settings.payment_latency_ms, Ordering::Relaxed);
        s.payment_failure_rate
            .store(settings.payment_failure_rate.to_bits(), Ordering::Relaxed);
        s.db_delay_ms.store(settings.db_delay_ms, Ordering::Relaxed);
    }

    /// How long a charge takes now.
    pub fn payment_latency(&self) -> Duration {
        Duration::from_millis(self.0.payment_latency_ms.load(Ordering::Relaxed))
    }

    /// The share of charges that fail now.
    pub fn payment_failure_rate(&self) -> f64 {
        self.settings().payment_failure_rate
    }

    /// How long each SQL statement waits now.
    pub fn db_delay(&self) -> Duration {
        Duration::from_millis(self.0.db_delay_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_changes_what_it_names_and_keeps_the_rest() {
        let faults = Faults::new(Duration::from_millis(50), 0.0);
        let settings = faults
            .update(FaultsUpdate {
                db_delay_ms: Some(20),
                ..FaultsUpdate::default()
            })
            .expect("valid");
        assert_eq!(
            settings,
            FaultSettings {
                payment_latency_ms: 50,
                payment_failure_rate: 0.0,
                db_delay_ms: 20
            }
        );
        assert_eq!(faults.db_delay(), Duration::from_millis(20));
    }

    #[test]
    fn an_invalid_update_names_its_field_and_changes_nothing() {
        let faults = Faults::new(Duration::from_millis(50), 0.0);
        let error = faults
            .update(FaultsUpdate {
                payment_latency_ms: Some(1),
                payment_failure_rate: Some(1.5),
                db_delay_ms: None,
            })
            .expect_err("1.5 is not a share");
        assert_eq!(error.field, "payment_failure_rate");
        assert_eq!(faults.payment_latency(), Duration::from_millis(50));
        let error = faults
            .update(FaultsUpdate {
                db_delay_ms: Some(MAX_DELAY_MS + 1),
                ..FaultsUpdate::default()
            })
            .expect_err("too long");
        assert_eq!(error.field, "db_delay_ms");
    }
}
