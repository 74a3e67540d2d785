//! Toxiproxy's API over raw HTTP: every endpoint, every status code, and state left intact by bad
//! input.

use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{Value, json};

use crate::support::{ProxyServer, echo_server};

const REDIS: &str = r#"{"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6379"}"#;

async fn server_with_redis_proxy() -> ProxyServer {
    let server = ProxyServer::start().await;
    let (status, body) = server.call("POST", "/proxies", Some(REDIS)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server
}

#[tokio::test]
async fn version_answers_json() {
    let server = ProxyServer::start().await;
    let (status, body) = server.call("GET", "/version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], "2.12.0");
}

#[tokio::test]
async fn a_created_proxy_is_listed_shown_and_reports_the_port_it_bound() {
    let server = ProxyServer::start().await;
    let (status, created) = server.call("POST", "/proxies", Some(REDIS)).await;
    assert_eq!(status, StatusCode::CREATED);
    insta::assert_json_snapshot!("created_proxy", created, {".listen" => "[bound address]"});
    let port: u16 = created["listen"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "listening on port 0 reports the port it got");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "the proxy listens there");

    let (status, listed) = server.call("GET", "/proxies", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!({"redis": created}));
    let (status, shown) = server.call("GET", "/proxies/redis", None).await;
    assert_eq!((status, shown), (StatusCode::OK, created));
}

#[tokio::test]
async fn toxics_are_added_listed_shown_updated_and_removed() {
    let server = server_with_redis_proxy().await;
    let latency = json!({"type": "latency", "attributes": {"latency": 100, "jitter": 5}});
    let (status, added) = server.json("POST", "/proxies/redis/toxics", &latency).await;
    assert_eq!(status, StatusCode::OK, "Toxiproxy answers 200, not 201, to a new toxic");
    insta::assert_json_snapshot!("added_toxic", added);

    let (status, listed) = server.call("GET", "/proxies/redis/toxics", None).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([added])));
    let (status, shown) = server.call("GET", "/proxies/redis/toxics/latency_downstream", None).await;
    assert_eq!((status, shown), (StatusCode::OK, added.clone()));

    let patch = json!({"attributes": {"latency": 250}, "toxicity": 0.5});
    let (status, updated) = server.json("PATCH", "/proxies/redis/toxics/latency_downstream", &patch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["attributes"], json!({"latency": 250, "jitter": 5}));
    assert_eq!(updated["toxicity"], 0.5);
    let (status, _) = server.json("POST", "/proxies/redis/toxics/latency_downstream", &json!({"toxicity": 1.0})).await;
    assert_eq!(status, StatusCode::OK, "the deprecated POST update still works");

    let (status, body) = server.call("DELETE", "/proxies/redis/toxics/latency_downstream", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(server.call("GET", "/proxies/redis/toxics", None).await.1, json!([]));
}

#[tokio::test]
async fn a_proxy_is_updated_by_patch_and_by_the_deprecated_post_and_deleted() {
    let server = server_with_redis_proxy().await;
    let (status, disabled) = server.json("PATCH", "/proxies/redis", &json!({"enabled": false})).await;
    assert_eq!((status, disabled["enabled"].clone()), (StatusCode::OK, json!(false)));
    let (status, enabled) = server.json("POST", "/proxies/redis", &json!({"enabled": true})).await;
    assert_eq!((status, enabled["enabled"].clone()), (StatusCode::OK, json!(true)));
    let (status, moved) = server.json("PATCH", "/proxies/redis", &json!({"upstream": "127.0.0.1:6380"})).await;
    assert_eq!((status, moved["upstream"].clone()), (StatusCode::OK, json!("127.0.0.1:6380")));

    assert_eq!(server.call("DELETE", "/proxies/redis", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(server.call("GET", "/proxies/redis", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn populate_creates_proxies_and_keeps_unchanged_ones() {
    let server = ProxyServer::start().await;
    let echo = echo_server().await;
    let list = json!([
        {"name": "one", "listen": "127.0.0.1:0", "upstream": echo.to_string()},
        {"name": "two", "listen": "127.0.0.1:0", "upstream": echo.to_string(), "enabled": false},
    ]);
    let (status, body) = server.json("POST", "/populate", &list).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let proxies = body["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 2);
    assert_eq!((proxies[0]["enabled"].clone(), proxies[1]["enabled"].clone()), (json!(true), json!(false)));

    // Re-populating with the bound address changes nothing.
    let same = json!([{"name": "one", "listen": proxies[0]["listen"], "upstream": echo.to_string()}]);
    let (status, again) = server.json("POST", "/populate", &same).await;
    assert_eq!((status, again["proxies"][0].clone()), (StatusCode::CREATED, proxies[0].clone()));
}

#[tokio::test]
async fn reset_enables_every_proxy_and_removes_every_toxic() {
    let server = server_with_redis_proxy().await;
    server.add_toxic("redis", json!({"type": "timeout", "attributes": {"timeout": 0}})).await;
    server.json("PATCH", "/proxies/redis", &json!({"enabled": false})).await;

    let (status, body) = server.call("POST", "/reset", None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, proxy) = server.call("GET", "/proxies/redis", None).await;
    assert_eq!((proxy["enabled"].clone(), proxy["toxics"].clone()), (json!(true), json!([])));
}

#[tokio::test]
async fn a_listen_address_in_use_is_a_500_that_names_it() {
    let server = ProxyServer::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let body = json!({"name": "clash", "listen": address, "upstream": "127.0.0.1:6379"});
    let (status, error) = server.json("POST", "/proxies", &body).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error["status"], 500);
    assert!(error["error"].as_str().unwrap().contains(&address), "{error}");
    assert_eq!(server.call("GET", "/proxies", None).await.1, json!({}), "nothing half-created");
}

/// Each bad request gets its status and a `{"error","status"}` body, and changes nothing.
#[rstest]
#[case::malformed_proxy_json("POST", "/proxies", r#"{"name": "x""#, 400, "bad request body")]
#[case::proxy_without_name("POST", "/proxies", r#"{"upstream": "127.0.0.1:1"}"#, 400, "missing required field: name")]
#[case::proxy_without_upstream("POST", "/proxies", r#"{"name": "x"}"#, 400, "missing required field: upstream")]
#[case::duplicate_proxy("POST", "/proxies", REDIS, 409, "proxy already exists")]
#[case::populate_not_a_list("POST", "/populate", r#"{"name": "x"}"#, 400, "bad request body")]
#[case::populate_missing_upstream(
    "POST",
    "/populate",
    r#"[{"name": "x"}]"#,
    400,
    "missing required field: upstream at proxy 1"
)]
#[case::populate_duplicate_names(
    "POST",
    "/populate",
    r#"[{"name":"x","upstream":"a:1"},{"name":"x","upstream":"a:1"}]"#,
    400,
    "bad request body: duplicate proxy name"
)]
#[case::unknown_proxy("GET", "/proxies/nope", "", 404, "proxy not found")]
#[case::update_unknown_proxy("PATCH", "/proxies/nope", r#"{"enabled": false}"#, 404, "proxy not found")]
#[case::update_with_bad_json("PATCH", "/proxies/redis", "enabled=false", 400, "bad request body")]
#[case::delete_unknown_proxy("DELETE", "/proxies/nope", "", 404, "proxy not found")]
#[case::toxics_of_unknown_proxy("GET", "/proxies/nope/toxics", "", 404, "proxy not found")]
#[case::toxic_on_unknown_proxy(
    "POST",
    "/proxies/nope/toxics",
    r#"{"type": "latency", "attributes": {"latency": 1}}"#,
    404,
    "proxy not found"
)]
#[case::unknown_toxic_type("POST", "/proxies/redis/toxics", r#"{"type": "explode"}"#, 400, "invalid toxic type")]
#[case::bad_stream(
    "POST",
    "/proxies/redis/toxics",
    r#"{"type": "latency", "stream": "up", "attributes": {"latency": 1}}"#,
    400,
    "stream was invalid"
)]
#[case::missing_attribute(
    "POST",
    "/proxies/redis/toxics",
    r#"{"type": "bandwidth", "attributes": {}}"#,
    400,
    "bad request body: bandwidth attributes: missing field `rate`"
)]
#[case::negative_attribute(
    "POST",
    "/proxies/redis/toxics",
    r#"{"type": "latency", "attributes": {"latency": -5}}"#,
    400,
    "bad request body"
)]
#[case::toxicity_out_of_range(
    "POST",
    "/proxies/redis/toxics",
    r#"{"type": "latency", "toxicity": 2, "attributes": {"latency": 1}}"#,
    400,
    "bad request body: toxicity must be between 0 and 1"
)]
#[case::malformed_toxic_json("POST", "/proxies/redis/toxics", "{", 400, "bad request body")]
#[case::unknown_toxic("GET", "/proxies/redis/toxics/nope", "", 404, "toxic not found")]
#[case::update_unknown_toxic("PATCH", "/proxies/redis/toxics/nope", r#"{"toxicity": 1}"#, 404, "toxic not found")]
#[case::delete_unknown_toxic("DELETE", "/proxies/redis/toxics/nope", "", 404, "toxic not found")]
#[case::unknown_route("GET", "/nothing", "", 404, "not found")]
#[case::wrong_method("PUT", "/version", "", 405, "method not allowed")]
#[tokio::test]
async fn a_bad_request_gets_its_status_and_leaves_state_intact(
    #[case] method: &str,
    #[case] path: &str,
    #[case] body: &str,
    #[case] status: u16,
    #[case] message: &str,
) {
    let server = server_with_redis_proxy().await;
    let existing_toxic = json!({"name": "kept", "type": "latency", "attributes": {"latency": 1}});
    server.add_toxic("redis", existing_toxic).await;
    let before = server.call("GET", "/proxies", None).await.1;

    let (got, error) = server.call(method, path, (!body.is_empty()).then_some(body)).await;
    assert_eq!(got.as_u16(), status, "{error}");
    assert_eq!(error["status"], status, "{error}");
    assert!(error["error"].as_str().is_some_and(|e| e.starts_with(message)), "{error}");

    assert_eq!(server.call("GET", "/proxies", None).await.1, before, "the server's state is unchanged");
}

#[tokio::test]
async fn a_duplicate_toxic_name_is_a_409() {
    let server = server_with_redis_proxy().await;
    let toxic = json!({"type": "latency", "attributes": {"latency": 1}});
    server.add_toxic("redis", toxic.clone()).await;
    let (status, error) = server.json("POST", "/proxies/redis/toxics", &toxic).await;
    assert_eq!((status, error["status"].clone()), (StatusCode::CONFLICT, json!(409)));
}

#[tokio::test]
async fn browsers_are_refused_as_toxiproxy_refuses_them() {
    let server = ProxyServer::start().await;
    let response = reqwest::Client::new()
        .get(format!("http://{}/proxies", server.addr))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
