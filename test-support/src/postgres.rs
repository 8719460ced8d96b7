//! A real PostgreSQL for the tests: the server `TEST_POSTGRES_URL` names, else one this test binary
//! starts itself from the installed binaries, and a fresh database in it for each test.
//!
//! The started server lives in a temporary directory on a free port, as the `postgres` user when
//! the tests run as root (`initdb` and `postgres` refuse root), with durability off (`fsync=off`):
//! it is thrown away. A watchdog shell stops it and removes the directory once this test process
//! has exited, since a Rust test binary runs no destructors of statics.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use sqlx::{Connection as _, Executor as _, PgConnection};
use tokio::sync::OnceCell;

/// The maintenance URL of the server every test of this binary uses.
static SERVER: OnceCell<String> = OnceCell::const_new();

/// The URL of a new, empty database of its own for one test.
pub async fn database() -> String {
    let admin = SERVER.get_or_init(server).await;
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("connect to {admin}: {e}"));
    connection
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create the test database");
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{name}")
}

/// `TEST_POSTGRES_URL`, or the URL of a server started now.
async fn server() -> String {
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        return url;
    }
    let bin = binaries();
    let port = crate::process::free_port().await;
    let dir = tempfile::Builder::new()
        .prefix("checkout-postgres-")
        .tempdir()
        .expect("temp dir")
        .keep();
    let data = dir.join("data");
    let as_root = is_root();
    if as_root {
        run(Command::new("chown").arg("postgres:").arg(&dir), "chown");
    }
    run(
        as_postgres(as_root, bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data),
        "initdb",
    );
    // $1 bin, $2 data, $3 port, $4 this process, $5 the directory to remove.
    let watchdog = r#"
        "$1/postgres" -D "$2" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
            >"$5/postgres.log" 2>&1 &
        pg=$!
        while [ -d "/proc/$4" ] && kill -0 "$pg" 2>/dev/null; do sleep 0.2; done
        kill -INT "$pg" 2>/dev/null
        wait "$pg"
        rm -rf "$5"
    "#;
    #[expect(
        clippy::zombie_processes,
        reason = "the watchdog outlives this process by design: it stops the server after we exit"
    )]
    let _watchdog = as_postgres(as_root, "sh")
        .args(["-c", watchdog, "sh"])
        .arg(&bin)
        .arg(&data)
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start postgres");
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    crate::wait_for(
        "PostgreSQL to accept connections",
        Duration::from_secs(30),
        || async { PgConnection::connect(&url).await.ok().map(drop) },
    )
    .await;
    url
}

/// The newest installed PostgreSQL's `bin` directory (`PG_BIN` overrides).
fn binaries() -> PathBuf {
    if let Some(bin) = std::env::var_os("PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries in /usr/lib/postgresql: install postgresql, set PG_BIN \
             to their directory, or set TEST_POSTGRES_URL to a server's maintenance database"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `program` as the `postgres` user when running as root, else as is.
fn as_postgres(as_root: bool, program: impl AsRef<Path>) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program.as_ref());
        command
    } else {
        Command::new(program.as_ref())
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
