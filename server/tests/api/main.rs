//! In-process API tests: each test starts the real server on its own port with its own new
//! database (a SQLite file, or with `TEST_DATABASE=postgres` a PostgreSQL database), and reads its
//! spans from the SDK's in-memory exporter.

mod checkout;
mod claims;
mod faults;
mod helpers;
mod hostile;
mod secrets;
mod server_timing;
mod trace_context;
mod tracing;
