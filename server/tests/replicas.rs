//! Three replicas of the real binary on one real PostgreSQL (`test_support::postgres`), requests
//! spread across them: stock, `Idempotency-Key` and crash recovery hold across processes.
//!
//! The collector is `test-support`'s fake one (it decodes with the official OTLP types): these
//! tests are about orders and stock, and one trace's database spans.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use checkout_api::OrderStatus;
use futures::future::join_all;
use serde_json::Value;
use test_support::{
    collector::{Collector, Mode},
    fixtures,
    ledger::Ledger,
    postgres,
    server::{self, ServerProcess},
    trace::{SpanKind, Trace},
};

const REPLICAS: usize = 3;
const SERVICE: &str = "checkout-server";

/// Three replicas on one new PostgreSQL database, started at once (they race to migrate and
/// seed), with `seed` of each product and short claim leases.
struct Cluster {
    replicas: Vec<ServerProcess>,
    database_url: String,
    collector: Collector,
    client: reqwest::Client,
}

impl Cluster {
    async fn start(seed: i64, payment_latency_ms: u64) -> Self {
        let database_url = postgres::database().await;
        let collector = Collector::start(Mode::Healthy).await;
        let replicas = join_all((0..REPLICAS).map(|_| {
            let mut command = server::command(
                Path::new(env!("CARGO_BIN_EXE_checkout-server")),
                &database_url,
                collector.addr,
            );
            command
                .env("SEED_STOCK", seed.to_string())
                .env("PAYMENT_LATENCY_MS", payment_latency_ms.to_string())
                .env("CLAIM_LEASE_SECONDS", "2")
                .env("OTEL_SERVICE_NAME", SERVICE)
                .env("OTEL_BSP_SCHEDULE_DELAY", "100");
            ServerProcess::start(command)
        }))
        .await;
        Self {
            replicas,
            database_url,
            collector,
            client: reqwest::Client::new(),
        }
    }

    /// Checks out `quantity` of product 1 on replica `i % 3`, with an `Idempotency-Key` if given;
    /// the status and body, or `None` when the replica did not answer.
    async fn checkout(&self, i: usize, key: Option<&str>) -> Option<(u16, Value)> {
        let replica = &self.replicas[i % REPLICAS];
        let mut request = self
            .client
            .post(format!("http://{}/api/checkout", replica.addr))
            .timeout(Duration::from_secs(20))
            .json(&fixtures::checkout(
                &[(1, 1)],
                fixtures::test_cards::APPROVED,
            ));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    async fn ledger(&self) -> Ledger {
        Ledger::read(&self.database_url).await
    }

    /// Replica `i`'s id, the `claimed_by` of the orders it works on, as it logs it at start
    /// ("database ready replica=…").
    fn replica_id(&self, i: usize) -> String {
        let output = self.replicas[i].process.output();
        let line = output
            .iter()
            .find(|line| line.contains("database ready"))
            .unwrap_or_else(|| panic!("replica {i} logged no \"database ready\": {output:?}"));
        let (_, rest) = line.split_once("replica=").expect("replica= in the line");
        rest.split_whitespace()
            .next()
            .expect("the id")
            .trim_matches('"')
            .to_owned()
    }

    /// How many orders are pending under `replica`'s claim.
    async fn pending_claimed_by(&self, replica: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.database_url)
            .await
            .expect("the database opens");
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM orders WHERE status = 'pending' AND claimed_by = $1",
        )
        .bind(replica)
        .fetch_one(&mut conn)
        .await
        .expect("count")
    }
}

#[tokio::test]
async fn fifty_buyers_of_the_last_five_units_across_replicas_buy_exactly_five() {
    let cluster = Cluster::start(5, 20).await;
    let answers = join_all((0..50).map(|i| cluster.checkout(i, None))).await;
    let mut statuses: Vec<u16> = answers
        .iter()
        .map(|a| a.as_ref().expect("every replica answers").0)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [[201; 5].as_slice(), &[409; 45]].concat());
    for (status, body) in answers.iter().flatten() {
        if *status == 409 {
            assert_eq!(body["error"]["code"], "out_of_stock");
        }
    }
    let ledger = cluster.ledger().await;
    assert_eq!(ledger.stock[&1], 0, "sold out, never negative");
    assert_eq!(ledger.count(OrderStatus::Paid), 5);
    assert_eq!(
        ledger.status_of.len(),
        5,
        "the refused buyers wrote nothing"
    );
    assert_eq!(ledger.stock_mismatches(5), Vec::<String>::new());
}

#[tokio::test]
async fn one_idempotency_key_sent_twenty_times_across_replicas_makes_one_order_and_one_charge() {
    // A slow gateway, so that the twenty overlap while the first is charging.
    let cluster = Cluster::start(100, 300).await;
    let answers = join_all((0..20).map(|i| cluster.checkout(i, Some("replicas-7f3e")))).await;
    let order_ids: Vec<&str> = answers
        .iter()
        .map(|answer| {
            let (status, body) = answer.as_ref().expect("every replica answers");
            assert_eq!(*status, 201, "{body}");
            body["order_id"].as_str().expect("an order id")
        })
        .collect();
    assert!(
        order_ids.iter().all(|id| *id == order_ids[0]),
        "{order_ids:?}"
    );
    let ledger = cluster.ledger().await;
    assert_eq!(ledger.status_of.len(), 1, "one order");
    assert_eq!(ledger.stock[&1], 99);

    // One charge among all the spans of all the replicas; and the trace that made the order shows
    // its PostgreSQL statements under the server span.
    let trace_id = answers[0].as_ref().expect("answered").1["trace_id"]
        .as_str()
        .expect("a trace id")
        .to_owned();
    let (charges, trace) = test_support::wait_for(
        "the order's trace at the collector",
        Duration::from_secs(10),
        || async {
            let spans = cluster.collector.spans();
            let trace = Trace::of(&trace_id, &spans);
            let charges = spans.iter().filter(|s| s.name == "payment.charge").count();
            // The settlement comes after the charge: once it is here, so is every charge made.
            trace
                .has(SERVICE, "UPDATE orders")
                .then_some((charges, trace))
        },
    )
    .await;
    assert_eq!(charges, 1, "charged once");
    let server_span = trace
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Server)
        .expect("a server span");
    let statements: Vec<_> = trace
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .collect();
    assert!(statements.len() >= 4, "{}", trace.outline());
    for statement in statements {
        assert!(
            trace.descends_from(statement, server_span),
            "{}",
            trace.outline()
        );
        assert_eq!(statement.attr("db.system.name"), "postgresql");
        assert!(statement.attr("db.namespace").starts_with("test_"));
        assert_eq!(statement.attr("server.address"), "127.0.0.1");
    }
}

#[tokio::test]
async fn a_replica_killed_under_load_loses_no_acknowledged_order_and_its_claims_are_recovered() {
    const SEED: i64 = 100_000;
    // Charges of 100 ms: the killed replica is surely cut off between reserving and settling.
    let cluster = Arc::new(Cluster::start(SEED, 100).await);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let load = {
        let (cluster, acknowledged) = (Arc::clone(&cluster), Arc::clone(&acknowledged));
        tokio::spawn(async move {
            // Twelve buyers, each going round the replicas, for three seconds.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            join_all((0..12).map(|buyer| {
                let (cluster, acknowledged) = (Arc::clone(&cluster), Arc::clone(&acknowledged));
                async move {
                    let mut i = buyer;
                    while tokio::time::Instant::now() < deadline {
                        match cluster.checkout(i, None).await {
                            Some((201, body)) => {
                                let id = body["order_id"].as_str().expect("an order id");
                                acknowledged.lock().expect("lock").push(id.to_owned());
                            }
                            // The live replicas never fail a checkout (nor lose one's claim).
                            Some((status, body)) => panic!("{status}: {body}"),
                            // The killed replica answers nothing.
                            None => {}
                        }
                        i += 1;
                    }
                }
            }))
            .await;
        })
    };
    // Killed while it holds at least two orders between reserving and settling (each settles
    // 100 ms after its charge starts; the kill follows the count within a few), so that the kill
    // surely leaves claims to recover: a fixed sleep did not, once, on a busy machine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replica = cluster.replica_id(0);
    test_support::wait_for(
        "replica 0 to hold two pending orders",
        Duration::from_secs(2),
        || async { (cluster.pending_claimed_by(&replica).await >= 2).then_some(()) },
    )
    .await;
    let killed = cluster.replicas[0].process.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &killed.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let orphaned = cluster.pending_claimed_by(&replica).await;
    load.await.expect("every answer was a 201 or none");

    // The killed replica's pending orders are recovered by the others once their 2 s lease ends.
    let ledger =
        test_support::wait_for("no order left pending", Duration::from_secs(15), || async {
            let ledger = cluster.ledger().await;
            (ledger.count(OrderStatus::Pending) == 0).then_some(ledger)
        })
        .await;
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 50,
        "the load ran: {}",
        acknowledged.len()
    );
    assert!(orphaned > 0, "the kill left pending orders");
    assert!(
        ledger.count(OrderStatus::Failed) >= usize::try_from(orphaned).expect("a count"),
        "the {orphaned} orders the kill left pending were recovered (failed)"
    );
    let unpaid: Vec<_> = acknowledged
        .iter()
        .filter(|id| !ledger.is_paid(id))
        .collect();
    assert!(unpaid.is_empty(), "acknowledged but not paid: {unpaid:?}");
    assert_eq!(ledger.stock_mismatches(SEED), Vec::<String>::new());
}
