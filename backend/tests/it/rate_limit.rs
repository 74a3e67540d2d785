use futures_util::future::join_all;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::Value;
use testkit::raw_http;

use crate::support::{MARGIN, RedisServer, TestApp, user};

#[tokio::test(flavor = "multi_thread")]
async fn the_attempt_after_the_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "5"), ("RATE_LIMIT_WINDOW", "60")]).await;

    for attempt in 1..=5 {
        let response = app.register(&user(&format!("u{attempt}@example.com"))).await;
        assert_eq!(response.status(), StatusCode::CREATED, "attempt {attempt}");
        assert_eq!(response.headers()["ratelimit-policy"], "\"register\";q=5;w=60");
        assert!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(&format!("\"register\";r={};t=", 5 - attempt)),
            "{:?}",
            response.headers()["ratelimit"]
        );
    }

    let limited = app.register(&user("u6@example.com")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(limited.headers()["ratelimit"].to_str().unwrap().starts_with("\"register\";r=0;t="));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");

    let mut admin = redis.admin().await.unwrap();
    let ttl: i64 =
        redis::cmd("TTL").arg("gift-genie:attempts:register:127.0.0.1").query_async(&mut admin).await.unwrap();
    assert!((1..=60).contains(&ttl), "the counter always expires: ttl {ttl}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_attempts_from_one_address_get_exactly_the_limit_of_answers() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "5")]).await;

    let statuses: Vec<StatusCode> = join_all((0..50).map(|i| {
        let app = &app;
        async move { app.register(&user(&format!("c{i}@example.com"))).await.status() }
    }))
    .await;

    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(50 - limited, 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "1"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    let attempt = |client: &'static str, email: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", format!("198.51.100.200, {client}"))
            .json(&user(email))
            .send()
    };

    assert_eq!(attempt("203.0.113.1", "a@example.com").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(attempt("203.0.113.2", "b@example.com").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(attempt("203.0.113.1", "c@example.com").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_sharing_one_redis_share_one_limit() {
    let redis = RedisServer::start().await;
    let overrides = [("RATE_LIMIT_MAX_ATTEMPTS", "4")];
    let replicas = [TestApp::spawn(&redis.url(), &overrides).await, TestApp::spawn(&redis.url(), &overrides).await];

    let statuses: Vec<StatusCode> = join_all((0..12).map(|i| {
        let replica = &replicas[i % 2];
        async move { replica.register(&user(&format!("r{i}@example.com"))).await.status() }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s != StatusCode::TOO_MANY_REQUESTS).count(), 4, "{statuses:?}");
}

/// One registration as if sent through one trusted proxy, with this `X-Forwarded-For`.
async fn forwarded(app: &TestApp, chain: &str, email: &str) -> StatusCode {
    app.client
        .post(app.url("/api/v1/auth/register"))
        .header("x-forwarded-for", chain)
        .json(&user(email))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_clients_share_one_budget_per_64() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "5"), ("TRUSTED_PROXY_HOPS", "1")]).await;

    let mut statuses = Vec::new();
    for host in 1..=7 {
        statuses.push(forwarded(&app, &format!("2001:db8:1:2::{host}"), &format!("v6-{host}@example.com")).await);
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(created, 5, "seven hosts of one /64 share five attempts: {statuses:?}");
    assert_eq!(forwarded(&app, "2001:db8:1:3::1", "other-64@example.com").await, StatusCode::CREATED);

    let mut admin = redis.admin().await.unwrap();
    let counted: u32 =
        redis::cmd("HLEN").arg("gift-genie:attempts:register:2001:db8:1:2::/64").query_async(&mut admin).await.unwrap();
    assert_eq!(counted, 5, "one budget for the /64, holding the five attempts it allows");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ipv6_prefix_is_a_setting() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(
        &redis.url(),
        &[("RATE_LIMIT_MAX_ATTEMPTS", "1"), ("TRUSTED_PROXY_HOPS", "1"), ("RATE_LIMIT_IPV6_PREFIX", "128")],
    )
    .await;
    assert_eq!(forwarded(&app, "2001:db8:1:2::1", "a@example.com").await, StatusCode::CREATED);
    assert_eq!(forwarded(&app, "2001:db8:1:2::2", "b@example.com").await, StatusCode::CREATED);
}

#[rstest::rstest]
#[case::ipv4_mapped_ipv6_is_ipv4("203.0.113.9", "::ffff:203.0.113.9")]
#[case::an_ipv4_entry_with_a_port("203.0.113.7", "203.0.113.7:4711")]
#[case::a_bracketed_ipv6_entry_with_a_port("2001:db8::1", "[2001:db8::1]:443")]
#[case::a_bracketed_ipv6_entry("2001:db8::1", "[2001:db8::1]")]
#[tokio::test(flavor = "multi_thread")]
async fn two_spellings_of_one_client_share_one_budget(#[case] first: &str, #[case] second: &str) {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "1"), ("TRUSTED_PROXY_HOPS", "1")]).await;
    assert_eq!(forwarded(&app, first, "first@example.com").await, StatusCode::CREATED);
    assert_eq!(forwarded(&app, second, "second@example.com").await, StatusCode::TOO_MANY_REQUESTS, "{second}");
}

#[rstest::rstest]
#[case::an_unparsable_entry("not-an-address, 10.0.0.1", "unparsable")]
#[case::a_chain_shorter_than_the_trusted_hops("203.0.113.5", "short_chain")]
#[tokio::test(flavor = "multi_thread")]
async fn a_forwarded_chain_that_cannot_be_trusted_counts_against_the_peer_and_is_counted(
    #[case] chain: &str,
    #[case] reason: &str,
) {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "1"), ("TRUSTED_PROXY_HOPS", "2")]).await;
    // Two proxies are trusted, so the client is the second entry from the right: here there is none.
    assert_eq!(forwarded(&app, chain, "first@example.com").await, StatusCode::CREATED);
    assert_eq!(forwarded(&app, chain, "second@example.com").await, StatusCode::TOO_MANY_REQUESTS);

    let mut admin = redis.admin().await.unwrap();
    let peer: u32 =
        redis::cmd("HLEN").arg("gift-genie:attempts:register:127.0.0.1").query_async(&mut admin).await.unwrap();
    assert_eq!(peer, 1, "the peer's budget took the first attempt, and refused the second");
    let ignored = app.metric(&format!("gift_genie_http_forwarded_for_ignored_total{{reason=\"{reason}\"}}")).await;
    assert_eq!(ignored, Some(2.0), "{}", app.metrics().await);
}

/// A refusal that comes before the body is read (the budget is spent, or Redis cannot count the
/// attempt) must still reach a client that writes its whole body before reading, as simple
/// clients do: the server reads the body and throws it away, as it does for a 413, instead of
/// closing on unread data, which the client sees as a reset or a broken pipe.
#[rstest]
#[case::over_the_budget(false, 429)]
#[case::redis_cannot_count_it(true, 503)]
#[tokio::test(flavor = "multi_thread")]
async fn an_early_refusal_reaches_every_client_still_sending_its_body(#[case] redis_down: bool, #[case] status: u16) {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "1")]).await;
    assert_eq!(app.register(&user("first@example.com")).await.status(), StatusCode::CREATED);
    if redis_down {
        redis.stop();
    }
    let body = vec![b'x'; 2 * 1024 * 1024];
    let head = raw_http::registration_head(body.len(), false);
    let answers = join_all((0..40).map(|_| async {
        tokio::time::timeout(MARGIN * 4, raw_http::exchange(app.addr, head.as_bytes(), &body)).await
    }))
    .await;
    let unheard: Vec<String> = answers
        .iter()
        .filter(|answer| !matches!(answer, Ok(Ok(answer)) if answer.status == status))
        .map(|answer| format!("{answer:?}").chars().take(160).collect())
        .collect();
    assert!(unheard.is_empty(), "{} of 40 clients did not read their {status}: {unheard:?}", unheard.len());
}
