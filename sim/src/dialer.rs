//! The backend's way onto the simulated network: the pool's [`Dialer`].

use gift_genie_backend::redis_pool::{Dialer, Dialing, Stream};

use crate::net::Net;

/// Opens the backend's connections over the simulated network.
pub(crate) struct NetDialer(pub Net);

impl Dialer for NetDialer {
    fn dial(&self, host: &str, port: u16) -> Dialing {
        let (net, host) = (self.0.clone(), host.to_owned());
        Box::pin(async move { net.connect(&host, port).await.map(|stream| Box::new(stream) as Box<dyn Stream>) })
    }
}
