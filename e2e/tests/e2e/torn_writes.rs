//! Registrations cut off mid-write: the connection to Redis closes after a chosen number of bytes,
//! in either direction, at every point of a registration's traffic. Whatever the cut lands on, no
//! read finds half an account, and the email is either free or owned by one whole account.

use e2e::stack::REDIS_PROXY;
use e2e::workload::Recorded;
use e2e::{BackendConfig, Stack, StackOptions, Stream, Topology, Toxic};
use rstest::rstest;

use crate::support::{MARGIN, email, poll_until, stack, valid};

/// Where the cuts land, in bytes since the toxic was added. A registration sends about 700 bytes
/// to Redis (the rate-limit script, the account script with its hash, the id index) and reads
/// about 100 back, so the steps cover every command and the gaps between them.
fn cut_points(stream: Stream) -> impl Iterator<Item = u64> {
    let (last, step) = match stream {
        Stream::Upstream => (900, 30),
        Stream::Downstream => (160, 8),
    };
    (0..=last).step_by(step)
}

/// Every `account:*` hash in Redis has its five fields, and every id index names such an account.
async fn torn_keys(stack: &Stack) -> Vec<String> {
    let mut torn = Vec::new();
    let accounts = stack.redis_cli(&["--scan", "--pattern", "gift-genie:account:*"]).await.unwrap();
    for key in accounts.lines() {
        let fields = stack.redis_cli(&["HKEYS", key]).await.unwrap();
        let mut fields: Vec<&str> = fields.lines().collect();
        fields.sort_unstable();
        if fields != ["created_at", "email", "id", "name", "password_hash"] {
            torn.push(format!("{key}: {fields:?}"));
        }
    }
    let indexes = stack.redis_cli(&["--scan", "--pattern", "gift-genie:user-id:*"]).await.unwrap();
    for key in indexes.lines() {
        let email = stack.redis_cli(&["GET", key]).await.unwrap();
        let account = format!("gift-genie:account:{}", email.trim());
        let owner = stack.redis_cli(&["HGET", &account, "id"]).await.unwrap();
        if Some(owner.trim()) != key.strip_prefix("gift-genie:user-id:") {
            torn.push(format!("{key} → {account}, owned by {owner:?}"));
        }
    }
    torn
}

#[rstest]
#[case::requests_cut_on_their_way_to_redis(Stream::Upstream)]
#[case::replies_cut_on_their_way_back(Stream::Downstream)]
#[tokio::test(flavor = "multi_thread")]
async fn a_registration_cut_off_at_any_byte_leaves_no_half_written_account(#[case] stream: Stream) {
    let backend = BackendConfig::fast().set("RATE_LIMIT_MAX_ATTEMPTS", "1000000");
    let stack = stack(StackOptions::default().topology(Topology::ThroughProxy).backend(backend)).await;
    let config = stack.config().clone();
    let proxy = stack.toxiproxy().unwrap();
    let client = Recorded::new(stack.backend());
    let mut outcomes = Vec::new();

    for (process, bytes) in cut_points(stream).enumerate() {
        let process = process as u64;
        let cut = Toxic::limit_data(bytes).on(stream).named("cut");
        proxy.add_toxic(REDIS_PROXY, &cut).await.unwrap();
        let email = email("torn");
        let first = client.register(process, &email, None).await.map(|answer| answer.status).unwrap_or_default();
        proxy.remove_toxic(REDIS_PROXY, "cut").await.unwrap();
        outcomes.push((bytes, first));

        // Once the cut heals, the email is owned by one account or free for a new one; the
        // history holds every answer, and the account is read back by its id when it has one.
        let (answer, _) = poll_until(
            "registering the email again gets a definite answer",
            config.recovery_bound() + MARGIN,
            || async { client.register(process, &email, None).await.ok() },
            |answer| answer.as_ref().is_some_and(|answer| answer.status == 201 || answer.status == 409),
        )
        .await;
        if let Some(id) = answer.as_ref().and_then(|answer| answer.field("id").as_str()) {
            client.read(process, id).await.unwrap();
        }
        if let Some(id) = client.acknowledged(|count| count - 1) {
            client.read(process, &id).await.unwrap();
        }
    }

    let torn = torn_keys(&stack).await;
    println!("{stream:?} cuts (bytes, status): {outcomes:?}");
    assert!(torn.is_empty(), "half-written keys after cuts {outcomes:?}: {torn:?}");
    // No email with two accounts, no acknowledged account lost or unreadable, no 409 with nobody.
    valid(&client.finish(Some(&stack)).await.unwrap(), 0);
    assert!(outcomes.iter().any(|(_, status)| *status == 201), "some cuts came late enough to succeed: {outcomes:?}");
    assert!(outcomes.iter().any(|(_, status)| *status != 201), "and some cut the registration off: {outcomes:?}");
}
