//! One Redis node: behind the fault proxy (`through-proxy`), or reached directly (`direct`), for
//! filtering the backends' own addresses at it.

use std::sync::Arc;

use super::{Proxy, REDIS_PORT, RedisImage, RedisNode, proxy_url};
use crate::error::Result;
use crate::images::ImageSet;
use crate::stack::Journal;
use crate::wait;

pub struct Single {
    /// Declared first, so that it goes first: it sends to the node.
    proxy: Option<Proxy>,
    node: RedisNode,
    journal: Arc<Journal>,
}

impl Single {
    pub(super) async fn start(images: &ImageSet, network: &str, proxied: bool, journal: Arc<Journal>) -> Result<Self> {
        let image = RedisImage::new(&images.redis.name, &images.redis.tag, images.source);
        let node = RedisNode::start(image, network, "redis").await?;
        let proxy = if proxied { Some(Proxy::start(images, network, &node).await?) } else { None };
        Ok(Self { proxy, node, journal })
    }

    pub fn node(&self) -> &RedisNode {
        &self.node
    }

    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// True when the backends reach the node through the proxy.
    pub fn proxied(&self) -> bool {
        self.proxy.is_some()
    }

    /// Where the backends reach Redis.
    pub(super) fn url(&self) -> String {
        if self.proxied() { proxy_url() } else { format!("redis://redis:{}/0", REDIS_PORT.as_u16()) }
    }

    /// Stops Redis (`docker stop`: it writes its append-only file and exits).
    pub async fn stop(&self) -> Result<()> {
        self.node.stop().await?;
        self.journal.note("redis stopped");
        Ok(())
    }

    /// Starts Redis again and waits until it answers PING.
    pub(crate) async fn start_again(&self) -> Result<()> {
        self.node.start_again().await?;
        // Refused connections while it loads are part of the wait, not its end.
        wait::step("redis answers PING after starting", || async {
            Ok(self.node.cli(&["PING"]).await.is_ok_and(|reply| reply.trim() == "PONG"))
        })
        .await?;
        self.journal.note("redis started again");
        Ok(())
    }
}
