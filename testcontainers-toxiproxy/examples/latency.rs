//! Starts Toxiproxy, puts a proxy in front of its own API, and times a request through it with
//! and without a latency toxic:
//!
//! ```sh
//! cargo run -p testcontainers-toxiproxy --example latency
//! TOXIPROXY_IMAGE=gift-genie-e2e-toxiproxy:<tag> cargo run -p testcontainers-toxiproxy --example latency
//! ```
//!
//! `TOXIPROXY_IMAGE` substitutes another image that serves Toxiproxy's API, such as a mirror.

use std::time::{Duration, Instant};

use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerRequest, ImageExt as _};
use testcontainers_toxiproxy::{CONTROL_PORT, Toxic, Toxiproxy, ToxiproxyClient};

/// Where the example's proxy listens inside the container.
const PROXIED_API: ContainerPort = ContainerPort::Tcp(8475);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut request = ContainerRequest::from(Toxiproxy::default());
    if let Ok(image) = std::env::var("TOXIPROXY_IMAGE") {
        let (name, tag) = image.rsplit_once(':').ok_or("TOXIPROXY_IMAGE must be name:tag")?;
        request = request.with_name(name).with_tag(tag);
    }
    // Host port 0: Docker picks free ones, read back below.
    let container = request.with_mapped_port(0, CONTROL_PORT).with_mapped_port(0, PROXIED_API).start().await?;
    let toxiproxy = ToxiproxyClient::for_container(&container).await?;
    println!("toxiproxy {} at {}", toxiproxy.version().await?, toxiproxy.base_url());

    let upstream = format!("127.0.0.1:{}", CONTROL_PORT.as_u16());
    toxiproxy.create_proxy("api", &format!("0.0.0.0:{}", PROXIED_API.as_u16()), &upstream).await?;
    let through_proxy = format!("http://127.0.0.1:{}/version", container.get_host_port_ipv4(PROXIED_API).await?);

    let time = || async {
        let started = Instant::now();
        reqwest::get(&through_proxy).await?.error_for_status()?;
        Ok::<_, reqwest::Error>(started.elapsed())
    };
    println!("GET /version through the proxy: {:?}", time().await?);
    toxiproxy.add_toxic("api", &Toxic::latency(Duration::from_millis(300))).await?;
    println!("with a 300 ms latency toxic:   {:?}", time().await?);
    Ok(())
}
