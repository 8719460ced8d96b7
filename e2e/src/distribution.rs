//! An OpenTelemetry Collector distribution (the collector built from its manifest, or Jaeger v2,
//! which is one) run as a process on one of the project's config files, unmodified, its addresses
//! given through the variables the file reads; stopped as `docker compose stop` stops it and
//! started again on the same ones. [`crate::otelcol`] and [`crate::jaeger`] add what each serves
//! and when it is ready.

use std::{ffi::OsString, net::SocketAddr, time::Duration};

use tokio::process::Command;

use crate::{
    process::{Process, free_loopback},
    workspace,
};

/// How long a distribution may take to open the addresses it is waited for on.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running distribution and how to start it again.
pub struct Distribution {
    name: &'static str,
    binary: OsString,
    /// The config file, relative to the workspace (`jaeger/config.yaml`).
    config: &'static str,
    /// Its other flags (the collector's feature gates).
    args: &'static [&'static str],
    env: Vec<(&'static str, String)>,
    /// What it is ready on: each address, and what it is in messages.
    ready_on: Vec<(String, SocketAddr)>,
    process: Process,
}

impl Distribution {
    /// Starts `binary --config=<workspace>/<config> args…` on `N` free loopback addresses, which `env`
    /// turns into its variables (and may move: a second-tier collector's receiver to an address of
    /// its own), and waits until those of `ready_on` (indices, each with what it is in messages)
    /// take connections. Returns it and the addresses. A port another process took
    /// between its choice and the bind ends the process at once: it is started again on fresh
    /// ones, up to three times.
    pub async fn start<const N: usize>(
        name: &'static str,
        binary: OsString,
        config: &'static str,
        args: &'static [&'static str],
        env: impl Fn(&mut [SocketAddr; N]) -> Vec<(&'static str, String)>,
        ready_on: &[(&str, usize)],
    ) -> (Self, [SocketAddr; N]) {
        let mut exits = Vec::new();
        for _ in 0..3 {
            let mut addrs = [SocketAddr::from(([127, 0, 0, 1], 0)); N];
            for addr in &mut addrs {
                *addr = free_loopback().await;
            }
            let env = env(&mut addrs);
            let mut distribution = Self {
                name,
                process: spawn(name, &binary, config, args, &env),
                binary: binary.clone(),
                config,
                args,
                env,
                ready_on: ready_on
                    .iter()
                    .map(|(what, i)| ((*what).to_owned(), addrs[*i]))
                    .collect(),
            };
            match distribution.listening().await {
                Ok(()) => return (distribution, addrs),
                Err(exit) => exits.push(exit),
            }
        }
        panic!("{name} did not start:\n{}", exits.join("\n\n"));
    }

    /// Stops it (SIGTERM, as `docker compose stop` does: it ends what it holds cleanly), waiting
    /// up to 30 s.
    pub async fn stop(&mut self) {
        self.process.terminate(Duration::from_secs(30)).await;
    }

    /// Kills it (SIGKILL): what it holds is lost, as when its machine dies.
    pub async fn kill(&mut self) {
        self.process.stop().await;
    }

    /// Whether it runs (it has not been stopped or killed, or has been started again).
    pub fn is_running(&self) -> bool {
        self.process.id().is_some()
    }

    /// Starts it again, on the same config, addresses and directories, and waits until it takes
    /// connections on them.
    pub async fn start_again(&mut self) {
        self.process = spawn(self.name, &self.binary, self.config, self.args, &self.env);
        if let Err(exit) = self.listening().await {
            panic!("{exit}");
        }
    }

    /// What it has printed (its log).
    pub fn output(&self) -> Vec<String> {
        self.process.output()
    }

    /// Waits until each address it is ready on takes connections; `Err` with its log when it
    /// exits first ([`Process::listening`]).
    async fn listening(&mut self) -> Result<(), String> {
        for (what, addr) in &self.ready_on {
            self.process.listening(what, *addr, START_TIMEOUT).await?;
        }
        Ok(())
    }
}

fn spawn(
    name: &'static str,
    binary: &OsString,
    config: &str,
    args: &[&str],
    env: &[(&'static str, String)],
) -> Process {
    let mut command = Command::new(binary);
    command
        .arg(format!("--config={}", workspace().join(config).display()))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)));
    Process::spawn(name, command)
}
