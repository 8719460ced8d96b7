//! `scripts/dev.sh`, the README's run command, run as a new user runs it on a machine without
//! Docker: it brings up the page, the server, the collector and Jaeger (built from their Go modules,
//! so Jaeger without its UI); a checkout in a real browser draws its waterfall, the terminal shows
//! the trace's URL in Jaeger's API, that URL gives the trace from the click to the database, and
//! Ctrl-C stops everything it started.
//!
//! The command listens on its documented ports (8080, 3000, 4317, 4318, 16686 and Jaeger's own), so
//! this test needs them free; it says so and fails when they are not.

use std::{
    panic::{AssertUnwindSafe, resume_unwind},
    time::Duration,
};

use e2e::{
    browser::{click, csp_refusals, text, wait_for_result, waterfall_rows, with_browser},
    jaeger::JaegerApi,
    process::Process,
    trace::Trace,
};
use futures::FutureExt as _;
use test_support::secrets::CardData;
use tokio::process::Command;

/// The first `trunk serve` build compiles the page in the dev profile: minutes on a cold machine.
const READY_TIMEOUT: Duration = Duration::from_secs(1200);
const PORTS: [u16; 7] = [8080, 3000, 4317, 4318, 4319, 16686, 14317];

async fn port_answers(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

fn docker_runs() -> bool {
    std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_serves_the_page_and_prints_each_checkouts_trace() {
    if docker_runs() {
        eprintln!("skipped: with Docker, scripts/dev.sh starts compose's collector and Jaeger");
        return;
    }
    for port in PORTS {
        assert!(
            !port_answers(port).await,
            "port {port} is taken: scripts/dev.sh needs it"
        );
    }
    let script = e2e::workspace().join("scripts/dev.sh");
    let mut command = Command::new(script);
    // Its own process group, so the interrupt below reaches it as Ctrl-C would.
    command.process_group(0);
    // trunk serve's development build goes elsewhere: `dist/` holds the release build that the
    // tests after this one serve (its live-reload script is inline, which their CSP refuses).
    let dist = tempfile::tempdir().expect("temp dir");
    command.env("TRUNK_BUILD_DIST", dist.path());
    // As a new user has it: no Jaeger release binary (the built one, without a UI, runs), and
    // Jaeger's Badger in a directory of this test's.
    let state = tempfile::tempdir().expect("temp dir");
    command
        .env_remove("JAEGER_BIN")
        .env_remove("JAEGER_UI_ASSETS")
        .env("XDG_STATE_HOME", state.path());
    let dev = Process::spawn("scripts/dev.sh", command);
    let outcome = AssertUnwindSafe(checkout_through(&dev))
        .catch_unwind()
        .await;

    // Ctrl-C: SIGINT to its process group, whatever the checks above found.
    let pid = dev.id().expect("dev.sh is running");
    let _ = Command::new("kill")
        .args(["-INT", "--", &format!("-{pid}")])
        .status()
        .await;
    dev.wait_for_line("dev: stopped", Duration::from_secs(20))
        .await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
    for port in PORTS {
        e2e::wait_for(
            &format!("port {port} to be released"),
            Duration::from_secs(10),
            || async { (!port_answers(port).await).then_some(()) },
        )
        .await;
    }
}

/// A checkout on the page `dev` serves: the waterfall is drawn and the trace id reaches `dev`'s
/// terminal through the collector.
async fn checkout_through(dev: &Process) {
    dev.wait_for_line("dev: ready", READY_TIMEOUT).await;
    with_browser(|client| async move {
        client
            .goto("http://127.0.0.1:8080/")
            .await
            .expect("the page loads");
        click(&client, "add-1").await;
        click(&client, "checkout").await;
        let (status, message) = wait_for_result(&client, "").await;
        assert_eq!(status, "ok", "the page says: {message}");
        let trace_id = text(&client, "trace-id").await;
        let rows = waterfall_rows(&client).await;
        assert!(
            rows.iter().any(|r| r.name == "server"),
            "the waterfall shows the server: {rows:?}"
        );
        // Under trunk serve's CSP (Trunk.toml), as under nginx's: nothing refused, its live-reload
        // script included (it runs by the nonce of each response).
        let refused = csp_refusals(&client).await;
        assert!(refused.is_empty(), "the CSP refused something: {refused:?}");
        let page = reqwest::get("http://127.0.0.1:8080/")
            .await
            .expect("the page");
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .expect("a CSP")
            .to_owned();
        let html = page.text().await.expect("the page's HTML");
        let nonce = csp
            .split(['\'', ' '])
            .find_map(|source| source.strip_prefix("nonce-"))
            .expect("a nonce in the CSP");
        assert!(
            html.contains(&format!("<script nonce=\"{nonce}\">")),
            "the reload script carries this response's nonce"
        );
        assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
        // The terminal names the trace's URL in Jaeger's API, and that URL has the whole trace.
        let line = e2e::wait_for(
            "the command to print the checkout's trace",
            Duration::from_secs(30),
            || async {
                dev.output()
                    .into_iter()
                    .find(|line| line.starts_with("dev: trace") && line.contains(&trace_id))
            },
        )
        .await;
        let url = line.rsplit(' ').next().expect("a URL");
        assert_eq!(
            url,
            format!("http://localhost:16686/api/v3/traces/{trace_id}")
        );
        let jaeger = JaegerApi::new("http://localhost:16686");
        e2e::wait_for(
            "the trace, click to database, in Jaeger",
            Duration::from_secs(30),
            || async {
                let trace = Trace::of(&trace_id, &jaeger.trace(&trace_id).await?);
                (trace.has("checkout-web", "click checkout")
                    && trace.has("checkout-web", "POST")
                    && trace.has("checkout-server", "POST /api/checkout")
                    && trace.has("checkout-server", "UPDATE orders"))
                .then_some(())
            },
        )
        .await;
    })
    .await;
    // Everything the command printed (the server's log lines, the collector's and Jaeger's) carries
    // no card number and no email. (Not the CVC: its three digits also occur as tokens in
    // the build output, e.g. in version numbers.)
    let card_data = CardData::test_cards(&[], &[e2e::stack::PAGE_EMAIL]);
    for line in dev.output() {
        assert_eq!(card_data.found_in(&line), None, "{line}");
    }
}
