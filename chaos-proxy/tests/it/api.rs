//! What a client can notice beyond `api_test.go`: the exact bytes and headers of answers, the
//! leniency Toxiproxy's clients rely on, populate keeping what did not change, and metrics.

use std::time::Duration;

use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tracing_test::traced_test;

use crate::support::{ProxyServer, echo_server, round_trip};

const REDIS: &str = r#"{"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379"}"#;

async fn server_with_redis_proxy() -> ProxyServer {
    let server = ProxyServer::start().await;
    let (status, body) = server.call("POST", "/proxies", Some(REDIS)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server
}

/// The raw answer: status, content type and body bytes.
async fn raw(
    server: &ProxyServer,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Option<String>, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new().request(method.parse().unwrap(), format!("http://{}{path}", server.addr));
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers.get("content-type").map(|value| value.to_str().unwrap().to_owned());
    (status, content_type, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn version_is_byte_for_byte_toxiproxys_with_no_server_header_as_go_sends_none() {
    let server = ProxyServer::start().await;
    let (status, content_type, headers, body) = raw(&server, "GET", "/version", None).await;
    assert_eq!((status, body.as_str()), (200, "{\"version\": \"2.12.0\"}\n"));
    assert_eq!(content_type.as_deref(), Some("application/json;charset=utf-8"));
    assert!(headers.get("server").is_none(), "Go's net/http names no server: {headers:?}");
}

#[rstest]
#[case::unknown_proxy("GET", "/proxies/nope", None, 404, "{\"error\":\"proxy not found\",\"status\":404}\n")]
#[case::duplicate_proxy("POST", "/proxies", Some(REDIS), 409, "{\"error\":\"proxy already exists\",\"status\":409}\n")]
#[case::unknown_toxic(
    "DELETE",
    "/proxies/redis/toxics/nope",
    None,
    404,
    "{\"error\":\"toxic not found\",\"status\":404}\n"
)]
#[case::invalid_toxic_type(
    "POST",
    "/proxies/redis/toxics",
    Some(r#"{"type": "x"}"#),
    400,
    "{\"error\":\"invalid toxic type\",\"status\":400}\n"
)]
#[tokio::test]
async fn an_error_is_sent_as_gos_http_error_sends_it(
    #[case] method: &str,
    #[case] path: &str,
    #[case] body: Option<&str>,
    #[case] status: u16,
    #[case] expected: &str,
) {
    let server = server_with_redis_proxy().await;
    let (got, content_type, headers, text) = raw(&server, method, path, body).await;
    assert_eq!((got, text.as_str()), (status, expected));
    assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn the_router_answers_unknown_paths_and_methods_as_gorilla_mux_does() {
    let server = ProxyServer::start().await;
    let (status, content_type, _, body) = raw(&server, "GET", "/nothing", None).await;
    assert_eq!(
        (status, content_type.as_deref(), body.as_str()),
        (404, Some("text/plain; charset=utf-8"), "404 page not found\n")
    );
    let (status, _, _, body) = raw(&server, "PUT", "/version", None).await;
    assert_eq!((status, body.as_str()), (405, ""));
    let (status, _, _, _) = raw(&server, "GET", "/metrics", None).await;
    assert_eq!(status, 404, "no /metrics route without -proxy-metrics or -runtime-metrics");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_of_its_own() {
    let server = server_with_redis_proxy().await;
    let mut ids = Vec::new();
    for (method, path) in
        [("GET", "/proxies"), ("GET", "/proxies/nope"), ("DELETE", "/proxies/redis"), ("GET", "/nothing")]
    {
        let (_, _, headers, _) = raw(&server, method, path, None).await;
        let id = headers.get("x-toxiproxy-request-id").unwrap_or_else(|| panic!("{method} {path}: {headers:?}"));
        ids.push(id.to_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| id.len() == 20), "xid's form: {ids:?}");
    ids.dedup();
    assert_eq!(ids.len(), 4, "{ids:?}");
}

#[tokio::test]
async fn browsers_get_toxiproxys_plain_text_403() {
    let server = ProxyServer::start().await;
    let response = reqwest::Client::new()
        .get(format!("http://{}/proxies", server.addr))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.text().await.unwrap(), "User agent not allowed\n");
}

/// Toxiproxy validates no attribute: clients send null, `{}` or nothing and get zero values.
#[rstest]
#[case::null_attributes(json!({"type": "latency", "attributes": null}), json!({"latency": 0, "jitter": 0}))]
#[case::empty_attributes(json!({"type": "bandwidth", "attributes": {}}), json!({"rate": 0}))]
#[case::no_attributes(json!({"type": "timeout"}), json!({"timeout": 0}))]
#[case::missing_field(json!({"type": "latency", "attributes": {"jitter": 5}}), json!({"latency": 0, "jitter": 5}))]
#[case::variation_above_average(json!({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 8}}), json!({"average_size": 4, "size_variation": 8, "delay": 0}))]
#[case::negative_value(json!({"type": "latency", "attributes": {"latency": -5}}), json!({"latency": -5, "jitter": 0}))]
#[tokio::test]
async fn attributes_are_not_validated_as_in_toxiproxy(#[case] toxic: Value, #[case] attributes: Value) {
    let server = server_with_redis_proxy().await;
    let (status, added) = server.json("POST", "/proxies/redis/toxics", &toxic).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["attributes"], attributes);
}

#[tokio::test]
#[traced_test]
async fn a_zero_that_is_probably_a_mistake_is_named_in_a_warning() {
    let server = server_with_redis_proxy().await;
    server.add_toxic("redis", json!({"type": "latency", "attributes": {}})).await;
    server.add_toxic("redis", json!({"type": "bandwidth", "attributes": null})).await;
    assert!(logs_contain("toxic attribute latency is zero or less"));
    assert!(logs_contain("toxic attribute rate (data is held for good, as in Toxiproxy) is zero or less"));
}

#[tokio::test]
async fn toxicity_outside_zero_to_one_is_kept_as_given() {
    let server = server_with_redis_proxy().await;
    let (status, added) = server.json("POST", "/proxies/redis/toxics", &json!({"type": "noop", "toxicity": 1.5})).await;
    assert_eq!((status, added["toxicity"].clone()), (StatusCode::OK, json!(1.5)));
}

/// A request Toxiproxy still refuses changes nothing.
#[rstest]
#[case::malformed_proxy_json("POST", "/proxies", r#"{"name": "x""#, 400, "bad request body")]
#[case::name_of_the_wrong_type(
    "POST",
    "/proxies",
    r#"{"name": 5, "upstream": "a:1"}"#,
    400,
    "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string"
)]
#[case::populate_not_a_list("POST", "/populate", r#"{"name": "x"}"#, 400, "bad request body")]
#[case::populate_missing_upstream(
    "POST",
    "/populate",
    r#"[{"name": "x"}]"#,
    400,
    "missing required field: upstream at proxy 1"
)]
#[case::update_with_bad_json("PATCH", "/proxies/redis", "enabled=false", 400, "bad request body")]
#[case::attribute_of_the_wrong_type(
    "POST",
    "/proxies/redis/toxics",
    r#"{"type": "latency", "attributes": {"latency": "fast"}}"#,
    400,
    "bad request body: json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency of type int64"
)]
#[case::bad_stream(
    "POST",
    "/proxies/redis/toxics",
    r#"{"type": "latency", "stream": "up"}"#,
    400,
    "stream was invalid, can be either upstream or downstream"
)]
#[case::unknown_type("POST", "/proxies/redis/toxics", r#"{"type": "explode"}"#, 400, "invalid toxic type")]
#[case::duplicate_name(
    "POST",
    "/proxies/redis/toxics",
    r#"{"name": "kept", "type": "noop"}"#,
    409,
    "toxic already exists"
)]
#[tokio::test]
async fn a_refused_request_leaves_the_state_as_it_was(
    #[case] method: &str,
    #[case] path: &str,
    #[case] body: &str,
    #[case] status: u16,
    #[case] message: &str,
) {
    let server = server_with_redis_proxy().await;
    server.add_toxic("redis", json!({"name": "kept", "type": "latency", "attributes": {"latency": 1}})).await;
    let before = server.call("GET", "/proxies", None).await.1;

    let (got, error) = server.call(method, path, Some(body)).await;
    assert_eq!((got.as_u16(), error["status"].clone()), (status, json!(status)), "{error}");
    assert!(error["error"].as_str().is_some_and(|e| e.starts_with(message)), "{error}");
    assert_eq!(server.call("GET", "/proxies", None).await.1, before, "the server's state is unchanged");
}

/// Toxiproxy's `Proxy.Differs`: the listen address is compared once resolved (`localhost:7070`
/// is `127.0.0.1:7070`), the upstream as it is written. A populate that changes neither keeps the
/// proxy, its toxics and its open connections.
#[tokio::test]
async fn populate_keeps_a_proxy_whose_listen_resolves_the_same_and_whose_upstream_is_written_the_same() {
    let server = ProxyServer::start().await;
    let echo = echo_server().await;
    let listen = server.proxy_to("echo", echo).await;
    server.add_toxic("echo", json!({"name": "slow", "type": "latency", "attributes": {"latency": 1}})).await;
    let mut open = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut open, b"before", Duration::from_secs(5)).await.unwrap(), b"before");

    let same =
        json!([{"name": "echo", "listen": format!("localhost:{}", listen.port()), "upstream": echo.to_string()}]);
    let (status, body) = server.json("POST", "/populate", &same).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["proxies"][0]["toxics"][0]["name"], "slow", "the toxics were kept: {body}");
    assert_eq!(
        round_trip(&mut open, b"after", Duration::from_secs(5)).await.unwrap(),
        b"after",
        "the connection was kept"
    );
}

/// The upstream is text to Toxiproxy: `localhost:PORT` after `127.0.0.1:PORT` is another upstream,
/// so the proxy is replaced and its toxics are gone, whatever the names resolve to.
#[tokio::test]
async fn populate_replaces_a_proxy_whose_upstream_is_written_differently_even_when_it_resolves_the_same() {
    let server = ProxyServer::start().await;
    let echo = echo_server().await;
    let listen = server.proxy_to("echo", echo).await;
    server.add_toxic("echo", json!({"name": "slow", "type": "latency", "attributes": {"latency": 1}})).await;

    let renamed =
        json!([{"name": "echo", "listen": listen.to_string(), "upstream": format!("localhost:{}", echo.port())}]);
    let (status, body) = server.json("POST", "/populate", &renamed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["proxies"][0]["upstream"], format!("localhost:{}", echo.port()));
    assert_eq!(body["proxies"][0]["toxics"], json!([]), "a new proxy, without the old one's toxics: {body}");
}

/// Go's `net.Listen("tcp", "")` listens on every interface at a free port, so Toxiproxy creates,
/// populates and moves a proxy with an empty `listen`.
#[tokio::test]
async fn an_empty_listen_binds_every_interface_at_a_free_port_on_create_populate_and_patch() {
    let server = ProxyServer::start().await;
    let echo = echo_server().await;
    let free_port = |listen: &Value| {
        let listen = listen.as_str().unwrap_or_default();
        let (host, port) = listen.rsplit_once(':').unwrap_or_default();
        assert!(matches!(host, "[::]" | "0.0.0.0"), "every interface: {listen}");
        port.parse::<u16>().ok().filter(|port| *port != 0).unwrap_or_else(|| panic!("a free port: {listen}"))
    };

    let (status, created) =
        server.json("POST", "/proxies", &json!({"name": "open", "listen": "", "upstream": echo.to_string()})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let port = free_port(&created["listen"]);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(round_trip(&mut stream, b"hello", Duration::from_secs(5)).await.unwrap(), b"hello");

    let (status, populated) = server
        .json("POST", "/populate", &json!([{"name": "listed", "listen": "", "upstream": echo.to_string()}]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{populated}");
    free_port(&populated["proxies"][0]["listen"]);

    let (status, moved) = server.json("PATCH", "/proxies/open", &json!({"listen": ""})).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    free_port(&moved["listen"]);
}

#[tokio::test]
async fn populate_answers_what_it_created_and_the_error_that_stopped_it() {
    let server = ProxyServer::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let list = json!([
        {"name": "one", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"name": "two", "listen": address.to_string(), "upstream": "127.0.0.1:1"},
    ]);
    let (status, body) = server.json("POST", "/populate", &list).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], format!("listen tcp {address}: bind: address already in use"));
    assert_eq!((body["status"].clone(), body["proxies"][0]["name"].clone()), (json!(500), json!("one")));
    let (_, empty) = server.call("POST", "/populate", Some("[]")).await;
    assert_eq!(empty, json!({"proxies": null}), "Go marshals no proxies as null");
}

#[tokio::test]
async fn a_proxy_is_updated_by_patch_and_by_the_deprecated_post_and_deleted() {
    let server = server_with_redis_proxy().await;
    let (status, disabled) = server.json("PATCH", "/proxies/redis", &json!({"enabled": false})).await;
    assert_eq!((status, disabled["enabled"].clone()), (StatusCode::OK, json!(false)));
    let (status, enabled) = server.json("POST", "/proxies/redis", &json!({"enabled": true})).await;
    assert_eq!((status, enabled["enabled"].clone()), (StatusCode::OK, json!(true)));
    let (status, moved) = server.json("PATCH", "/proxies/redis", &json!({"upstream": "127.0.0.1:6380"})).await;
    assert_eq!(
        (status, moved["upstream"].clone(), moved["enabled"].clone()),
        (StatusCode::OK, json!("127.0.0.1:6380"), json!(true))
    );
    assert_eq!(server.call("DELETE", "/proxies/redis", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(server.call("GET", "/proxies/redis", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn proxy_metrics_count_the_bytes_of_each_direction_with_toxiproxys_labels() {
    let server = ProxyServer::start_with_metrics(true, true).await;
    let echo = echo_server().await;
    let listen = server.proxy_to("echo", echo).await;
    let mut stream = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut stream, b"twelve bytes", Duration::from_secs(5)).await.unwrap(), b"twelve bytes");
    stream.shutdown().await.unwrap();

    let labels =
        |direction: &str| format!(r#"{{direction="{direction}",listener="{listen}",proxy="echo",upstream="{echo}"}}"#);
    let (status, content_type, _, scrape) = raw(&server, "GET", "/metrics", None).await;
    assert_eq!(
        (status, content_type.as_deref()),
        (200, Some("application/openmetrics-text; version=1.0.0; charset=utf-8"))
    );
    for direction in ["upstream", "downstream"] {
        for metric in ["toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total"] {
            let series = format!("{metric}{} 12", labels(direction));
            assert!(scrape.contains(&series), "{series} in\n{scrape}");
        }
    }
    assert!(scrape.contains("process_resident_memory_bytes "), "runtime metrics: {scrape}");
}
