//! Faults made on the proxy in front of Redis: its switch, and its toxics. They work against a
//! deployed environment's Toxiproxy as well as the local stack's.

use std::fmt;
use std::time::Duration;

use rand::Rng as _;
use rand::rngs::StdRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use testcontainers_toxiproxy::{Stream, Toxic};

use super::{FaultKind, OnProxy, Proxied, ViewOf};
use crate::error::Result;
use crate::timing::{Timeouts, Timing};

/// A duration drawn uniformly from `range`, to the millisecond.
fn draw(rng: &mut StdRng, range: std::ops::RangeInclusive<Duration>) -> Duration {
    let (low, high) = (range.start().as_millis(), range.end().as_millis().max(range.start().as_millis()));
    Duration::from_millis(u64::try_from(rng.random_range(low..=high)).unwrap_or(u64::MAX))
}

/// Adds `toxics` to the proxy, or removes them by name.
async fn toxics(target: &Proxied<'_>, toxics: &[Toxic], add: bool) -> Result<()> {
    for toxic in toxics {
        if add {
            target.client.add_toxic(target.proxy, toxic).await?;
        } else {
            target.client.remove_toxic(target.proxy, &toxic.name).await?;
        }
    }
    Ok(())
}

/// The proxy is disabled: connects are refused and open connections closed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Partition {}

impl FaultKind for Partition {
    const NAME: &'static str = "partition";
    type Target = OnProxy;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.client.set_enabled(target.proxy, false).await?;
        Ok(())
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        target.client.set_enabled(target.proxy, true).await?;
        Ok(())
    }
}

/// Established and new connections through the proxy are held open while every byte is
/// dropped, in both directions (a timeout toxic of 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Blackhole {}

impl Blackhole {
    fn toxics() -> [Toxic; 2] {
        [
            Toxic::timeout(Duration::ZERO).on(Stream::Upstream).named("blackhole_upstream"),
            Toxic::timeout(Duration::ZERO).on(Stream::Downstream).named("blackhole_downstream"),
        ]
    }
}

impl FaultKind for Blackhole {
    const NAME: &'static str = "blackhole";
    type Target = OnProxy;

    fn generate(_rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self {}
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        toxics(&target, &Self::toxics(), true).await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        toxics(&target, &Self::toxics(), false).await
    }
}

/// A fault that is one toxic whose attribute is a duration: its name, the toxic's, and how the
/// toxic is made from the duration.
macro_rules! timed_toxic {
    ($(#[$doc:meta])* $type:ident, $name:literal, $field:ident, $toxic:expr, $range:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $type {
            pub $field: Timing,
        }

        impl $type {
            pub fn of($field: Duration) -> Self {
                Self { $field: Timing::fixed($field) }
            }

            fn toxic(&self) -> Toxic {
                let make: fn(Duration) -> Toxic = $toxic;
                make(self.$field.get())
            }
        }

        impl FaultKind for $type {
            const NAME: &'static str = $name;
            type Target = OnProxy;

            fn timings_mut(&mut self) -> Vec<&mut Timing> {
                vec![&mut self.$field]
            }

            fn generate(rng: &mut StdRng, timeouts: &Timeouts) -> Self {
                let range: fn(&Timeouts) -> std::ops::RangeInclusive<Duration> = $range;
                Self::of(draw(rng, range(timeouts)))
            }

            async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
                toxics(&target, &[self.toxic()], true).await
            }

            async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
                toxics(&target, &[self.toxic()], false).await
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", Self::NAME, self.$field)
            }
        }
    };
}

timed_toxic!(
    /// Each reply from Redis is delayed.
    Latency, "latency", latency, |latency| Toxic::latency(latency).named("latency"),
    // From a delay below any timeout to three operation timeouts.
    |timeouts| Duration::from_millis(20)..=timeouts.operation * 3
);
timed_toxic!(
    /// Connections are closed this long after they end.
    SlowClose, "slow-close", delay, |delay| Toxic::slow_close(delay).named("slow_close"),
    |timeouts| Duration::from_millis(50)..=timeouts.operation * 2
);
timed_toxic!(
    /// Connections are reset (RST) this long after data first flows.
    ResetPeer, "reset-peer", timeout, |timeout| Toxic::reset_peer(timeout).named("reset_peer"),
    |timeouts| Duration::ZERO..=timeouts.operation
);

/// Replies trickle at `rate` KB/s.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bandwidth {
    /// KB/s.
    pub rate: u64,
}

impl Bandwidth {
    fn toxic(&self) -> Toxic {
        Toxic::bandwidth(self.rate).named("bandwidth")
    }
}

impl FaultKind for Bandwidth {
    const NAME: &'static str = "bandwidth";
    type Target = OnProxy;

    /// From a trickle to a rate no registration notices.
    fn generate(rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
        Self { rate: rng.random_range(1..=200) }
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
        toxics(&target, &[self.toxic()], true).await
    }

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
        toxics(&target, &[self.toxic()], false).await
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} KB/s", Self::NAME, self.rate)
    }
}

super::shown_by_name!(Partition, Blackhole);
