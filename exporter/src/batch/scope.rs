//! The key the batches group spans by: their instrumentation scope, compared cheaply.

use std::ptr;

use opentelemetry::InstrumentationScope;
use otlp_wire::ScopeHandle;

/// A span's instrumentation scope, as a batch groups its spans by it. The SDK gives every span a
/// clone of its tracer's scope, so the spans of one tracer share the text of its name and version
/// when that text is `'static` (as `tracer("name")` and a scope built from literals make it):
/// where the text lies settles the comparison of most spans without reading it, and the full
/// comparison decides the rest.
#[derive(Debug, Clone)]
pub(super) struct Scope(pub(super) InstrumentationScope);

impl ScopeHandle for Scope {
    fn scope(&self) -> &InstrumentationScope {
        &self.0
    }

    fn same(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        (same_text(Some(a.name()), Some(b.name()))
            && same_text(a.version(), b.version())
            && same_text(a.schema_url(), b.schema_url())
            && a.attributes().next().is_none()
            && b.attributes().next().is_none())
            || a.same(b)
    }
}

/// Both absent, or both the same text in the same place.
fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => ptr::eq(a, b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    fn scope(name: &str, version: &str) -> Scope {
        Scope(
            InstrumentationScope::builder(name.to_owned())
                .with_version(version.to_owned())
                .build(),
        )
    }

    #[test]
    fn scopes_are_the_same_by_their_text_wherever_it_lies() {
        let shared = Scope(
            InstrumentationScope::builder("shop")
                .with_version("1")
                .build(),
        );
        assert!(shared.same(&shared.clone()), "the same text");
        assert!(
            scope("shop", "1").same(&scope("shop", "1")),
            "equal text elsewhere"
        );
        assert!(!scope("shop", "1").same(&scope("shop", "2")));
        assert!(!scope("shop", "1").same(&scope("cart", "1")));
        let attributed = Scope(
            InstrumentationScope::builder("shop")
                .with_version("1")
                .with_attributes([KeyValue::new("k", "v")])
                .build(),
        );
        assert!(!shared.same(&attributed), "attributes count");
        assert!(attributed.same(&attributed.clone()));
    }
}
