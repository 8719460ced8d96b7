//! Configuration: one struct read from the environment, every variable documented in `.env.example`.

use std::{env, net::SocketAddr, str::FromStr, time::Duration};

use crate::telemetry::http::ParentPolicy;

const DEFAULT_PAYMENT_LATENCY_MS: u64 = 50;
const DEFAULT_DATABASE_URL: &str = "sqlite://data/checkout.db";
const DEFAULT_CLAIM_LEASE_SECONDS: u64 = 30;

/// The databases the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one process writing at a time: the default, and what `cargo run` needs.
    Sqlite,
    /// A shared server, for several replicas.
    Postgres,
}

/// A `DATABASE_URL` whose scheme names a [`Backend`]. Its `Display` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    url: String,
}

impl DatabaseUrl {
    /// Accepts `sqlite:` URLs (`sqlite://path`, `sqlite::memory:`) and `postgres://` or
    /// `postgresql://` URLs; anything else is refused with what is expected, rather than being
    /// taken for a file name.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        let backend = match url.split_once(':') {
            Some(("sqlite", _)) => Backend::Sqlite,
            Some(("postgres" | "postgresql", rest)) if rest.starts_with("//") => Backend::Postgres,
            _ => {
                return Err(
                    "a sqlite:// or postgres:// URL, e.g. sqlite://data/checkout.db or \
                            postgres://user:password@host:5432/shop",
                );
            }
        };
        Ok(Self {
            backend,
            url: url.to_owned(),
        })
    }

    /// The database it names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL as given, password included: for connecting, never for printing.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_password(&self.url))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `scheme://user:password@host…` with the password replaced by `***`, for logs and errors; also
/// in a value too malformed to be a URL (`postgres:/user:password@host`).
fn redact_password(url: &str) -> String {
    let Some(at) = url.find('@') else {
        return url.to_owned();
    };
    let user_info_start = url[..at].rfind('/').map_or(0, |slash| slash + 1);
    match url[user_info_start..at].find(':') {
        Some(colon) => {
            let password_start = user_info_start + colon + 1;
            format!("{}***{}", &url[..password_start], &url[at..])
        }
        None => url.to_owned(),
    }
}

/// Everything the server reads from its environment, with the defaults applied.
///
/// The standard `OTEL_*` variables are not here: [`crate::telemetry`] reads them, as the SDK and OTLP
/// exporter specifications define them, for whichever pipeline `OTEL_EXPORTER_OTLP_PROTOCOL` picks.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SERVER_ADDR`: where the HTTP server listens.
    pub server_addr: SocketAddr,
    /// `DATABASE_URL`: `sqlite://…` (the file and its directory are created if missing) or
    /// `postgres://…`.
    pub database_url: DatabaseUrl,
    /// `CORS_ALLOWED_ORIGINS`: the exact origins that may call the API from a browser.
    pub cors_allowed_origins: Vec<String>,
    /// `PAYMENT_LATENCY_MS`: how long the simulated gateway takes for each charge.
    pub payment_latency: Duration,
    /// `PAYMENT_FAILURE_RATE`: the share of charges (0.0–1.0) that fail as gateway errors.
    pub payment_failure_rate: f64,
    /// `SEED_STOCK`: the stock each seeded product gets in a new database.
    pub seed_stock: i64,
    /// `MAX_INFLIGHT_CHECKOUTS`: checkouts in progress at once; more are answered 503.
    pub max_inflight_checkouts: usize,
    /// `IDEMPOTENCY_RETENTION_HOURS`: how long an `Idempotency-Key`'s answer is kept for replays.
    pub idempotency_retention: Duration,
    /// `CLAIM_LEASE_SECONDS`: how long a pending order or an idempotency key in progress stays this
    /// replica's without being renewed; after that, any replica may recover it.
    pub claim_lease: Duration,
    /// `TRACE_CONTEXT_TEST_ENDPOINT=1`: serve the W3C trace-context conformance endpoint `POST /test`.
    pub trace_context_test_endpoint: bool,
    /// `FAULTS_ENDPOINT=1`: serve `GET`/`PUT /api/faults`, which changes the injected faults.
    pub faults_endpoint: bool,
    /// `TRACE_PARENT_POLICY`: `continue` incoming traces (default) or start new ones and `link`
    /// them.
    pub trace_parent_policy: ParentPolicy,
}

/// A variable that is set but cannot be used; the message names the variable and what it wants.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {expected}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    expected: &'static str,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: DatabaseUrl::parse(DEFAULT_DATABASE_URL)
                .expect("the default database URL is valid"),
            cors_allowed_origins: vec![
                "http://localhost:8080".to_owned(),
                "http://127.0.0.1:8080".to_owned(),
            ],
            payment_latency: Duration::from_millis(DEFAULT_PAYMENT_LATENCY_MS),
            payment_failure_rate: 0.0,
            seed_stock: 100,
            max_inflight_checkouts: 64,
            idempotency_retention: Duration::from_secs(24 * 3600),
            claim_lease: Duration::from_secs(DEFAULT_CLAIM_LEASE_SECONDS),
            trace_context_test_endpoint: false,
            faults_endpoint: false,
            trace_parent_policy: ParentPolicy::Continue,
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let parsed = |name: &'static str, expected: &'static str| Setting {
            name,
            expected,
            value: var(name),
        };

        // An on/off switch: 1, or 0/unset.
        let flag = |name: &'static str| match var(name).as_deref() {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(ConfigError {
                name,
                value: other.to_owned(),
                expected: "1 to enable, 0 or unset to disable",
            }),
        };
        let cors_allowed_origins = match var("CORS_ALLOWED_ORIGINS") {
            Some(list) => parse_origins(&list)?,
            None => defaults.cors_allowed_origins,
        };

        Ok(Self {
            server_addr: parsed("SERVER_ADDR", "an IP address and port, e.g. 127.0.0.1:3000")
                .or(defaults.server_addr, |_| true)?,
            database_url: match var("DATABASE_URL") {
                Some(url) => DatabaseUrl::parse(&url).map_err(|expected| ConfigError {
                    name: "DATABASE_URL",
                    value: redact_password(&url),
                    expected,
                })?,
                None => defaults.database_url,
            },
            cors_allowed_origins,
            payment_latency: parsed("PAYMENT_LATENCY_MS", "a whole number of milliseconds")
                .or(DEFAULT_PAYMENT_LATENCY_MS, |_| true)
                .map(Duration::from_millis)?,
            payment_failure_rate: parsed("PAYMENT_FAILURE_RATE", "a number from 0.0 to 1.0")
                .or(defaults.payment_failure_rate, |r| (0.0..=1.0).contains(r))?,
            seed_stock: parsed("SEED_STOCK", "a whole number, 0 or more")
                .or(defaults.seed_stock, |s| *s >= 0)?,
            max_inflight_checkouts: parsed("MAX_INFLIGHT_CHECKOUTS", "a whole number, 1 or more")
                .or(defaults.max_inflight_checkouts, |n| *n >= 1)?,
            idempotency_retention: parsed(
                "IDEMPOTENCY_RETENTION_HOURS",
                "a whole number of hours, 1 or more",
            )
            .or(24_u64, |h| *h >= 1)
            .map(|hours| Duration::from_secs(hours * 3600))?,
            claim_lease: parsed(
                "CLAIM_LEASE_SECONDS",
                "a whole number of seconds, 1 or more",
            )
            .or(DEFAULT_CLAIM_LEASE_SECONDS, |s| *s >= 1)
            .map(Duration::from_secs)?,
            trace_context_test_endpoint: flag("TRACE_CONTEXT_TEST_ENDPOINT")?,
            faults_endpoint: flag("FAULTS_ENDPOINT")?,
            trace_parent_policy: match var("TRACE_PARENT_POLICY").as_deref() {
                None | Some("continue") => ParentPolicy::Continue,
                Some("link") => ParentPolicy::Link,
                Some(other) => {
                    return Err(ConfigError {
                        name: "TRACE_PARENT_POLICY",
                        value: other.to_owned(),
                        expected: "continue (the default) or link",
                    });
                }
            },
        })
    }
}

/// One variable on its way to a typed value.
struct Setting {
    name: &'static str,
    expected: &'static str,
    value: Option<String>,
}

impl Setting {
    /// The parsed value, `default` when unset, or an error naming the variable when it does not parse
    /// or fails `valid`.
    fn or<T: FromStr>(self, default: T, valid: impl Fn(&T) -> bool) -> Result<T, ConfigError> {
        let Some(value) = self.value else {
            return Ok(default);
        };
        match value.parse::<T>() {
            Ok(parsed) if valid(&parsed) => Ok(parsed),
            _ => Err(ConfigError {
                name: self.name,
                value,
                expected: self.expected,
            }),
        }
    }
}

/// Parses a comma list of exact origins; `*` is refused because the API is called with credentials-like
/// headers (`traceparent`, `baggage`, `Idempotency-Key`) that no wildcard should admit.
fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let error = |expected| ConfigError {
        name: "CORS_ALLOWED_ORIGINS",
        value: list.to_owned(),
        expected,
    };
    let origins: Vec<String> = list
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.iter().any(|o| o == "*") {
        return Err(error("explicit origins; `*` is not allowed"));
    }
    if origins
        .iter()
        .any(|o| !(o.starts_with("http://") || o.starts_with("https://")))
    {
        return Err(error(
            "a comma list of origins such as http://localhost:8080",
        ));
    }
    Ok(origins)
}

/// A lookup over `vars` for the `from_lookup` constructors, in tests that must not touch the
/// process's environment.
#[cfg(test)]
pub(crate) fn lookup_in(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(lookup_in(vars))
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let config = config(&[]).expect("defaults");
        assert_eq!(config.server_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url.expose(), "sqlite://data/checkout.db");
        assert_eq!(config.database_url.backend(), Backend::Sqlite);
        assert_eq!(config.claim_lease, Duration::from_secs(30));
        assert_eq!(
            config.cors_allowed_origins,
            ["http://localhost:8080", "http://127.0.0.1:8080"]
        );
        assert_eq!(config.payment_latency, Duration::from_millis(50));
        assert_eq!(config.payment_failure_rate, 0.0);
        assert_eq!(config.seed_stock, 100);
        assert_eq!(config.max_inflight_checkouts, 64);
        assert_eq!(config.idempotency_retention, Duration::from_secs(86_400));
        assert!(!config.trace_context_test_endpoint);
        assert!(!config.faults_endpoint);
        assert_eq!(config.trace_parent_policy, ParentPolicy::Continue);
    }

    #[test]
    fn every_variable_is_read() {
        let config = config(&[
            ("SERVER_ADDR", "0.0.0.0:8000"),
            ("DATABASE_URL", "sqlite::memory:"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://shop.example, http://localhost:5173/",
            ),
            ("PAYMENT_LATENCY_MS", "0"),
            ("PAYMENT_FAILURE_RATE", "0.25"),
            ("SEED_STOCK", "1000000"),
            ("MAX_INFLIGHT_CHECKOUTS", "8"),
            ("IDEMPOTENCY_RETENTION_HOURS", "2"),
            ("CLAIM_LEASE_SECONDS", "5"),
            ("TRACE_CONTEXT_TEST_ENDPOINT", "1"),
            ("FAULTS_ENDPOINT", "1"),
            ("TRACE_PARENT_POLICY", "link"),
        ])
        .expect("valid");
        assert_eq!(config.server_addr.port(), 8000);
        assert_eq!(config.database_url.expose(), "sqlite::memory:");
        assert_eq!(config.claim_lease, Duration::from_secs(5));
        assert_eq!(
            config.cors_allowed_origins,
            ["https://shop.example", "http://localhost:5173"]
        );
        assert_eq!(config.payment_latency, Duration::ZERO);
        assert_eq!(config.payment_failure_rate, 0.25);
        assert_eq!(config.seed_stock, 1_000_000);
        assert_eq!(config.max_inflight_checkouts, 8);
        assert_eq!(config.idempotency_retention, Duration::from_secs(7_200));
        assert!(config.trace_context_test_endpoint);
        assert!(config.faults_endpoint);
        assert_eq!(config.trace_parent_policy, ParentPolicy::Link);
    }

    #[test]
    fn postgres_urls_select_postgres() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/shop",
            "postgresql://shop:secret@db/shop?sslmode=disable",
        ] {
            let config = config(&[("DATABASE_URL", url)]).expect(url);
            assert_eq!(config.database_url.backend(), Backend::Postgres);
            assert_eq!(config.database_url.expose(), url);
        }
    }

    #[test]
    fn passwords_are_never_printed() {
        let url = DatabaseUrl::parse("postgres://shop:s3cret@db:5432/shop").expect("valid");
        assert_eq!(url.to_string(), "postgres://shop:***@db:5432/shop");
        assert_eq!(format!("{url:?}"), "postgres://shop:***@db:5432/shop");
        for refused in [
            "mysql://shop:s3cret@db/shop",
            "postgres:/shop:s3cret@db:5432/shop",
        ] {
            let error = config(&[("DATABASE_URL", refused)]).expect_err(refused);
            assert!(!error.to_string().contains("s3cret"), "{error}");
            assert!(error.to_string().contains("shop:***@db"), "{error}");
        }
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/checkout.db")
                .expect("valid")
                .to_string(),
            "sqlite://data/checkout.db"
        );
    }

    #[test]
    fn a_wildcard_origin_is_refused() {
        let error = config(&[("CORS_ALLOWED_ORIGINS", "*")]).expect_err("wildcard");
        assert!(
            error.to_string().contains("CORS_ALLOWED_ORIGINS"),
            "{error}"
        );
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_variable_named() {
        for (name, value) in [
            ("PAYMENT_FAILURE_RATE", "1.5"),
            ("PAYMENT_FAILURE_RATE", "often"),
            ("PAYMENT_LATENCY_MS", "-3"),
            ("SEED_STOCK", "-1"),
            ("MAX_INFLIGHT_CHECKOUTS", "0"),
            ("IDEMPOTENCY_RETENTION_HOURS", "0"),
            ("CLAIM_LEASE_SECONDS", "0"),
            ("SERVER_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://shop@db/shop"),
            ("DATABASE_URL", "data/checkout.db"),
            ("DATABASE_URL", "postgres:/postgres@127.0.0.1:5432/shop"),
            ("TRACE_CONTEXT_TEST_ENDPOINT", "yes"),
            ("FAULTS_ENDPOINT", "true"),
            ("TRACE_PARENT_POLICY", "ignore"),
        ] {
            let error = config(&[(name, value)]).expect_err(name);
            assert!(error.to_string().starts_with(name), "{error}");
        }
    }
}
