//! Chaos experiments against Gift Genie: steady-state hypotheses, faults, measured detection and
//! recovery, and reports. Runs against a local stack started through e2e's library, or against a
//! deployed environment through its URL and its Toxiproxy.

pub mod defaults;
pub mod environment;
pub mod experiment;
pub mod explore;
pub mod journal;
pub mod load;
pub mod monitor;
pub mod probe;
pub mod progress;
pub mod report;
pub mod runner;
mod serde_millis;
pub mod stats;
pub mod timeline;
