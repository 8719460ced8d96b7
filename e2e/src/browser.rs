//! Headless Chromium through chromedriver. Each test gets its own driver and session, closed even
//! when the test fails. `find` helpers wait for elements; `act` helpers click and read.

use std::{
    env,
    panic::{AssertUnwindSafe, resume_unwind},
    path::PathBuf,
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use futures::FutureExt as _;
use serde_json::json;
use tokio::process::Command;

use crate::{
    process::{Process, free_port, wait_for_port},
    wait_for,
};

/// How long an element or a page state may take to appear.
pub const UI_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `test` with a fresh browser session, then closes the session and the driver, whatever
/// the test did; a failure is re-raised after the clean-up.
pub async fn with_browser<F, Fut>(test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let port = free_port().await;
    let driver_path =
        env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
    let mut command = Command::new(driver_path);
    command.arg(format!("--port={port}"));
    let mut driver = Process::spawn("chromedriver", command);
    wait_for_port("chromedriver", ([127, 0, 0, 1], port).into(), UI_TIMEOUT).await;

    let profile = tempfile::tempdir().expect("profile dir");
    let binary = env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": binary,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1100,900",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        },
        // The console, for `console_messages` (chromedriver's log endpoint).
        "goog:loggingPrefs": { "browser": "ALL" }
    });
    let capabilities = capabilities
        .as_object()
        .expect("object")
        .clone()
        .into_iter()
        .collect();
    let client = ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");

    let outcome = AssertUnwindSafe(test(client.clone())).catch_unwind().await;
    let _ = client.close().await;
    driver.stop().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

/// Finds the element with `data-testid`, waiting for it.
pub async fn find(client: &Client, testid: &str) -> Element {
    client
        .wait()
        .at_most(UI_TIMEOUT)
        .for_element(Locator::Css(&format!("[data-testid='{testid}']")))
        .await
        .unwrap_or_else(|e| panic!("no element [data-testid={testid}]: {e}"))
}

/// Clicks the element with `data-testid`, once it is enabled.
pub async fn click(client: &Client, testid: &str) {
    let element = find(client, testid).await;
    wait_for(&format!("{testid} to be enabled"), UI_TIMEOUT, || async {
        element.is_enabled().await.ok().filter(|enabled| *enabled)
    })
    .await;
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {testid}: {e}"));
}

/// Waits until the element with `data-testid` has attribute `name` set, and returns its value.
pub async fn attribute(client: &Client, testid: &str, name: &str) -> String {
    let element = find(client, testid).await;
    wait_for(&format!("{testid} to have {name}"), UI_TIMEOUT, || async {
        element
            .attr(name)
            .await
            .ok()
            .flatten()
            .filter(|v| !v.is_empty())
    })
    .await
}

/// The visible text of the element with `data-testid`.
pub async fn text(client: &Client, testid: &str) -> String {
    find(client, testid).await.text().await.unwrap_or_default()
}

/// Saves a screenshot under `test-artifacts/` (not committed) for a person to look at.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = crate::workspace().join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let path = dir.join(format!("{name}.png"));
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(&path, png).expect("write screenshot");
    path
}

/// Waits until the result area shows an outcome (`data-status` `ok` or `error`) whose text differs
/// from `previous`, and returns (status, text).
pub async fn wait_for_result(client: &Client, previous: &str) -> (String, String) {
    let result = find(client, "result").await;
    wait_for("a new checkout result", UI_TIMEOUT, || async {
        let status = result.attr("data-status").await.ok().flatten()?;
        let text = result.text().await.ok()?;
        (matches!(status.as_str(), "ok" | "error") && text != previous).then_some((status, text))
    })
    .await
}

/// One row of the page's trace waterfall, as its data attributes state it.
#[derive(Debug, Clone)]
pub struct WaterfallRow {
    /// `checkout`, `fetch`, `server`, or a `Server-Timing` metric (`product`, `payment`, `db`).
    pub name: String,
    /// Start, in µs after the click.
    pub start_us: i64,
    /// End, in µs after the click.
    pub end_us: i64,
    /// Drawn in red.
    pub error: bool,
}

/// The rows of the trace waterfall, once it is drawn.
pub async fn waterfall_rows(client: &Client) -> Vec<WaterfallRow> {
    find(client, "waterfall-row").await;
    let rows = client
        .find_all(Locator::Css("[data-testid='waterfall-row']"))
        .await
        .expect("waterfall rows");
    let mut read = Vec::new();
    for row in rows {
        let attr = |name: &'static str| {
            let row = row.clone();
            async move { row.attr(name).await.ok().flatten().unwrap_or_default() }
        };
        let number = |text: String| text.parse::<i64>().expect("a whole number of µs");
        read.push(WaterfallRow {
            name: attr("data-name").await,
            start_us: number(attr("data-start-us").await),
            end_us: number(attr("data-end-us").await),
            error: attr("data-error").await == "true",
        });
    }
    read
}

/// chromedriver's `POST /session/{id}/se/log` for the browser's console (not in the W3C
/// protocol, so fantoccini has no method for it).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The console messages logged since the last call (level and text, as chromedriver gives them):
/// errors, warnings, and what Chromium reports itself, such as a Content-Security-Policy refusal.
pub async fn console_messages(client: &Client) -> Vec<String> {
    let entries = client
        .issue_cmd(BrowserLog)
        .await
        .expect("the browser's log");
    entries
        .as_array()
        .unwrap_or_else(|| panic!("chromedriver's log is a list of entries: {entries}"))
        .iter()
        .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"]))
        .collect()
}

/// What the page's Content-Security-Policy refused since the last look at the console (Chromium
/// logs each refusal there: "… violates the following Content Security Policy directive …").
pub async fn csp_refusals(client: &Client) -> Vec<String> {
    console_messages(client)
        .await
        .into_iter()
        .filter(|m| m.contains("Content Security Policy"))
        .collect()
}

/// A Chrome DevTools Protocol command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.0.to_string()))
    }
}

/// Runs DevTools' `command` with `params` on the current tab; its result.
pub async fn cdp(client: &Client, command: &str, params: serde_json::Value) -> serde_json::Value {
    client
        .issue_cmd(Cdp(json!({ "cmd": command, "params": params })))
        .await
        .unwrap_or_else(|e| panic!("DevTools {command}: {e}"))
}

/// Cuts the current tab off the network (DevTools' network emulation: requests fail, and
/// `navigator.onLine` is false), or puts it back.
pub async fn set_offline(client: &Client, offline: bool) {
    cdp(client, "Network.enable", json!({})).await;
    let conditions = json!({
        "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
    });
    cdp(client, "Network.emulateNetworkConditions", conditions).await;
}
