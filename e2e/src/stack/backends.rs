//! The backends of a stack: each a container with production's limits, its address on the
//! stack's network, its published HTTP port, and its log tail.

use std::net::{IpAddr, SocketAddr};

use testcontainers::ContainerAsync;
use testcontainers::ImageExt as _;
use testcontainers::core::logs::LogFrame;
use testcontainers::runners::AsyncRunner as _;

use super::LogTail;
use crate::backend::{self, BackendClient, BackendConfig, BackendImage};
use crate::containers::{self, Expected};
use crate::docker;
use crate::error::Result;
use crate::images::ImageSet;
use crate::limits::ContainerLimits;

pub struct BackendNode {
    pub client: BackendClient,
    /// Its address on the stack's network.
    pub address: IpAddr,
    /// Where the host reaches its HTTP port.
    pub published: SocketAddr,
    pub logs: LogTail,
    pub(crate) expected: Expected,
    pub(crate) container: ContainerAsync<BackendImage>,
}

impl BackendNode {
    pub(super) async fn start(
        images: &ImageSet,
        network: &str,
        config: &BackendConfig,
        limits: ContainerLimits,
        name: &str,
    ) -> Result<Self> {
        let logs = LogTail::default();
        let sink = logs.clone();
        let image = BackendImage::new(&images.backend.name, &images.backend.tag, config);
        let container = docker::owned(image, network)
            .with_host_config_modifier(move |host| {
                host.memory = Some(limits.memory_bytes());
                host.memory_swap = Some(limits.memory_bytes());
                host.nano_cpus = Some(limits.nano_cpus());
            })
            .with_mapped_port(0, backend::HTTP_PORT)
            .with_log_consumer(move |frame: &LogFrame| sink.push(frame))
            .start()
            .await?;
        let port = container.get_host_port_ipv4(backend::HTTP_PORT).await?;
        let address = docker::address_on(network, container.id()).await?;
        let expected = Expected::running(&containers::state(name, container.id()).await?);
        Ok(Self {
            client: BackendClient::new(format!("http://127.0.0.1:{port}")),
            address,
            published: SocketAddr::from(([127, 0, 0, 1], port)),
            logs,
            expected,
            container,
        })
    }

    pub fn container_id(&self) -> &str {
        self.container.id()
    }
}
