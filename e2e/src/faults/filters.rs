//! Faults made with iptables inside a Redis node's network namespace: the node drops every packet
//! from the backends, so connects time out instead of being refused (the incident's unlisted-IP
//! behaviour). They need the local stack: a deployed target's Redis is not ours to filter.

use rand::rngs::StdRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FaultKind, OnCluster, OnDirectRedis, ViewOf};
use crate::error::Result;
use crate::timing::Timeouts;

/// Redis drops every packet from the backends' addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpFilter {}

impl FaultKind for IpFilter {
    const NAME: &'static str = "ip-filter";
    type Target = OnDirectRedis;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    /// Starts the iptables sidecar (about a second), outside the fault's window.
    async fn prepare(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.node.iptables_sidecar().await.map(drop)
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.node.filter(target.backends, true).await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.node.filter(target.backends, false).await
    }
}

/// The IP filter on the cluster's first shard's primary only: that shard's keys time out, the
/// others keep working.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardFilter {}

impl FaultKind for ShardFilter {
    const NAME: &'static str = "shard-filter";
    type Target = OnCluster;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    async fn prepare(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.prepare_shard_filter().await
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.filter_shard(target.backends, true).await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.filter_shard(target.backends, false).await
    }
}

super::shown_by_name!(IpFilter, ShardFilter);
