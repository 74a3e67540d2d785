//! Faults between the backend and Redis, and on its clients' side, each with its heal.
//!
//! One fault is one type ([`FaultKind`]) in the module of its family: proxy toxics ([`proxy`]),
//! network filters ([`filters`]), Redis's process and topology ([`redis`]), and hostile clients
//! ([`clients`]). A fault's type owns its name, what it acts on ([`FaultKind::Target`], which
//! decides the topologies it runs in and whether a deployed target can host it), and its prepare,
//! inject and heal. `catalogue!` lists them in [`Fault`]: adding a fault is its type and one
//! line there.

pub mod clients;
pub mod filters;
pub mod proxy;
pub mod redis;
mod targets;

use std::fmt;
use std::hash::Hash;

use rand::Rng as _;
use rand::rngs::StdRng;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use targets::{
    Clients, ClusterView, DirectRedis, OnClients, OnCluster, OnDirectRedis, OnPair, OnProxy, OnSingle, Place, Proxied,
    RemoteTarget, Target,
};

use crate::error::Result;
use crate::stack::Topology;
use crate::timing::{Timeouts, Timing};

/// One way the network to Redis, Redis itself, or the backend's clients can misbehave.
#[allow(async_fn_in_trait)] // faults run from the task that drives a scenario; nothing needs Send
pub trait FaultKind:
    fmt::Debug + fmt::Display + Clone + PartialEq + Eq + Hash + Serialize + DeserializeOwned + JsonSchema + Into<Fault>
{
    /// Its name in experiment files and reports: `ip-filter`.
    const NAME: &'static str;

    /// What it acts on.
    type Target: Target;

    /// Its durations, for [`Fault::resolve`].
    fn timings_mut(&mut self) -> Vec<&mut Timing> {
        Vec::new()
    }

    /// One of its kind with attributes drawn from `rng`, within bounds that make sense against a
    /// backend with `timeouts`: for a nemesis that searches.
    fn generate(rng: &mut StdRng, timeouts: &Timeouts) -> Self;

    /// Gets the target ready, so that [`Self::inject`] takes effect as soon as it is called: the
    /// IP filter's sidecar starts here, outside the fault's window.
    async fn prepare(&self, _target: ViewOf<'_, Self>) -> Result<()> {
        Ok(())
    }

    async fn inject(&self, target: ViewOf<'_, Self>) -> Result<()>;

    async fn heal(&self, target: ViewOf<'_, Self>) -> Result<()>;
}

/// `Display` for faults without attributes: their name.
macro_rules! shown_by_name {
    ($($type:ty),+ $(,)?) => {
        $(impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(<Self as $crate::faults::FaultKind>::NAME)
            }
        })+
    };
}
use shown_by_name;

/// What fault `F` acts on, as its target finds it.
pub(crate) type ViewOf<'a, F> = <<F as FaultKind>::Target as Target>::View<'a>;

/// `$variant => $family::$type`, one line per fault: gives [`Fault`], its dispatch, its reading
/// from experiment files (tagged by `type`, the fault's name) and its JSON schema.
macro_rules! catalogue {
    ($($variant:ident => $family:ident :: $type:ident),+ $(,)?) => {
        /// Every fault, each holding its attributes.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Fault {
            $($variant($family::$type)),+
        }

        $(impl From<$family::$type> for Fault {
            fn from(fault: $family::$type) -> Self {
                Self::$variant(fault)
            }
        })+

        /// Every fault type, by its name alone, for code that names faults.
        pub mod kinds {
            $(pub use super::$family::$type;)+
        }

        /// Every fault's name, as experiment files write it.
        pub(crate) const FAULT_NAMES: &[&str] = &[$(<$family::$type as FaultKind>::NAME),+];

        impl Fault {
            /// Its name in experiment files and reports.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => <$family::$type as FaultKind>::NAME),+ }
            }

            /// The topologies of a local stack that can host it.
            pub fn topologies(&self) -> &'static [Topology] {
                match self { $(Self::$variant(_) => <<$family::$type as FaultKind>::Target as Target>::TOPOLOGIES),+ }
            }

            /// True when a deployed environment with only a Toxiproxy can host it.
            pub fn works_remotely(&self) -> bool {
                match self { $(Self::$variant(_) => <<$family::$type as FaultKind>::Target as Target>::REMOTE),+ }
            }

            fn timings_mut(&mut self) -> Vec<&mut Timing> {
                match self { $(Self::$variant(fault) => fault.timings_mut()),+ }
            }

            async fn prepare_only(&self, place: Place<'_>) -> Result<()> {
                match self { $(Self::$variant(fault) => fault.prepare(<$family::$type as FaultKind>::Target::find(place)?).await),+ }
            }

            async fn inject_only(&self, place: Place<'_>) -> Result<()> {
                match self { $(Self::$variant(fault) => fault.inject(<$family::$type as FaultKind>::Target::find(place)?).await),+ }
            }

            async fn heal_only(&self, place: Place<'_>) -> Result<()> {
                match self { $(Self::$variant(fault) => fault.heal(<$family::$type as FaultKind>::Target::find(place)?).await),+ }
            }

            fn serialize_fields<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                match self { $(Self::$variant(fault) => tagged(<$family::$type as FaultKind>::NAME, fault, serializer)),+ }
            }

            fn deserialize_named(name: &str, fields: serde_json::Value) -> std::result::Result<Self, String> {
                $(if name == <$family::$type as FaultKind>::NAME {
                    return fields_of::<$family::$type>(fields).map(Self::$variant);
                })+
                Err(format!("unknown fault type `{name}`, expected one of {}", FAULT_NAMES.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")))
            }

            /// One fault, of a type drawn from those that `topology` hosts, its attributes drawn
            /// too.
            pub fn generate(topology: Topology, rng: &mut StdRng, timeouts: &Timeouts) -> Self {
                type Maker = fn(&mut StdRng, &Timeouts) -> Fault;
                let makers: Vec<Maker> = vec![$(
                    |rng, timeouts| Fault::$variant(<$family::$type as FaultKind>::generate(rng, timeouts))
                ),+];
                let hosted: Vec<&Maker> = makers
                    .iter()
                    .zip([$(<<$family::$type as FaultKind>::Target as Target>::TOPOLOGIES),+])
                    .filter(|(_, topologies)| topologies.contains(&topology))
                    .map(|(maker, _)| maker)
                    .collect();
                hosted[rng.random_range(0..hosted.len())](rng, timeouts)
            }

            /// The family its type is in: faults of the `filters` and `redis` families change
            /// Redis's nodes, and run one at a time; others overlap, each type with itself only
            /// once.
            pub fn family(&self) -> &'static str {
                match self { $(Self::$variant(_) => stringify!($family)),+ }
            }

            fn variant_schemas(generator: &mut SchemaGenerator) -> Vec<Schema> {
                vec![$(variant_schema::<$family::$type>(generator)),+]
            }
        }

        impl fmt::Display for Fault {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self { $(Self::$variant(fault) => fmt::Display::fmt(fault, f)),+ }
            }
        }
    };
}

catalogue! {
    Partition => proxy::Partition,
    Blackhole => proxy::Blackhole,
    IpFilter => filters::IpFilter,
    Latency => proxy::Latency,
    SlowClose => proxy::SlowClose,
    Bandwidth => proxy::Bandwidth,
    ResetPeer => proxy::ResetPeer,
    RedisRestart => redis::RedisRestart,
    HangUpBurst => clients::HangUpBurst,
    SlowClients => clients::SlowClients,
    MethodFlood => clients::MethodFlood,
    OversizedBodies => clients::OversizedBodies,
    Failover => redis::Failover,
    PrimaryLoss => redis::PrimaryLoss,
    ShardFilter => filters::ShardFilter,
    Reshard => redis::Reshard,
}

/// What each fault needs from where it runs: the one place that knows, for the e2e tests and the
/// chaos runner's validation alike.
impl Fault {
    /// True when a stack of this topology can host the fault.
    pub fn runs_in(&self, topology: Topology) -> bool {
        self.topologies().contains(&topology)
    }

    /// The topology to start a stack with for this fault alone.
    pub fn topology(&self) -> Topology {
        self.topologies()[0]
    }

    /// True when some duration of the fault is relative to the backend's timeouts.
    pub fn is_relative(&self) -> bool {
        self.clone().timings_mut().iter().any(|timing| timing.is_relative())
    }

    /// Fixes durations relative to the backend's timeouts.
    pub fn resolve(&mut self, timeouts: &Timeouts) {
        for timing in self.timings_mut() {
            timing.resolve(timeouts);
        }
    }

    /// Gets `place` ready for this fault; see [`FaultKind::prepare`].
    pub async fn prepare(&self, place: impl Into<Place<'_>>) -> Result<()> {
        self.prepare_only(place.into()).await
    }

    /// Injects the fault at `place`, and tells the place's journal.
    pub async fn inject(&self, place: impl Into<Place<'_>>) -> Result<()> {
        let place = place.into();
        self.inject_only(place).await?;
        place.fault_changed(self, true);
        Ok(())
    }

    /// Heals the fault at `place`, and tells the place's journal.
    pub async fn heal(&self, place: impl Into<Place<'_>>) -> Result<()> {
        let place = place.into();
        self.heal_only(place).await?;
        place.fault_changed(self, false);
        Ok(())
    }
}

/// `fault`'s fields with its name as `type`, as experiment files write a fault.
fn tagged<S: Serializer, F: Serialize>(name: &str, fault: &F, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    let mut fields = serde_json::to_value(fault).map_err(S::Error::custom)?;
    match &mut fields {
        serde_json::Value::Object(map) => {
            map.insert("type".to_owned(), name.into());
        }
        other => return Err(S::Error::custom(format!("a fault's fields are an object, not {other}"))),
    }
    fields.serialize(serializer)
}

/// Reads a fault's fields, naming the field a problem is about.
fn fields_of<F: DeserializeOwned>(fields: serde_json::Value) -> std::result::Result<F, String> {
    serde_path_to_error::deserialize(fields).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        if path == "." { message } else { format!("{path}: {message}") }
    })
}

/// A fault's schema: its fields, and its name as `type`.
fn variant_schema<F: FaultKind>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = F::json_schema(generator);
    if let Some(object) = schema.as_object_mut() {
        let properties = object.entry("properties").or_insert_with(|| serde_json::json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("type".to_owned(), serde_json::json!({"const": F::NAME, "type": "string"}));
        }
        let required = object.entry("required").or_insert_with(|| serde_json::json!([]));
        if let Some(required) = required.as_array_mut() {
            required.insert(0, "type".into());
        }
    }
    schema
}

impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.serialize_fields(serializer)
    }
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut fields = serde_json::Value::deserialize(deserializer)?;
        let object = fields.as_object_mut().ok_or_else(|| D::Error::custom("a fault is a table with a `type`"))?;
        let name = match object.remove("type") {
            Some(serde_json::Value::String(name)) => name,
            Some(other) => return Err(D::Error::custom(format!("a fault's `type` is its name, not {other}"))),
            None => return Err(D::Error::missing_field("type")),
        };
        Self::deserialize_named(&name, fields).map_err(D::Error::custom)
    }
}

impl JsonSchema for Fault {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let variants: Vec<serde_json::Value> =
            Self::variant_schemas(generator).into_iter().map(serde_json::Value::from).collect();
        schemars::json_schema!({
            "description": "A fault, named by `type`, with its attributes.",
            "oneOf": variants
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_fault_reads_and_writes_as_experiment_files_name_it() {
        let fault: Fault = toml::from_str("type = \"latency\"\nlatency = \"2s\"").unwrap();
        assert_eq!(fault, Fault::from(proxy::Latency::of(Duration::from_secs(2))));
        assert_eq!(fault.to_string(), "latency 2s");
        assert_eq!(serde_json::to_value(&fault).unwrap(), serde_json::json!({"type": "latency", "latency": "2s"}));
        let partition: Fault = toml::from_str("type = \"partition\"").unwrap();
        assert_eq!(partition, Fault::from(proxy::Partition {}));
    }

    #[test]
    fn a_fault_that_cannot_be_read_names_the_type_or_the_field() {
        let unknown = toml::from_str::<Fault>("type = \"earthquake\"").unwrap_err().to_string();
        assert!(unknown.contains("unknown fault type `earthquake`, expected one of `partition`"), "{unknown}");
        let field = toml::from_str::<Fault>("type = \"latency\"\nlatency = \"soon\"").unwrap_err().to_string();
        assert!(field.contains("latency: \"soon\" is not a duration"), "{field}");
        let extra = toml::from_str::<Fault>("type = \"partition\"\nlatency = \"2s\"").unwrap_err().to_string();
        assert!(extra.contains("unknown field `latency`"), "{extra}");
    }

    #[test]
    fn every_fault_has_a_name_of_its_own() {
        let mut names = FAULT_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAULT_NAMES.len(), "{FAULT_NAMES:?}");
    }
}
