//! The page's edge (web/nginx.conf, web/Dockerfile) and `trunk serve` (Trunk.toml): the public
//! receiver only, rate limits, security headers, same-origin proxies, caching and gzip.

use e2e::edge::SECURITY_HEADERS;

use super::*;

#[test]
fn only_the_public_receiver_is_reachable_through_nginx() {
    let nginx = read("web/nginx.conf");
    let traces = nginx_location(&nginx, "= /v1/traces");
    assert!(
        traces.contains("set $collector http://${OTLP_UPSTREAM};\n        proxy_pass $collector;"),
        "{traces}"
    );
    let dockerfile = read("web/Dockerfile");
    assert!(
        dockerfile.contains("ENV OTLP_UPSTREAM=otel-collector:4319"),
        "the public receiver"
    );
    for private in ["4317", "4318"] {
        assert!(
            !nginx.contains(&format!(":{private}")) && !dockerfile.contains(&format!(":{private}")),
            "the server's receiver (:{private}) is never an nginx upstream"
        );
    }
    // Nothing else in the config proxies: the API and the public receiver only.
    let proxied = nginx
        .lines()
        .filter(|l| l.trim_start().starts_with("proxy_pass "))
        .count();
    assert_eq!(proxied, 2, "{nginx}");
    let compose = compose();
    let env = service(&compose, "web")["environment"]
        .as_mapping()
        .expect("environment");
    assert!(
        !env.contains_key("OTLP_UPSTREAM"),
        "web keeps the image's public receiver"
    );
    // The scale profile's page sends to its first collector tier's public receiver.
    assert_eq!(
        env_of(service(&compose, "web-scale"), "OTLP_UPSTREAM"),
        "otel-collector-routing:4319"
    );
}

#[test]
fn the_edge_limits_each_client_address_with_its_own_zone_for_the_api_and_the_traces() {
    let nginx = read("web/nginx.conf");
    for zone in ["api", "otlp"] {
        let rate = zone.to_uppercase();
        assert!(
            nginx.contains(&format!(
                "limit_req_zone $binary_remote_addr zone={zone}:10m rate=${{{rate}_RATE}};"
            )),
            "a zone per client address for {zone}"
        );
    }
    assert!(nginx.contains("limit_req_status 429;"));
    assert!(
        nginx.contains("limit_req_log_level warn;"),
        "refusals are logged"
    );
    for (location, zone) in [("/api/", "API"), ("= /v1/traces", "OTLP")] {
        let body = nginx_location(&nginx, location);
        assert!(
            body.contains(&format!(
                "limit_req zone={} burst=${{{zone}_BURST}} nodelay;",
                zone.to_lowercase()
            )),
            "{location}: {body}"
        );
    }
    let dockerfile = read("web/Dockerfile");
    for (name, value) in [
        ("API_RATE", "10r/s"),
        ("API_BURST", "20"),
        ("OTLP_RATE", "2r/s"),
        ("OTLP_BURST", "20"),
    ] {
        assert!(
            dockerfile.contains(&format!("ENV {name}={value}\n")),
            "{name}"
        );
    }
    // The same edge in front of the default stack and the scale profile, overridable from the
    // shell, else the image's default. (A key without a value would unset the image's default.)
    let compose = compose();
    for web in ["web", "web-scale"] {
        let service = service(&compose, web);
        assert_eq!(service["build"]["dockerfile"], "web/Dockerfile", "{web}");
        for name in [
            "API_RATE",
            "API_BURST",
            "OTLP_RATE",
            "OTLP_BURST",
            "CSP_CONNECT_SRC",
        ] {
            let image_default = dockerfile
                .lines()
                .find_map(|l| l.strip_prefix(&format!("ENV {name}=")))
                .unwrap_or_else(|| panic!("web/Dockerfile sets {name}"))
                .trim_matches('"');
            assert_eq!(
                env_of(service, name),
                format!("${{{name}:-{image_default}}}"),
                "{web}: {name} from the shell when set, else the image's default"
            );
        }
    }
    let readme = read("README.md");
    assert!(
        readme.contains("## The public edge"),
        "the README says what the edge enforces"
    );
}

#[test]
fn the_page_and_trunk_serve_send_the_same_security_headers() {
    let nginx = read("web/nginx.conf");
    let csp = nginx
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("add_header Content-Security-Policy \"")
        })
        .and_then(|l| l.strip_suffix("\" always;"))
        .expect("a CSP on every nginx response");
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("connect-src ${CSP_CONNECT_SRC};"), "{csp}");
    let trunk = read("Trunk.toml");
    let trunk_csp = toml_string_array(&trunk, "csp").join("; ");
    assert_eq!(
        trunk_csp,
        csp.replace("connect-src ${CSP_CONNECT_SRC};", "connect-src 'self';")
            .replace("script-src 'self'", "script-src 'self' 'nonce-{{NONCE}}'"),
        "trunk serve's CSP is nginx's, with the nonce of its reload script"
    );
    assert!(
        trunk.contains("\ncreate_nonce = true\n"),
        "the nonce trunk serve fills in"
    );
    assert_eq!(SECURITY_HEADERS[0], ("Content-Security-Policy", csp));
    for (name, value) in &SECURITY_HEADERS[1..] {
        assert!(
            nginx.contains(&format!("add_header {name} {value} always;"))
                || nginx.contains(&format!("add_header {name} \"{value}\" always;")),
            "nginx sends {name}"
        );
        assert!(
            trunk.contains(&format!("\n\"{name}\" = \"{value}\"\n")),
            "trunk serve sends {name}"
        );
    }
    let index = read("index.html");
    let handlers: Vec<&str> = index
        .split(" on")
        .skip(1)
        .filter(|rest| {
            let name_end = rest.find(|c: char| !c.is_ascii_lowercase()).unwrap_or(0);
            name_end > 0 && rest[name_end..].starts_with('=')
        })
        .collect();
    assert!(
        handlers.is_empty(),
        "the CSP refuses inline event handlers: {handlers:?}"
    );
    assert!(
        !index.contains("<script>") && !index.contains("style="),
        "no inline script or style"
    );
}

#[test]
fn the_page_reaches_the_api_and_the_collector_on_its_own_origin_everywhere() {
    let nginx = read("web/nginx.conf");
    assert!(nginx.contains("listen 8080;"));
    // The upstream itself (server:3000 by default) is checked with the scale profile below.
    let api = nginx_location(&nginx, "/api/");
    assert!(
        api.contains("set $server http://${API_UPSTREAM};\n        proxy_pass $server;"),
        "{api}"
    );

    let trunk = read("Trunk.toml");
    assert!(trunk.contains("port = 8080"));
    assert!(
        trunk.contains(r#"backend = "http://127.0.0.1:3000/api/""#),
        "the server's default SERVER_ADDR"
    );
    assert!(
        trunk.contains(r#"backend = "http://127.0.0.1:4318/v1/traces""#),
        "OTLP/HTTP's default port"
    );

    let index = read("index.html");
    assert!(index.contains(r#"<meta name="checkout:otlp-endpoint" content="/v1/traces" />"#));
    assert!(
        index.contains(r#"<meta name="checkout:jaeger-ui" content="http://localhost:16686" />"#)
    );
}

/// The strings of the TOML array `key = [ ... ]`, one per line, as Trunk.toml writes it.
fn toml_string_array(toml: &str, key: &str) -> Vec<String> {
    let start = toml
        .find(&format!("\n{key} = [\n"))
        .unwrap_or_else(|| panic!("no {key} = ["));
    toml[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.trim() != "]")
        .filter_map(|line| {
            let line = line.trim().trim_end_matches(',');
            line.strip_prefix('"')?.strip_suffix('"').map(str::to_owned)
        })
        .collect()
}

#[test]
fn nginx_resolves_its_upstreams_per_request_and_keeps_the_port() {
    let nginx = read("web/nginx.conf");
    assert!(
        nginx.contains("resolver 127.0.0.11"),
        "Docker's DNS, so names are resolved when needed, not once at start"
    );
    for upstream in [
        "server:3000",
        "otel-collector:4319",
        "${API_UPSTREAM}",
        "${OTLP_UPSTREAM}",
    ] {
        assert!(
            !nginx.contains(&format!("proxy_pass http://{upstream}")),
            "{upstream}: a literal proxy_pass host is resolved once, at start"
        );
    }
    let api = nginx_location(&nginx, "/api/");
    assert!(api.contains("proxy_set_header Host $http_host;"), "{api}");
    assert!(!nginx.contains("$host;"), "$host drops the port");
    let traces = nginx_location(&nginx, "= /v1/traces");
    assert!(traces.contains("client_max_body_size 1m;"), "{traces}");
}

#[test]
fn nginx_serves_the_build_with_caching_that_fits_hashed_files_and_with_gzip() {
    let nginx = read("web/nginx.conf");
    let cache = nginx
        .find("map $uri $page_cache_control {")
        .map(|start| &nginx[start..start + nginx[start..].find("\n}").expect("the map's end")])
        .expect("the caching map");
    for (uri, value) in [
        ("/", r#""no-cache""#),
        ("/index.html", r#""no-cache""#),
        ("~^/api/", r#""""#),
        ("/v1/traces", r#""""#),
        ("default", r#""public, max-age=31536000, immutable""#),
    ] {
        assert!(
            cache
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")
                    == format!("{uri} {value};")),
            "{uri}: {value} in {cache}"
        );
    }
    assert!(nginx.contains("add_header Cache-Control $page_cache_control;"));
    let add_headers: Vec<&str> = nginx
        .lines()
        .filter(|l| l.trim_start().starts_with("add_header "))
        .collect();
    assert!(
        add_headers.iter().all(|l| l.starts_with("    add_header ")),
        "every add_header at server level: one in a location would drop the others there"
    );
    let files = nginx_location(&nginx, "/");
    assert!(files.contains("=404;"), "a missing file is a 404: {files}");
    assert!(
        !nginx.contains("/index.html;"),
        "never index.html for a missing file"
    );
    assert!(nginx.contains("gzip on;"));
    let types = nginx
        .lines()
        .find(|l| l.trim_start().starts_with("gzip_types"))
        .expect("gzip_types");
    for mime in ["application/wasm", "application/javascript", "text/css"] {
        assert!(types.contains(mime), "gzip for {mime}: {types}");
    }
}

/// The image builds the page as `scripts/test.sh` does: trunk's post_build hook bundles the glue
/// with esbuild, the version the wasm toolchain pins.
#[test]
fn the_image_bundles_the_glue_with_the_toolchains_esbuild() {
    let toolchain = read("scripts/wasm-toolchain.sh");
    let pinned = toolchain
        .lines()
        .find_map(|l| l.strip_prefix("esbuild_version="))
        .expect("scripts/wasm-toolchain.sh pins esbuild_version");
    let dockerfile = read("web/Dockerfile");
    assert!(
        dockerfile.contains(&format!("ARG ESBUILD_VERSION={pinned}\n")),
        "web/Dockerfile's esbuild is the toolchain's {pinned}"
    );
    assert!(dockerfile.contains("python3"), "the hook is Python");
    let trunk = read("Trunk.toml");
    assert!(
        trunk.contains("stage = \"post_build\"\ncommand = \"python3\"\ncommand_arguments = [\"otel-browser/bundle.py\"]"),
        "{trunk}"
    );
}
