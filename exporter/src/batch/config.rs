//! The processor's settings: the `OTEL_BSP_*` variables (SDK environment variables, "Batch Span
//! Processor"), and `EXPORT_QUEUE_MAX_BYTES`, the bytes its queue may hold.

use std::{env, time::Duration};

use crate::env::{timeout_millis, whole_number};

/// The `OTEL_BSP_*` settings (SDK environment variables, "Batch Span Processor"). A value that is
/// not a whole number, or a size of 0, is warned about and the default used instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// `OTEL_BSP_SCHEDULE_DELAY`: the time between two exports (default 5 s; 0 exports whatever
    /// is queued as soon as the last export is done).
    pub schedule_delay: Duration,
    /// `OTEL_BSP_EXPORT_TIMEOUT`: the longest one export may take (default 30 s; 0, `None`: no
    /// limit).
    pub export_timeout: Option<Duration>,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: spans kept waiting before new ones are dropped (default 2048).
    pub max_queue_size: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans in one export (default 512, at most the queue size).
    pub max_export_batch_size: usize,
    /// `EXPORT_QUEUE_MAX_BYTES` (this processor's own): the bytes the queue may hold, encoded
    /// spans and the bodies of batches kept through an outage (default 16 MiB).
    pub max_queue_bytes: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            schedule_delay: Duration::from_millis(5000),
            export_timeout: Some(Duration::from_millis(30_000)),
            max_queue_size: 2048,
            max_export_batch_size: 512,
            max_queue_bytes: 16 << 20,
        }
    }
}

impl BatchConfig {
    /// The settings the `OTEL_BSP_*` variables give, defaults for the ones unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The settings the variables `lookup` gives (tests need not touch the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let defaults = Self::default();
        let number = |name: &str, least: u64| whole_number(name, lookup(name), least);
        let size = |name: &str, default: usize| {
            number(name, 1).map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let max_queue_size = size("OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue_size);
        Self {
            schedule_delay: number("OTEL_BSP_SCHEDULE_DELAY", 0)
                .map_or(defaults.schedule_delay, Duration::from_millis),
            export_timeout: number("OTEL_BSP_EXPORT_TIMEOUT", 0)
                .map_or(defaults.export_timeout, timeout_millis),
            max_queue_size,
            // "Must be less than or equal to OTEL_BSP_MAX_QUEUE_SIZE": a larger one is the queue's.
            max_export_batch_size: size(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                defaults.max_export_batch_size,
            )
            .min(max_queue_size),
            max_queue_bytes: size("EXPORT_QUEUE_MAX_BYTES", defaults.max_queue_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::lookup_in;

    fn config(vars: &[(&str, &str)]) -> BatchConfig {
        BatchConfig::from_lookup(lookup_in(vars))
    }

    #[test]
    fn the_variables_set_the_batches_and_a_batch_is_never_larger_than_the_queue() {
        assert_eq!(config(&[]), BatchConfig::default());
        let set = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
        ]);
        assert_eq!(set.schedule_delay, Duration::from_millis(200));
        assert_eq!(set.export_timeout, Some(Duration::from_secs(1)));
        assert_eq!((set.max_queue_size, set.max_export_batch_size), (4, 4));
        let zero = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ]);
        assert_eq!(zero.schedule_delay, Duration::ZERO);
        assert_eq!(zero.export_timeout, None, "0: no limit");
        assert_eq!(
            config(&[("EXPORT_QUEUE_MAX_BYTES", "1048576")]).max_queue_bytes,
            1 << 20
        );
    }

    #[test]
    fn a_value_that_cannot_be_used_is_ignored_for_the_default() {
        let defaults = BatchConfig::default();
        let set = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "soon"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "-1"),
        ]);
        assert_eq!(set, defaults);
        assert_eq!(
            config(&[("OTEL_BSP_SCHEDULE_DELAY", " ")]),
            defaults,
            "empty: unset"
        );
    }
}
