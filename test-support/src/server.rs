//! The checkout server's binary as users run it, on a free port (`SERVER_ADDR=127.0.0.1:0`): the
//! address it bound is read from its "checkout server listening" log line.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::process::Command;

use crate::process::Process;

/// The log line the server writes once it listens, ending in `addr=IP:PORT`.
const LISTENING: &str = "checkout server listening";

/// The server binary `CHECKOUT_SERVER_BIN` names, else `default`; panics, saying so, when it has
/// not been built.
pub fn binary(default: PathBuf) -> PathBuf {
    let binary = std::env::var_os("CHECKOUT_SERVER_BIN").map_or(default, PathBuf::from);
    assert!(
        binary.exists(),
        "{} is missing: build checkout-server first (or set CHECKOUT_SERVER_BIN)",
        binary.display()
    );
    binary
}

/// The `DATABASE_URL` of the SQLite file `path` (created by the server if missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The export settings the README recommends and compose gives the server: a queue that outlasts a
/// collector outage (RELIABILITY.md), gzip, a 5 s export timeout. The drills and the end-to-end
/// tests run the server with them; a test holds compose's equal.
pub const RECOMMENDED_EXPORT: [(&str, &str); 3] = [
    ("OTEL_BSP_MAX_QUEUE_SIZE", "262144"),
    ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
];

/// The command that runs `binary` on `database_url` (see [`sqlite_url`]), exporting its spans to
/// the OTLP/HTTP collector at `collector`, logging at `info`; callers add their own settings to it.
pub fn command(binary: &Path, database_url: &str, collector: SocketAddr) -> Command {
    let mut command = Command::new(binary);
    command
        .env("DATABASE_URL", database_url)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("RUST_LOG", "info");
    command
}

/// A running server binary.
pub struct ServerProcess {
    pub addr: SocketAddr,
    /// The process, its output kept.
    pub process: Process,
}

impl ServerProcess {
    /// Starts `command` (the server binary with its environment) on a free port and waits until it
    /// says where it listens.
    pub async fn start(mut command: Command) -> Self {
        command.env("SERVER_ADDR", "127.0.0.1:0");
        let process = Process::spawn("checkout-server", command);
        let line = process
            .wait_for_line(LISTENING, Duration::from_secs(30))
            .await;
        let addr = line
            .rsplit("addr=")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self { addr, process }
    }
}
