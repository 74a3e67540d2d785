//! What the Docker engine knows about a stack's containers that testcontainers does not expose:
//! their state (out-of-memory kills, restarts, exit codes), their memory use, and a stop with a
//! grace period, as a platform stops a container.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::{ContainerStateStatusEnum, ContainerUpdateBody};
use bollard::query_parameters::{StatsOptions, StopContainerOptions};
use futures_util::StreamExt as _;

use crate::docker;
use crate::error::{Error, Result};

/// One container's state, as `docker inspect` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The stack's name for it: `redis`, `toxiproxy`, `backend-0`.
    pub name: String,
    pub status: ContainerStateStatusEnum,
    pub oom_killed: bool,
    pub exit_code: i64,
    pub restart_count: i64,
    pub started_at: String,
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.name, self.status)?;
        if self.oom_killed {
            f.write_str(", killed for lack of memory (OOMKilled)")?;
        }
        if self.status != ContainerStateStatusEnum::RUNNING {
            write!(f, ", exit code {}", self.exit_code)?;
        }
        if self.restart_count > 0 {
            write!(f, ", restarted {} times", self.restart_count)?;
        }
        write!(f, " (started at {})", self.started_at)
    }
}

pub async fn state(name: &str, id: &str) -> Result<ContainerState> {
    let details = docker::client()?.inspect_container(id, None).await?;
    let state = details.state.unwrap_or_default();
    Ok(ContainerState {
        name: name.to_owned(),
        status: state.status.unwrap_or(ContainerStateStatusEnum::EMPTY),
        oom_killed: state.oom_killed.unwrap_or(false),
        exit_code: state.exit_code.unwrap_or_default(),
        restart_count: details.restart_count.unwrap_or_default(),
        started_at: state.started_at.unwrap_or_default(),
    })
}

/// What a stack expects of one of its containers: running since it last started, or stopped on
/// purpose. A kill for lack of memory, a restart, or an exit the stack did not ask for is a
/// failure.
#[derive(Debug, Default)]
pub struct Expected(Mutex<(String, bool)>);

impl Expected {
    /// Running, since the start `state` shows.
    pub(crate) fn running(state: &ContainerState) -> Self {
        Self(Mutex::new((state.started_at.clone(), false)))
    }

    pub(crate) fn started(&self, state: &ContainerState) {
        *self.0.lock().expect("expectation lock") = (state.started_at.clone(), false);
    }

    pub(crate) fn stopped_on_purpose(&self) {
        self.0.lock().expect("expectation lock").1 = true;
    }

    /// True when `state` is a failure: a kill for lack of memory, a restart, or not running
    /// since the expected start without having been stopped on purpose.
    pub(crate) fn is_failure(&self, state: &ContainerState) -> bool {
        let (started_at, stopped_on_purpose) = self.0.lock().expect("expectation lock").clone();
        let running_as_expected = state.status == ContainerStateStatusEnum::RUNNING && state.started_at == started_at;
        state.oom_killed || state.restart_count > 0 || !(running_as_expected || stopped_on_purpose)
    }
}

/// The memory limit in bytes and the CPU limit in billionths of a CPU a container runs with.
pub async fn limits(id: &str) -> Result<(i64, i64)> {
    let host = docker::client()?.inspect_container(id, None).await?.host_config.unwrap_or_default();
    Ok((host.memory.unwrap_or_default(), host.nano_cpus.unwrap_or_default()))
}

/// Memory in use, as `docker stats` shows it: the cgroup's usage less the page cache the kernel
/// can drop at will (`inactive_file`).
pub async fn memory(id: &str) -> Result<u64> {
    let options = StatsOptions { stream: false, one_shot: true };
    let stats = docker::client()?
        .stats(id, Some(options))
        .next()
        .await
        .ok_or_else(|| Error::Setup(format!("docker gave no stats for container {id}")))??;
    let memory = stats.memory_stats.unwrap_or_default();
    let cache =
        memory.stats.as_ref().and_then(|stats| stats.get("inactive_file").or_else(|| stats.get("total_inactive_file")));
    Ok(memory.usage.unwrap_or_default().saturating_sub(cache.copied().unwrap_or_default()))
}

/// How a container stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// From the stop request to the container's exit.
    pub elapsed: Duration,
    /// 0 for a clean exit; 137 when the grace period ran out and Docker sent SIGKILL.
    pub exit_code: i64,
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL: what `docker stop -t` and container
/// platforms do.
pub async fn stop(id: &str, grace: Duration) -> Result<Stopped> {
    let started = Instant::now();
    let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    docker::client()?.stop_container(id, Some(StopContainerOptions { t: Some(t), signal: None })).await?;
    let elapsed = started.elapsed();
    let state = docker::client()?.inspect_container(id, None).await?.state.unwrap_or_default();
    Ok(Stopped { elapsed, exit_code: state.exit_code.unwrap_or_default() })
}

/// Kills a container at once (SIGKILL), as a machine that disappears.
pub async fn kill(id: &str) -> Result<()> {
    docker::client()?.kill_container(id, None::<bollard::query_parameters::KillContainerOptions>).await?;
    Ok(())
}

/// Gives a running container a new memory limit (swap included, so that none hides a kill).
pub(crate) async fn limit_memory(id: &str, bytes: i64) -> Result<()> {
    let update = ContainerUpdateBody { memory: Some(bytes), memory_swap: Some(bytes), ..Default::default() };
    docker::client()?.update_container(id, update).await?;
    Ok(())
}
