//! A load generator that makes traces: a realistic mix of catalog views and checkouts, sent open-loop
//! at a fixed rate, each request the root of its own trace (a fresh `traceparent`).
//!
//! The mix: 40 % catalog views (or the share asked for); the rest checkouts of 1–4 products, of
//! which ~10 % pay with the declining card and ~2 % with the card the gateway fails on, and ~10 %
//! carry an `Idempotency-Key` and are sent again with it, as a client retrying would.
//!
//! Every answer is judged against what that request should get: a view 200; a checkout 201; the
//! declining card 402; the failing card 502 (any checkout a 409 once its stock runs out); a retry
//! the first answer again, marked `Idempotent-Replayed`. Anything else (a 5xx, a 503 for overload, a dropped
//! connection) is unexpected and counted apart.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use checkout_api::{CardRequest, CheckoutRequest, LineItemRequest, test_cards};
use rand::Rng as _;
use tokio::sync::Semaphore;

/// The email every checkout of the load gives (for a scan of what the server logged to look for).
pub const EMAIL: &str = "load@example.com";
/// The seeded catalog's products.
const PRODUCTS: i64 = 6;
/// Requests in flight at most; past it the generator reports itself behind instead of piling up.
const MAX_IN_FLIGHT: usize = 2000;

/// What to send, where, for how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// The base URL: the server (`http://127.0.0.1:3000`, and compose's `http://localhost:3000`)
    /// or `trunk serve`'s page, whose `/api` reaches the server. (Not the compose page: its nginx
    /// limits each client address to far less than a load test sends.)
    pub target: String,
    /// Requests per second.
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// Print a progress line every second (to stderr).
    pub progress: bool,
    /// The share of catalog views, in percent (the rest are checkouts); 40 in the usual mix.
    pub catalog_percent: u32,
}

/// What a run saw.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Requests sent (retries included).
    pub sent: usize,
    /// Answers by status (0: no answer).
    pub by_status: BTreeMap<u16, usize>,
    /// Answers that were not what their request should get, with why.
    pub unexpected: Vec<String>,
    /// The latency of every answered request.
    pub latencies: Vec<Duration>,
    /// Every request sent, in the order their answers came.
    pub requests: Vec<Request>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// The `q`-th percentile latency (`q` in 0..=100).
    pub fn percentile(&self, q: usize) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        percentile(&sorted, q)
    }

    /// One line: rate, answers by status, unexpected, p50/p99.
    pub fn line(&self) -> String {
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{status}:{n}"))
            .collect();
        format!(
            "{:>5.1} s  {:>6.1} req/s  sent {}  [{}]  unexpected {}  p50 {:.1} ms  p99 {:.1} ms",
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.sent,
            statuses.join(" "),
            self.unexpected.len(),
            self.percentile(50).as_secs_f64() * 1e3,
            self.percentile(99).as_secs_f64() * 1e3,
        )
    }
}

/// The `q`-th percentile (`q` in 0..=100) of `sorted`, nearest rank; zero when empty.
pub fn percentile(sorted: &[Duration], q: usize) -> Duration {
    sorted
        .get((sorted.len() * q / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// One request the generator sent: its trace and its answer.
#[derive(Debug, Clone)]
pub struct Request {
    /// The trace id of its `traceparent` (each request is the root of its own trace).
    pub trace_id: String,
    /// Its answer's status (0: no answer).
    pub status: u16,
    /// Whether the answer was a replay (`Idempotent-Replayed`): the server charged nothing for it.
    pub replayed: bool,
}

/// What a request should be answered with.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Catalog,
    /// 201, or 409 once stock runs out.
    Placed,
    Declined,
    GatewayError,
}

impl Expect {
    fn accepts(self, status: u16) -> bool {
        match self {
            Self::Catalog => status == 200,
            // Stock is taken before the card is charged: once it runs out, every checkout is a 409.
            Self::Placed => matches!(status, 201 | 409),
            Self::Declined => matches!(status, 402 | 409),
            Self::GatewayError => matches!(status, 502 | 409),
        }
    }
}

/// Sends the mix at `options.rate` for `options.duration`, then waits for the answers.
pub async fn run(options: &Options) -> Report {
    let client = reqwest::Client::new();
    let report = Arc::new(Mutex::new(Report::default()));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let mut next_progress = Duration::from_secs(1);
    while started.elapsed() < options.duration {
        tick.tick().await;
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            record_unexpected(
                &report,
                "the generator fell behind: too many requests in flight",
            );
            continue;
        };
        let task = {
            let (client, target, report) =
                (client.clone(), options.target.clone(), Arc::clone(&report));
            let catalog_percent = options.catalog_percent;
            async move {
                one(&client, &target, catalog_percent, &report).await;
                drop(permit);
            }
        };
        tasks.push(tokio::spawn(task));
        if options.progress && started.elapsed() >= next_progress {
            next_progress += Duration::from_secs(1);
            let mut now = report.lock().expect("lock").clone();
            now.elapsed = started.elapsed();
            eprint!("\r{}", now.line());
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut report = report.lock().expect("lock").clone();
    report.elapsed = started.elapsed();
    if options.progress {
        eprintln!("\r{}", report.line());
    }
    report
}

fn record_unexpected(report: &Mutex<Report>, why: &str) {
    report.lock().expect("lock").unexpected.push(why.to_owned());
}

/// One request of the mix (a checkout with a key is sent twice).
async fn one(client: &reqwest::Client, target: &str, catalog_percent: u32, report: &Mutex<Report>) {
    let (roll, items, key): (u32, usize, Option<String>) = {
        let mut rng = rand::rng();
        let key = (rng.random_range(0..10) == 0)
            .then(|| format!("loadgen-{:032x}", rng.random::<u128>()));
        (rng.random_range(0..100), rng.random_range(1..=4), key)
    };
    if roll < catalog_percent {
        send(client, report, Expect::Catalog, |r| {
            r.get(format!("{target}/api/products"))
        })
        .await;
        return;
    }
    // Of the checkouts: ~10 % declined, ~2 % failing at the gateway.
    let checkout_roll = (roll - catalog_percent) * 100 / (100 - catalog_percent).max(1);
    let (card, expect) = match checkout_roll {
        0..=9 => (test_cards::DECLINED, Expect::Declined),
        10 | 11 => (test_cards::GATEWAY_ERROR, Expect::GatewayError),
        _ => (test_cards::APPROVED, Expect::Placed),
    };
    let body = checkout_body(items, card);
    let post = |client: &reqwest::Client| {
        let request = client.post(format!("{target}/api/checkout")).json(&body);
        match &key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    };
    let first = send(client, report, expect, post).await;
    if key.is_some() {
        let again = send(client, report, expect, post).await;
        if let (Some(first), Some((status, replayed))) = (first, again)
            && (status != first.0 || !replayed)
        {
            record_unexpected(
                report,
                &format!(
                    "a retry answered {status} (replayed: {replayed}) after {}",
                    first.0
                ),
            );
        }
    }
}

/// Sends one request, built by `build`, with a fresh root `traceparent`; records the answer and
/// returns (status, whether it was a replay).
async fn send(
    client: &reqwest::Client,
    report: &Mutex<Report>,
    expect: Expect,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Option<(u16, bool)> {
    let (trace_id, span_id): (u128, u64) = {
        let mut rng = rand::rng();
        (
            rng.random_range(1..=u128::MAX),
            rng.random_range(1..=u64::MAX),
        )
    };
    let trace_id = format!("{trace_id:032x}");
    let request = build(client).header("traceparent", format!("00-{trace_id}-{span_id:016x}-01"));
    let started = Instant::now();
    let answer = request.send().await;
    let elapsed = started.elapsed();
    let mut report = report.lock().expect("lock");
    report.sent += 1;
    let Ok(response) = answer else {
        *report.by_status.entry(0).or_default() += 1;
        report.unexpected.push(format!("{expect:?}: no answer"));
        report.requests.push(Request {
            trace_id,
            status: 0,
            replayed: false,
        });
        return None;
    };
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    report.requests.push(Request {
        trace_id,
        status,
        replayed,
    });
    *report.by_status.entry(status).or_default() += 1;
    report.latencies.push(elapsed);
    if !expect.accepts(status) {
        report
            .unexpected
            .push(format!("{expect:?}: answered {status}"));
    }
    Some((status, replayed))
}

fn checkout_body(items: usize, card: &str) -> CheckoutRequest {
    let mut rng = rand::rng();
    let mut lines: Vec<LineItemRequest> = Vec::new();
    for _ in 0..items {
        let product_id = rng.random_range(1..=PRODUCTS);
        if !lines.iter().any(|l| l.product_id == product_id) {
            lines.push(LineItemRequest {
                product_id,
                quantity: rng.random_range(1..=2),
            });
        }
    }
    CheckoutRequest {
        items: lines,
        card: CardRequest {
            number: card.to_owned(),
            expiry: "12/34".to_owned(),
            cvc: "123".to_owned(),
        },
        email: EMAIL.to_owned(),
    }
}
