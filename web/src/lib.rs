//! The checkout page (in progress).
