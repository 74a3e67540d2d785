use std::collections::HashMap;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{MARGIN, OPERATION_TIMEOUT, RedisServer, TestApp, timed, user};

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_registration_creates_the_user_in_redis_with_an_argon2id_hash() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let response = app
        .register(&json!({"email": " Ada@Example.com ", "password": "analytical-engine-1", "name": " Ada Lovelace "}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    insta::assert_json_snapshot!("registered_user", body, {".id" => "[uuid]", ".created_at" => "[timestamp]"});
    assert_eq!(location, format!("/api/v1/users/{}", body["id"].as_str().unwrap()));

    let mut admin = redis.admin().await.unwrap();
    let stored: HashMap<String, String> =
        redis::cmd("HGETALL").arg("gift-genie:account:ada@example.com").query_async(&mut admin).await.unwrap();
    assert_eq!(stored["email"], "ada@example.com");
    assert_eq!(stored["id"], body["id"].as_str().unwrap());
    assert!(stored["password_hash"].starts_with("$argon2id$"), "{}", stored["password_hash"]);
    assert!(!stored.values().any(|value| value.contains("analytical-engine-1")), "the password is never stored");
    let indexed: String = redis::cmd("GET")
        .arg(format!("gift-genie:user-id:{}", body["id"].as_str().unwrap()))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(indexed, "ada@example.com", "the id finds the account");
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_an_email_twice_in_any_case_gives_409() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    assert_eq!(app.register(&user("grace@example.com")).await.status(), StatusCode::CREATED);
    let again = app.register(&user("GRACE@example.COM")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "email_taken");
}

#[rstest::rstest]
#[case::an_international_domain_and_its_punycode("ada@bücher.example", "ada@xn--bcher-kva.example")]
#[case::fullwidth_letters_in_the_domain("ada@ｅｘａｍｐｌｅ.com", "ada@example.com")]
#[case::a_decomposed_and_a_composed_accent("jose\u{301}@example.com", "jos\u{e9}@example.com")]
#[tokio::test(flavor = "multi_thread")]
async fn look_alike_encodings_of_one_address_map_to_one_account(#[case] first: &str, #[case] second: &str) {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let created = app.register(&user(first)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let stored: Value = created.json().await.unwrap();
    assert!(stored["email"].as_str().unwrap().rsplit('@').next().unwrap().is_ascii(), "{stored}");
    assert_eq!(app.register(&user(second)).await.status(), StatusCode::CONFLICT, "{first} then {second}");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_are_stored_in_composed_form() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let response = app
        .register(&serde_json::json!({"email": "zoe@example.com", "password": "s3cure-passw0rd", "name": "Zoe\u{308}"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Zo\u{eb}");
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_registrations_of_one_email_create_exactly_one_account() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    let statuses: Vec<StatusCode> =
        join_all((0..20).map(|_| async { app.register(&user("race@example.com")).await.status() })).await;

    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 19, "{statuses:?}");
    let mut admin = redis.admin().await.unwrap();
    let accounts: Vec<String> = redis::cmd("KEYS").arg("gift-genie:account:*").query_async(&mut admin).await.unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_fails_closed_with_503_within_the_operation_timeout_when_redis_is_down() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    redis.stop();

    let answer = timed(app.register(&user("down@example.com"))).await;
    assert_eq!(answer.value.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.elapsed < OPERATION_TIMEOUT + MARGIN, "{:?}", answer.elapsed);
    let body: Value = answer.value.json().await.unwrap();
    insta::assert_json_snapshot!("redis_unavailable", body);
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_fails_closed_when_redis_silently_stops_answering() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    assert_eq!(app.register(&user("before@example.com")).await.status(), StatusCode::CREATED);

    redis.freeze();
    let answer = timed(app.register(&user("frozen@example.com"))).await;
    redis.thaw();
    assert_eq!(answer.value.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.elapsed >= OPERATION_TIMEOUT && answer.elapsed < OPERATION_TIMEOUT + MARGIN, "{:?}", answer.elapsed);
}

#[tokio::test(flavor = "multi_thread")]
async fn storing_one_user_again_succeeds_so_a_retry_after_a_lost_reply_is_not_a_409() {
    use gift_genie_backend::deadline::Deadline;
    use gift_genie_backend::metrics::Metrics;
    use gift_genie_backend::redis_pool::RedisPool;
    use gift_genie_backend::sources::Sources;
    use gift_genie_backend::users::{Created, User, UserStore};

    let redis = RedisServer::start().await;
    let settings = crate::support::app::settings(&redis.url(), &[]);
    let store = UserStore::new(RedisPool::new(settings.redis, Metrics::new().redis).unwrap());
    let deadline = || Deadline::after(std::time::Duration::from_secs(5));
    let user = User::new("retry@example.com".to_owned(), "Retry".to_owned(), &Sources::from_os());

    assert_eq!(store.create(&user, "$argon2id$stub", deadline()).await.unwrap(), Created::User);
    // What a retry does when the first attempt's reply was lost.
    assert_eq!(store.create(&user, "$argon2id$stub", deadline()).await.unwrap(), Created::User);
    let someone_else = User::new("retry@example.com".to_owned(), "Someone Else".to_owned(), &Sources::from_os());
    assert_eq!(store.create(&someone_else, "$argon2id$stub", deadline()).await.unwrap(), Created::EmailTaken);
    assert_eq!(store.find(user.id, deadline()).await.unwrap(), Some(user));
}
