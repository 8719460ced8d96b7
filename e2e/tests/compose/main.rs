//! Static checks of what Docker users run (`compose.yaml`, the collector's config, the page's nginx
//! config), since no Docker engine runs on the test machines: they parse, and their service names,
//! ports and endpoints agree with the code, `Trunk.toml`, `index.html` and the README. One module a
//! subject: `services` (compose.yaml), `collector` (its config and builder manifest), `edge` (nginx
//! and trunk serve), `docs` (the README and .env.example).

use std::path::PathBuf;

use serde_yaml::Value;

mod collector;
mod docs;
mod edge;
mod services;

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

/// The `${env:NAME:-default}` and `${env:NAME}` references of a collector config file (Jaeger's
/// too), in order: (NAME, default).
fn env_references(text: &str) -> Vec<(String, Option<String>)> {
    let mut references = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        let end = start + rest[start..].find('}').expect("a closing brace");
        let reference = &rest[start + "${env:".len()..end];
        references.push(match reference.split_once(":-") {
            Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
            None => (reference.to_owned(), None),
        });
        rest = &rest[end + 1..];
    }
    references
}

/// The collector config files, each with the compose service that runs it.
const COLLECTOR_CONFIGS: [(&str, &str); 2] = [
    ("otel-collector/config.yaml", "otel-collector"),
    ("otel-collector/routing.yaml", "otel-collector-routing"),
];

/// [`compose_text`], parsed.
fn as_compose_runs(config: (&str, &str)) -> Value {
    serde_yaml::from_str(&compose_text(config))
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", config.0))
}

/// A collector config file (Jaeger's too) as compose runs it: each `${env:NAME:-default}` is its
/// default (compose sets none of those: `the_configs_run_as_they_are_with_compose_values_as_defaults`),
/// and each `${env:NAME}` without one is what compose's `service_name` sets.
fn compose_text((path, service_name): (&str, &str)) -> String {
    let mut text = read(path);
    let compose = compose();
    for (name, default) in env_references(&text.clone()) {
        let (reference, value) = match default {
            Some(default) => (format!("${{env:{name}:-{default}}}"), default),
            None => (
                format!("${{env:{name}}}"),
                env_of(service(&compose, service_name), &name),
            ),
        };
        text = text.replacen(&reference, &value, 1);
    }
    text
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "compose.yaml has no service {name}");
    service
}

/// The body of `location {path}` in the nginx config.
fn nginx_location<'a>(nginx: &'a str, path: &str) -> &'a str {
    let start = nginx
        .find(&format!("location {path} {{"))
        .unwrap_or_else(|| panic!("no location {path}"));
    let body = &nginx[start..];
    &body[..body.find("\n    }").expect("the location's end")]
}

/// The environment variable `name` of a compose service.
fn env_of(service: &Value, name: &str) -> String {
    service["environment"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}"))
        .to_owned()
}
