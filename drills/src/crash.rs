//! The crash drill: checkouts at concurrency 20, `kill -9` mid-load, restart on the same database.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use checkout_api::OrderStatus;
use futures::{StreamExt as _, stream};
use test_support::{
    collector::{Collector, Mode},
    ledger::Ledger,
    server,
};
use tokio::process::Command;

use crate::*;

pub(crate) async fn run() -> Vec<String> {
    const SEED: i64 = 100_000;
    const CONCURRENCY: usize = 20;
    println!("== crash: checkouts at concurrency {CONCURRENCY}, kill -9 after 2 s, restart");
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("drill.db");
    let collector = Collector::start(Mode::Healthy).await;
    let server = start_server(&db, SEED, collector.addr).await;
    let base = format!("http://{}", server.addr);
    let pid = server.process.id().expect("running");
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let load = {
        let acknowledged = Arc::clone(&acknowledged);
        tokio::spawn(async move {
            stream::iter(0..)
                .map(|i: i64| {
                    let (client, base) = (client.clone(), base.clone());
                    async move { checkout(&client, &base, i % PRODUCTS + 1).await }
                })
                .buffer_unordered(CONCURRENCY)
                .take_while(|(status, _)| std::future::ready(*status != 0))
                .for_each(|(_, order)| {
                    if let Some(order) = order {
                        acknowledged.lock().expect("lock").push(order);
                    }
                    std::future::ready(())
                })
                .await;
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(10), load).await;
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let before_restart = Ledger::read(&server::sqlite_url(&db)).await;
    let pending_at_crash = before_restart.count(OrderStatus::Pending);

    // Restart on the same file: recovery fails what the crash left pending and returns its stock.
    let restarted = start_server(&db, SEED, collector.addr).await;
    // The killed server's claims expire after their 2 s lease; the restarted one then recovers
    // them within a third of a lease.
    let recovery = Instant::now();
    while Ledger::read(&server::sqlite_url(&db))
        .await
        .count(OrderStatus::Pending)
        > 0
        && recovery.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = recovery.elapsed();
    let mut scanned = Vec::new();
    scan_for_card_data("crash", &server, &collector, &mut scanned);
    scan_for_card_data("crash (restarted)", &restarted, &collector, &mut scanned);
    drop(restarted);
    let ledger = Ledger::read(&server::sqlite_url(&db)).await;
    let mut missed = Vec::new();
    if acknowledged.is_empty() {
        missed.push("crash: no checkout was acknowledged before the crash".to_owned());
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !ledger.is_paid(id))
        .collect();
    if !lost.is_empty() {
        missed.push(format!(
            "crash: {} acknowledged orders not paid after restart",
            lost.len()
        ));
    }
    let pending = ledger.count(OrderStatus::Pending);
    if pending > 0 {
        missed.push(format!(
            "crash: {pending} orders still pending after restart"
        ));
    }
    missed.extend(
        ledger
            .stock_mismatches(SEED)
            .into_iter()
            .map(|m| format!("crash: {m}")),
    );
    missed.extend(scanned);
    println!(
        "  {} acknowledged before the kill, all paid after restart: {}; {pending_at_crash} left pending by the crash, failed {recovered_after:.1?} after restart (their claims' lease) with their stock returned; stock = seed - paid: {}",
        acknowledged.len(),
        lost.is_empty(),
        !missed.iter().any(|m| m.contains("stock")),
    );
    missed
}
