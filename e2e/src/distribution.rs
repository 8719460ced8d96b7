//! An OpenTelemetry Collector distribution (the collector built from its manifest, or Jaeger v2,
//! which is one) run as a process on one of the project's config files, unmodified, its addresses
//! given through the variables the file reads; stopped as `docker compose stop` stops it and
//! started again on the same ones. [`crate::otelcol`] and [`crate::jaeger`] add what each serves
//! and when it is ready.

use std::{ffi::OsString, time::Duration};

use tokio::process::Command;

use crate::{process::Process, workspace};

/// A running distribution and how to start it again.
pub struct Distribution {
    name: &'static str,
    binary: OsString,
    /// The config file, relative to the workspace (`jaeger/config.yaml`).
    config: &'static str,
    env: Vec<(&'static str, String)>,
    process: Process,
}

impl Distribution {
    /// Starts `binary --config=<workspace>/<config>` with `env`.
    pub fn start(
        name: &'static str,
        binary: OsString,
        config: &'static str,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        let process = spawn(name, &binary, config, &env);
        Self {
            name,
            binary,
            config,
            env,
            process,
        }
    }

    /// Stops it (SIGTERM, as `docker compose stop` does: it ends what it holds cleanly), waiting
    /// up to 30 s.
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(30)).await;
    }

    /// Starts it again, on the same config, addresses and directories.
    pub fn start_again(&mut self) {
        self.process = spawn(self.name, &self.binary, self.config, &self.env);
    }

    /// Waits until it takes connections on `addr`; `Err` with its log when it exits first
    /// ([`crate::process::Process::listening`]).
    pub async fn listening(
        &mut self,
        what: &str,
        addr: std::net::SocketAddr,
        timeout: Duration,
    ) -> Result<(), String> {
        self.process.listening(what, addr, timeout).await
    }

    /// What it has printed (its log).
    pub fn output(&self) -> Vec<String> {
        self.process.output()
    }
}

fn spawn(
    name: &'static str,
    binary: &OsString,
    config: &str,
    env: &[(&'static str, String)],
) -> Process {
    let mut command = Command::new(binary);
    command
        .arg(format!("--config={}", workspace().join(config).display()))
        .envs(env.iter().map(|(k, v)| (k, v)));
    Process::spawn(name, command)
}
