//! Where an experiment runs: a local stack started through e2e's library, or a deployed
//! environment reached through its URL and its Toxiproxy.

use e2e::{BackendClient, Place, RemoteTarget, Stack, StackOptions, Timeouts, ToxiproxyClient};

use crate::experiment::Experiment;
use crate::monitor::MemorySource;

pub enum Environment {
    Local(Box<Stack>),
    Remote { backend_url: String, faults: RemoteTarget },
}

/// How to reach a deployed environment.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    pub target_url: String,
    pub toxiproxy_url: String,
    pub proxy: String,
}

/// Why a deployed target's timeouts are not known.
#[derive(Debug, thiserror::Error)]
pub enum TimeoutsUnknown {
    #[error("cannot read {url}/metrics: {source}")]
    Unreachable { url: String, source: e2e::Error },
    #[error(
        "{url}/metrics does not publish {missing} in gift_genie_setting_seconds, which this experiment's relative timings need; deploy a backend that publishes its settings, or write the experiment's durations in absolute terms"
    )]
    NotPublished { url: String, missing: String },
}

impl Environment {
    /// Starts a local stack shaped by the experiment: its topology, and its backend settings on
    /// top of the fast test timeouts.
    pub async fn local(experiment: &Experiment) -> e2e::Result<Self> {
        let options = StackOptions::default().topology(experiment.stack.topology).backend(experiment.backend_config());
        Ok(Self::Local(Box::new(Stack::start(options).await?)))
    }

    pub fn remote(spec: &RemoteSpec) -> Self {
        Self::Remote {
            backend_url: spec.target_url.trim_end_matches('/').to_owned(),
            faults: RemoteTarget { toxiproxy: ToxiproxyClient::new(&spec.toxiproxy_url), proxy: spec.proxy.clone() },
        }
    }

    /// The backend's timeouts: the local stack's settings, or what a deployed backend publishes
    /// in `/metrics`.
    pub async fn timeouts(&self) -> Result<Timeouts, TimeoutsUnknown> {
        match self {
            Self::Local(stack) => Ok(stack.config().timeouts()),
            Self::Remote { backend_url, .. } => {
                let url = backend_url.clone();
                let metrics = BackendClient::new(backend_url.clone())
                    .metrics()
                    .await
                    .map_err(|source| TimeoutsUnknown::Unreachable { url: url.clone(), source })?;
                Timeouts::published(&metrics)
                    .map_err(|missing| TimeoutsUnknown::NotPublished { url, missing: missing.join(", ") })
            }
        }
    }

    pub fn backend_url(&self) -> &str {
        match self {
            Self::Local(stack) => stack.backend().base_url(),
            Self::Remote { backend_url, .. } => backend_url,
        }
    }

    /// The local stack, whose Redis the final reads ask as an administrator.
    pub fn stack(&self) -> Option<&Stack> {
        match self {
            Self::Local(stack) => Some(stack),
            Self::Remote { .. } => None,
        }
    }

    /// Where faults are injected.
    pub fn place(&self) -> Place<'_> {
        match self {
            Self::Local(stack) => Place::Local(stack),
            Self::Remote { faults, .. } => Place::Remote(faults),
        }
    }

    /// Where the backend's memory is read for the timeline.
    pub(crate) fn memory_source(&self) -> MemorySource {
        match self {
            Self::Local(stack) => MemorySource::Container(stack.backend_container_id(0).to_owned()),
            Self::Remote { backend_url, .. } => MemorySource::Metrics(BackendClient::new(backend_url.clone())),
        }
    }

    /// A local stack's containers were neither killed for lack of memory nor restarted; a
    /// deployed environment's platform answers for its own.
    pub async fn check_containers(&self) -> e2e::Result<()> {
        match self {
            Self::Local(stack) => stack.check_containers().await,
            Self::Remote { .. } => Ok(()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Local(stack) => {
                format!("local stack ({}, network {})", stack.options.topology.name(), stack.network())
            }
            Self::Remote { backend_url, faults } => {
                format!("{backend_url} (faults through {})", faults.toxiproxy.base_url())
            }
        }
    }

    pub fn toxiproxy(&self) -> e2e::Result<&ToxiproxyClient> {
        match self {
            Self::Local(stack) => stack.toxiproxy(),
            Self::Remote { faults, .. } => Ok(&faults.toxiproxy),
        }
    }
}
