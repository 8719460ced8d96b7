//! The `checkout-server` binary: read config, start telemetry, build the app, run it.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

use std::{error::Error, process::ExitCode, time::Duration};

use checkout_server::{config::Config, startup, telemetry};

/// Time left for flushing spans after the drain, inside the 5 s shutdown budget.
const TELEMETRY_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(1500);

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let config = Config::from_env()?;
    let telemetry = telemetry::TelemetryGuard::init()?;
    let app = startup::Application::build(&config, telemetry.tracer()).await?;
    tracing::info!(addr = %app.local_addr(), "checkout server listening");
    app.run_until_stopped(startup::shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown(TELEMETRY_SHUTDOWN_TIMEOUT)).await?;
    Ok(())
}
