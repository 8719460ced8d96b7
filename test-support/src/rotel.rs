//! rotel, a real OTLP collector (Rust, from PyPI, installed by `scripts/rotel.sh`), as the tests
//! and drills run it: OTLP in on gRPC and HTTP, OTLP/HTTP out to a forward address (typically a
//! healthy [`crate::collector::Collector`] capturing what arrives).

use std::{env, net::SocketAddr, time::Duration};

use tokio::process::Command;

use crate::process::{Process, free_loopback, wait_for_port};

/// rotel listening for OTLP/HTTP on `http` and forwarding everything to `forward_to`.
pub async fn start(http: SocketAddr, forward_to: SocketAddr) -> Process {
    let grpc = free_loopback().await;
    start_with_grpc(http, grpc, forward_to).await
}

/// rotel listening for OTLP/HTTP on `http` and OTLP/gRPC on `grpc`, forwarding everything to
/// `forward_to`.
pub async fn start_with_grpc(
    http: SocketAddr,
    grpc: SocketAddr,
    forward_to: SocketAddr,
) -> Process {
    let agent = env::var("ROTEL_AGENT").expect(
        "ROTEL_AGENT names rotel's agent binary: `source scripts/rotel.sh` (scripts/test.sh does)",
    );
    let pid_file = env::temp_dir().join(format!("rotel-{}.pid", http.port()));
    let mut command = Command::new(agent);
    command
        .args([
            "start",
            "--otlp-grpc-endpoint",
            &grpc.to_string(),
            "--otlp-http-endpoint",
            &http.to_string(),
        ])
        .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
        .args(["--otlp-exporter-endpoint", &format!("http://{forward_to}")])
        .args([
            "--batch-timeout",
            "100ms",
            "--pid-file",
            &pid_file.to_string_lossy(),
        ]);
    let collector = Process::spawn("rotel", command);
    for (receiver, addr) in [("OTLP/HTTP", http), ("OTLP/gRPC", grpc)] {
        wait_for_port(
            &format!("the collector's {receiver} receiver"),
            addr,
            Duration::from_secs(30),
        )
        .await;
    }
    collector
}
