//! The collector's config (otel-collector/config.yaml) and its builder manifest: run as compose
//! runs them, the server's private receiver, the page's public one, the export to Jaeger.

use std::collections::BTreeSet;

use super::*;

/// The files the tests and `scripts/dev.sh` run are the ones compose mounts: each address or
/// directory that differs on one host comes from a variable whose default is compose's value, and
/// compose sets none of those variables (but the page's service names, which it passes on from
/// the shell), so compose runs each file as it is; a variable without a default (the first tier's
/// resolver) is one compose sets.
#[test]
fn the_configs_run_as_they_are_with_compose_values_as_defaults() {
    let compose = compose();
    for (path, name_in_compose) in COLLECTOR_CONFIGS
        .into_iter()
        .chain([("jaeger/config.yaml", "jaeger")])
    {
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
            match (name.as_str(), default) {
                // No default: a choice compose makes (the first tier's resolver).
                (_, None) => assert!(
                    passed.as_ref().is_some_and(Value::is_string),
                    "compose sets {name} for {name_in_compose}"
                ),
                // From the shell, else unset: the config's default.
                ("PUBLIC_SERVICE_NAMES", _) => assert_eq!(passed, Some(Value::Null)),
                (_, Some(default)) => {
                    assert_eq!(passed, None, "compose sets {name} for {name_in_compose}");
                    assert!(
                        !default.is_empty() || name == "JAEGER_UI_ASSETS",
                        "{name} has compose's value as its default"
                    );
                }
            }
        }
    }
}

/// The collector built from the manifest (`OTELCOL_BIN`) takes each config as compose runs it:
/// `validate` decodes every component's settings as a start would (a resolver's port written as a
/// number, where the exporter reads a string, passed the YAML checks here and failed at start).
#[test]
fn the_collector_takes_each_config_as_compose_runs_it() {
    let binary = std::env::var_os("OTELCOL_BIN").expect(
        "OTELCOL_BIN names the collector built from otel-collector/builder-config.yaml: \
         `source scripts/go-tools.sh` builds it (scripts/test.sh does)",
    );
    for config in COLLECTOR_CONFIGS {
        let file = tempfile::NamedTempFile::new().expect("a temporary file");
        std::fs::write(file.path(), compose_text(config)).expect("the config written");
        let output = std::process::Command::new(&binary)
            .arg("validate")
            .arg(format!("--config={}", file.path().display()))
            .arg(e2e::otelcol::FEATURE_GATES)
            .output()
            .expect("the collector runs");
        assert!(
            output.status.success(),
            "the collector refuses {} as compose runs it:\n{}",
            config.0,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The builder manifest (`otel-collector/builder-config.yaml`) holds exactly the components the
/// collector's config uses, plus `debug`, each at the contrib release compose pins: the collector
/// the tests build is the one compose runs.
#[test]
fn the_collector_builder_manifest_has_exactly_the_configs_components_at_composes_release() {
    // Each component type the config may name, and its module (the last part of its path).
    const MODULES: [(&str, &str, &str); 13] = [
        ("receivers", "otlp", "otlpreceiver"),
        ("processors", "memory_limiter", "memorylimiterprocessor"),
        ("processors", "batch", "batchprocessor"),
        ("processors", "filter", "filterprocessor"),
        ("processors", "transform", "transformprocessor"),
        ("processors", "tail_sampling", "tailsamplingprocessor"),
        ("exporters", "otlp_grpc", "otlpexporter"),
        ("exporters", "otlp_http", "otlphttpexporter"),
        ("exporters", "debug", "debugexporter"),
        ("exporters", "load_balancing", "loadbalancingexporter"),
        ("connectors", "forward", "forwardconnector"),
        ("connectors", "span_metrics", "spanmetricsconnector"),
        ("extensions", "health_check", "healthcheckextension"),
    ];
    let sections = [
        "receivers",
        "processors",
        "exporters",
        "connectors",
        "extensions",
    ];
    let mut used = BTreeSet::from([("exporters".to_owned(), "debugexporter".to_owned())]);
    for config in COLLECTOR_CONFIGS.map(as_compose_runs) {
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

#[test]
fn the_collector_config_is_mounted_where_the_collector_reads_it() {
    let compose = compose();
    let collector = service(&compose, "otel-collector");
    let command = strings(&collector["command"]);
    let config_path = (command.iter())
        .find_map(|arg| arg.strip_prefix("--config="))
        .expect("--config=PATH");
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
    let config = as_compose_runs(COLLECTOR_CONFIGS[0]);
    let protocols = &config["receivers"]["otlp"]["protocols"];
    assert_eq!(protocols["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(protocols["http"]["endpoint"], "0.0.0.0:4318");
    assert!(
        protocols["http"]["cors"].is_null(),
        "no browser posts to the server's receiver"
    );

    // Every span passes `traces`, which counts it (`span_metrics`) and hands it to the pipeline
    // that samples and exports it.
    let pipelines = &config["service"]["pipelines"];
    let pipeline = &pipelines["traces"];
    assert_eq!(strings(&pipeline["receivers"]), ["otlp", "forward"]);
    assert_eq!(strings(&pipeline["processors"]), ["memory_limiter"]);
    assert_eq!(
        strings(&pipeline["exporters"]),
        ["span_metrics", "forward/sampling"]
    );
    let pipeline = &pipelines["traces/sampled"];
    assert_eq!(strings(&pipeline["receivers"]), ["forward/sampling"]);
    let processors = strings(&pipeline["processors"]);
    assert_eq!(processors, ["tail_sampling", "batch"]);
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

/// The span metrics come from every span, before sampling, in the names and unit Jaeger's Monitor
/// tab reads, and go to compose's Prometheus, which Jaeger reads them from.
#[test]
fn every_span_is_counted_into_prometheus_where_jaeger_reads_the_metrics() {
    let config = as_compose_runs(COLLECTOR_CONFIGS[0]);
    let span_metrics = &config["connectors"]["span_metrics"];
    assert_eq!(span_metrics["namespace"], "traces.span.metrics");
    assert_eq!(span_metrics["histogram"]["unit"], "ms");
    let buckets = strings(&span_metrics["histogram"]["explicit"]["buckets"]);
    // The checkout's spans (a few ms to tens of ms) and the 500 ms of a slow trace resolve.
    for bound in ["5ms", "10ms", "25ms", "50ms", "500ms"] {
        assert!(
            buckets.contains(&bound.to_owned()),
            "{bound} in {buckets:?}"
        );
    }
    let pipeline = &config["service"]["pipelines"]["metrics/spans"];
    assert_eq!(strings(&pipeline["receivers"]), ["span_metrics"]);
    let exporters = strings(&pipeline["exporters"]);
    assert_eq!(exporters, ["otlp_http/prometheus"]);
    assert_eq!(
        config["exporters"]["otlp_http/prometheus"]["metrics_endpoint"],
        "http://prometheus:9090/api/v1/otlp/v1/metrics"
    );
    let compose = compose();
    let prometheus = service(&compose, "prometheus");
    let command = strings(&prometheus["command"]);
    let dev = read("scripts/dev.sh");
    for flag in e2e::prometheus::FLAGS {
        assert!(command.contains(&flag.to_owned()), "{flag} in {command:?}");
        assert!(
            dev.contains(flag),
            "scripts/dev.sh runs Prometheus with {flag}"
        );
    }
    let jaeger = as_compose_runs(("jaeger/config.yaml", "jaeger"));
    let backend = &jaeger["extensions"]["jaeger_storage"]["metric_backends"]["prometheus_store"];
    assert_eq!(backend["prometheus"]["endpoint"], "http://prometheus:9090");
    assert_eq!(
        jaeger["extensions"]["jaeger_query"]["storage"]["metrics"],
        "prometheus_store"
    );
}

/// Compose's collector keeps every trace (100 %) besides the failed and the slow ones, and runs
/// with the feature gate that makes its sampler read and write `ot=th`.
#[test]
fn the_default_stack_keeps_every_trace_and_the_sampler_speaks_the_trace_state() {
    let config = as_compose_runs(COLLECTOR_CONFIGS[0]);
    let policies = &config["processors"]["tail_sampling"]["policies"];
    let policy = |name: &str| {
        (policies.as_sequence().into_iter().flatten())
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("a policy {name}"))
            .clone()
    };
    assert_eq!(policy("errors")["status_code"]["status_codes"][0], "ERROR");
    assert_eq!(policy("slow")["latency"]["threshold_ms"], 500);
    assert_eq!(policy("share")["probabilistic"]["sampling_percentage"], 100);
    let compose = compose();
    let command = strings(&service(&compose, "otel-collector")["command"]);
    assert!(
        command.contains(&e2e::otelcol::FEATURE_GATES.to_owned()),
        "{command:?}"
    );
    assert!(
        read("scripts/dev.sh").contains(e2e::otelcol::FEATURE_GATES),
        "scripts/dev.sh runs the collector with {}",
        e2e::otelcol::FEATURE_GATES
    );
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
    let config = as_compose_runs(COLLECTOR_CONFIGS[0]);
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

/// The scale profile's two tiers: the first (`otel-collector/routing.yaml`) takes the page's and
/// the replicas' spans as the default collector does, its receivers and the page's public pipeline
/// the same, word for word, and routes them by trace id to the second, found by DNS; the second
/// runs the default config with a share of 10 %.
#[test]
fn the_scale_profile_routes_by_trace_id_to_two_sampling_collectors() {
    let single = as_compose_runs(COLLECTOR_CONFIGS[0]);
    let routing = as_compose_runs(COLLECTOR_CONFIGS[1]);
    assert_eq!(routing["receivers"], single["receivers"]);
    for processor in ["memory_limiter", "filter/public", "transform/public"] {
        assert_eq!(
            routing["processors"][processor], single["processors"][processor],
            "{processor}"
        );
    }
    let pipelines = &routing["service"]["pipelines"];
    assert_eq!(
        pipelines["traces/public"],
        single["service"]["pipelines"]["traces/public"]
    );
    assert_eq!(
        strings(&pipelines["traces"]["exporters"]),
        ["load_balancing"]
    );
    let exporter = &routing["exporters"]["load_balancing"];
    assert_eq!(exporter["routing_key"], "traceID");
    assert_eq!(
        exporter["resolver"]["dns"]["hostname"],
        "otel-collector-sampling"
    );
    assert_eq!(exporter["resolver"]["dns"]["port"], "4317");
    // The queue and the retries are the exporter's, so that a batch for a collector that has gone
    // is routed again; none per collector, which would take it and drop it.
    assert_eq!(exporter["retry_on_failure"]["enabled"], true);
    assert_eq!(exporter["sending_queue"]["enabled"], true);
    let each = &exporter["protocol"]["otlp"];
    assert_eq!(each["retry_on_failure"]["enabled"], false);
    assert_eq!(each["sending_queue"]["enabled"], false);

    let compose = compose();
    let sampling = service(&compose, "otel-collector-sampling");
    assert_eq!(sampling["deploy"]["replicas"], 2);
    assert_eq!(env_of(sampling, "TAIL_SAMPLING_PERCENTAGE"), "10");
    let command = strings(&sampling["command"]);
    assert!(command.contains(&"--config=/etc/otelcol-contrib/config.yaml".to_owned()));
    assert!(command.contains(&e2e::otelcol::FEATURE_GATES.to_owned()));
    assert_eq!(
        env_of(
            service(&compose, "server-replica"),
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
        "http://otel-collector-routing:4318"
    );
    for tier in ["otel-collector-routing", "otel-collector-sampling"] {
        assert_eq!(strings(&service(&compose, tier)["profiles"]), ["scale"]);
    }
    // The scale page is told the share, and its nginx writes it into the page's meta tag, which
    // the page's trace link reads (e2e/tests/collector.rs reads the link's note through nginx).
    assert_eq!(
        env_of(service(&compose, "web-scale"), "TAIL_SAMPLING_PERCENTAGE"),
        env_of(sampling, "TAIL_SAMPLING_PERCENTAGE")
    );
    assert!(
        read("index.html")
            .contains(r#"<meta name="checkout:tail-sampling-percentage" content="100" />"#)
    );
}
