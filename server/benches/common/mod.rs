//! What the benchmarks share: the real server in-process on a temporary SQLite file, and the
//! checkout they send.

use std::{net::SocketAddr, time::Duration};

use checkout_server::{
    config::{Config, DatabaseUrl},
    startup::Application,
    telemetry,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use tempfile::TempDir;
use test_support::fixtures;

/// Starts the server with spans going to `provider`, its database in `dir`, no payment latency
/// and plenty of stock; returns the URL of `POST /api/checkout`.
pub async fn start_server(provider: &SdkTracerProvider, dir: &TempDir) -> String {
    let config = Config {
        server_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: DatabaseUrl::parse(&format!("sqlite://{}/bench.db", dir.path().display()))
            .expect("a SQLite URL"),
        payment_latency: Duration::ZERO,
        seed_stock: 1_000_000,
        ..Config::default()
    };
    let app = Application::build(&config, telemetry::tracer(provider))
        .await
        .expect("app");
    let url = format!("http://{}/api/checkout", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    url
}

/// One unit of product 1 with the approving card.
pub fn checkout_body() -> Value {
    fixtures::checkout_json(&[(1, 1)], fixtures::test_cards::APPROVED)
}
