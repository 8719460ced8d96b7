//! The trace's schema, checked against what the spans really carry, without Weaver.
//!
//! Every attribute a captured span carries (on the span, on its events, on its resource) must be
//! an OpenTelemetry semantic-conventions name, meaning one of the `opentelemetry-semantic-conventions`
//! constants in [`OPENTELEMETRY`] (the crate's version is the one `semconv/manifest.yaml` pins), or
//! be defined in the project's registry (`semconv/model/`), with a value of the registry's type
//! (and one of its members, for an enum). Every span name must be a registry span's (the
//! `**Span name:**` line of its note, where `{…}` stands for one word) or follow OpenTelemetry's
//! naming rule for HTTP and database spans. `weaver registry live-check` checks the same and more
//! against a running stack (README, "The trace's schema").

use std::{collections::BTreeMap, path::PathBuf};

use opentelemetry_semantic_conventions::{attribute as a, resource as r};
use serde_yaml::Value;

use crate::trace::Span;

/// The OpenTelemetry attributes the trace carries, each by its constant: a name that is not a
/// constant of the crate does not compile here. Add a name when instrumentation starts to use it.
pub const OPENTELEMETRY: &[&str] = &[
    // Resource.
    r::SERVICE_NAME,
    r::SERVICE_VERSION,
    r::TELEMETRY_SDK_LANGUAGE,
    r::TELEMETRY_SDK_NAME,
    r::TELEMETRY_SDK_VERSION,
    // HTTP, server and client (semantic-conventions, HTTP spans).
    a::HTTP_REQUEST_METHOD,
    a::HTTP_REQUEST_METHOD_ORIGINAL,
    a::HTTP_ROUTE,
    a::HTTP_RESPONSE_STATUS_CODE,
    a::URL_FULL,
    a::URL_PATH,
    a::URL_QUERY,
    a::URL_SCHEME,
    a::SERVER_ADDRESS,
    a::SERVER_PORT,
    a::CLIENT_ADDRESS,
    a::NETWORK_PROTOCOL_VERSION,
    a::USER_AGENT_ORIGINAL,
    a::ERROR_TYPE,
    // Database spans.
    a::DB_SYSTEM_NAME,
    a::DB_NAMESPACE,
    a::DB_OPERATION_NAME,
    a::DB_COLLECTION_NAME,
    a::DB_QUERY_TEXT,
    a::DB_QUERY_SUMMARY,
    a::DB_RESPONSE_STATUS_CODE,
    // Exceptions.
    a::EXCEPTION_TYPE,
    a::EXCEPTION_MESSAGE,
    a::EXCEPTION_STACKTRACE,
    // Sessions (development).
    a::SESSION_ID,
    a::SESSION_PREVIOUS_ID,
];

/// A registry attribute's type: a scalar or array type by name (`int`, `string[]` …), or an enum
/// of string members.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeType {
    Named(String),
    Members(Vec<String>),
}

/// The project's registry as this check reads it.
#[derive(Debug)]
pub struct Registry {
    /// Each attribute's type, by name.
    pub attributes: BTreeMap<String, AttributeType>,
    /// The span names its span definitions give, `{…}` standing for one word.
    pub span_names: Vec<String>,
}

/// `semconv/`, the registry's folder.
pub fn registry_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../semconv"))
}

impl Registry {
    /// Reads every group of `semconv/model/*.yaml`.
    pub fn load() -> Self {
        let mut registry = Self {
            attributes: BTreeMap::new(),
            span_names: Vec::new(),
        };
        let model = registry_dir().join("model");
        let mut files: Vec<_> = std::fs::read_dir(&model)
            .unwrap_or_else(|e| panic!("{}: {e}", model.display()))
            .map(|entry| entry.expect("a model file").path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("a model file");
            let yaml: Value = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            for group in yaml["groups"].as_sequence().into_iter().flatten() {
                registry.read_group(group, &path);
            }
        }
        registry
    }

    fn read_group(&mut self, group: &Value, path: &std::path::Path) {
        let id = group["id"].as_str().unwrap_or("?");
        match group["type"].as_str() {
            Some("attribute_group") => {
                for attribute in group["attributes"].as_sequence().into_iter().flatten() {
                    let Some(name) = attribute["id"].as_str() else {
                        continue; // a `ref`: defined elsewhere
                    };
                    let kind = match &attribute["type"] {
                        Value::String(name) => AttributeType::Named(name.clone()),
                        enumeration => AttributeType::Members(
                            enumeration["members"]
                                .as_sequence()
                                .into_iter()
                                .flatten()
                                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                                .collect(),
                        ),
                    };
                    let previous = self.attributes.insert(name.to_owned(), kind);
                    assert!(
                        previous.is_none(),
                        "{name} is defined twice ({})",
                        path.display()
                    );
                }
            }
            Some("span") => {
                let note = group["note"].as_str().unwrap_or_default();
                let line = note
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("**Span name:**"))
                    .unwrap_or_else(|| panic!("span {id} has no **Span name:** in its note"));
                self.span_names
                    .extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
            }
            _ => {}
        }
    }

    /// What is wrong with `spans`, one line per finding (the span named in each), without
    /// repeats; empty when they conform.
    pub fn findings(&self, spans: &[Span]) -> Vec<String> {
        let mut findings = Vec::new();
        for span in spans {
            let at = format!("span {:?} of {}", span.name, span.service);
            let values = span
                .resource
                .iter()
                .chain(&span.attributes)
                .chain(span.events.iter().flat_map(|(_, attributes)| attributes));
            for (key, value) in values {
                let captured = span.types.get(key).map_or("other", String::as_str);
                if let Some(finding) = self.attribute_finding(key, captured, value) {
                    findings.push(format!("{at}: {finding}"));
                }
            }
            if !self
                .span_names
                .iter()
                .any(|pattern| matches(pattern, &span.name))
                && !follows_opentelemetry_naming(span)
            {
                findings.push(format!(
                    "{at}: the span name is neither a registry span's nor OpenTelemetry's \
                     HTTP or database rule"
                ));
            }
        }
        findings.sort();
        findings.dedup();
        findings
    }

    fn attribute_finding(&self, key: &str, captured: &str, value: &str) -> Option<String> {
        if OPENTELEMETRY.contains(&key) {
            return None;
        }
        let Some(defined) = self.attributes.get(key) else {
            return Some(format!(
                "attribute {key} is neither an OpenTelemetry semantic-conventions name nor \
                 defined in semconv/"
            ));
        };
        let fits = match defined {
            AttributeType::Named(name) => {
                name == captured || (captured == "[]" && name.ends_with("[]"))
            }
            AttributeType::Members(members) => {
                captured == "string" && members.iter().any(|m| m == value)
            }
        };
        (!fits).then(|| {
            format!("attribute {key} is a {captured} {value:?}; semconv/ defines it as {defined:?}")
        })
    }
}

/// Whether `name` is `pattern`, each `{…}` in it standing for one word (no spaces).
fn matches(pattern: &str, name: &str) -> bool {
    let (pattern_words, name_words): (Vec<_>, Vec<_>) =
        (pattern.split(' ').collect(), name.split(' ').collect());
    pattern_words.len() == name_words.len()
        && pattern_words
            .iter()
            .zip(&name_words)
            .all(|(p, n)| (p.starts_with('{') && p.ends_with('}') && !n.is_empty()) || p == n)
}

/// Whether the span has the one name OpenTelemetry's rules give it from its attributes:
/// - HTTP spans (semantic-conventions, HTTP spans, "Name"): `{method} {target}`, the target being
///   `http.route` on a server span and `url.template` on a client span, else `{method}` alone;
///   `HTTP` stands for the method `_OTHER`;
/// - database spans (database spans, "Name"): `db.query.summary`, else `{db.operation.name}
///   {target}`, `{db.operation.name}`, `{target}`, `db.system.name`, in that order of what is
///   there, the target being `db.collection.name`, else `db.namespace`.
fn follows_opentelemetry_naming(span: &Span) -> bool {
    let attr = |key: &str| span.attributes.get(key).map(String::as_str);
    if let Some(method) = attr(a::HTTP_REQUEST_METHOD) {
        let method = if method == "_OTHER" { "HTTP" } else { method };
        let expected = match attr(a::HTTP_ROUTE).or(attr(a::URL_TEMPLATE)) {
            Some(target) => format!("{method} {target}"),
            None => method.to_owned(),
        };
        return span.name == expected;
    }
    if let Some(system) = attr(a::DB_SYSTEM_NAME) {
        let target = attr(a::DB_COLLECTION_NAME).or(attr(a::DB_NAMESPACE));
        let expected = match (
            attr(a::DB_QUERY_SUMMARY),
            attr(a::DB_OPERATION_NAME),
            target,
        ) {
            (Some(summary), _, _) => summary.to_owned(),
            (None, Some(operation), Some(target)) => format!("{operation} {target}"),
            (None, Some(operation), None) => operation.to_owned(),
            (None, None, Some(target)) => target.to_owned(),
            (None, None, None) => system.to_owned(),
        };
        return span.name == expected;
    }
    false
}

/// Fails, naming every finding, unless `spans` conform to the schema.
pub fn assert_conforms(spans: &[Span]) {
    let findings = Registry::load().findings(spans);
    assert!(
        findings.is_empty(),
        "the spans do not conform to the trace's schema (semconv/, test-support/src/schema.rs):\n{}",
        findings.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(name: &str, attributes: &[(&str, &str, &str)]) -> Span {
        Span {
            service: "checkout-server".to_owned(),
            resource: BTreeMap::new(),
            trace_id: "0".repeat(32),
            span_id: "0".repeat(16),
            parent_id: String::new(),
            name: name.to_owned(),
            kind: opentelemetry_proto::tonic::trace::v1::span::SpanKind::Internal,
            start_ns: 0,
            end_ns: 0,
            is_error: false,
            attributes: attributes
                .iter()
                .map(|(k, v, _)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            events: Vec::new(),
            status_message: String::new(),
            types: attributes
                .iter()
                .map(|(k, _, t)| ((*k).to_owned(), (*t).to_owned()))
                .collect(),
            jaeger_warnings: Vec::new(),
            ..Span::default()
        }
    }

    #[test]
    fn the_registry_pins_the_version_of_the_constants_and_defines_the_code_s_names() {
        let manifest: Value = serde_yaml::from_str(
            &std::fs::read_to_string(registry_dir().join("manifest.yaml")).expect("manifest"),
        )
        .expect("the manifest parses");
        let dependency = &manifest["dependencies"][0];
        assert_eq!(
            dependency["schema_url"].as_str(),
            Some(opentelemetry_semantic_conventions::SCHEMA_URL),
            "the registry depends on the semantic conventions the constants come from"
        );
        let version = opentelemetry_semantic_conventions::SCHEMA_URL
            .rsplit('/')
            .next()
            .expect("a version");
        assert!(
            dependency["registry_path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("@v{version}[model]"))),
            "{dependency:?}"
        );

        let registry = Registry::load();
        use checkout_api::semconv;
        for (name, kind) in semconv::ATTRIBUTES {
            let defined = registry.attributes.get(name);
            let fits = match defined {
                Some(AttributeType::Named(defined)) => defined == kind,
                Some(AttributeType::Members(_)) => kind == "enum",
                None => false,
            };
            assert!(
                fits,
                "checkout_api::semconv has {name} ({kind}); semconv/ has {defined:?}"
            );
        }
        let own = ["checkout.", "payment.", "product."];
        for name in registry.attributes.keys() {
            if own.iter().any(|prefix| name.starts_with(prefix)) {
                assert!(
                    semconv::ATTRIBUTES.iter().any(|(n, _)| n == name),
                    "semconv/ defines {name}: a constant in checkout_api::semconv"
                );
            }
        }
        for name in semconv::SPANS {
            assert!(registry.span_names.iter().any(|n| n == name), "span {name}");
        }
        for name in OPENTELEMETRY {
            assert!(
                !registry.attributes.contains_key(*name),
                "{name} is OpenTelemetry's: never redefined in semconv/"
            );
        }
    }

    #[test]
    fn an_undefined_attribute_a_wrong_type_and_an_unknown_name_are_found() {
        let registry = Registry::load();
        let good = span(
            "payment.charge",
            &[
                ("payment.amount_cents", "1250", "int"),
                ("payment.card.brand", "visa", "string"),
                ("error.type", "card_declined", "string"),
            ],
        );
        assert_eq!(
            registry.findings(std::slice::from_ref(&good)),
            Vec::<String>::new()
        );

        let bad = [
            span(
                "payment.charge",
                &[("payment.card.number", "4242", "string")],
            ),
            span(
                "payment.charge",
                &[("payment.amount_cents", "12.5", "double")],
            ),
            span(
                "payment.charge",
                &[("payment.card.brand", "diners", "string")],
            ),
            span("charge", &[]),
        ];
        let findings = registry.findings(&bad);
        assert_eq!(findings.len(), 4, "{findings:#?}");
        assert!(
            findings
                .iter()
                .any(|f| f.contains("payment.card.number is neither"))
        );
        assert!(
            findings
                .iter()
                .any(|f| f.contains("payment.amount_cents is a double"))
        );
        assert!(
            findings
                .iter()
                .any(|f| f.contains("payment.card.brand is a string \"diners\""))
        );
        assert!(findings.iter().any(|f| f.contains("span \"charge\"")));
    }

    #[test]
    fn http_and_database_spans_are_named_by_opentelemetry_s_rules() {
        let registry = Registry::load();
        let named = |name, attributes: &[(&str, &str, &str)]| {
            registry.findings(&[span(name, attributes)]).is_empty()
        };
        let server = [
            ("http.request.method", "POST", "string"),
            ("http.route", "/api/checkout", "string"),
        ];
        assert!(named("POST /api/checkout", &server));
        assert!(
            !named("POST", &server),
            "the route is the target when there is one"
        );
        assert!(!named("POST /api/checkout/42", &server));
        assert!(named("GET", &[("http.request.method", "GET", "string")]));
        assert!(named(
            "HTTP",
            &[("http.request.method", "_OTHER", "string")]
        ));
        let db = [
            ("db.system.name", "sqlite", "string"),
            ("db.operation.name", "SELECT", "string"),
            ("db.collection.name", "products", "string"),
        ];
        assert!(named("SELECT products", &db));
        assert!(!named("SELECT orders", &db));
        assert!(
            !named("SELECT", &db),
            "the target is named when there is one"
        );
        assert!(
            !named("sqlite", &db),
            "the system only when nothing else is there"
        );
        assert!(named("sqlite", &db[..1]));
        assert!(
            named("click checkout", &[]),
            "the registry's `click {{target}}`"
        );
        assert!(!named("hover checkout", &[]));
    }
}
