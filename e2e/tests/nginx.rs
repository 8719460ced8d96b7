//! The page's nginx config (`web/nginx.conf`, the public edge) run by a real nginx (Debian's,
//! installed by `scripts/test.sh`), as the page image runs it: its template filled in with the
//! image's defaults (`e2e::edge`).
//!
//! - Docker's DNS is not here, so the image's upstream names do not resolve: that nginx still
//!   starts and serves the page is the point of resolving upstreams per request.
//! - Its rate limits, against a stand-in upstream that answers everything with 200.
//! - The real checkout page through it, in headless Chromium, under its Content-Security-Policy.

use std::{net::IpAddr, time::Duration};

use axum::{Router, routing::any};
use checkout_api::{ErrorBody, ErrorCode};
use e2e::{
    browser::{click, csp_refusals, find, text, wait_for_result, with_browser},
    edge::{Nginx, SECURITY_HEADERS, image_default},
    stack::Stack,
};

/// The security headers every page response carries, their values as the image fills them in.
fn security_headers() -> Vec<(&'static str, String)> {
    let connect_src = image_default("CSP_CONNECT_SRC");
    SECURITY_HEADERS
        .iter()
        .map(|(name, value)| (*name, value.replace("${CSP_CONNECT_SRC}", &connect_src)))
        .collect()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_page_is_served_with_its_caching_gzip_404s_and_security_headers_while_the_upstreams_are_unknown()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("index");
    // A hashed module, large enough to be compressed.
    std::fs::write(dir.path().join("web-0123abcd_bg.wasm"), vec![b'a'; 8192]).expect("wasm");
    let mut nginx = Nginx::start(dir.path(), &[]).await;

    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let get = |path: &str| {
        client
            .get(format!("http://{}{path}", nginx.addr))
            .header("accept-encoding", "gzip")
            .send()
    };
    for page in ["/", "/index.html"] {
        let response = get(page).await.expect("answered");
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{page}");
        for (name, value) in security_headers() {
            assert_eq!(header(&response, name), value, "{page}: {name}");
        }
    }
    let module = get("/web-0123abcd_bg.wasm").await.expect("answered");
    assert_eq!(module.status(), 200);
    assert_eq!(header(&module, "content-type"), "application/wasm");
    assert!(header(&module, "cache-control").contains("immutable"));
    assert_eq!(header(&module, "content-encoding"), "gzip");
    assert_eq!(header(&module, "x-content-type-options"), "nosniff");
    let missing = get("/web-ffffffff_bg.wasm").await.expect("answered");
    assert_eq!(missing.status(), 404, "never index.html for a missing file");
    assert_eq!(header(&missing, "cache-control"), "", "a 404 is not cached");
    for path in ["/api/products", "/v1/traces"] {
        let proxied = get(path).await.expect("answered");
        assert_eq!(
            proxied.status(),
            502,
            "{path}: the upstream's name is looked up per request (and does not resolve here)"
        );
    }
    nginx.stop().await;
}

/// Sends `count` requests one after another from `client` and returns their answers.
async fn burst(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    count: usize,
) -> Vec<reqwest::Response> {
    let mut answers = Vec::new();
    for _ in 0..count {
        let request = client
            .request(method.clone(), url)
            .header("content-type", "application/x-protobuf");
        answers.push(request.send().await.expect("answered"));
    }
    answers
}

/// A burst's answers: how many passed before the first refusal, and the refusals.
fn split(answers: Vec<reqwest::Response>) -> (usize, Vec<reqwest::Response>) {
    let passed = answers.iter().take_while(|r| r.status() == 200).count();
    let refused: Vec<_> = answers.into_iter().filter(|r| r.status() == 429).collect();
    (passed, refused)
}

fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(address))
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_burst_over_the_limit_is_refused_with_429_per_client_address_and_one_under_it_passes() {
    // The stand-in upstream for both the server and the collector: 200 for everything.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_addr = upstream.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            upstream,
            Router::new().fallback(any(|| async { [("cache-control", "no-store")] })),
        )
        .await
    });
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("index");
    let mut nginx = Nginx::start(
        dir.path(),
        &[
            ("API_UPSTREAM", upstream_addr.to_string()),
            ("OTLP_UPSTREAM", upstream_addr.to_string()),
        ],
    )
    .await;
    let client = client_from([127, 0, 0, 1]);

    for (path, method, zone) in [
        ("/api/products", reqwest::Method::GET, "API"),
        ("/v1/traces", reqwest::Method::POST, "OTLP"),
    ] {
        let url = format!("http://{}{path}", nginx.addr);
        let burst_size: usize = image_default(&format!("{zone}_BURST"))
            .parse()
            .expect("a burst in requests");
        let rate: f64 = image_default(&format!("{zone}_RATE"))
            .strip_suffix("r/s")
            .and_then(|r| r.parse().ok())
            .expect("a rate in requests per second");
        // The burst, and twice as many again, as fast as one client sends them.
        let count = 3 * burst_size;
        let started = std::time::Instant::now();
        let answers = burst(&client, method.clone(), &url, count).await;
        let elapsed = started.elapsed().as_secs_f64();
        let caching: Vec<_> = answers[0]
            .headers()
            .get_all("cache-control")
            .iter()
            .collect();
        assert_eq!(
            caching,
            ["no-store"],
            "{path}: a proxied answer keeps its own caching, and only it"
        );
        let (passed, refused) = split(answers);
        eprintln!(
            "{path}: {count} requests back to back in {elapsed:.2} s: {passed} passed before the \
             first refusal, {} refused with 429",
            refused.len()
        );
        assert!(
            passed > burst_size,
            "{path}: the burst ({burst_size}) and the first request pass, {passed} did"
        );
        // nginx lets through one request, the burst, and what the rate refilled meanwhile (one
        // more for the rounding of its millisecond clock); everything else is refused.
        let most = 2 + burst_size + (rate * elapsed).ceil() as usize;
        assert!(
            count - refused.len() <= most,
            "{path}: at most {most} of {count} pass at {rate} r/s over {elapsed:.2} s; {} were \
             refused",
            refused.len()
        );
        let refusal = refused.into_iter().next().expect("a refusal");
        assert_eq!(header(&refusal, "retry-after"), "1", "{path}");
        assert_eq!(header(&refusal, "x-content-type-options"), "nosniff");
        let content_type = header(&refusal, "content-type");
        let body = refusal.bytes().await.expect("body");
        if path == "/v1/traces" {
            // OTLP/HTTP: a google.rpc.Status in the request's encoding; empty is all defaults.
            assert_eq!(content_type, "application/x-protobuf");
            assert!(body.is_empty(), "{body:?}");
        } else {
            assert_eq!(content_type, "application/json");
            let error: ErrorBody = serde_json::from_slice(&body).expect("the API's error shape");
            assert_eq!(error.error.code, ErrorCode::RateLimited);
        }

        // Another client address has a limit of its own.
        let other = client_from([127, 0, 0, 2]);
        let (passed, _) = split(burst(&other, method.clone(), &url, 1).await);
        assert_eq!(passed, 1, "{path}: 127.0.0.2 is not limited by 127.0.0.1");

        // A client that waits as Retry-After says is served again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (passed, _) = split(burst(&client, method, &url, 1).await);
        assert_eq!(passed, 1, "{path}: after Retry-After, a request passes");
    }
    let refusals = nginx
        .errors()
        .iter()
        .filter(|line| line.contains("limiting requests"))
        .count();
    assert!(refusals > 0, "refusals are logged: {:?}", nginx.errors());
    nginx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_edge_the_page_runs_under_its_csp_checks_out_and_exports_its_spans() {
    let Some(stack) = Stack::start_behind_edge().await else {
        eprintln!("skipped: a compose stack's page is behind this nginx already");
        return;
    };
    let stack = &stack;
    let started = std::time::Instant::now();
    with_browser(|client| async move {
        client.goto(&stack.page_url).await.expect("the page loads");
        // The module compiled and ran (CSP allowing it), and the catalog came through /api/.
        find(&client, "product-1").await;
        // Three checkouts as fast as the browser can click, faster than a person does.
        let mut previous = String::new();
        let mut trace_id = String::new();
        for _ in 0..3 {
            click(&client, "add-1").await;
            click(&client, "checkout").await;
            let (status, message) = wait_for_result(&client, &previous).await;
            assert_eq!(status, "ok", "the checkout succeeds: {message}");
            previous = message;
            trace_id = text(&client, "trace-id").await;
        }
        let trace = stack
            .trace(&trace_id, |t| {
                t.has("checkout-web", "click checkout")
                    && t.has("checkout-web", "POST")
                    && t.has("checkout-server", "POST /api/checkout")
            })
            .await;
        assert!(trace.spans.len() >= 3, "{}", trace.outline());
        let refused = csp_refusals(&client).await;
        assert!(refused.is_empty(), "the CSP refused something: {refused:?}");
        // Leaving the page: its pagehide flush goes through the edge too.
        let edge = stack.edge().expect("served by nginx");
        let before = edge.statuses("POST", "/v1/traces").len();
        client.goto("about:blank").await.expect("left the page");
        e2e::wait_for("the pagehide flush", e2e::stack::TRACE_TIMEOUT, || async {
            (edge.statuses("POST", "/v1/traces").len() > before).then_some(())
        })
        .await;
    })
    .await;
    let edge = stack.edge().expect("served by nginx");
    let exports = edge.statuses("POST", "/v1/traces");
    let largest = edge
        .requests("POST", "/v1/traces")
        .into_iter()
        .map(|(_, bytes)| bytes)
        .max()
        .unwrap_or_default();
    let export_bytes: usize = edge
        .requests("POST", "/v1/traces")
        .into_iter()
        .map(|(_, bytes)| bytes)
        .sum();
    let page_spans = stack
        .stored()
        .await
        .iter()
        .filter(|s| s.service == "checkout-web")
        .count();
    let api =
        edge.statuses("GET", "/api/products").len() + edge.statuses("POST", "/api/checkout").len();
    eprintln!(
        "through the edge, one page view with three checkouts: {} exports (the largest {largest} \
         B; {page_spans} spans in {export_bytes} B) and {api} API requests in {:.1} s",
        exports.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        stack.page_failed_exports(),
        0,
        "a real page never meets the limit: {exports:?}"
    );
    stack.assert_no_card_data().await;
    stack.assert_conforms_to_schema().await;
}
