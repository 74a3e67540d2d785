use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{RedisServer, TestApp, user};

#[tokio::test(flavor = "multi_thread")]
async fn a_registered_user_can_be_read_back_by_id() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let created: Value = app.register(&user("read@example.com")).await.json().await.unwrap();

    let response = app.get(&format!("/api/v1/users/{}", created["id"].as_str().unwrap())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), created);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_malformed_user_ids_get_a_json_404() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;

    for path in ["/api/v1/users/3f1c1a52-8f0e-4c39-9f7e-7b8f7f0c2d11", "/api/v1/users/not-a-uuid"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found", "{path}");
    }
}
