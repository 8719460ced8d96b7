//! The checkout backend: an axum server that continues the browser's trace through product lookup,
//! payment and every database statement, and exports it over OTLP.
//!
//! A map of the crate, in the order a request meets it:
//!
//! - [`config`]: the environment, read once into [`config::Config`].
//! - [`startup`]: [`startup::Application`] opens the database, builds the router, binds, serves and
//!   drains on shutdown; it renews this replica's claims and recovers expired ones in the background.
//! - [`telemetry`]: the tracer provider and its guard, the strict W3C [`telemetry::propagation`]
//!   parser, and the [`telemetry::http`] middleware that opens the SERVER span of each request.
//! - [`routes`]: the HTTP API; handlers parse input into [`domain`] types and call [`db`] and
//!   [`payment`].
//! - [`idempotency`]: `Idempotency-Key` claims in the database: wait for, or replay, the first answer.
//! - [`error`]: [`error::AppError`], the one error type, and its JSON body.

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod extract;
pub mod faults;
pub mod idempotency;
pub mod payment;
pub mod routes;
pub mod startup;
pub mod telemetry;
