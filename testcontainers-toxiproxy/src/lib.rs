//! A [testcontainers-rs] module for [Toxiproxy], the TCP proxy that simulates network faults, and
//! a typed async client for its HTTP API.
//!
//! [`Toxiproxy`] starts `ghcr.io/shopify/toxiproxy:2.12.0` by default and is ready once
//! `GET /version` answers on [`CONTROL_PORT`]. Another image that serves the same API (a
//! mirror, or a Toxiproxy-compatible server) is substituted with testcontainers'
//! [`ImageExt::with_name`](testcontainers::ImageExt::with_name) and
//! [`with_tag`](testcontainers::ImageExt::with_tag). [`ToxiproxyClient`] creates proxies and adds,
//! updates and removes [`Toxic`]s, whose attributes are typed ([`ToxicKind`]).
//!
//! The proxies a test creates listen inside the container: put the container on the network of
//! the service under test, point the client of that service at the proxy's listen address, and
//! publish the control port only.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use testcontainers::runners::AsyncRunner as _;
//! use testcontainers_toxiproxy::{Stream, Toxic, Toxiproxy, ToxiproxyClient};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let container = Toxiproxy::default().start().await?;
//! let toxiproxy = ToxiproxyClient::for_container(&container).await?;
//!
//! // Everything the service sends to "redis:6379" through this proxy is now under the test's control.
//! toxiproxy.create_proxy("redis", "0.0.0.0:6379", "redis:6379").await?;
//! toxiproxy.add_toxic("redis", &Toxic::latency(Duration::from_millis(300)).on(Stream::Downstream)).await?;
//! // ... exercise the service ...
//! toxiproxy.set_enabled("redis", false).await?; // a partition: connects are refused
//! toxiproxy.reset().await?; // every proxy enabled, every toxic gone
//! # Ok(())
//! # }
//! ```
//!
//! [testcontainers-rs]: https://github.com/testcontainers/testcontainers-rs
//! [Toxiproxy]: https://github.com/Shopify/toxiproxy

mod client;
mod error;
mod image;
mod toxic;

pub use client::{Proxy, ToxiproxyClient};
pub use error::Error;
pub use image::{CONTROL_PORT, NAME, TAG, Toxiproxy};
pub use toxic::{Stream, TOXIC_TYPES, Toxic, ToxicKind};
