//! HTTP handlers, one file per resource.

pub mod fallback;
pub mod health;
pub mod metrics;
pub mod register;
pub mod users;
