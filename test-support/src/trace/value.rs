//! Attribute values as OTLP types them, and a span's attributes as sent: in order, a repeated key
//! kept, with lookups by type.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

/// An attribute's value, as OTLP types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Array(Vec<Value>),
    /// Bytes, a map, or no value: no attribute of ours sends those.
    Other,
}

impl Value {
    pub(crate) fn from_proto(any: Option<&AnyValue>) -> Self {
        match any.and_then(|a| a.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Self::String(s.clone()),
            Some(any_value::Value::IntValue(i)) => Self::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => Self::Double(*d),
            Some(any_value::Value::BoolValue(b)) => Self::Bool(*b),
            Some(any_value::Value::ArrayValue(a)) => {
                Self::Array(a.values.iter().map(|v| Self::from_proto(Some(v))).collect())
            }
            _ => Self::Other,
        }
    }

    /// Its type as semantic-convention registries name types: `string`, `int`, `double`,
    /// `boolean`, an array of one of them (`int[]`), or `other` (bytes, maps, mixed arrays: no
    /// registry attribute has those).
    pub fn registry_type(&self) -> String {
        match self {
            Self::String(_) => "string".to_owned(),
            Self::Int(_) => "int".to_owned(),
            Self::Double(_) => "double".to_owned(),
            Self::Bool(_) => "boolean".to_owned(),
            Self::Array(values) => {
                let types: Vec<String> = values.iter().map(Self::registry_type).collect();
                array_type(&types)
            }
            Self::Other => "other".to_owned(),
        }
    }
}

/// The text [`crate::trace::Span::attributes`] holds: a string as it is, a number or a boolean as
/// Rust prints it, an array as `[a,b]`, nothing for [`Value::Other`].
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Array(values) => {
                let texts: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", texts.join(","))
            }
            Self::Other => Ok(()),
        }
    }
}

/// `T[]` for an array whose values are all the scalar type `T`, `[]` for an empty one (which is
/// of every array type), `other` for anything else.
pub(crate) fn array_type(types: &[String]) -> String {
    match types.first() {
        None => "[]".to_owned(),
        Some(first)
            if !first.ends_with(']') && first != "other" && types.iter().all(|t| t == first) =>
        {
            format!("{first}[]")
        }
        Some(_) => "other".to_owned(),
    }
}

/// Attributes as they were sent: in their order, typed, a key sent twice kept twice (what an SDK's
/// own tests check: its limits keep the first keys, a key set again keeps one entry).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub Vec<(String, Value)>);

impl Attributes {
    pub(crate) fn from_proto(kvs: &[KeyValue]) -> Self {
        Self(
            kvs.iter()
                .map(|kv| (kv.key.clone(), Value::from_proto(kv.value.as_ref())))
                .collect(),
        )
    }

    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `key`'s value when it is a string.
    pub fn string(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// `key`'s value when it is an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// `key`'s value when it is a double.
    pub fn double(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// `key`'s value when it is a boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The keys in the order they were sent, a repeated one as often as it was.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// How many were sent.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Key and value as text, by key (a repeated key: its last value).
    pub(crate) fn texts(&self) -> std::collections::BTreeMap<String, String> {
        (self.0.iter())
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }

    /// Each key's registry type ([`Value::registry_type`]).
    pub(crate) fn types(&self) -> impl Iterator<Item = (String, String)> + '_ {
        (self.0.iter()).map(|(k, v)| (k.clone(), v.registry_type()))
    }
}
