use e2e::StackOptions;

use crate::support::{email, health, stack};

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_stack_reports_connected_registers_and_rate_limits() {
    let stack = stack(StackOptions::default()).await;

    assert_eq!(health(&stack).await, (200, "connected".to_owned()));

    let created = stack.backend().register(&email("healthy")).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    insta::assert_json_snapshot!("registered", created.body, {".id" => "[uuid]", ".created_at" => "[timestamp]", ".email" => "[email]"});

    // The default limit is 5 attempts a minute per client; one is spent.
    for _ in 0..4 {
        assert_eq!(stack.backend().register(&email("healthy")).await.unwrap().status, 201);
    }
    let limited = stack.backend().register(&email("healthy")).await.unwrap();
    assert_eq!(limited.status, 429);
    assert!(limited.headers.contains_key("retry-after"));
    insta::assert_json_snapshot!("rate_limited", limited.body, {
        ".message" => insta::dynamic_redaction(|value, _| {
            // The seconds left in the window depend on how long the test took.
            assert!(value.as_str().is_some_and(|m| m.starts_with("too many attempts; retry after ")), "{value:?}");
            "[too many attempts; retry after N seconds]"
        }),
    });

    let keys = stack.redis_cli(&["--scan", "--pattern", "gift-genie:account:*"]).await.unwrap();
    assert_eq!(keys.lines().count(), 5, "redis holds the five users: {keys}");
}
