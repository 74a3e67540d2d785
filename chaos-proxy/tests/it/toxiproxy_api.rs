//! Toxiproxy's own API tests (`api_test.go` of Shopify/toxiproxy 2.x), ported one for one: the same
//! requests, the same expected statuses, answers and messages. Calls that `toxiproxy_rust` can
//! express go through it; the rest through `GoClient`, which sends what Toxiproxy's Go client
//! sends and words errors as it does.
//!
//! The Go tests listen on fixed ports (3310, 7070, …); here each test takes free ones instead.

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::json;
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

use crate::go_client::{GoClient, Proxy, Toxic};
use crate::support::ProxyServer;

async fn with_server() -> (ProxyServer, GoClient) {
    let server = ProxyServer::start().await;
    let client = GoClient::new(server.addr);
    (server, client)
}

/// The proxy most of Toxiproxy's tests start from, on free ports.
struct MysqlMaster {
    server: ProxyServer,
    client: GoClient,
    listen: u16,
    upstream: u16,
}

async fn with_mysql_master() -> MysqlMaster {
    let (server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    client
        .create_proxy("mysql_master", &format!("localhost:{listen}"), &format!("localhost:{upstream}"))
        .await
        .unwrap();
    MysqlMaster { server, client, listen, upstream }
}

/// A latency toxic's toxicity, latency and jitter, as the Go tests compare them.
fn settings(toxic: &Toxic) -> (f32, f64, f64) {
    (toxic.toxicity, attribute(toxic, "latency"), attribute(toxic, "jitter"))
}

/// Free ports on loopback, in place of the Go tests' fixed ones.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> =
        (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|index| listeners[index].local_addr().unwrap().port())
}

/// `toxiproxy_rust` is blocking: its calls run off the async runtime.
async fn rust_client<T: Send + 'static>(server: SocketAddr, work: impl FnOnce(&Client) -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(move || work(&Client::new(server))).await.unwrap()
}

/// `AssertProxyUp`: a connect succeeds exactly when the proxy is up.
/// The Go tests' "unexpected proxy metadata" check, on the `mysql_master` proxy.
fn assert_metadata(proxy: &Proxy, listen: &str, upstream: &str, enabled: bool) {
    assert_eq!(
        (proxy.name.as_str(), proxy.listen.as_str(), proxy.upstream.as_str(), proxy.enabled),
        ("mysql_master", listen, upstream, enabled),
        "unexpected proxy metadata"
    );
}

fn assert_proxy_up(listen: &str, up: bool) {
    let connected = std::net::TcpStream::connect(listen.replace("localhost", "127.0.0.1")).is_ok();
    assert_eq!(connected, up, "expected the proxy at {listen} to be {}", if up { "up" } else { "down" });
}

/// `AssertToxicExists`.
fn assert_toxic_exists<'a>(
    toxics: &'a [Toxic],
    name: &str,
    kind: &str,
    stream: &str,
    exists: bool,
) -> Option<&'a Toxic> {
    let toxic = toxics.iter().rfind(|toxic| toxic.name == name);
    if exists {
        let toxic = toxic.unwrap_or_else(|| panic!("expected to see {name} toxic in list"));
        assert_eq!(toxic.kind, kind, "expected {name} to be of type {kind}");
        assert_eq!(toxic.stream, stream, "expected {name} to be in stream {stream}");
    } else if let Some(toxic) = toxic {
        assert_ne!(toxic.stream, stream, "expected {name} toxic to be missing from list, found type {}", toxic.kind);
    }
    toxic
}

fn attribute(toxic: &Toxic, name: &str) -> f64 {
    toxic.attributes.get(name).copied().unwrap_or_default()
}

#[tokio::test]
async fn request_id() {
    let (server, _) = with_server().await;
    let response = reqwest::Client::new()
        .get(format!("http://{}/version", server.addr))
        .header("user-agent", "curl")
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("X-Toxiproxy-Request-Id"), "{:?}", response.headers());
}

#[tokio::test]
async fn browser_gets_403() {
    let (server, _) = with_server().await;
    let agent = "Mozilla/5.0 (Linux; Android 4.4.2); Nexus 5 Build/KOT49H) AppleWebKit/537.36(KHTML, like Gecko) Chrome/33.0.1750.117 Mobile Safari/537.36 OPR/20.0.1396.72047";
    let response = reqwest::Client::new()
        .get(format!("http://{}/proxies", server.addr))
        .header("user-agent", agent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "Browser-like UserAgent was not denied access to Toxiproxy");
}

#[tokio::test]
async fn non_browser_gets_200() {
    let (server, _) = with_server().await;
    let response = reqwest::Client::new()
        .get(format!("http://{}/proxies", server.addr))
        .header("user-agent", "Wget/2.1")
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::FORBIDDEN, "Non-Browser-like UserAgent was denied access to Toxiproxy");
}

#[tokio::test]
async fn index_with_no_proxies() {
    let (server, _) = with_server().await;
    let proxies = rust_client(server.addr, Client::all).await.expect("getting proxies");
    assert!(proxies.is_empty(), "expected no proxies, got {proxies:?}");
}

#[tokio::test]
async fn create_proxy_blank_name() {
    let (_server, client) = with_server().await;
    let error = client.create_proxy("", "", "").await.unwrap_err();
    assert_eq!(error, "Create: HTTP 400: missing required field: name");
}

#[tokio::test]
async fn create_proxy_blank_upstream() {
    let (_server, client) = with_server().await;
    let error = client.create_proxy("test", "", "").await.unwrap_err();
    assert_eq!(error, "Create: HTTP 400: missing required field: upstream");
}

#[tokio::test]
async fn populate_proxy() {
    let (server, _) = with_server().await;
    let [one_listen, one_upstream, two_listen, two_upstream] = free_ports();
    let proxies = rust_client(server.addr, move |client| {
        let proxies = client.populate(vec![
            ProxyPack::new("one".into(), format!("localhost:{one_listen}"), format!("localhost:{one_upstream}")),
            ProxyPack::new("two".into(), format!("localhost:{two_listen}"), format!("localhost:{two_upstream}")),
        ])?;
        Ok::<_, String>(
            proxies.into_iter().map(|proxy| (proxy.proxy_pack.name, proxy.proxy_pack.listen)).collect::<Vec<_>>(),
        )
    })
    .await
    .expect("populate");
    assert_eq!(proxies.len(), 2, "wrong number of proxies returned");
    assert_eq!((proxies[0].0.as_str(), proxies[1].0.as_str()), ("one", "two"), "wrong proxy names returned");
    for (_, listen) in &proxies {
        assert_proxy_up(listen, true);
    }
}

#[tokio::test]
async fn populate_default_enabled() {
    let (server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    let request =
        format!(r#"[{{"name": "test", "listen": "localhost:{listen}", "upstream": "localhost:{upstream}"}}]"#);
    let (status, body) = server.call("POST", "/populate", Some(&request)).await;
    assert_eq!(status, StatusCode::CREATED, "failed to populate proxy list: {body}");

    let proxies = client.proxies().await.unwrap();
    assert_eq!(proxies.len(), 1, "wrong number of proxies created");
    assert!(proxies.contains_key("test"), "wrong proxy name returned");
    for proxy in proxies.values() {
        assert_proxy_up(&proxy.listen, true);
    }
}

#[tokio::test]
async fn populate_disabled_proxy() {
    let (_server, client) = with_server().await;
    let [one_listen, one_upstream, two_listen, two_upstream] = free_ports();
    let (one, two) = (format!("localhost:{one_listen}"), format!("localhost:{two_listen}"));
    let proxies = client
        .populate(&[
            ("one", &one, &format!("localhost:{one_upstream}"), false),
            ("two", &two, &format!("localhost:{two_upstream}"), true),
        ])
        .await
        .expect("populate");
    assert_eq!(proxies.len(), 2, "wrong number of proxies returned");
    assert_eq!((proxies[0].name.as_str(), proxies[1].name.as_str()), ("one", "two"), "wrong proxy names returned");
    assert_proxy_up(&one, false);
    assert_proxy_up(&two, true);
}

#[tokio::test]
async fn populate_existing_proxy() {
    let (_server, client) = with_server().await;
    let [one, one_upstream, two, two_upstream, moved, moved_upstream] = free_ports();
    client.create_proxy("one", &format!("localhost:{one}"), &format!("localhost:{one_upstream}")).await.unwrap();
    client.create_proxy("two", &format!("localhost:{two}"), &format!("localhost:{two_upstream}")).await.unwrap();
    // A toxic, to tell that the proxy was not replaced.
    client.add_toxic("one", "", "latency", "downstream", 1.0, None).await.expect("create toxic");

    let proxies = client
        .populate(&[
            ("one", &format!("127.0.0.1:{one}"), &format!("localhost:{one_upstream}"), true),
            ("two", &format!("127.0.0.1:{moved}"), &format!("localhost:{moved_upstream}"), true),
        ])
        .await
        .expect("populate");
    assert_eq!(proxies.len(), 2, "wrong number of proxies returned");
    assert_eq!((proxies[0].name.as_str(), proxies[1].name.as_str()), ("one", "two"), "wrong proxy names returned");
    assert_eq!(
        (proxies[0].listen.clone(), proxies[1].listen.clone()),
        (format!("127.0.0.1:{one}"), format!("127.0.0.1:{moved}")),
        "wrong proxy listen addresses returned"
    );
    let toxics = client.toxics("one").await.unwrap();
    assert!(
        toxics.len() == 1 && toxics[0].kind == "latency",
        "populate did not preserve existing proxy ({} toxics)",
        toxics.len()
    );
    for proxy in &proxies {
        assert_proxy_up(&proxy.listen, true);
    }
}

#[tokio::test]
async fn populate_with_bad_name() {
    let (_server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    let error = client
        .populate(&[
            ("one", &format!("localhost:{listen}"), &format!("localhost:{upstream}"), true),
            ("", "", "", true),
        ])
        .await
        .unwrap_err();
    assert_eq!(error, "Populate: HTTP 400: missing required field: name at proxy 2");
    assert!(client.proxies().await.unwrap().is_empty(), "expected no proxies to be created");
}

#[tokio::test]
async fn populate_proxy_with_bad_data_should_return_error() {
    let (_server, client) = with_server().await;
    let [one, one_upstream, two_upstream, three, three_upstream] = free_ports();
    let result = client
        .populate(&[
            ("one", &format!("localhost:{one}"), &format!("localhost:{one_upstream}"), true),
            ("two", "local373", &format!("localhost:{two_upstream}"), true),
            ("three", &format!("localhost:{three}"), &format!("localhost:{three_upstream}"), true),
        ])
        .await;
    assert!(result.is_err(), "expected Populate to fail");

    let proxies = client.proxies().await.unwrap();
    assert_eq!(proxies.len(), 1, "wrong number of proxies returned");
    assert!(proxies.contains_key("one"), "proxy `one' was not created");
    assert!(!proxies.contains_key("two") && !proxies.contains_key("three"), "populate did not fail correctly");
}

#[tokio::test]
async fn populate_add_toxic() {
    let (_server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    let proxies = client
        .populate(&[("one", &format!("localhost:{listen}"), &format!("localhost:{upstream}"), true)])
        .await
        .unwrap();
    assert_eq!(proxies.len(), 1, "wrong number of proxies returned");
    assert_eq!(proxies[0].name, "one", "wrong proxy name returned");
    client.add_toxic("one", "", "latency", "downstream", 1.0, None).await.expect("AddToxic");
}

#[tokio::test]
async fn listing_proxies() {
    let MysqlMaster { server: _server, client, listen, upstream } = with_mysql_master().await;

    let proxies = client.proxies().await.unwrap();
    let proxy = proxies.get("mysql_master").expect("expected to see mysql_master proxy in list");
    assert_metadata(proxy, &format!("127.0.0.1:{listen}"), &format!("localhost:{upstream}"), true);
    assert_toxic_exists(&proxy.active_toxics, "latency", "", "", false);
}

#[tokio::test]
async fn create_and_get_proxy() {
    let MysqlMaster { server: _server, client, listen, upstream } = with_mysql_master().await;

    let proxy = client.proxy("mysql_master").await.unwrap();
    assert_metadata(&proxy, &format!("127.0.0.1:{listen}"), &format!("localhost:{upstream}"), true);
    assert_toxic_exists(&proxy.active_toxics, "latency", "", "", false);
}

#[tokio::test]
async fn create_proxy_with_save() {
    let (_server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    client
        .save_new("mysql_master", &format!("localhost:{listen}"), &format!("localhost:{upstream}"), true)
        .await
        .unwrap();

    let proxy = client.proxy("mysql_master").await.unwrap();
    assert_metadata(&proxy, &format!("127.0.0.1:{listen}"), &format!("localhost:{upstream}"), true);
    assert_proxy_up(&proxy.listen, true);
}

#[tokio::test]
async fn create_disabled_proxy() {
    let (_server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    client
        .save_new("mysql_master", &format!("localhost:{listen}"), &format!("localhost:{upstream}"), false)
        .await
        .unwrap();

    let proxy = client.proxy("mysql_master").await.unwrap();
    assert_metadata(&proxy, &format!("localhost:{listen}"), &format!("localhost:{upstream}"), false);
    assert_proxy_up(&proxy.listen, false);
}

#[tokio::test]
async fn create_disabled_proxy_and_enable() {
    let (_server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    client
        .save_new("mysql_master", &format!("localhost:{listen}"), &format!("localhost:{upstream}"), false)
        .await
        .unwrap();

    let mut proxy = client.proxy("mysql_master").await.unwrap();
    assert_metadata(&proxy, &format!("localhost:{listen}"), &format!("localhost:{upstream}"), false);
    proxy.enabled = true;
    client.save(&proxy).await.expect("update proxy");
    assert_proxy_up(&proxy.listen, true);
    proxy.enabled = false;
    client.save(&proxy).await.expect("update proxy");
    assert_proxy_up(&proxy.listen, false);
}

#[tokio::test]
async fn delete_proxy() {
    let (_server, client) = with_server().await;
    let [listen, upstream] = free_ports();
    let proxy = client
        .create_proxy("mysql_master", &format!("localhost:{listen}"), &format!("localhost:{upstream}"))
        .await
        .unwrap();
    assert!(!client.proxies().await.unwrap().is_empty(), "expected new proxy in list");
    assert_proxy_up(&proxy.listen, true);

    client.delete("mysql_master").await.expect("deleting proxy");
    assert_proxy_up(&proxy.listen, false);
    assert!(client.proxies().await.unwrap().is_empty(), "expected proxy to be deleted from list");
    assert_eq!(client.delete("mysql_master").await.unwrap_err(), "Delete: HTTP 404: proxy not found");
}

#[tokio::test]
async fn create_proxy_port_conflict() {
    let MysqlMaster { server: _server, client, listen, upstream } = with_mysql_master().await;

    let error = client
        .create_proxy("test", &format!("localhost:{listen}"), &format!("localhost:{upstream}"))
        .await
        .unwrap_err();
    assert_eq!(error, format!("Create: HTTP 500: listen tcp 127.0.0.1:{listen}: bind: address already in use"));

    client.delete("mysql_master").await.expect("delete proxy");
    client
        .create_proxy("test", &format!("localhost:{listen}"), &format!("localhost:{upstream}"))
        .await
        .expect("create proxy");
}

#[tokio::test]
async fn create_proxy_name_conflict() {
    let (_server, client) = with_server().await;
    let [first, second, upstream] = free_ports();
    client.create_proxy("mysql_master", &format!("localhost:{first}"), &format!("localhost:{upstream}")).await.unwrap();

    let error = client
        .create_proxy("mysql_master", &format!("localhost:{second}"), &format!("localhost:{upstream}"))
        .await
        .unwrap_err();
    assert_eq!(error, "Create: HTTP 409: proxy already exists");

    client.delete("mysql_master").await.expect("delete proxy");
    client
        .create_proxy("mysql_master", &format!("localhost:{second}"), &format!("localhost:{upstream}"))
        .await
        .expect("create proxy");
}

#[tokio::test]
async fn reset_state() {
    let MysqlMaster { server, client, .. } = with_mysql_master().await;
    let latency = client
        .add_toxic("mysql_master", "", "latency", "downstream", 1.0, Some(json!({"latency": 100, "jitter": 10})))
        .await
        .expect("setting toxic");
    assert_eq!(
        (attribute(&latency, "latency"), attribute(&latency, "jitter")),
        (100.0, 10.0),
        "latency toxic did not start up with correct settings"
    );

    rust_client(server.addr, Client::reset).await.expect("reset state");

    let proxies = client.proxies().await.unwrap();
    let proxy = proxies.get("mysql_master").expect("expected proxy to still exist");
    assert!(proxy.enabled, "expected proxy to be enabled");
    let toxics = client.toxics("mysql_master").await.unwrap();
    assert_toxic_exists(&toxics, "latency", "", "", false);
    assert_proxy_up(&proxy.listen, true);
}

#[tokio::test]
async fn listing_toxics() {
    let MysqlMaster { server, .. } = with_mysql_master().await;
    let toxics =
        rust_client(server.addr, |client| client.find_proxy("mysql_master")?.toxics()).await.expect("returning toxics");
    assert!(toxics.iter().all(|toxic| toxic.name != "latency"), "{toxics:?}");
}

#[tokio::test]
async fn add_toxic() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    let latency = client
        .add_toxic("mysql_master", "foobar", "latency", "downstream", 1.0, Some(json!({"latency": 100, "jitter": 10})))
        .await
        .expect("setting toxic");
    assert_eq!(
        (attribute(&latency, "latency"), attribute(&latency, "jitter")),
        (100.0, 10.0),
        "latency toxic did not start up with correct settings"
    );

    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "foobar", "latency", "downstream", true).unwrap();
    assert_eq!(settings(toxic), (1.0, 100.0, 10.0), "toxic was not read back correctly");
}

#[tokio::test]
async fn add_multiple_toxics() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    client.add_toxic("mysql_master", "latency1", "latency", "downstream", 1.0, None).await.expect("setting toxic");
    client.add_toxic("mysql_master", "latency2", "latency", "downstream", 1.0, None).await.expect("setting toxic");

    let toxics = client.toxics("mysql_master").await.unwrap();
    assert_toxic_exists(&toxics, "latency1", "latency", "downstream", true);
    let toxic = assert_toxic_exists(&toxics, "latency2", "latency", "downstream", true).unwrap();
    assert_eq!(settings(toxic), (1.0, 0.0, 0.0), "toxic was not read back correctly");
    assert_toxic_exists(&toxics, "latency1", "", "upstream", false);
    assert_toxic_exists(&toxics, "latency2", "", "upstream", false);
}

#[tokio::test]
async fn add_conflicting_toxic() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    client.add_toxic("mysql_master", "foobar", "latency", "downstream", 1.0, None).await.expect("setting toxic");
    let error = client.add_toxic("mysql_master", "foobar", "slow_close", "downstream", 1.0, None).await.unwrap_err();
    assert_eq!(error, "AddToxic: HTTP 409: toxic already exists");

    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "foobar", "latency", "downstream", true).unwrap();
    assert_eq!(settings(toxic), (1.0, 0.0, 0.0), "toxic was not read back correctly");
    assert_toxic_exists(&toxics, "foobar", "", "upstream", false);
}

#[tokio::test]
async fn add_conflicting_toxics_multistream() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    client.add_toxic("mysql_master", "foobar", "latency", "upstream", 1.0, None).await.expect("setting toxic");
    let error = client.add_toxic("mysql_master", "foobar", "latency", "downstream", 1.0, None).await.unwrap_err();
    assert_eq!(error, "AddToxic: HTTP 409: toxic already exists");

    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "foobar", "latency", "upstream", true).unwrap();
    assert_eq!(settings(toxic), (1.0, 0.0, 0.0), "toxic was not read back correctly");
    assert_toxic_exists(&toxics, "foobar", "", "downstream", false);
}

#[tokio::test]
async fn add_conflicting_toxics_multistream_defaults() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    client.add_toxic("mysql_master", "", "latency", "upstream", 1.0, None).await.expect("setting toxic");
    client.add_toxic("mysql_master", "", "latency", "downstream", 1.0, None).await.expect("setting toxic");

    let toxics = client.toxics("mysql_master").await.unwrap();
    for (name, stream) in [("latency_upstream", "upstream"), ("latency_downstream", "downstream")] {
        let toxic = assert_toxic_exists(&toxics, name, "latency", stream, true).unwrap();
        assert_eq!(settings(toxic), (1.0, 0.0, 0.0), "toxic was not read back correctly");
    }
}

#[tokio::test]
async fn add_toxic_with_toxicity() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    let latency = client
        .add_toxic("mysql_master", "", "latency", "downstream", 0.2, Some(json!({"latency": 100, "jitter": 10})))
        .await
        .expect("setting toxic");
    assert_eq!(settings(&latency), (0.2, 100.0, 10.0), "latency toxic did not start up with correct settings");

    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "latency_downstream", "latency", "downstream", true).unwrap();
    assert_eq!(settings(toxic), (0.2, 100.0, 10.0), "toxic was not read back correctly");
}

#[tokio::test]
async fn add_noop() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    let noop = client.add_toxic("mysql_master", "foobar", "noop", "", 1.0, None).await.expect("setting toxic");
    assert_eq!(
        (noop.toxicity, noop.name.as_str(), noop.kind.as_str(), noop.stream.as_str()),
        (1.0, "foobar", "noop", "downstream"),
        "noop toxic did not start up with correct settings"
    );
    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "foobar", "noop", "downstream", true).unwrap();
    assert!((toxic.toxicity - 1.0).abs() < f32::EPSILON, "toxic was not read back correctly");
}

#[tokio::test]
async fn update_toxics() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    let latency = client
        .add_toxic("mysql_master", "", "latency", "downstream", -1.0, Some(json!({"latency": 100, "jitter": 10})))
        .await
        .expect("setting toxic");
    assert_eq!(settings(&latency), (1.0, 100.0, 10.0));

    let latency = client
        .update_toxic("mysql_master", "latency_downstream", 0.5, json!({"latency": 1000}))
        .await
        .expect("setting toxic");
    assert_eq!(settings(&latency), (0.5, 1000.0, 10.0), "latency toxic did not get updated with the correct settings");

    let latency = client
        .update_toxic("mysql_master", "latency_downstream", -1.0, json!({"latency": 500}))
        .await
        .expect("setting toxic");
    assert_eq!(settings(&latency), (0.5, 500.0, 10.0), "latency toxic did not get updated with the correct settings");

    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "latency_downstream", "latency", "downstream", true).unwrap();
    assert_eq!(settings(toxic), (0.5, 500.0, 10.0), "toxic was not read back correctly");
}

#[tokio::test]
async fn remove_toxic() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    client.add_toxic("mysql_master", "", "latency", "downstream", 1.0, None).await.expect("setting toxic");
    let toxics = client.toxics("mysql_master").await.unwrap();
    let toxic = assert_toxic_exists(&toxics, "latency_downstream", "latency", "downstream", true).unwrap();
    assert_eq!(settings(toxic), (1.0, 0.0, 0.0), "toxic was not read back correctly");

    client.remove_toxic("mysql_master", "latency_downstream").await.expect("removing toxic");
    let toxics = client.toxics("mysql_master").await.unwrap();
    assert_toxic_exists(&toxics, "latency_downstream", "", "", false);
}

#[tokio::test]
async fn version_endpoint_returns_version() {
    let (server, _) = with_server().await;
    let body = reqwest::get(format!("http://{}/version", server.addr)).await.unwrap().text().await.unwrap();
    assert_eq!(body, "{\"version\": \"2.12.0\"}\n", "expected to return Version from /version");
}

#[tokio::test]
async fn invalid_stream() {
    let MysqlMaster { server: _server, client, .. } = with_mysql_master().await;
    assert!(
        client.add_toxic("mysql_master", "", "latency", "walrustream", 1.0, None).await.is_err(),
        "expected an error setting toxic"
    );
}
