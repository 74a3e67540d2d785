//! The Toxiproxy image.

use std::borrow::Cow;
use std::time::Duration;

use testcontainers::Image;
use testcontainers::core::wait::HttpWaitStrategy;
use testcontainers::core::{ContainerPort, WaitFor};

/// The official image, and the release whose API [`crate::ToxiproxyClient`] speaks.
pub const NAME: &str = "ghcr.io/shopify/toxiproxy";
pub const TAG: &str = "2.12.0";

/// Toxiproxy's HTTP API port inside the container.
pub const CONTROL_PORT: ContainerPort = ContainerPort::Tcp(8474);

/// A Toxiproxy server. It passes no arguments, so the image keeps its own: the official one
/// listens on every interface only through its default `-host=0.0.0.0`.
#[derive(Debug, Clone, Default)]
pub struct Toxiproxy {
    _private: (),
}

impl Image for Toxiproxy {
    fn name(&self) -> &str {
        NAME
    }

    fn tag(&self) -> &str {
        TAG
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        // The API answers within a second of the start; the default poll interval would add most
        // of another to every test.
        vec![WaitFor::http(
            HttpWaitStrategy::new("/version")
                .with_port(CONTROL_PORT)
                .with_expected_status_code(200_u16)
                .with_poll_interval(Duration::from_millis(50)),
        )]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[CONTROL_PORT]
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        std::iter::empty::<&str>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_image_is_the_official_release_with_its_control_port_exposed() {
        let image = Toxiproxy::default();
        assert_eq!((image.name(), image.tag()), ("ghcr.io/shopify/toxiproxy", "2.12.0"));
        assert_eq!(image.expose_ports(), [ContainerPort::Tcp(8474)]);
        assert_eq!(image.cmd().into_iter().count(), 0, "no arguments, so the image keeps -host=0.0.0.0");
    }
}
