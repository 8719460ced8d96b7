//! `spawn_app()`: the real server on its own port with its own new database, its spans captured by
//! the SDK's in-memory exporter and its log lines captured in memory.
//!
//! The database is a temporary SQLite file, or with `TEST_DATABASE=postgres` a new database in a
//! real PostgreSQL (`test_support::postgres`): `scripts/test.sh` runs these tests both ways.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::Duration,
};

pub use checkout_api::OrderStatus;
use checkout_server::{
    config::{Backend, Config, DatabaseUrl},
    startup::Application,
    telemetry,
};
use opentelemetry::{
    Value,
    trace::{SpanId, SpanKind, Status, TraceId},
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::Value as Json;
use sqlx::{AnyConnection, Connection};
use tempfile::TempDir;

pub use test_support::fixtures::{CVC, EMAIL, checkout_json as checkout_body, test_cards};

/// A running server and what it recorded.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    database_url: DatabaseUrl,
    _dir: TempDir,
}

/// Whether this run's tests use PostgreSQL (`TEST_DATABASE=postgres`) rather than SQLite.
pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE").is_ok_and(|db| db == "postgres")
}

/// A new, empty database of this run's kind; a SQLite file lives in `dir`.
pub async fn new_database(dir: &TempDir) -> DatabaseUrl {
    let url = if on_postgres() {
        test_support::postgres::database().await
    } else {
        format!("sqlite://{}", dir.path().join("checkout.db").display())
    };
    DatabaseUrl::parse(&url).expect("a database URL")
}

/// Starts the server with the test defaults (no payment latency, stock 100).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server after `configure` has adjusted the test defaults.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    init_log_capture();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        server_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: new_database(&dir).await,
        payment_latency: Duration::ZERO,
        ..Config::default()
    };
    configure(&mut config);

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let app = Application::build(&config, telemetry::tracer(&provider))
        .await
        .expect("app builds");
    let addr = app.local_addr();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        exporter,
        provider,
        database_url: config.database_url,
        _dir: dir,
    }
}

impl TestApp {
    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a checkout body.
    pub async fn checkout(&self, body: &Json) -> reqwest::Response {
        self.client
            .post(self.url("/api/checkout"))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Forgets the spans finished so far (start-up's, or an earlier request's).
    pub fn clear_spans(&self) {
        let _ = self.provider.force_flush();
        self.exporter.reset();
    }

    /// GETs `path` and decodes the JSON answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        response.json().await.expect("a JSON body")
    }

    /// POSTs a checkout body with extra request headers.
    pub async fn checkout_with(&self, headers: &[(&str, &str)], body: &Json) -> reqwest::Response {
        let mut request = self.client.post(self.url("/api/checkout")).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// Every span finished so far.
    pub fn spans(&self) -> Spans {
        let _ = self.provider.force_flush();
        Spans(self.exporter.get_finished_spans().expect("spans"))
    }

    /// The server's database as the server itself opens it (a second pool on the same file).
    pub async fn server_db(&self) -> checkout_server::db::Db {
        self.replica_db(Duration::from_secs(30)).await
    }

    /// The server's database as another replica would open it, its claims lasting `lease`.
    pub async fn replica_db(&self, lease: Duration) -> checkout_server::db::Db {
        checkout_server::db::Db::connect(
            &self.database_url,
            100,
            lease,
            checkout_server::telemetry::tracer(&self.provider),
        )
        .await
        .expect("the database opens")
    }

    /// The database's URL.
    pub fn database_url(&self) -> &DatabaseUrl {
        &self.database_url
    }

    /// A connection to the server's database, to check what was (not) written. Statements use
    /// `$1` parameters, which both databases accept.
    pub async fn db(&self) -> AnyConnection {
        sqlx::any::install_default_drivers();
        AnyConnection::connect(self.database_url.expose())
            .await
            .expect("db")
    }

    /// Makes the idempotency key look `hours` old.
    pub async fn age_idempotency_key(&self, key: &str, hours: i64) {
        let statement = match self.database_url.backend() {
            Backend::Sqlite => {
                "UPDATE idempotency_keys SET created_at = \
                 strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || $2 || ' hours') WHERE key = $1"
            }
            Backend::Postgres => {
                "UPDATE idempotency_keys SET created_at = now() - $2 * interval '1 hour' \
                 WHERE key = $1"
            }
        };
        sqlx::query(statement)
            .bind(key)
            .bind(hours)
            .execute(&mut self.db().await)
            .await
            .expect("aged");
    }

    /// How many orders have `status`.
    pub async fn orders_with_status(&self, status: OrderStatus) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(&mut self.db().await)
            .await
            .expect("count")
    }

    /// How many orders of any status exist.
    pub async fn order_count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM orders")
            .fetch_one(&mut self.db().await)
            .await
            .expect("count")
    }

    /// The stock of every product, by id.
    pub async fn stock(&self) -> Vec<(i64, i64)> {
        sqlx::query_as("SELECT id, stock FROM products ORDER BY id")
            .fetch_all(&mut self.db().await)
            .await
            .expect("stock")
    }
}

/// The spans of a run, with the lookups the assertions need.
pub struct Spans(pub Vec<SpanData>);

impl Spans {
    /// The spans of one trace.
    pub fn of_trace(&self, trace_id: TraceId) -> Vec<&SpanData> {
        self.0
            .iter()
            .filter(|s| s.span_context.trace_id() == trace_id)
            .collect()
    }

    /// The one span named `name` in `trace_id`; panics unless there is exactly one.
    pub fn one(&self, trace_id: TraceId, name: &str) -> &SpanData {
        let found: Vec<_> = self
            .of_trace(trace_id)
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one span {name:?} in trace {trace_id}, found {}",
            found.len()
        );
        found[0]
    }

    /// The spans of `trace_id` whose parent chain reaches `ancestor`.
    pub fn descendants_of(&self, ancestor: &SpanData) -> Vec<&SpanData> {
        let trace = self.of_trace(ancestor.span_context.trace_id());
        let parent_of = |id: SpanId| {
            trace
                .iter()
                .find(|s| s.span_context.span_id() == id)
                .map(|s| s.parent_span_id)
        };
        trace
            .iter()
            .copied()
            .filter(|span| {
                let mut parent = span.parent_span_id;
                while parent != SpanId::INVALID {
                    if parent == ancestor.span_context.span_id() {
                        return true;
                    }
                    parent = parent_of(parent).unwrap_or(SpanId::INVALID);
                }
                false
            })
            .collect()
    }

    /// The server span of the request answered with `traceresponse`.
    pub fn server_span_of(&self, response: &reqwest::Response) -> &SpanData {
        let value = response.headers()["traceresponse"].to_str().expect("ascii");
        let parts: Vec<&str> = value.split('-').collect();
        let span_id = SpanId::from_hex(parts[2]).expect("span id");
        self.0
            .iter()
            .find(|s| s.span_context.span_id() == span_id)
            .unwrap_or_else(|| panic!("no span {span_id} for traceresponse {value}"))
    }
}

/// The value of attribute `key` of `span`.
pub fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// The string value of attribute `key` of `span`.
pub fn attr_str(span: &SpanData, key: &str) -> String {
    attr(span, key)
        .unwrap_or_else(|| panic!("span {:?} has no {key}", span.name))
        .as_str()
        .into_owned()
}

/// Whether the span is an error.
pub fn is_error(span: &SpanData) -> bool {
    matches!(span.status, Status::Error { .. })
}

/// Whether the span is a CLIENT span.
pub fn is_client(span: &SpanData) -> bool {
    span.span_kind == SpanKind::Client
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Every log line written by every server of this test binary so far.
pub fn captured_logs() -> String {
    let logs = LOGS.get().expect("log capture installed");
    String::from_utf8_lossy(&logs.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

fn init_log_capture() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(Arc::clone(&buffer));
        // Everything this crate logs, at every level, so that a leak at any level is caught.
        telemetry::init_logging_to(move || writer.clone(), "debug,checkout_server=trace");
        buffer
    });
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
