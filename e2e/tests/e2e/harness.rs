//! The harness itself: its logs, its Toxiproxy module, and its cleanup.

use std::time::Duration;

use e2e::faults::kinds::*;
use e2e::stack::REDIS_PROXY;
use e2e::{Fault, StackOptions, Toxic};
use testcontainers_toxiproxy::ToxicKind;
use tracing_test::traced_test;

use crate::support::stack;

#[tokio::test(flavor = "multi_thread")]
#[traced_test]
async fn the_harness_logs_each_stack_and_each_fault() {
    let stack = stack(StackOptions::default()).await;
    Fault::from(Partition {}).inject(&stack).await.unwrap();
    Fault::from(Partition {}).heal(&stack).await.unwrap();
    assert!(logs_contain("starting stack"));
    assert!(logs_contain("injected fault: partition"));
    assert!(logs_contain("healed fault: partition"));
}

/// The Toxiproxy module's container: ready on `/version`, its image substituted by the stack's
/// (chaos-proxy here, Shopify's with `E2E_IMAGES=registry`), driven through its typed client.
#[tokio::test(flavor = "multi_thread")]
async fn the_toxiproxy_module_drives_the_proxy_in_front_of_redis() {
    let stack = stack(StackOptions::default()).await;
    let toxiproxy = stack.toxiproxy().unwrap();
    assert_eq!(toxiproxy.version().await.unwrap(), "2.12.0");

    let proxy = toxiproxy.proxy(REDIS_PROXY).await.unwrap();
    assert_eq!((proxy.upstream.as_str(), proxy.enabled), ("redis:6379", true));

    let toxic = Toxic::latency(Duration::from_millis(10)).named("probe");
    assert_eq!(toxiproxy.add_toxic(REDIS_PROXY, &toxic).await.unwrap(), toxic);
    let slower =
        Toxic { kind: ToxicKind::Latency { latency: Duration::from_millis(20), jitter: Duration::ZERO }, ..toxic };
    assert_eq!(toxiproxy.update_toxic(REDIS_PROXY, &slower).await.unwrap(), slower);
    assert_eq!(toxiproxy.proxy(REDIS_PROXY).await.unwrap().toxics, [slower]);

    assert!(!toxiproxy.set_enabled(REDIS_PROXY, false).await.unwrap().enabled);
    toxiproxy.reset().await.unwrap();
    let reset = toxiproxy.proxy(REDIS_PROXY).await.unwrap();
    assert!(reset.enabled && reset.toxics.is_empty());

    let error = toxiproxy.remove_toxic(REDIS_PROXY, "probe").await.unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_test_leaves_no_container_or_network_behind() {
    let (network_tx, network_rx) = tokio::sync::oneshot::channel();
    let failing = tokio::spawn(async move {
        let stack = stack(StackOptions::default()).await;
        let _ = network_tx.send(stack.network().to_owned());
        panic!("a scenario fails while its stack is up");
    });
    assert!(failing.await.unwrap_err().is_panic());
    let network = network_rx.await.unwrap();

    let docker = e2e::docker::client().unwrap();
    let filters = std::collections::HashMap::from([("network".to_owned(), vec![network.clone()])]);
    let options =
        bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    assert!(docker.list_containers(Some(options)).await.unwrap().is_empty(), "containers of {network} remain");
    assert!(docker.inspect_network(&network, None).await.is_err(), "network {network} remains");
}
