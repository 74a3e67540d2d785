//! The simulated Redis answers as `redis-server` does: a command log recorded from a run of the
//! workload, and the cases the workload seldom reaches, replayed against both over RESP3, give
//! the same replies.

use std::time::Duration;

use bytes::Bytes;
use redis::{AsyncConnectionConfig, Value};
use sim::net::Net;
use sim::redis::{HOST, PORT, Redis, Shape};
use sim::scenario::Topology;
use sim::trace::Trace;
use sim::{Scenario, run};
use testkit::redis::RedisServer;

/// Commands the workload seldom sends, or never, with answers worth comparing: errors, expiry,
/// scripts unknown, several keys at once.
fn corner_cases() -> Vec<Vec<&'static str>> {
    vec![
        vec!["GET", "gift-genie:attempts:register:192.0.2.1"],
        vec!["HGETALL", "gift-genie:missing"],
        vec!["HGET", "gift-genie:missing", "id"],
        vec!["PTTL", "gift-genie:missing"],
        vec!["SET", "gift-genie:k", "v"],
        vec!["PTTL", "gift-genie:k"],
        vec!["SET", "gift-genie:k", "v", "PX", "60000"],
        vec!["PTTL", "gift-genie:k"],
        vec!["HSET", "gift-genie:h", "a", "1", "b", "2"],
        vec!["HSET", "gift-genie:h", "a", "3"],
        vec!["HGETALL", "gift-genie:h"],
        vec!["HLEN", "gift-genie:h"],
        vec!["HGET", "gift-genie:k", "a"],
        vec!["EXISTS", "gift-genie:k", "gift-genie:h", "gift-genie:missing"],
        vec!["DEL", "gift-genie:k", "gift-genie:missing"],
        vec!["EVALSHA", "0000000000000000000000000000000000000000", "0"],
        vec!["SCRIPT", "EXISTS", "0000000000000000000000000000000000000000"],
        vec!["WAIT", "0", "10"],
        vec!["PING"],
        vec!["SELECT", "0"],
    ]
}

/// The log to replay: every command of a run without faults (connection set-up aside, which
/// names the server), then the corner cases.
fn command_log() -> Vec<Vec<Bytes>> {
    let scenario = Scenario {
        seed: 11,
        topology: Topology::Standalone,
        wait_replicas: 0,
        replication_lag: Duration::ZERO,
        faults: Vec::new(),
        forced: false,
    };
    let outcome = run(&scenario, false);
    let mut log: Vec<Vec<Bytes>> =
        outcome.command_log.into_iter().filter(|command| !matches!(&command[0][..], b"HELLO" | b"CLIENT")).collect();
    assert!(log.len() > 300, "the workload sent {} commands", log.len());
    log.extend(
        corner_cases()
            .into_iter()
            .map(|words| words.into_iter().map(|word| Bytes::from_static(word.as_bytes())).collect()),
    );
    log
}

/// A reply as both sides can be compared: expiries counted down in simulated time and in real
/// time differ, so a positive time to live is shown as such; a map's order is its server's.
fn comparable(command: &[Bytes], reply: redis::RedisResult<Value>) -> String {
    let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
    let reply = match reply {
        Ok(value) => value,
        Err(error) => return format!("error {}", error.detail().unwrap_or_default().trim_end()),
    };
    let positive = |value: Value| match value {
        Value::Int(millis) if millis > 0 => Value::SimpleString("positive".to_owned()),
        other => other,
    };
    let reply = match (name.as_str(), reply) {
        ("PTTL", value) => positive(value),
        // The rate limit's script answers [counted, used, time to live].
        ("EVAL" | "EVALSHA", Value::Array(mut items)) if items.len() == 3 => {
            let ttl = items.pop().expect("three items");
            items.push(positive(ttl));
            Value::Array(items)
        }
        (_, Value::Map(mut pairs)) => {
            pairs.sort_by_key(|(key, _)| format!("{key:?}"));
            Value::Map(pairs)
        }
        (_, value) => value,
    };
    format!("{reply:?}")
}

async fn replay(connection: &mut redis::aio::MultiplexedConnection, log: &[Vec<Bytes>]) -> Vec<String> {
    let mut replies = Vec::with_capacity(log.len());
    for command in log {
        let mut cmd = redis::cmd(&String::from_utf8_lossy(&command[0]));
        for arg in &command[1..] {
            cmd.arg(&arg[..]);
        }
        replies.push(comparable(command, cmd.query_async::<Value>(connection).await));
    }
    replies
}

fn resp3() -> redis::RedisConnectionInfo {
    redis::RedisConnectionInfo::default().set_protocol(redis::ProtocolVersion::RESP3)
}

/// The replies of the simulated Redis, over the simulated network, in simulated time.
fn simulated(log: &[Vec<Bytes>]) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    runtime.block_on(async {
        let trace = Trace::new(false);
        let net = Net::new(trace.clone(), 0);
        let _redis = Redis::start(&net, &trace, Shape::Standalone, 0);
        let stream = net.connect(HOST, PORT).await.unwrap();
        let (mut connection, driver) =
            redis::aio::MultiplexedConnection::new_with_config(&resp3(), stream, AsyncConnectionConfig::new())
                .await
                .unwrap();
        tokio::spawn(driver);
        replay(&mut connection, log).await
    })
}

/// The replies of `redis-server`.
fn real(log: &[Vec<Bytes>]) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = RedisServer::start().await;
        let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        replay(&mut connection, log).await
    })
}

#[test]
fn the_simulated_redis_answers_a_recorded_command_log_as_redis_server_does() {
    let log = command_log();
    let (simulated, real) = (simulated(&log), real(&log));
    for (index, command) in log.iter().enumerate() {
        let shown: Vec<String> = command.iter().map(|word| String::from_utf8_lossy(word).into_owned()).collect();
        assert_eq!(simulated[index], real[index], "command {index}: {}", shown.join(" "));
    }
    let scripts = log.iter().filter(|command| command[0].starts_with(b"EVAL")).count();
    assert!(scripts > 100, "the log runs the backend's scripts: {scripts} times");
}
