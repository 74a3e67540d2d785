//! What testcontainers-rs does not expose, through the Docker API directly: network aliases,
//! addresses, and sweeping what a killed test process left behind; and running a command in a
//! container with its failure reported.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt as _;
use testcontainers::{ContainerAsync, ContainerRequest, Image, ImageExt as _};

use crate::error::{Error, Result};

/// Label naming the process that owns a container, so that leftovers of a killed process can be
/// told apart from a running test's containers.
pub(crate) const OWNER_PID_LABEL: &str = "gift-genie-e2e.pid";
pub(crate) const OWNER_HOST_LABEL: &str = "gift-genie-e2e.host";
/// Every network a stack creates starts with this, followed by the owning process id.
pub(crate) const NETWORK_PREFIX: &str = "gift-genie-e2e-";

/// Labelled with this process, so that [`sweep_leftovers`] can remove it if we die.
pub(crate) fn labelled<I: Image>(image: impl Into<ContainerRequest<I>>) -> ContainerRequest<I> {
    image.with_label(OWNER_PID_LABEL, std::process::id().to_string()).with_label(OWNER_HOST_LABEL, hostname())
}

/// Labelled, on `network`, given a minute to start.
pub(crate) fn owned<I: Image>(image: impl Into<ContainerRequest<I>>, network: &str) -> ContainerRequest<I> {
    labelled(image).with_network(network).with_startup_timeout(Duration::from_mins(1))
}

/// One Docker client per process, from `DOCKER_HOST` or the default socket.
pub fn client() -> Result<&'static Docker> {
    static CLIENT: OnceLock<Docker> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let docker = Docker::connect_with_defaults().map_err(|error| Error::Prerequisite {
        what: format!("cannot reach a Docker engine ({error})"),
        fix: "start one (sudo dockerd &, or Docker Desktop), or point DOCKER_HOST at it".to_owned(),
    })?;
    Ok(CLIENT.get_or_init(|| docker))
}

/// Runs `program` with `args` inside `container` and returns what it printed. `failed` may call
/// a successful exit a failure after reading the output (redis-cli exits 0 on a Redis error);
/// either way the error names the command and carries its output.
///
/// Through bollard rather than testcontainers' exec, whose result cannot cross threads: stacks
/// are started, and faults injected, from spawned tasks too.
pub(crate) async fn exec<I: Image>(
    container: &ContainerAsync<I>,
    program: &str,
    args: &[&str],
    failed: impl Fn(&str) -> bool,
) -> Result<String> {
    let command: Vec<String> = std::iter::once(program).chain(args.iter().copied()).map(str::to_owned).collect();
    let docker = client()?;
    let options = CreateExecOptions {
        cmd: Some(command.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = docker.create_exec(container.id(), options).await?;
    let (mut stdout, mut stderr) = (String::new(), String::new());
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&created.id, None::<StartExecOptions>).await?
    {
        while let Some(chunk) = output.next().await {
            match chunk? {
                LogOutput::StdErr { message } => stderr.push_str(&String::from_utf8_lossy(&message)),
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
    }
    let exit_code = docker.inspect_exec(&created.id).await?.exit_code;
    if exit_code.is_some_and(|code| code != 0) || failed(&stdout) {
        return Err(Error::Exec {
            container: container.id().to_owned(),
            command: command.join(" "),
            output: format!("{stdout}{stderr}"),
        });
    }
    Ok(stdout)
}

/// This machine's name, to keep sweeps to this machine's processes on a shared engine.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|name| name.trim().to_owned()).unwrap_or_default()
}

/// Gives a running container a DNS alias on `network`. testcontainers-rs has no alias option, so
/// the container is reattached with one; Docker re-publishes its ports, so read host ports after.
pub(crate) async fn attach_alias(network: &str, container_id: &str, alias: &str) -> Result<()> {
    let docker = client()?;
    docker
        .disconnect_network(network, NetworkDisconnectRequest { container: container_id.to_owned(), force: Some(true) })
        .await?;
    let endpoint = EndpointSettings { aliases: Some(vec![alias.to_owned()]), ..Default::default() };
    docker
        .connect_network(
            network,
            NetworkConnectRequest { container: container_id.to_owned(), endpoint_config: Some(endpoint) },
        )
        .await?;
    Ok(())
}

/// The container's address on `network`.
pub(crate) async fn address_on(network: &str, container_id: &str) -> Result<IpAddr> {
    let details = client()?.inspect_container(container_id, None).await?;
    details
        .network_settings
        .and_then(|settings| settings.networks)
        .and_then(|networks| networks.get(network).cloned())
        .and_then(|endpoint| endpoint.ip_address)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| Error::Setup(format!("container {container_id} has no address on {network}")))
}

fn process_is_gone(pid: &str) -> bool {
    std::path::Path::new("/proc/self").exists() && !std::path::Path::new("/proc").join(pid).exists()
}

/// Removes containers and networks left by e2e processes of this machine that no longer run
/// (killed by a timeout or a signal before their `Drop` ran).
pub(crate) async fn sweep_leftovers() -> Result<()> {
    let docker = client()?;
    let host = hostname();
    let filters = HashMap::from([("label".to_owned(), vec![format!("{OWNER_HOST_LABEL}={host}")])]);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build()))
        .await?;
    for container in containers {
        let owner =
            container.labels.as_ref().and_then(|labels| labels.get(OWNER_PID_LABEL)).cloned().unwrap_or_default();
        if let Some(id) = container.id.filter(|_| process_is_gone(&owner)) {
            tracing::info!(%id, owner, "removing a container left by a finished e2e process");
            let _ =
                docker.remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
        }
    }
    let filters = HashMap::from([("name".to_owned(), vec![NETWORK_PREFIX.to_owned()])]);
    for network in docker.list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build())).await? {
        let Some(name) = network.name else { continue };
        let owner = name.strip_prefix(NETWORK_PREFIX).and_then(|rest| rest.split('-').next()).unwrap_or_default();
        if !owner.is_empty() && process_is_gone(owner) {
            tracing::info!(network = name, "removing a network left by a finished e2e process");
            let _ = docker.remove_network(&name).await;
        }
    }
    Ok(())
}
