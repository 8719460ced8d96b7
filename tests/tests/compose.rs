//! Static checks of what Docker users run (`compose.yaml`, the collector's config, the page's nginx
//! config), since no Docker engine runs on the test machines: they parse, and their service names,
//! ports and endpoints agree with the code, `Trunk.toml`, `index.html` and the README.

use std::path::PathBuf;

use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("root")
        .to_owned()
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
    assert!(
        version.starts_with("2.") && version.split('.').count() == 3,
        "pinned Jaeger v2: {jaeger}"
    );
    let collector = service(&compose, "otel-collector")["image"]
        .as_str()
        .expect("image");
    let version = collector
        .strip_prefix("otel/opentelemetry-collector-contrib:")
        .expect("the contrib image");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "pinned collector: {collector}"
    );
}

#[test]
fn compose_ports_and_endpoints_agree_with_the_code() {
    let compose = compose();
    let ports = |name: &str| strings(&service(&compose, name)["ports"]);
    assert!(ports("jaeger").contains(&"16686:16686".to_owned()));
    assert!(ports("otel-collector").contains(&"4317:4317".to_owned()));
    assert!(ports("otel-collector").contains(&"4318:4318".to_owned()));
    assert!(ports("server").contains(&"3000:3000".to_owned()));
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
        Some("service_started")
    );
    assert_eq!(
        depends("server", "otel-collector").as_deref(),
        Some("service_started")
    );
    assert_eq!(depends("web", "server").as_deref(), Some("service_healthy"));
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
fn the_collector_receives_otlp_with_cors_and_exports_to_jaeger_with_retry_and_a_queue() {
    let config = yaml("otel-collector/config.yaml");
    let protocols = &config["receivers"]["otlp"]["protocols"];
    assert_eq!(protocols["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(protocols["http"]["endpoint"], "0.0.0.0:4318");
    let cors = &protocols["http"]["cors"];
    let origins = strings(&cors["allowed_origins"]);
    assert!(
        origins.contains(&"http://localhost:8080".to_owned())
            && origins.iter().all(|o| !o.contains('*'))
    );
    let headers = strings(&cors["allowed_headers"]);
    for header in ["content-type", "traceparent", "baggage"] {
        assert!(headers.contains(&header.to_owned()), "CORS allows {header}");
    }

    let pipeline = &config["service"]["pipelines"]["traces"];
    assert_eq!(strings(&pipeline["receivers"]), ["otlp"]);
    let processors = strings(&pipeline["processors"]);
    assert_eq!(
        processors.first().map(String::as_str),
        Some("memory_limiter"),
        "memory_limiter first"
    );
    assert!(processors.contains(&"batch".to_owned()));
    for processor in &processors {
        assert!(
            config["processors"][processor.as_str()].is_mapping(),
            "{processor} is configured"
        );
    }
    let exporters = strings(&pipeline["exporters"]);
    let to_jaeger = exporters
        .iter()
        .find(|e| e.starts_with("otlp"))
        .expect("an OTLP exporter in the pipeline");
    let exporter = &config["exporters"][to_jaeger.as_str()];
    assert_eq!(
        exporter["endpoint"], "jaeger:4317",
        "OTLP gRPC to the compose service `jaeger`"
    );
    assert!(compose()["services"]["jaeger"].is_mapping());
    assert_eq!(exporter["retry_on_failure"]["enabled"], true);
    assert_eq!(exporter["sending_queue"]["enabled"], true);
}

#[test]
fn the_page_reaches_the_api_and_the_collector_on_its_own_origin_everywhere() {
    let nginx = read("web/nginx.conf");
    assert!(nginx.contains("listen 8080;"));
    assert!(
        nginx.contains("location /api/ {\n        proxy_pass http://server:3000;"),
        "{nginx}"
    );
    assert!(
        nginx.contains("location = /v1/traces {\n        proxy_pass http://otel-collector:4318;"),
        "{nginx}"
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
