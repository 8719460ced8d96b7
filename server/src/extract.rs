//! `JsonBody<T>`: a JSON extractor whose rejections are `AppError`s with the failing field named.
//!
//! Serde's messages quote the offending value ("invalid type: integer `4242…`"); for the card and the
//! email that would echo a secret, so those fields get a message without the value.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;

use crate::{domain::Invalid, error::AppError};

/// The request body, parsed as JSON into `T`.
pub struct JsonBody<T>(pub T);

/// The request body, which must be a JSON object, parsed into `T`. (Serde would otherwise accept
/// an array for a struct, field by position, and answer with confusing messages.)
pub struct JsonObject<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(&read_json(request, state).await?).map(Self)
    }
}

impl<S, T> FromRequest<S> for JsonObject<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json(request, state).await?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(AppError::InvalidJson(
                "the body must be a JSON object".to_owned(),
            ));
        }
        parse(&bytes).map(Self)
    }
}

/// The body of a request declared as JSON.
async fn read_json<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, AppError> {
    if !is_json(&request) {
        return Err(AppError::UnsupportedMediaType);
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::InvalidJson(format!(
                    "could not read the body: {}",
                    rejection.body_text()
                ))
            }
        })
}

fn is_json(request: &Request) -> bool {
    let Some(content_type) = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses `bytes` as `T`, naming the field of the first problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return AppError::InvalidJson(format!("the body is not valid JSON: {inner}"));
        }
        let message = without_position(inner);
        let quotes_a_secret =
            (path.starts_with("card") || path == "email") && !message.starts_with("missing field");
        let message = if quotes_a_secret {
            "must be a string".to_owned()
        } else {
            message
        };
        if path == "." {
            AppError::InvalidJson(format!("the body has the wrong shape: {message}"))
        } else {
            AppError::Invalid(Invalid::new(path, message))
        }
    })
}

/// Serde's message without its " at line 1 column 42" suffix.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}
