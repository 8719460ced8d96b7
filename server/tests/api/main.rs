//! In-process API tests: each test starts the real server on its own port with its own temporary
//! SQLite database, and reads its spans from the SDK's in-memory exporter.

mod checkout;
mod faults;
mod helpers;
mod hostile;
mod secrets;
mod server_timing;
mod trace_context;
mod tracing;
