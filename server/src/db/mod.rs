//! The database: SQLite (one file, WAL) or PostgreSQL (shared by replicas): the pool, migrations
//! at start, this replica's claims, and the span every statement runs in.
//!
//! Every statement runs inside its own CLIENT span (`Db::run`) carrying `db.system.name`,
//! `db.operation.name`, `db.collection.name` and the parameterised `db.query.text` (and, for
//! PostgreSQL, `db.namespace`, `server.address` and `server.port`). Values are bound, never
//! formatted into SQL, so the query text in a span can never hold customer data.
//!
//! Each method is written once: `with_pool!` runs its body against whichever pool is open, and
//! `Db::sql` gives each statement's text in that database's dialect. The methods are grouped by
//! job: `catalog` (seeding and reading products), `orders` (reserving, settling, recovering),
//! `keys` (idempotency-key claims), and `sql` holds every statement.
//!
//! ## Claims
//! A pending order and an idempotency key in progress are *claimed* by the replica working on them
//! (`claimed_by`, its random id, and `claimed_until`, renewed every third of the lease while it
//! works). Only a claim whose lease expired — its replica died — is recovered, by any replica: the
//! order is failed and its stock returned; the key is taken over by the next request with it.

use std::{
    future::Future,
    path::Path,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::{KeyValue, trace::SpanKind};
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_NAMESPACE, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_SYSTEM_NAME,
    SERVER_ADDRESS, SERVER_PORT,
};
use sqlx::{
    PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    config::{Backend, DatabaseUrl},
    faults::Faults,
    telemetry::{
        self, SpanFailure, Tracer,
        timing::{self, Part},
    },
};
use sql::{RENEW_IDEMPOTENCY_CLAIMS, RENEW_ORDER_CLAIMS, Statement};

/// Connections per replica.
const MAX_CONNECTIONS: u32 = 8;

/// The pool of the database in use.
#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the open pool (a `SqlitePool` or a `PgPool`): one body,
/// compiled for each database. Statement texts come from [`Db::sql`].
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}

mod catalog;
mod keys;
mod orders;
mod sql;

pub use keys::{Claim, StoredResponse};
pub use orders::ReserveError;

/// The pool, the tracer its statement spans are made with, and this replica's claims.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    tracer: Tracer,
    faults: Faults,
    /// What every statement span says about the database: `db.system.name` and, for a server,
    /// where it is.
    attributes: Arc<[KeyValue]>,
    claims: Claims,
}

/// Who this replica is to its claims, and how long they last unrenewed.
#[derive(Clone)]
struct Claims {
    replica: Arc<str>,
    lease_seconds: i64,
}

impl Db {
    /// The same database, with every statement from now on delayed as `faults` says (start-up's
    /// statements run before, undelayed).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Opens the pool (for SQLite, creating the file and its directory if missing), runs the
    /// migrations, seeds the catalog with `seed_stock` of each product when the database is new,
    /// and recovers the orders of replicas whose claims expired. This replica's claims last
    /// `lease` unrenewed.
    pub async fn connect(
        url: &DatabaseUrl,
        seed_stock: i64,
        lease: Duration,
        tracer: Tracer,
    ) -> Result<Self, sqlx::Error> {
        let (pool, attributes) = match url.backend() {
            Backend::Sqlite => (
                Pool::Sqlite(open_sqlite(url.expose()).await?),
                vec![KeyValue::new(DB_SYSTEM_NAME, "sqlite")],
            ),
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url.expose())?;
                // Shared strings: every statement span clones these without allocating.
                let namespace = options
                    .get_database()
                    .unwrap_or_else(|| options.get_username());
                let attributes = vec![
                    KeyValue::new(DB_SYSTEM_NAME, "postgresql"),
                    KeyValue::new(DB_NAMESPACE, Arc::<str>::from(namespace)),
                    KeyValue::new(SERVER_ADDRESS, Arc::<str>::from(options.get_host())),
                    KeyValue::new(SERVER_PORT, i64::from(options.get_port())),
                ];
                let pool = PgPoolOptions::new()
                    .max_connections(MAX_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                (Pool::Postgres(pool), attributes)
            }
        };
        let db = Self {
            pool,
            tracer,
            faults: Faults::default(),
            attributes: attributes.into(),
            claims: Claims {
                replica: uuid::Uuid::new_v4().to_string().into(),
                lease_seconds: i64::try_from(lease.as_secs().max(1)).unwrap_or(i64::MAX),
            },
        };
        // One root span for start-up, so its statements show as one trace rather than many.
        let start_up = async {
            match &db.pool {
                Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
                Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
            }?;
            db.seed(seed_stock).await?;
            db.recover_expired_orders().await.map(drop)
        };
        telemetry::in_span(
            &db.tracer,
            checkout_api::semconv::SPAN_DB_MIGRATE,
            SpanKind::Internal,
            db.attributes[..1].to_vec(),
            start_up,
            |_, _| {},
        )
        .await?;
        Ok(db)
    }

    /// The id this replica's claims carry.
    pub fn replica(&self) -> &str {
        &self.claims.replica
    }

    /// Waits for the pool's connections to close (and SQLite to checkpoint its WAL).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// Extends the lease of every claim this replica holds; returns how many it renewed.
    pub async fn renew_claims(&self) -> Result<u64, sqlx::Error> {
        with_pool!(self, |pool| {
            let mut renewed = 0;
            for statement in [&RENEW_ORDER_CLAIMS, &RENEW_IDEMPOTENCY_CLAIMS] {
                let query = sqlx::query(self.sql(statement))
                    .bind(&*self.claims.replica)
                    .bind(self.claims.lease_seconds);
                renewed += self
                    .run(statement, query.execute(pool))
                    .await?
                    .rows_affected();
            }
            Ok(renewed)
        })
    }

    /// `statement`'s text in the dialect of the open database.
    fn sql(&self, statement: &Statement) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => statement.sqlite,
            Pool::Postgres(_) => statement.postgres,
        }
    }

    /// Runs one statement inside its CLIENT span.
    async fn run<T>(
        &self,
        statement: &Statement,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let work = async {
            let started = Instant::now();
            let delay = self.faults.db_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let result = query.await;
            timing::record(Part::Database, started.elapsed());
            result
        };
        let mut attributes = Vec::with_capacity(self.attributes.len() + 3);
        attributes.extend_from_slice(&self.attributes);
        attributes.extend([
            KeyValue::new(DB_OPERATION_NAME, statement.operation),
            KeyValue::new(DB_COLLECTION_NAME, statement.collection),
            KeyValue::new(DB_QUERY_TEXT, self.sql(statement)),
        ]);
        telemetry::in_span(
            &self.tracer,
            statement.name,
            SpanKind::Client,
            attributes,
            work,
            |_, _| {},
        )
        .await
    }
}

/// Opens a SQLite pool on `url` in WAL mode, creating the file and its directory if missing.
async fn open_sqlite(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    if let Some(dir) = Path::new(options.get_filename()).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    }
    SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await
}

impl SpanFailure for sqlx::Error {
    fn error_type(&self) -> &'static str {
        error_type(self)
    }
}

/// A low-cardinality name for a database error (never its message, which may quote values).
fn error_type(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::Database(db) if db.is_check_violation() => "check_violation",
        sqlx::Error::Database(db) if db.is_unique_violation() => "unique_violation",
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => "foreign_key_violation",
        sqlx::Error::Database(_) => "database_error",
        sqlx::Error::PoolTimedOut => "pool_timeout",
        sqlx::Error::RowNotFound => "row_not_found",
        _ => "sqlx_error",
    }
}
