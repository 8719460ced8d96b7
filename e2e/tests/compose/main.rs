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
