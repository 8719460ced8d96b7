//! `Server-Timing` on API responses: the total and its parts. (That the page's origins may read
//! it is checked with the other CORS rules, in `tracing.rs`.)

use std::time::Duration;

use crate::helpers::{checkout_body, spawn_app, spawn_app_with, test_cards};

/// One `name;dur=…;desc="…"` entry of the header.
#[derive(Debug)]
struct Metric {
    name: String,
    dur_ms: f64,
    desc: String,
}

/// Parses a `Server-Timing` value (W3C Server Timing §3): entries separated by commas, each a
/// name with `;param=value` pairs.
fn parse(value: &str) -> Vec<Metric> {
    value
        .split(',')
        .map(|entry| {
            let mut params = entry.trim().split(';');
            let name = params.next().expect("a name").trim().to_owned();
            let (mut dur_ms, mut desc) = (f64::NAN, String::new());
            for param in params {
                let (key, value) = param.trim().split_once('=').expect("key=value");
                match key {
                    "dur" => dur_ms = value.parse().expect("a number of milliseconds"),
                    "desc" => desc = value.trim_matches('"').to_owned(),
                    other => panic!("unexpected parameter {other}"),
                }
            }
            Metric { name, dur_ms, desc }
        })
        .collect()
}

fn server_timing(response: &reqwest::Response) -> Vec<Metric> {
    let value = response
        .headers()
        .get("server-timing")
        .expect("a Server-Timing header")
        .to_str()
        .expect("ascii");
    parse(value)
}

/// The metric named `name`; panics when missing.
fn metric<'m>(metrics: &'m [Metric], name: &str) -> &'m Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
}

#[tokio::test]
async fn a_checkout_reports_its_total_and_the_lookup_payment_and_database_within_it() {
    let app = spawn_app_with(|c| c.payment_latency = Duration::from_millis(30)).await;
    let response = app
        .checkout(&checkout_body(&[(1, 1)], test_cards::APPROVED))
        .await;
    assert_eq!(response.status(), 201);
    let metrics = server_timing(&response);
    assert_eq!(
        metrics[0].name, "total",
        "the total comes first: {metrics:?}"
    );
    let total = metric(&metrics, "total");
    for name in ["product", "payment", "db"] {
        let part = metric(&metrics, name);
        assert!(
            part.dur_ms > 0.0 && part.dur_ms <= total.dur_ms,
            "{name} {} ms is not within the total {} ms",
            part.dur_ms,
            total.dur_ms
        );
        assert!(!part.desc.is_empty(), "{name} has a description");
    }
    assert!(metric(&metrics, "payment").dur_ms >= 30.0, "{metrics:?}");
    assert!(
        metric(&metrics, "product").dur_ms + metric(&metrics, "payment").dur_ms <= total.dur_ms,
        "the lookup and the payment run one after the other: {metrics:?}"
    );
}

#[tokio::test]
async fn the_catalog_reports_its_total_and_its_database_time() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/products"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let metrics = server_timing(&response);
    let (total, db) = (metric(&metrics, "total"), metric(&metrics, "db"));
    assert!(db.dur_ms > 0.0 && db.dur_ms <= total.dur_ms, "{metrics:?}");
    assert!(
        metrics.iter().all(|m| m.name != "payment"),
        "no part that did not run: {metrics:?}"
    );
}
