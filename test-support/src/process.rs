//! Child processes that are killed when dropped, with their output kept for failure messages.

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    net::TcpListener,
    process::{Child, Command},
    task::JoinHandle,
};

/// A running child process; killed on drop.
pub struct Process {
    name: &'static str,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    /// The tasks reading its stdout and stderr into `output`.
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    /// Starts `command`, collecting its stdout and stderr lines.
    pub fn spawn(name: &'static str, mut command: Command) -> Self {
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let output: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(collect(stdout, Arc::clone(&output)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(collect(stderr, Arc::clone(&output)));
        }
        Self {
            name,
            child,
            output,
            readers,
        }
    }

    /// Its process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Every line it has printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().expect("lock").clone()
    }

    /// Waits until a line contains `needle` and returns it.
    pub async fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        crate::wait_for(
            &format!("{} to print {needle:?}", self.name),
            timeout,
            || async { self.output().into_iter().find(|line| line.contains(needle)) },
        )
        .await
    }

    /// Waits for it to exit by itself, and for what it printed last to be read: the exit can come
    /// before the readers reach the end of its pipes (on a busy machine it did, and a test saw no
    /// output at all). A reader still going after 5 s is left (a child of the child may hold the
    /// pipe open).
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait().await?;
        self.read_to_end().await;
        Ok(status)
    }

    /// Waits for the readers to reach the end of its pipes, once it has exited; a reader still
    /// going after 5 s is left.
    async fn read_to_end(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
    }

    /// Waits until something accepts TCP connections on `addr` (`what`, in messages). `Err` with
    /// what it printed when it exits first: a port taken between [`free_port`] and its bind, a
    /// config it refuses. Panics with what it printed after `timeout`.
    pub async fn listening(
        &mut self,
        what: &str,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let answered = tokio::net::TcpStream::connect(addr).await.is_ok();
            // Something answering while it has exited is another process on the port.
            let exited = self.child.try_wait().ok().flatten();
            if answered && exited.is_none() {
                return Ok(());
            }
            if let Some(status) = exited {
                // Its last lines, which the readers may not have reached yet.
                self.read_to_end().await;
                return Err(format!(
                    "{} exited ({status}) before {what} took connections on {addr}; it printed:\n{}",
                    self.name,
                    self.output().join("\n")
                ));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what} on {addr}; {} printed:\n{}",
                self.name,
                self.output().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it now and waits for it to go.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks it to stop (SIGTERM, as `docker stop` does) and waits for it to exit; kills it if it
    /// is still running after `timeout`.
    pub async fn terminate(&mut self, timeout: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if tokio::time::timeout(timeout, self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        self.stop().await;
    }
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.lock().expect("lock").push(line);
        }
    })
}

/// A port nobody listens on right now (bound and released).
pub async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// `127.0.0.1` on a port nobody listens on right now (see [`free_port`]).
pub async fn free_loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port().await))
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_for_port(what: &str, addr: SocketAddr, timeout: Duration) {
    crate::wait_for(what, timeout, || async {
        tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
    })
    .await;
}
