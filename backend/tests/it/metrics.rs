use reqwest::StatusCode;

use crate::support::{RedisServer, TestApp, user};

#[tokio::test(flavor = "multi_thread")]
async fn metrics_expose_pool_redis_breaker_and_http_series() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("REDIS_POOL_MAX_SIZE", "7")]).await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    assert_eq!(app.register(&user("m@example.com")).await.status(), StatusCode::CREATED);
    assert_eq!(app.get("/no-such-page").await.status(), StatusCode::NOT_FOUND);

    let response = app.get("/metrics").await;
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    for expected in [
        "gift_genie_redis_pool_max_size 7",
        "gift_genie_redis_pool_connections ",
        "gift_genie_redis_pool_in_use ",
        "gift_genie_redis_pool_idle ",
        "gift_genie_redis_pool_waiting 0",
        "gift_genie_redis_commands_total{operation=\"rate_limit\",outcome=\"ok\"} 1",
        "gift_genie_redis_commands_total{operation=\"create_user\",outcome=\"ok\"} 1",
        "gift_genie_redis_breaker_state{shard=\"primary\",state=\"closed\"} 1",
        "gift_genie_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "gift_genie_http_requests_total{method=\"POST\",route=\"/api/v1/auth/register\",status=\"201\"} 1",
        "gift_genie_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "gift_genie_http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/health\"}",
        "process_resident_memory_bytes ",
        "# EOF",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The startup check and /health both make the readiness write.
    let checks = crate::support::metric(&text, "gift_genie_redis_commands_total{operation=\"health\",outcome=\"ok\"}");
    assert!(checks.is_some_and(|n| n >= 1.0), "{text}");
}

/// A chaos run against a deployed backend times its probes by these, so they must be the
/// backend's own, in seconds.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_publish_the_timeouts_the_service_runs_with() {
    let redis = RedisServer::start().await;
    let app =
        TestApp::spawn(&redis.url(), &[("REDIS_OPERATION_TIMEOUT", "1500ms"), ("HTTP_REQUEST_TIMEOUT", "45s")]).await;
    let text = app.metrics().await;
    for (series, seconds) in [
        ("gift_genie_setting_seconds{setting=\"REDIS_OPERATION_TIMEOUT\"}", 1.5),
        ("gift_genie_setting_seconds{setting=\"HTTP_REQUEST_TIMEOUT\"}", 45.0),
        ("gift_genie_setting_seconds{setting=\"REDIS_CONNECT_TIMEOUT\"}", 0.4),
        ("gift_genie_setting_seconds{setting=\"REDIS_BREAKER_PROBE_INTERVAL\"}", 0.1),
        ("gift_genie_setting_seconds{setting=\"REDIS_POOL_WAIT_TIMEOUT\"}", 1.0),
    ] {
        let value = crate::support::metric(&text, series);
        assert!(value.is_some_and(|value| (value - seconds).abs() < 1e-9), "{series} is {value:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invented_methods_and_paths_do_not_add_series() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let series = |text: &str| text.lines().filter(|line| line.starts_with("gift_genie_http_")).count();
    let burst = |round: u32| {
        let app = &app;
        async move {
            for i in 0..100 {
                let method = reqwest::Method::from_bytes(format!("INVENTED{round}X{i}").as_bytes()).unwrap();
                app.client.request(method.clone(), app.url("/livez")).send().await.unwrap();
                app.client.request(method, app.url(&format!("/no/such/page/{round}/{i}"))).send().await.unwrap();
            }
        }
    };

    // A scrape is counted once answered: the first one's own series show from the second on.
    app.metrics().await;
    burst(1).await;
    let after_first = app.metrics().await;
    burst(2).await;
    let after_second = app.metrics().await;

    assert!(!after_second.contains("INVENTED"), "a method outside the standard set is `other`");
    assert!(after_second.contains("method=\"other\",route=\"/livez\",status=\"405\""), "{after_second}");
    assert!(after_second.contains("method=\"other\",route=\"unmatched\",status=\"404\""), "{after_second}");
    assert_eq!(series(&after_first), series(&after_second), "200 more invented requests added series:\n{after_second}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_cut_by_the_request_timeout_are_counted() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("HTTP_REQUEST_TIMEOUT", "300ms")]).await;
    // The head is in, the body never comes: only the request timeout ends this request.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    let _ =
        tokio::time::timeout(crate::support::MARGIN, tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer))
            .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");

    let counted = app
        .metric("gift_genie_http_requests_total{method=\"POST\",route=\"/api/v1/auth/register\",status=\"503\"}")
        .await;
    assert_eq!(counted, Some(1.0), "{}", app.metrics().await);
}
