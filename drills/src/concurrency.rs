//! The concurrency drill: 1,000 checkouts at concurrency 50 on a scarce catalog.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use checkout_api::OrderStatus;
use futures::{StreamExt as _, stream};
use test_support::{
    collector::{Collector, Mode},
    ledger::Ledger,
    server,
};

use crate::*;

pub(crate) async fn run() -> Vec<String> {
    const CHECKOUTS: usize = 1000;
    const CONCURRENCY: usize = 50;
    // Scarce: 6 × 120 = 720 units for 1,000 buyers, so the last units are raced for.
    const SEED: i64 = 120;
    println!(
        "== concurrency: {CHECKOUTS} checkouts at concurrency {CONCURRENCY}, {SEED} of each of {PRODUCTS} products"
    );
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("drill.db");
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server(&db, SEED, collector.addr).await;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let results: Vec<(u16, Option<String>, Duration)> = stream::iter(0..CHECKOUTS)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let t = Instant::now();
                let (status, order) = checkout(&client, &base, (i as i64 % PRODUCTS) + 1).await;
                (status, order, t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut scanned = Vec::new();
    scan_for_card_data("concurrency", &server, &collector, &mut scanned);
    drop(server);
    let ledger = Ledger::read(&server::sqlite_url(&db)).await;

    let mut missed = Vec::new();
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, ..) in &results {
        *by_status.entry(*status).or_default() += 1;
    }
    let acknowledged: Vec<&String> = results.iter().filter_map(|(_, o, _)| o.as_ref()).collect();
    let paid = ledger.count(OrderStatus::Paid);
    if paid != acknowledged.len() {
        missed.push(format!(
            "concurrency: {paid} paid orders for {} acknowledged",
            acknowledged.len()
        ));
    }
    if let Some(unpaid) = acknowledged.iter().find(|id| !ledger.is_paid(id)) {
        missed.push(format!(
            "concurrency: acknowledged order {unpaid} is not paid"
        ));
    }
    if by_status.keys().any(|s| !matches!(s, 201 | 409)) {
        missed.push(format!(
            "concurrency: answers other than 201/409: {by_status:?}"
        ));
    }
    missed.extend(
        ledger
            .stock_mismatches(SEED)
            .into_iter()
            .map(|m| format!("concurrency: {m}")),
    );
    missed.extend(scanned);
    let mut times: Vec<Duration> = results.iter().map(|(.., t)| *t).collect();
    times.sort_unstable();
    println!(
        "  {:.0} checkouts/s; p50 {:?}, p99 {:?}; answers {by_status:?}; {paid} paid = {} acknowledged; stock = seed - paid for every product",
        CHECKOUTS as f64 / elapsed.as_secs_f64(),
        loadgen::percentile(&times, 50),
        loadgen::percentile(&times, 99),
        acknowledged.len()
    );
    missed
}
