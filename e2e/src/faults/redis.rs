//! Faults on Redis itself: its process, and the shape of a replicated pair or a cluster. They
//! need the local stack: they stop, kill and reconfigure its nodes.

use std::fmt;

use rand::Rng as _;
use rand::rngs::StdRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FaultKind, OnCluster, OnPair, OnSingle, ViewOf};
use crate::error::Result;
use crate::timing::Timeouts;

/// Redis is stopped (it writes its append-only file and exits); healing starts it again and
/// waits until it answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisRestart {}

impl FaultKind for RedisRestart {
    const NAME: &'static str = "redis-restart";
    type Target = OnSingle;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.stop().await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.start_again().await
    }
}

/// The high-availability pair fails over: the replica is promoted, the old primary demoted
/// (connections still on it see `READONLY`), and the one private address moves. Healing fails
/// back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Failover {}

impl FaultKind for Failover {
    const NAME: &'static str = "failover";
    type Target = OnPair;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.failover().await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.failover().await
    }
}

/// The cluster's first shard loses its primary (killed); the cluster promotes its replica.
/// Healing starts the node again, which rejoins as a replica.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrimaryLoss {}

impl FaultKind for PrimaryLoss {
    const NAME: &'static str = "primary-loss";
    type Target = OnCluster;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.lose_primary().await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.restore_primary().await
    }
}

/// `slots` slots move from the cluster's first shard to its second, under load; healing moves
/// them back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reshard {
    pub slots: u32,
}

impl FaultKind for Reshard {
    const NAME: &'static str = "reshard";
    type Target = OnCluster;

    fn generate(rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self { slots: rng.random_range(50..=2000) }
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.reshard(self.slots, true).await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.cluster.reshard(self.slots, false).await
    }
}

impl fmt::Display for Reshard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} slots", Self::NAME, self.slots)
    }
}

super::shown_by_name!(RedisRestart, Failover, PrimaryLoss);
