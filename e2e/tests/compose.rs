//! Static checks of what Docker users run (`compose.yaml`, the collector's config, the page's nginx
//! config), since no Docker engine runs on the test machines: they parse, and their service names,
//! ports and endpoints agree with the code, `Trunk.toml`, `index.html` and the README.

use std::{collections::BTreeSet, path::PathBuf};

use e2e::edge::SECURITY_HEADERS;
use serde_yaml::Value;

fn root() -> PathBuf {
    e2e::workspace()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn compose() -> Value {
    yaml("compose.yaml")
}

/// The `${env:NAME:-default}` references of a collector config file (Jaeger's too), in order:
/// (NAME, default).
fn env_references(text: &str) -> Vec<(String, String)> {
    let mut references = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        let end = start + rest[start..].find('}').expect("a closing brace");
        let reference = &rest[start + "${env:".len()..end];
        let (name, default) = reference
            .split_once(":-")
            .unwrap_or_else(|| panic!("${{env:{reference}}} has no default"));
        references.push((name.to_owned(), default.to_owned()));
        rest = &rest[end + 1..];
    }
    references
}

/// A collector config file (Jaeger's too) as compose runs it: compose sets none of the variables
/// it reads (held by `the_configs_run_as_they_are_with_compose_values_as_defaults`), so each
/// `${env:NAME:-default}` is its default.
fn as_compose_runs(path: &str) -> Value {
    let mut text = read(path);
    for (name, default) in env_references(&text.clone()) {
        text = text.replacen(&format!("${{env:{name}:-{default}}}"), &default, 1);
    }
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

/// The files the tests and `scripts/dev.sh` run are the ones compose mounts: each address or
/// directory that differs on one host comes from a variable whose default is compose's value, and
/// compose sets none of those variables (but the page's service names, which it passes on from
/// the shell), so compose runs each file as it is.
#[test]
fn the_configs_run_as_they_are_with_compose_values_as_defaults() {
    let compose = compose();
    for (name_in_compose, path) in [
        ("otel-collector", "otel-collector/config.yaml"),
        ("jaeger", "jaeger/config.yaml"),
    ] {
        let mounted = strings(&service(&compose, name_in_compose)["volumes"]);
        assert!(
            mounted.iter().any(|v| v.starts_with(&format!("./{path}:"))),
            "compose mounts {path}: {mounted:?}"
        );
        let references = env_references(&read(path));
        assert!(!references.is_empty(), "{path} reads variables");
        let set = service(&compose, name_in_compose)["environment"]
            .as_mapping()
            .cloned();
        for (name, default) in references {
            let passed = set.as_ref().and_then(|env| env.get(name.as_str())).cloned();
            match name.as_str() {
                // From the shell, else unset: the config's default.
                "PUBLIC_SERVICE_NAMES" => assert_eq!(passed, Some(Value::Null)),
                _ => assert_eq!(passed, None, "compose sets {name} for {name_in_compose}"),
            }
            assert!(
                !default.is_empty() || name == "JAEGER_UI_ASSETS",
                "{name} has compose's value as its default"
            );
        }
    }
}

/// The builder manifest (`otel-collector/builder-config.yaml`) holds exactly the components the
/// collector's config uses, plus `debug`, each at the contrib release compose pins: the collector
/// the tests build is the one compose runs.
#[test]
fn the_collector_builder_manifest_has_exactly_the_configs_components_at_composes_release() {
    // Each component type the config may name, and its module (the last part of its path).
    const MODULES: [(&str, &str, &str); 9] = [
        ("receivers", "otlp", "otlpreceiver"),
        ("processors", "memory_limiter", "memorylimiterprocessor"),
        ("processors", "batch", "batchprocessor"),
        ("processors", "filter", "filterprocessor"),
        ("processors", "transform", "transformprocessor"),
        ("exporters", "otlp_grpc", "otlpexporter"),
        ("exporters", "debug", "debugexporter"),
        ("connectors", "forward", "forwardconnector"),
        ("extensions", "health_check", "healthcheckextension"),
    ];
    let config = as_compose_runs("otel-collector/config.yaml");
    let sections = [
        "receivers",
        "processors",
        "exporters",
        "connectors",
        "extensions",
    ];
    let mut used = BTreeSet::from([("exporters".to_owned(), "debugexporter".to_owned())]);
    for section in sections {
        for name in config[section]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.keys())
        {
            let name = name.as_str().expect("a component name");
            let kind = name.split('/').next().expect("a type");
            let (_, _, module) = MODULES
                .iter()
                .find(|(s, k, _)| *s == section && *k == kind)
                .unwrap_or_else(|| panic!("{section}: {name} has a module in MODULES"));
            used.insert((section.to_owned(), (*module).to_owned()));
        }
    }
    let image = service(&compose(), "otel-collector")["image"]
        .as_str()
        .expect("image")
        .to_owned();
    let release = image.rsplit(':').next().expect("a tag");
    let manifest = yaml("otel-collector/builder-config.yaml");
    assert_eq!(manifest["dist"]["version"].as_str(), Some(release));
    let mut built = BTreeSet::new();
    for section in sections {
        for entry in manifest[section].as_sequence().into_iter().flatten() {
            let gomod = entry["gomod"].as_str().expect("gomod");
            let (path, version) = gomod.split_once(' ').expect("module and version");
            assert_eq!(
                version,
                format!("v{release}"),
                "{gomod} at {image}'s release"
            );
            let module = path.rsplit('/').next().expect("a module name");
            built.insert((section.to_owned(), module.to_owned()));
        }
    }
    assert_eq!(built, used, "the manifest's components");
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "compose.yaml has no service {name}");
    service
}

#[test]
fn compose_runs_jaeger_v2_and_the_contrib_collector_at_pinned_versions() {
    let compose = compose();
    let jaeger = service(&compose, "jaeger")["image"]
        .as_str()
        .expect("image");
    let version = jaeger
        .strip_prefix("jaegertracing/jaeger:")
        .expect("the jaeger image");
    let [major, minor, patch] = semver(version);
    assert_eq!(major, 2, "Jaeger v2: {jaeger}");
    // The Jaeger the tests and scripts/dev.sh run is built from its Go module at the same release:
    // Jaeger tags each release twice, v1.(N+63) being v2.N (v1.75.0 is v2.12.0), and only the v1
    // tags are Go module versions.
    let go_mod = read("jaeger/go.mod");
    let module = format!("github.com/jaegertracing/jaeger v1.{}.{patch}", minor + 63);
    assert!(
        go_mod.contains(&module),
        "jaeger/go.mod builds compose's {jaeger}: {module}"
    );
    let collector = service(&compose, "otel-collector")["image"]
        .as_str()
        .expect("image");
    let version = collector
        .strip_prefix("otel/opentelemetry-collector-contrib:")
        .expect("the contrib image");
    let [major, minor, _] = semver(version);
    assert!(
        major == 0 && minor >= 159,
        "pinned collector-contrib 0.159 or newer (the `otlp_grpc` exporter): {collector}"
    );
}

/// `MAJOR.MINOR.PATCH`, all three numbers; panics on anything else (a pin is exact).
fn semver(version: &str) -> [u32; 3] {
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a pinned version: {version}"))
        })
        .collect();
    parts
        .try_into()
        .unwrap_or_else(|_| panic!("not MAJOR.MINOR.PATCH: {version}"))
}

#[test]
fn compose_ports_and_endpoints_agree_with_the_code() {
    let compose = compose();
    let ports = |name: &str| strings(&service(&compose, name)["ports"]);
    assert!(ports("jaeger").contains(&"16686:16686".to_owned()));
    // The server's private receiver on this host's loopback only; the public one not at all.
    assert_eq!(
        ports("otel-collector"),
        ["127.0.0.1:4317:4317", "127.0.0.1:4318:4318"]
    );
    assert_eq!(
        ports("server"),
        ["127.0.0.1:3000:3000"],
        "the API is public only through the page's nginx and its limits"
    );
    assert!(ports("web").contains(&"8080:8080".to_owned()));

    let env = &service(&compose, "server")["environment"];
    assert_eq!(
        env["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://otel-collector:4318"
    );
    assert_eq!(env["SERVER_ADDR"], "0.0.0.0:3000");
    let origins = env["CORS_ALLOWED_ORIGINS"].as_str().expect("origins");
    assert!(origins.split(',').any(|o| o == "http://localhost:8080") && !origins.contains('*'));
    assert!(read("server/Dockerfile").contains("EXPOSE 3000"));
    assert!(read("web/Dockerfile").contains("EXPOSE 8080"));
}

#[test]
fn compose_starts_in_order_behind_healthchecks() {
    let compose = compose();
    let depends = |name: &str, on: &str| {
        service(&compose, name)["depends_on"][on]["condition"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        depends("otel-collector", "jaeger").as_deref(),
        Some("service_healthy")
    );
    let jaeger_check = strings(&service(&compose, "jaeger")["healthcheck"]["test"]).join(" ");
    assert!(
        jaeger_check.contains("wget --spider") && jaeger_check.contains(":13133/status"),
        "Jaeger's own health endpoint, with the wget its image has: {jaeger_check}"
    );
    assert_eq!(
        depends("server", "otel-collector").as_deref(),
        Some("service_started")
    );
    assert_eq!(depends("web", "server").as_deref(), Some("service_healthy"));
    assert_eq!(
        depends("web", "otel-collector"),
        None,
        "nginx resolves the collector per request: it need not wait for it"
    );
    let server_check = strings(&service(&compose, "server")["healthcheck"]["test"]).join(" ");
    assert!(
        server_check.contains("http://127.0.0.1:3000/healthz"),
        "{server_check}"
    );
    let web_check = strings(&service(&compose, "web")["healthcheck"]["test"]).join(" ");
    assert!(web_check.contains("http://127.0.0.1:8080/"), "{web_check}");
}

#[test]
fn the_collector_config_is_mounted_where_the_collector_reads_it() {
    let compose = compose();
    let collector = service(&compose, "otel-collector");
    let command = strings(&collector["command"]).join(" ");
    let config_path = command.strip_prefix("--config=").expect("--config=PATH");
    let volume = strings(&collector["volumes"])
        .into_iter()
        .find(|v| v.contains(config_path))
        .expect("mounted");
    let host_path = volume
        .split(':')
        .next()
        .expect("host path")
        .trim_start_matches("./");
    assert!(root().join(host_path).exists(), "{host_path} exists");
}

#[test]
fn the_collector_receives_the_server_privately_and_exports_to_jaeger_with_retry_and_a_queue() {
    let config = as_compose_runs("otel-collector/config.yaml");
    let protocols = &config["receivers"]["otlp"]["protocols"];
    assert_eq!(protocols["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(protocols["http"]["endpoint"], "0.0.0.0:4318");
    assert!(
        protocols["http"]["cors"].is_null(),
        "no browser posts to the server's receiver"
    );

    let pipeline = &config["service"]["pipelines"]["traces"];
    assert_eq!(strings(&pipeline["receivers"]), ["otlp", "forward"]);
    let processors = strings(&pipeline["processors"]);
    assert_eq!(
        processors.first().map(String::as_str),
        Some("memory_limiter"),
        "memory_limiter first"
    );
    assert!(processors.contains(&"batch".to_owned()));
    assert_configured(&config, "processors", &processors);
    let exporters = strings(&pipeline["exporters"]);
    let to_jaeger = exporters
        .iter()
        .find(|e| e.starts_with("otlp_grpc/"))
        .expect("an OTLP gRPC exporter in the pipeline, by its current name `otlp_grpc`");
    let configured = config["exporters"].as_mapping().expect("exporters");
    assert!(
        configured
            .keys()
            .filter_map(Value::as_str)
            .all(|name| name != "otlp" && !name.starts_with("otlp/")),
        "no exporter under the deprecated alias `otlp`"
    );
    let exporter = &config["exporters"][to_jaeger.as_str()];
    assert_eq!(
        exporter["endpoint"], "jaeger:4317",
        "OTLP gRPC to the compose service `jaeger`"
    );
    assert!(compose()["services"]["jaeger"].is_mapping());
    assert_eq!(exporter["retry_on_failure"]["enabled"], true);
    assert_eq!(exporter["sending_queue"]["enabled"], true);
}

/// Each of `names` has its configuration under `section`.
fn assert_configured(config: &Value, section: &str, names: &[String]) {
    for name in names {
        assert!(
            config[section]
                .as_mapping()
                .is_some_and(|m| m.contains_key(name.as_str())),
            "{section}: {name} is configured"
        );
    }
}

#[test]
fn the_page_has_a_public_receiver_that_keeps_only_its_service_names_and_bounds_its_spans() {
    let config = as_compose_runs("otel-collector/config.yaml");
    let public = &config["receivers"]["otlp/public"]["protocols"];
    assert!(public["grpc"].is_null(), "browsers speak OTLP/HTTP only");
    assert_eq!(public["http"]["endpoint"], "0.0.0.0:4319");
    assert_eq!(
        public["http"]["max_request_body_size"].as_u64(),
        Some(1 << 20),
        "OTLP bodies from browsers are bounded, as nginx bounds them"
    );
    let origins = strings(&public["http"]["cors"]["allowed_origins"]);
    assert!(origins.iter().all(|o| !o.contains('*')), "{origins:?}");

    let pipeline = &config["service"]["pipelines"]["traces/public"];
    assert_eq!(strings(&pipeline["receivers"]), ["otlp/public"]);
    let processors = strings(&pipeline["processors"]);
    assert_eq!(
        processors,
        ["memory_limiter", "filter/public", "transform/public"],
        "refused under memory pressure, then filtered, then bounded"
    );
    assert_configured(&config, "processors", &processors);
    assert_eq!(
        strings(&pipeline["exporters"]),
        ["forward"],
        "it joins the export pipeline through the forward connector"
    );
    assert!(
        config["connectors"]
            .as_mapping()
            .is_some_and(|c| c.contains_key("forward"))
    );

    // The filter drops every resource whose service.name is not the page's (configurable:
    // PUBLIC_SERVICE_NAMES, whose default this is).
    let filter = &config["processors"]["filter/public"];
    assert_eq!(filter["error_mode"], "ignore");
    let conditions = strings(&filter["trace_conditions"]);
    assert_eq!(
        conditions,
        [r#"not IsMatch(resource.attributes["service.name"], "^(checkout-web)$$")"#],
    );
    let index = read("index.html");
    assert!(
        index.contains(r#"<meta name="checkout:service-name" content="checkout-web" />"#),
        "the page's own service name is the one accepted by default"
    );

    // Every attribute value bounded to 4 KiB: the resource's, the span's, its events'.
    let groups: Vec<Vec<String>> = config["processors"]["transform/public"]["trace_statements"]
        .as_sequence()
        .expect("statement groups")
        .iter()
        .map(|group| strings(&group["statements"]))
        .collect();
    for target in [
        "resource.attributes",
        "span.attributes",
        "spanevent.attributes",
    ] {
        let statement = format!("truncate_all({target}, 4096)");
        assert!(
            groups.iter().any(|g| g.contains(&statement)),
            "{statement} in {groups:?}"
        );
    }
    assert!(
        groups
            .iter()
            .all(|g| g.len() == 1 || g.iter().all(|s| s.contains("span."))),
        "one context per group: {groups:?}"
    );
    assert!(
        groups
            .iter()
            .flatten()
            .any(|s| s.starts_with("set(span.name, Substring(span.name, 0, 256))"))
    );
}

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
    for web in ["web", "web-scale"] {
        let env = service(&compose, web)["environment"]
            .as_mapping()
            .expect("environment");
        assert!(
            !env.contains_key("OTLP_UPSTREAM"),
            "{web} keeps the image's public receiver"
        );
    }
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

#[test]
fn the_readme_and_env_example_tell_the_same_story() {
    let readme = read("README.md");
    for needle in [
        "docker compose up --build",
        "http://localhost:8080",
        "http://localhost:16686",
        "docker compose up jaeger otel-collector",
        "scripts/test.sh",
    ] {
        assert!(readme.contains(needle), "README mentions {needle}");
    }
    let env = read(".env.example");
    assert!(env.contains("OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318"));
    assert!(env.contains("SERVER_ADDR=127.0.0.1:3000"));
    assert!(env.contains("CORS_ALLOWED_ORIGINS=http://localhost:8080,http://127.0.0.1:8080"));
}

/// The paths the README's file map names: each entry up to the first double space, nested under
/// the last top-level directory when indented by two; `a/b.rs, c.rs` names `a/b.rs` and `a/c.rs`.
fn file_map_paths(readme: &str) -> Vec<String> {
    let map = readme
        .split("## Files\n\n```\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the README has a file map");
    let mut paths = Vec::new();
    let mut parent = String::new();
    for line in map.lines() {
        let indent = line.len() - line.trim_start().len();
        let entry = line.trim_start().split("  ").next().unwrap_or_default();
        let prefix = match indent {
            0 => "",
            2 => parent.as_str(),
            // A description's second line.
            _ => continue,
        };
        let mut dir = String::new();
        for (i, name) in entry.split(", ").enumerate() {
            let path = if i > 0 && !name.contains('/') {
                format!("{dir}{name}")
            } else {
                format!("{prefix}{name}")
            };
            if i == 0 {
                dir = path
                    .rfind('/')
                    .map_or(String::new(), |end| path[..=end].to_owned());
            }
            paths.push(path);
        }
        if indent == 0 && entry.ends_with('/') {
            parent = entry.to_owned();
        }
    }
    paths
}

#[test]
fn every_path_the_readme_file_map_names_exists() {
    let paths = file_map_paths(&read("README.md"));
    assert!(paths.len() > 80, "the map was read: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "the README's file map names paths that do not exist: {missing:?}"
    );
    // And every workspace member is on the map.
    let manifest = read("Cargo.toml");
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("the workspace lists its members");
    for member in members.split('"').skip(1).step_by(2) {
        let member = format!("{member}/");
        assert!(
            paths.contains(&member),
            "the README's file map names the workspace member {member}"
        );
    }
}

#[test]
fn the_file_map_reader_nests_and_splits_entries() {
    let readme = "## Files\n\n```\nCargo.toml    the workspace\nweb/\n  src/a.rs, b.rs  two\n                  more words\n  x/y.rs  one\nscripts/dev.sh, web/nginx.conf  two\n```\n";
    assert_eq!(
        file_map_paths(readme),
        [
            "Cargo.toml",
            "web/",
            "web/src/a.rs",
            "web/src/b.rs",
            "web/x/y.rs",
            "scripts/dev.sh",
            "web/nginx.conf"
        ]
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

/// The body of `location {path}` in the nginx config.
fn nginx_location<'a>(nginx: &'a str, path: &str) -> &'a str {
    let start = nginx
        .find(&format!("location {path} {{"))
        .unwrap_or_else(|| panic!("no location {path}"));
    let body = &nginx[start..];
    &body[..body.find("\n    }").expect("the location's end")]
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

#[test]
fn the_database_lives_in_a_named_volume() {
    let compose = compose();
    let volumes = strings(&service(&compose, "server")["volumes"]);
    let data = volumes
        .iter()
        .find(|v| v.contains(":/data"))
        .expect("a volume on /data");
    let name = data.split(':').next().expect("name");
    assert!(
        !name.starts_with('.') && !name.starts_with('/'),
        "a named volume, not a bind mount: {data}"
    );
    assert!(
        compose["volumes"][name].is_null() || compose["volumes"][name].is_mapping(),
        "declared at the top level"
    );
    assert!(
        compose["volumes"]
            .as_mapping()
            .expect("top-level volumes")
            .contains_key(name),
        "{name} is declared"
    );
    assert!(
        !read("server/Dockerfile").contains("VOLUME"),
        "no anonymous volume, lost on every `down`"
    );
}

/// The minor version of a `1.MINOR` image tag.
fn minor(version: &str) -> u32 {
    version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("not 1.MINOR: {version}"))
}

#[test]
fn the_images_build_from_current_bases_on_amd64_and_arm64_with_cached_dependencies() {
    for path in ["server/Dockerfile", "web/Dockerfile"] {
        let dockerfile = read(path);
        assert!(
            dockerfile.starts_with("# syntax=docker/dockerfile:1"),
            "{path}: BuildKit syntax"
        );
        let rust = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix("FROM rust:"))
            .expect("a rust build stage");
        let (version, rest) = rust.split_once('-').expect("rust:VERSION-DISTRO");
        assert!(minor(version) >= 97, "{path}: Rust 1.97 or newer: {rust}");
        assert!(rest.starts_with("trixie"), "{path}: trixie-based: {rust}");
        assert!(
            dockerfile.contains("--mount=type=cache,target=/usr/local/cargo/registry")
                && dockerfile.contains("--mount=type=cache,target=/src/target"),
            "{path}: dependencies cached between builds"
        );
    }
    assert!(read("server/Dockerfile").contains("FROM debian:trixie-slim"));
    let web = read("web/Dockerfile");
    let instructions: Vec<&str> = web
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        instructions
            .iter()
            .all(|l| !l.contains("cargo install trunk")),
        "trunk is not compiled"
    );
    for arch in ["x86_64", "aarch64"] {
        assert!(
            web.contains(&format!("{arch} ;;")),
            "a trunk release for {arch}"
        );
    }
    assert!(
        web.contains("unknown-linux-musl.tar.gz"),
        "trunk's static build"
    );
    let nginx = web
        .lines()
        .find_map(|l| l.strip_prefix("FROM nginx:"))
        .expect("nginx stage");
    let (version, flavour) = nginx.split_once('-').expect("nginx:VERSION-alpine");
    assert_eq!(flavour, "alpine");
    assert!(minor(version) >= 29, "a current nginx: {nginx}");
}

/// The environment variable `name` of a compose service.
fn env_of(service: &Value, name: &str) -> String {
    service["environment"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}"))
        .to_owned()
}

#[test]
fn the_scale_profile_runs_three_replicas_on_postgres_behind_their_own_page() {
    let compose = compose();
    for name in ["postgres", "server-replica", "web-scale"] {
        assert_eq!(
            strings(&service(&compose, name)["profiles"]),
            ["scale"],
            "{name} only in the scale profile"
        );
    }
    for name in ["jaeger", "jaeger-data", "otel-collector", "server", "web"] {
        assert!(
            service(&compose, name)["profiles"].is_null(),
            "{name} in every profile: the default stack stays SQLite and one server"
        );
    }
    assert_eq!(
        env_of(service(&compose, "server"), "DATABASE_URL"),
        "sqlite:///data/checkout.db"
    );

    // PostgreSQL: persistent, with a healthcheck the replicas wait for.
    let postgres = service(&compose, "postgres");
    let volume = strings(&postgres["volumes"])
        .into_iter()
        .find(|v| v.ends_with(":/var/lib/postgresql/data"))
        .expect("the data directory on a volume");
    let volume = volume.split(':').next().expect("name");
    assert!(
        compose["volumes"]
            .as_mapping()
            .expect("volumes")
            .contains_key(volume)
    );
    assert!(strings(&postgres["healthcheck"]["test"]).contains(&"pg_isready".to_owned()));

    // Three replicas on it, reached only through the page's proxy.
    let replica = service(&compose, "server-replica");
    assert_eq!(replica["deploy"]["replicas"].as_u64(), Some(3));
    assert!(
        replica["ports"].is_null(),
        "three replicas cannot share a host port"
    );
    assert_eq!(
        replica["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    let url = env_of(replica, "DATABASE_URL");
    let expected = format!(
        "postgres://{user}:{password}@postgres:5432/{db}",
        user = env_of(postgres, "POSTGRES_USER"),
        password = env_of(postgres, "POSTGRES_PASSWORD"),
        db = env_of(postgres, "POSTGRES_DB"),
    );
    assert_eq!(
        url, expected,
        "the replicas log in as PostgreSQL was set up"
    );
    let replica_port = env_of(replica, "SERVER_ADDR")
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();

    // Their page: the same image, its proxy pointed at the replicas, on its own port and origin.
    let web = service(&compose, "web-scale");
    assert_eq!(
        env_of(web, "API_UPSTREAM"),
        format!("server-replica:{replica_port}")
    );
    assert_eq!(strings(&web["ports"]), ["8081:8080"]);
    assert!(env_of(replica, "CORS_ALLOWED_ORIGINS").contains("http://localhost:8081"));
    let nginx = read("web/nginx.conf");
    assert!(
        nginx_location(&nginx, "/api/").contains("set $server http://${API_UPSTREAM};"),
        "the proxy's upstream comes from the environment"
    );
    let dockerfile = read("web/Dockerfile");
    let default_port = env_of(service(&compose, "server"), "SERVER_ADDR");
    assert!(
        dockerfile.contains(&format!(
            "ENV API_UPSTREAM=server:{}",
            default_port.rsplit(':').next().expect("port")
        )),
        "the default page still reaches the default server"
    );
    assert!(
        dockerfile.contains("/etc/nginx/templates/default.conf.template"),
        "installed where the nginx image fills templates in"
    );
}

#[test]
fn jaeger_keeps_its_traces_in_badger_on_a_volume() {
    let compose = compose();
    let jaeger = service(&compose, "jaeger");
    let volumes = strings(&jaeger["volumes"]);
    assert!(volumes.contains(&"./jaeger/config.yaml:/etc/jaeger/config.yaml:ro".to_owned()));
    assert_eq!(
        strings(&jaeger["command"]),
        ["--config=/etc/jaeger/config.yaml"]
    );
    let data = volumes
        .iter()
        .find(|v| !v.starts_with('.'))
        .expect("a named volume");
    let (volume, mount) = data.split_once(':').expect("volume:path");
    assert!(
        compose["volumes"]
            .as_mapping()
            .expect("volumes")
            .contains_key(volume)
    );
    // Jaeger runs as 10001: the volume is handed to it before it starts.
    let init = service(&compose, "jaeger-data");
    assert!(strings(&init["volumes"]).contains(&data.clone()));
    assert!(strings(&init["command"]).join(" ").contains("10001:10001"));
    assert_eq!(
        jaeger["depends_on"]["jaeger-data"]["condition"].as_str(),
        Some("service_completed_successfully")
    );

    let config = as_compose_runs("jaeger/config.yaml");
    let store = config["extensions"]["jaeger_query"]["storage"]["traces"]
        .as_str()
        .expect("the query's store");
    assert_eq!(
        config["exporters"]["jaeger_storage_exporter"]["trace_storage"].as_str(),
        Some(store),
        "spans are written where the UI reads"
    );
    let badger = &config["extensions"]["jaeger_storage"]["backends"][store]["badger"];
    assert_eq!(badger["ephemeral"].as_bool(), Some(false));
    for dir in ["keys", "values"] {
        let path = badger["directories"][dir].as_str().expect(dir);
        assert!(
            path.starts_with(&format!("{mount}/")),
            "{dir} on the volume: {path}"
        );
    }
    let pipeline = &config["service"]["pipelines"]["traces"];
    assert_eq!(strings(&pipeline["receivers"]), ["otlp"]);
    assert_eq!(
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].as_str(),
        Some("0.0.0.0:4317"),
        "where the collector sends (jaeger:4317)"
    );
    assert!(strings(&config["service"]["extensions"]).contains(&"healthcheckv2".to_owned()));
    assert_eq!(
        config["extensions"]["healthcheckv2"]["http"]["endpoint"].as_str(),
        Some("0.0.0.0:13133"),
        "what the compose healthcheck asks"
    );
}
