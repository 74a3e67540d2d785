//! Faults on the other side of the backend: HTTP clients that hang up, dawdle, invent methods or
//! send too much, as raw HTTP against the local backends' published ports (testkit's hostile
//! loads), each bounded in count and by [`testkit::hostile::MAX_LOAD_TIME`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;

use rand::Rng as _;
use rand::rngs::StdRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use testkit::hostile::{self, Shared};

use super::{Clients, Fault, FaultKind, OnClients, ViewOf};
use crate::error::{Error, Result};
use crate::timing::Timeouts;

/// Starts `load` against the target's backends, keyed by `fault`.
fn start<F>(fault: Fault, target: &Clients<'_>, load: impl FnOnce(Vec<SocketAddr>, Shared) -> F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    if target.backends.is_empty() {
        return Err(Error::Setup(format!("{fault}: the target has no backend to send to")));
    }
    let backends = target.backends.clone();
    target.loads.start(fault, |outcome| load(backends, outcome));
    Ok(())
}

/// A client fault: a struct of counts, the load it starts, and how it reads.
macro_rules! client_fault {
    ($(#[$doc:meta])* $type:ident, $name:literal, { $($field:ident: $kind:ty = $range:expr),+ }, $load:expr, $shown:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $type {
            $(pub $field: $kind),+
        }

        impl FaultKind for $type {
            const NAME: &'static str = $name;
            type Target = OnClients;

            fn generate(rng: &mut StdRng, _timeouts: &Timeouts) -> Self {
                Self { $($field: rng.random_range($range)),+ }
            }

            async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()> {
                let Self { $($field),+ } = self.clone();
                let load = $load;
                start(self.clone().into(), &target, move |backends, outcome| load(backends, $($field),+, outcome))
            }

            /// Stops the load; every connection it holds closes.
            async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()> {
                target.loads.stop(&self.clone().into());
                Ok(())
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let Self { $($field),+ } = self;
                write!(f, concat!("{} ", $shown), Self::NAME, $($field),+)
            }
        }
    };
}

client_fault!(
    /// `clients` registrations at once, every second, whose clients hang up a few milliseconds
    /// after sending.
    HangUpBurst, "hang-up-burst", { clients: u32 = 10..=100 }, hostile::hang_up_burst, "{} clients"
);
client_fault!(
    /// `connections` connections that send half a request head and wait.
    SlowClients, "slow-clients", { connections: u32 = 10..=200 }, hostile::slow_clients, "{} connections"
);
client_fault!(
    /// `requests` requests with invented methods on invented paths.
    MethodFlood, "method-flood", { requests: u32 = 100..=2000 }, hostile::method_flood, "{} requests"
);
client_fault!(
    /// `requests` registrations with a body of `bytes`, over the limit, each written in full
    /// before the answer is read.
    OversizedBodies, "oversized-bodies", { requests: u32 = 5..=40, bytes: usize = 20_000..=2_000_000 }, hostile::oversized_bodies, "{} x {} bytes"
);
