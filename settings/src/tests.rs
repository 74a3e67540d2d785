use std::collections::HashMap;

use rstest::rstest;

use super::*;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Settings::from_lookup(|name| vars.get(name).cloned())
}

fn problem(vars: &[(&str, &str)]) -> Problem {
    let error = settings(vars).expect_err("the settings should be rejected");
    assert_eq!(error.problems.len(), 1, "{error}");
    error.problems[0].clone()
}

#[test]
fn defaults_match_the_python_service_that_this_replaces() {
    let settings = settings(&[]).unwrap();
    let redis = &settings.redis;
    assert_eq!(redis.url.to_string(), "redis://localhost:6379/0");
    assert_eq!(redis.pool_max_size, 50);
    assert_eq!(redis.connect_timeout, Duration::from_secs(5));
    assert_eq!(redis.operation_timeout, Duration::from_secs(5));
    assert_eq!(redis.health_check_interval, Duration::from_secs(30));
    assert_eq!(
        redis.keepalive,
        Some(KeepaliveSettings { idle: Duration::from_secs(30), interval: Duration::from_secs(10), count: 3 })
    );
    assert_eq!(redis.tcp_user_timeout, Some(Duration::from_secs(15)));
    assert_eq!(redis.retry.max_attempts, 3, "retry on timeout is on");
    assert_eq!(settings.http.port, 8080);
    assert_eq!(settings.rate_limit.max_attempts, 5);
    assert_eq!(settings.rate_limit.window, Duration::from_mins(1));
    assert_eq!(settings.rate_limit.trusted_proxy_hops, 0);
    assert_eq!(settings.rate_limit.ipv6_prefix, 64);
    assert_eq!(settings.log.format, LogFormat::Text);
    assert_eq!(settings.http.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(settings.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(settings.http.idle_timeout, Duration::from_mins(1));
    assert_eq!(settings.hashing.queue_timeout, Duration::from_secs(2));
}

#[rstest]
#[case::milliseconds("500ms", Duration::from_millis(500))]
#[case::seconds_with_unit("5s", Duration::from_secs(5))]
#[case::bare_seconds_like_the_python_settings("5", Duration::from_secs(5))]
#[case::fractional_seconds("0.25", Duration::from_millis(250))]
#[case::compound("1m 30s", Duration::from_secs(90))]
#[case::surrounding_spaces(" 2s ", Duration::from_secs(2))]
fn timeouts_accept_human_durations_and_bare_seconds(#[case] raw: &str, #[case] expected: Duration) {
    assert_eq!(settings(&[("REDIS_OPERATION_TIMEOUT", raw)]).unwrap().redis.operation_timeout, expected);
}

#[rstest]
#[case::word("REDIS_OPERATION_TIMEOUT", "soon", "expected a duration greater than zero")]
#[case::zero("REDIS_CONNECT_TIMEOUT", "0", "expected a duration greater than zero")]
#[case::negative("REDIS_POOL_WAIT_TIMEOUT", "-1", "expected a duration greater than zero")]
#[case::pool_of_zero("REDIS_POOL_MAX_SIZE", "0", "expected a whole number from 1 to 10000")]
#[case::pool_not_a_number("REDIS_POOL_MAX_SIZE", "fifty", "expected a whole number from 1 to 10000")]
#[case::port_out_of_range("PORT", "70000", "expected a TCP port number")]
#[case::host_not_an_ip("HOST", "localhost", "expected an IP address")]
#[case::flag("REDIS_TCP_KEEPALIVE", "maybe", "expected true or false")]
#[case::keepalive_in_milliseconds("REDIS_TCP_KEEPALIVE_IDLE", "500ms", "expected a whole number of seconds")]
#[case::window_fraction("RATE_LIMIT_WINDOW", "1.5", "expected a whole number of seconds")]
#[case::attempts_zero("REDIS_RETRY_MAX_ATTEMPTS", "0", "expected a whole number from 1 to 10")]
#[case::log_format("LOG_FORMAT", "xml", "expected text or json")]
#[case::absurdly_long_timeout(
    "REDIS_OPERATION_TIMEOUT",
    "1e19",
    "expected a duration greater than zero, such as 5s or 500ms, and at most 24h"
)]
#[case::longer_than_a_day(
    "HTTP_REQUEST_TIMEOUT",
    "25h",
    "expected a duration greater than zero, such as 5s or 500ms, and at most 24h"
)]
#[case::ipv6_prefix_too_long("RATE_LIMIT_IPV6_PREFIX", "129", "expected a whole number from 1 to 128")]
#[case::no_connections("HTTP_MAX_CONNECTIONS", "0", "expected a whole number from 1 to 1000000")]
#[case::log_filter("RUST_LOG", "info,[", "expected a tracing filter")]
#[case::url_scheme("REDIS_URL", "http://localhost:6379", "expected the redis:// or rediss:// scheme")]
#[case::url_without_host("REDIS_URL", "redis://", "expected a host")]
#[case::url_database("REDIS_URL", "redis://localhost:6379/zero", "expected a numeric database index")]
fn a_bad_value_is_reported_with_its_variable_and_the_expected_form(
    #[case] variable: &str,
    #[case] value: &str,
    #[case] expected: &str,
) {
    let problem = problem(&[(variable, value)]);
    assert_eq!(problem.variable, variable);
    assert!(problem.expected.starts_with(expected), "{problem}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let error = settings(&[("PORT", "http"), ("REDIS_OPERATION_TIMEOUT", "never"), ("LOG_FORMAT", "xml")]).unwrap_err();
    insta::assert_snapshot!(error.to_string(), @r#"
    invalid configuration (3 problems)
      PORT="http": expected a TCP port number between 0 and 65535
      REDIS_OPERATION_TIMEOUT="never": expected a duration greater than zero, such as 5s or 500ms
      LOG_FORMAT="xml": expected text or json
    "#);
}

#[test]
fn a_redis_password_never_appears_in_errors_or_debug_output() {
    let error = settings(&[("REDIS_URL", "http://user:s3cret@host:6379")]).unwrap_err();
    assert!(!error.to_string().contains("s3cret"), "{error}");

    let settings = settings(&[("REDIS_URL", "rediss://default:s3cret@redis.internal:6380/2")]).unwrap();
    assert_eq!(settings.redis.url.to_string(), "rediss://default:***@redis.internal:6380/2");
    assert!(!format!("{settings:?}").contains("s3cret"));
    assert!(settings.redis.url.expose().contains("s3cret"), "the client still gets the real password");
    assert!(settings.redis.url.uses_tls());
}

#[test]
fn turning_retry_on_timeout_off_means_a_single_attempt() {
    let settings = settings(&[("REDIS_RETRY_ON_TIMEOUT", "false"), ("REDIS_RETRY_MAX_ATTEMPTS", "5")]).unwrap();
    assert_eq!(settings.redis.retry.max_attempts, 1);
}

#[test]
fn keepalive_and_user_timeout_can_be_switched_off() {
    let settings = settings(&[("REDIS_TCP_KEEPALIVE", "off"), ("REDIS_TCP_USER_TIMEOUT", "0")]).unwrap();
    assert_eq!(settings.redis.keepalive, None);
    assert_eq!(settings.redis.tcp_user_timeout, None);
}

#[test]
fn empty_variables_count_as_unset() {
    let settings = settings(&[("PORT", ""), ("REDIS_KEY_PREFIX", "  ")]).unwrap();
    assert_eq!(settings.http.port, 8080);
    assert_eq!(settings.redis.key_prefix, "gift-genie:");
}

#[test]
fn the_redis_password_can_come_from_its_own_secret_variable_but_not_from_both_places() {
    let settings =
        settings(&[("REDIS_URL", "redis://gift-genie@172.16.0.10:6379/0"), ("REDIS_PASSWORD", "s3cret")]).unwrap();
    assert!(settings.redis.password.is_some());
    assert!(!format!("{settings:?}").contains("s3cret"));

    let both = problem(&[("REDIS_URL", "redis://u:inline@host:6379"), ("REDIS_PASSWORD", "s3cret")]);
    assert_eq!(both.variable, "REDIS_PASSWORD");
    assert!(!both.to_string().contains("s3cret") && !both.to_string().contains("inline"), "{both}");
}

#[test]
fn cluster_mode_takes_several_seed_nodes_and_hides_every_password() {
    let settings = settings(&[
        ("REDIS_MODE", "cluster"),
        ("REDIS_URL", "redis://u:s3cret@10.0.0.1:6379, redis://u:s3cret@10.0.0.2:6379"),
    ])
    .unwrap();
    assert_eq!(settings.redis.mode, RedisMode::Cluster);
    assert_eq!(settings.redis.url.node_count(), 2);
    assert_eq!(settings.redis.url.to_string(), "redis://u:***@10.0.0.1:6379,redis://u:***@10.0.0.2:6379");
    assert_eq!(
        settings.redis.url.expose_nodes().collect::<Vec<_>>(),
        ["redis://u:s3cret@10.0.0.1:6379", "redis://u:s3cret@10.0.0.2:6379"]
    );
}

#[rstest]
#[case::several_nodes_in_standalone_mode(&[("REDIS_URL", "redis://a:6379,redis://b:6379")], "several nodes are for REDIS_MODE=cluster")]
#[case::a_database_in_cluster_mode(&[("REDIS_MODE", "cluster"), ("REDIS_URL", "redis://a:6379/2")], "Redis Cluster has only database 0")]
#[case::mixed_schemes(&[("REDIS_MODE", "cluster"), ("REDIS_URL", "redis://a:6379,rediss://b:6379")], "the same scheme")]
#[case::an_unknown_mode(&[("REDIS_MODE", "sentinel")], "expected standalone or cluster")]
#[case::too_many_replicas_to_wait_for(&[("REDIS_WAIT_REPLICAS", "17")], "from 0 to 16")]
fn a_redis_shape_the_service_cannot_use_is_refused(#[case] vars: &[(&str, &str)], #[case] expected: &str) {
    let error = settings(vars).unwrap_err().to_string();
    assert!(error.contains(expected), "{error}");
    assert!(!error.contains("s3cret"));
}
