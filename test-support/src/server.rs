//! The checkout server's binary as users run it, on a free port (`SERVER_ADDR=127.0.0.1:0`): the
//! address it bound is read from its "checkout server listening" log line.

use std::{net::SocketAddr, time::Duration};

use tokio::process::Command;

use crate::process::Process;

/// The log line the server writes once it listens, ending in `addr=IP:PORT`.
const LISTENING: &str = "checkout server listening";

/// A running server binary.
pub struct ServerProcess {
    /// Where it listens.
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
