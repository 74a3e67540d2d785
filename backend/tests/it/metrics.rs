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
        "gift_genie_redis_breaker_state{state=\"closed\"} 1",
        "gift_genie_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "gift_genie_http_requests_total{method=\"POST\",route=\"/api/v1/auth/register\",status=\"201\"} 1",
        "gift_genie_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "gift_genie_http_request_duration_seconds_bucket{le=\"0.005\",method=\"GET\",route=\"/health\"}",
        "# EOF",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The startup check and /health both PING.
    let pings = text
        .lines()
        .find_map(|line| line.strip_prefix("gift_genie_redis_commands_total{operation=\"ping\",outcome=\"ok\"} "));
    assert!(pings.and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n >= 1), "{text}");
}
