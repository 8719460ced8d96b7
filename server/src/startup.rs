//! `Application`: build the server from a `Config`, then run it until a shutdown signal.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use opentelemetry::context::FutureExt as _;
use tokio::{
    net::TcpListener,
    sync::{Notify, Semaphore},
};

use crate::{
    config::{Config, DatabaseUrl},
    db::Db,
    faults::Faults,
    payment::PaymentGateway,
    routes::{self, AppState},
    telemetry::Tracer,
};

/// How long in-flight requests get to finish after a shutdown signal. With the telemetry flush
/// after it, the process is gone within 5 s of SIGTERM even when the collector is down.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long closing the pool may take at exit.
const DB_CLOSE_TIMEOUT: Duration = Duration::from_millis(300);

/// A bound listener and the router it will serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    db: Db,
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened, migrated or seeded.
    #[error("database {url}: {source}")]
    Database {
        /// The `DATABASE_URL` in use (its password hidden).
        url: DatabaseUrl,
        source: sqlx::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The `SERVER_ADDR` in use.
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The outgoing HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

impl Application {
    /// Opens and migrates the database, builds the router and binds `config.server_addr` (port 0
    /// picks a free port: see [`local_addr`](Self::local_addr)).
    pub async fn build(config: &Config, tracer: Tracer) -> Result<Self, StartupError> {
        let db = Db::connect(
            &config.database_url,
            config.seed_stock,
            config.claim_lease,
            tracer.clone(),
        )
        .await
        .map_err(|source| StartupError::Database {
            url: config.database_url.clone(),
            source,
        })?;
        tracing::info!(replica = db.replica(), database = %config.database_url, "database ready");
        // Once before serving (so start-up's statements come before any request's), then hourly.
        prune_idempotency_keys(&db, config.idempotency_retention).await;
        spawn_idempotency_pruning(db.clone(), config.idempotency_retention);
        spawn_claim_upkeep(db.clone(), config.claim_lease);
        let faults = Faults::new(config.payment_latency, config.payment_failure_rate);
        let db = db.with_faults(faults.clone());
        let state = AppState {
            db: db.clone(),
            payments: PaymentGateway::new(faults.clone(), tracer.clone()),
            faults,
            checkouts: Arc::new(Semaphore::new(config.max_inflight_checkouts)),
            tracer,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        let router = routes::router(state, config);
        let listener = TcpListener::bind(config.server_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.server_addr,
                source,
            })?;
        Ok(Self {
            listener,
            router,
            db,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests finish
    /// for up to [`DRAIN_TIMEOUT`].
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopping = Arc::new(Notify::new());
        let signal = {
            let stopping = Arc::clone(&stopping);
            async move {
                shutdown.await;
                stopping.notify_one();
            }
        };
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(signal);
        let result = tokio::select! {
            result = serve.into_future() => result,
            () = async { stopping.notified().await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
                tracing::warn!(timeout_ms = DRAIN_TIMEOUT.as_millis(), "requests still running at shutdown were cut off");
                Ok(())
            }
        };
        // Connections still held by requests cut off above must not hold the exit up.
        if tokio::time::timeout(DB_CLOSE_TIMEOUT, self.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still busy at exit");
        }
        result
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}

/// How often idempotency keys past their retention are pruned (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Forgets idempotency keys older than `retention` every [`PRUNE_EVERY`] (after the prune at
/// start): a key is kept at least `retention`, and at most that plus an hour.
fn spawn_idempotency_pruning(db: Db, retention: Duration) {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + PRUNE_EVERY;
        let mut every = tokio::time::interval_at(start, PRUNE_EVERY);
        loop {
            every.tick().await;
            prune_idempotency_keys(&db, retention).await;
        }
    });
}

/// One pruning pass; a failure is logged and the next pass tries again.
async fn prune_idempotency_keys(db: &Db, retention: Duration) {
    match db.prune_idempotency_keys(retention).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "idempotency keys past their retention forgotten"),
        Err(error) => tracing::warn!(%error, "pruning idempotency keys failed; retrying later"),
    }
}

/// Every third of the lease, renews this replica's claims, then recovers the orders of replicas
/// whose claims expired. Runs with telemetry suppressed: a span every few seconds from every
/// replica would bury the checkouts in Jaeger; a recovery is logged instead.
fn spawn_claim_upkeep(db: Db, lease: Duration) {
    let every = lease / 3;
    tokio::spawn(
        async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = db.renew_claims().await {
                    tracing::warn!(%error, "renewing claims failed; retrying");
                }
                if let Err(error) = db.recover_expired_orders().await {
                    tracing::warn!(%error, "recovering expired orders failed; retrying");
                }
            }
        }
        .with_context(opentelemetry::Context::current().with_telemetry_suppressed()),
    );
}
