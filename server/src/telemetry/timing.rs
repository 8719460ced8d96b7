//! `Server-Timing`: how long a request took on the server and in its main parts, so the browser's
//! DevTools (and the page's waterfall) show the breakdown of every API call.
//!
//! The SERVER-span middleware puts a [`ServerTiming`] into the request's OpenTelemetry
//! [`Context`]; the code that runs a part ([`Part`]) adds its duration with [`record`]. The context
//! follows the request into spawned tasks (`with_current_context`), so the checkout's parts are
//! counted even though it runs detached. Header syntax: W3C Server Timing, §3 "The Server-Timing
//! header field" (`name;dur=<ms>;desc="…"`, entries separated by commas).

use std::{
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use opentelemetry::Context;

/// The response header.
pub const HEADER: &str = "server-timing";

/// A part of a request's work that `Server-Timing` reports on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Looking the checkout's products up (its SQL included).
    ProductLookup,
    /// Charging the card at the payment gateway.
    Payment,
    /// Every SQL statement of the request, together.
    Database,
}

impl Part {
    const ALL: [Self; 3] = [Self::ProductLookup, Self::Payment, Self::Database];

    /// The metric name in the header.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ProductLookup => "product",
            Self::Payment => "payment",
            Self::Database => "db",
        }
    }

    const fn description(self) -> &'static str {
        match self {
            Self::ProductLookup => "Product lookup",
            Self::Payment => "Payment",
            Self::Database => "Database",
        }
    }
}

/// The time spent in each [`Part`] by one request, summed.
#[derive(Debug, Clone, Default)]
pub struct ServerTiming {
    parts: Arc<Mutex<[Duration; 3]>>,
}

impl ServerTiming {
    fn add(&self, part: Part, elapsed: Duration) {
        let index = Part::ALL.iter().position(|p| *p == part).unwrap_or(0);
        self.parts.lock().unwrap_or_else(PoisonError::into_inner)[index] += elapsed;
    }

    /// The header value for a request that took `total`: the total first, then every part that
    /// took any time, in milliseconds with microsecond precision.
    pub fn header_value(&self, total: Duration) -> String {
        let parts = *self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut value = String::new();
        entry(&mut value, "total", total, "Total");
        for (part, elapsed) in Part::ALL.into_iter().zip(parts) {
            if !elapsed.is_zero() {
                value.push_str(", ");
                entry(&mut value, part.name(), elapsed, part.description());
            }
        }
        value
    }
}

fn entry(value: &mut String, name: &str, elapsed: Duration, description: &str) {
    let _ = write!(
        value,
        "{name};dur={:.3};desc=\"{description}\"",
        elapsed.as_secs_f64() * 1e3
    );
}

/// Adds `elapsed` to `part` of the request the current context belongs to (nothing outside a
/// request, e.g. at start-up).
pub fn record(part: Part, elapsed: Duration) {
    if let Some(timing) = Context::current().get::<ServerTiming>() {
        timing.add(part, elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::context::FutureExt as _;

    #[test]
    fn the_header_lists_the_total_then_each_part_that_took_time() {
        let timing = ServerTiming::default();
        let cx = Context::new().with_value(timing.clone());
        {
            let _guard = cx.attach();
            record(Part::Database, Duration::from_micros(1_250));
            record(Part::Database, Duration::from_micros(250));
            record(Part::Payment, Duration::from_millis(50));
        }
        record(Part::Payment, Duration::from_secs(9)); // outside the request: not counted
        assert_eq!(
            timing.header_value(Duration::from_micros(60_500)),
            "total;dur=60.500;desc=\"Total\", payment;dur=50.000;desc=\"Payment\", \
             db;dur=1.500;desc=\"Database\""
        );
    }

    #[tokio::test]
    async fn parts_recorded_in_a_spawned_task_count_for_the_request() {
        let timing = ServerTiming::default();
        let cx = Context::new().with_value(timing.clone());
        tokio::spawn(
            async { record(Part::ProductLookup, Duration::from_millis(2)) }.with_context(cx),
        )
        .await
        .expect("task");
        assert!(
            timing
                .header_value(Duration::from_millis(3))
                .contains("product;dur=2.000")
        );
    }
}
