//! The page's nginx config (`web/nginx.conf`) run by a real nginx (Debian's, installed by
//! `scripts/test.sh`), as the page image runs it, on a free port and a stand-in build directory.
//! Docker's DNS is not here, so the proxied names do not resolve: that nginx still starts and
//! serves the page is the point of resolving upstreams per request.

use std::{path::Path, time::Duration};

use e2e::process::{Process, free_port, wait_for_port};
use tokio::process::Command;

/// The config, inside the `http` block nginx.conf would give it, listening on `port` and serving
/// `root`.
fn config(dir: &Path, port: u16, root: &Path) -> String {
    let site = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/nginx.conf"))
        .expect("web/nginx.conf")
        // What the image's template step does with its default (web/Dockerfile).
        .replace("${API_UPSTREAM}", "server:3000")
        .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "root /usr/share/nginx/html;",
            &format!("root {};", root.display()),
        );
    format!(
        "daemon off;\nuser root;\npid {dir}/nginx.pid;\nerror_log stderr;\nevents {{}}\n\
         http {{\ninclude /etc/nginx/mime.types;\naccess_log off;\n{site}\n}}\n",
        dir = dir.display()
    )
}

#[tokio::test]
async fn the_page_is_served_with_its_caching_gzip_and_404s_while_the_upstreams_are_unknown() {
    let nginx = std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
    assert!(
        Path::new(&nginx).exists(),
        "{nginx} is missing: scripts/test.sh installs nginx-light"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("html");
    std::fs::create_dir(&root).expect("root");
    std::fs::write(root.join("index.html"), "<!doctype html>").expect("index");
    // A hashed module, large enough to be compressed.
    std::fs::write(root.join("web-0123abcd_bg.wasm"), vec![b'a'; 8192]).expect("wasm");
    let port = free_port().await;
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config(dir.path(), port, &root)).expect("conf");
    let mut command = Command::new(nginx);
    command.arg("-c").arg(&conf).arg("-p").arg(dir.path());
    let mut server = Process::spawn("nginx", command);
    wait_for_port(
        "nginx",
        ([127, 0, 0, 1], port).into(),
        Duration::from_secs(10),
    )
    .await;

    let client = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let get = |path: &str| {
        client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .header("accept-encoding", "gzip")
            .send()
    };
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    for page in ["/", "/index.html"] {
        let response = get(page).await.expect("answered");
        assert_eq!(response.status(), 200, "{page}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{page}");
    }
    let module = get("/web-0123abcd_bg.wasm").await.expect("answered");
    assert_eq!(module.status(), 200);
    assert_eq!(header(&module, "content-type"), "application/wasm");
    assert!(header(&module, "cache-control").contains("immutable"));
    assert_eq!(header(&module, "content-encoding"), "gzip");
    let missing = get("/web-ffffffff_bg.wasm").await.expect("answered");
    assert_eq!(missing.status(), 404, "never index.html for a missing file");
    let api = get("/api/products").await.expect("answered");
    assert_eq!(
        api.status(),
        502,
        "the server's name is looked up per request (and does not resolve here)"
    );
    server.stop().await;
}
