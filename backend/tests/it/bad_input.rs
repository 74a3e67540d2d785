//! Hostile and broken registration requests: each gets its own 4xx with a JSON error, never a 5xx.

use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{Value, json};
use testkit::raw_http;

use crate::support::{RedisServer, TestApp};

const JSON: &str = "application/json";

/// What a request sends: a content type (or none) and raw body bytes.
enum Body {
    Raw(Option<&'static str>, Vec<u8>),
    Json(Value),
}

fn raw(content_type: &'static str, body: &str) -> Body {
    Body::Raw(Some(content_type), body.as_bytes().to_vec())
}

fn with(field: &str, value: Value) -> Body {
    let mut body = json!({"email": "ok@example.com", "password": "g00d-password", "name": "Ok"});
    body[field] = value;
    Body::Json(body)
}

fn without(field: &str) -> Body {
    let mut body = json!({"email": "ok@example.com", "password": "g00d-password", "name": "Ok"});
    body.as_object_mut().unwrap().remove(field);
    Body::Json(body)
}

#[rstest]
#[case::truncated_json(raw(JSON, r#"{"email": "a@example.com""#), 400, "malformed_json", &[])]
#[case::trailing_garbage(raw(JSON, "{} {}"), 400, "malformed_json", &[])]
#[case::empty_body(raw(JSON, ""), 400, "malformed_json", &[])]
#[case::invalid_utf8(Body::Raw(Some(JSON), vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']), 400, "malformed_json", &[])]
#[case::nested_too_deep(raw(JSON, &format!("{}{}", "[".repeat(500), "]".repeat(500))), 400, "malformed_json", &[])]
#[case::no_content_type(Body::Raw(None, br#"{"email":"a@example.com"}"#.to_vec()), 415, "unsupported_media_type", &[])]
#[case::text_plain(raw("text/plain", r#"{"email":"a@example.com"}"#), 415, "unsupported_media_type", &[])]
#[case::form_encoded(raw("application/x-www-form-urlencoded", "email=a%40example.com"), 415, "unsupported_media_type", &[])]
#[case::oversized_body(raw(JSON, &format!(r#"{{"name":"{}"}}"#, "x".repeat(17 * 1024))), 413, "payload_too_large", &[])]
#[case::json_array(raw(JSON, "[]"), 422, "validation_failed", &["body"])]
#[case::json_string(raw(JSON, r#""register me""#), 422, "validation_failed", &["body"])]
#[case::json_null(raw(JSON, "null"), 422, "validation_failed", &["body"])]
#[case::empty_object(raw(JSON, "{}"), 422, "validation_failed", &["email", "password", "name"])]
#[case::missing_email(without("email"), 422, "validation_failed", &["email"])]
#[case::null_password(with("password", Value::Null), 422, "validation_failed", &["password"])]
#[case::email_is_a_number(with("email", json!(42)), 422, "validation_failed", &["email"])]
#[case::password_is_an_array(with("password", json!(["g00d-password"])), 422, "validation_failed", &["password"])]
#[case::name_is_an_object(with("name", json!({"first": "Ada"})), 422, "validation_failed", &["name"])]
#[case::email_without_at(with("email", json!("ada.example.com")), 422, "validation_failed", &["email"])]
#[case::email_with_display_name(with("email", json!("Ada <ada@example.com>")), 422, "validation_failed", &["email"])]
#[case::email_without_dot_in_domain(with("email", json!("ada@localhost")), 422, "validation_failed", &["email"])]
#[case::email_with_nul(with("email", json!("ada\u{0}@example.com")), 422, "validation_failed", &["email"])]
#[case::email_sql_injection(with("email", json!("ada@example.com'; DROP TABLE users;--")), 422, "validation_failed", &["email"])]
#[case::email_too_long(with("email", json!(format!("{}@example.com", "a".repeat(250)))), 422, "validation_failed", &["email"])]
#[case::password_too_short(with("password", json!("abc1")), 422, "validation_failed", &["password"])]
#[case::password_too_long(with("password", json!(format!("a1{}", "b".repeat(127)))), 422, "validation_failed", &["password"])]
#[case::password_without_digit(with("password", json!("no-digits-here")), 422, "validation_failed", &["password"])]
#[case::password_without_letter(with("password", json!("1234567890")), 422, "validation_failed", &["password"])]
#[case::password_with_newline(with("password", json!("line1\nline2")), 422, "validation_failed", &["password"])]
#[case::name_only_spaces(with("name", json!("    ")), 422, "validation_failed", &["name"])]
#[case::name_too_long_in_emoji(with("name", json!("🎁".repeat(101))), 422, "validation_failed", &["name"])]
#[case::name_with_bell(with("name", json!("Ada\u{7}")), 422, "validation_failed", &["name"])]
#[case::name_with_a_bidi_override(with("name", json!("Ada\u{202E}ecalevol")), 422, "validation_failed", &["name"])]
#[case::name_with_a_zero_width_space(with("name", json!("Ad\u{200B}a")), 422, "validation_failed", &["name"])]
#[case::name_with_a_bidi_isolate(with("name", json!("\u{2066}Ada\u{2069}")), 422, "validation_failed", &["name"])]
#[case::name_with_a_line_separator(with("name", json!("Ada\u{2028}Lovelace")), 422, "validation_failed", &["name"])]
#[case::name_smuggling_redis_commands(with("name", json!("x\r\nFLUSHALL\r\n")), 422, "validation_failed", &["name"])]
#[case::every_field_wrong_at_once(Body::Json(json!({"email": true, "password": 1.5, "name": []})), 422, "validation_failed", &["email", "password", "name"])]
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_registration_gets_its_4xx_and_a_json_error(
    #[case] body: Body,
    #[case] status: u16,
    #[case] code: &str,
    #[case] bad_fields: &[&str],
) {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let request = app.client.post(app.url("/api/v1/auth/register"));
    let request = match body {
        Body::Json(value) => request.json(&value),
        Body::Raw(content_type, bytes) => {
            let request = request.body(bytes);
            match content_type {
                Some(content_type) => request.header("content-type", content_type),
                None => request,
            }
        }
    };

    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], JSON);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], code, "{error}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty() && !m.ends_with('.')), "{error}");
    let fields: Vec<&str> = error["fields"]
        .as_array()
        .map(|f| f.iter().map(|f| f["field"].as_str().unwrap()).collect())
        .unwrap_or_default();
    assert_eq!(fields, bad_fields, "{error}");

    let mut admin = redis.admin().await.unwrap();
    let users: Vec<String> = redis::cmd("KEYS").arg("gift-genie:*user*").query_async(&mut admin).await.unwrap();
    let accounts: Vec<String> = redis::cmd("KEYS").arg("gift-genie:account:*").query_async(&mut admin).await.unwrap();
    assert!(users.is_empty() && accounts.is_empty(), "nothing was stored: {users:?} {accounts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_errors_list_every_field_with_a_message() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let response = app.register(&json!({"email": "nope", "password": "short", "name": ""})).await;
    insta::assert_json_snapshot!("validation_failed", response.json::<Value>().await.unwrap());
}

#[rstest]
#[case::get_on_register("GET", "/api/v1/auth/register", 405, "method_not_allowed")]
#[case::delete_on_health("DELETE", "/health", 405, "method_not_allowed")]
#[case::unknown_path("GET", "/api/v1/nothing-here", 404, "not_found")]
#[case::user_id_not_utf8("GET", "/api/v1/users/%FF", 404, "not_found")]
#[case::user_id_overlong_utf8("GET", "/api/v1/users/%C0%AF", 404, "not_found")]
#[case::user_id_not_a_uuid("GET", "/api/v1/users/%00", 404, "not_found")]
#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_get_json_errors(
    #[case] method: &str,
    #[case] path: &str,
    #[case] status: u16,
    #[case] code: &str,
) {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let response = app.client.request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], JSON);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], code);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_method_does_not_spend_the_rate_limit() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[("RATE_LIMIT_MAX_ATTEMPTS", "1")]).await;
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/auth/register").await.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(app.register(&crate::support::user("first@example.com")).await.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_writes_a_2_mib_body_before_reading_always_gets_its_413() {
    let redis = RedisServer::start().await;
    let app = TestApp::spawn(&redis.url(), &[]).await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    let head = raw_http::registration_head(body.len(), false);

    let mut failures = Vec::new();
    for attempt in 0..100 {
        let answer =
            tokio::time::timeout(crate::support::MARGIN * 4, raw_http::exchange(app.addr, head.as_bytes(), &body))
                .await;
        match answer {
            Ok(Ok(answer)) if answer.status == 413 && answer.text.contains("\"payload_too_large\"") => {}
            other => failures.push((attempt, format!("{other:?}").chars().take(200).collect::<String>())),
        }
    }
    assert!(failures.is_empty(), "{} of 100 tries did not read their 413: {failures:?}", failures.len());
}
