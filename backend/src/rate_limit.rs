//! A fixed-window rate limit per client address, enforced atomically in Redis.
//!
//! One Lua script counts the attempt and sets the window's expiry, so that a crash between the two
//! can never leave a count without expiry, and several replicas sharing one Redis share one limit.
//! Each attempt is counted by its own id, in a hash of at most `limit` ids, rather than by INCR:
//! counting is then idempotent, so a retried call (ours, or redis-rs following a cluster
//! redirect) never counts one attempt twice. The key is one per client: on Redis Cluster too,
//! the count is exact.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv6Net;

use crate::config::RateLimitSettings;
use crate::deadline::Deadline;
use crate::redis_pool::{Operation, RedisError, RedisPool, Retry};
use crate::sources::Sources;

/// Idempotent: an attempt is counted by its id, once, however often the call is retried.
const COUNT_ATTEMPT: Operation = Operation { name: "rate_limit", retry: Retry::Idempotent };

/// KEYS[1]: the client's attempts in this window. ARGV: the window in ms, the limit, this
/// attempt's id. Answers whether the attempt counts (is allowed), the attempts counted, and the
/// time left in the window.
pub(crate) const SCRIPT: &str = r"
local used = redis.call('HLEN', KEYS[1])
local counted = redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1
if not counted and used < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[3], 1)
  used = used + 1
  counted = true
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {counted and 1 or 0, used, ttl}
";

/// The outcome of counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// The window's length.
    pub window: Duration,
    /// Time until the window resets, rounded up to whole seconds.
    pub reset_after: Duration,
}

#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    redis: RedisPool,
    sources: Arc<Sources>,
    settings: RateLimitSettings,
    key_prefix: String,
    script: Arc<redis::Script>,
}

impl RateLimiter {
    pub(crate) fn new(redis: RedisPool, sources: Arc<Sources>, settings: RateLimitSettings, scope: &str) -> Self {
        let key_prefix = format!("{}attempts:{scope}:", redis.settings().key_prefix);
        Self { redis, sources, settings, key_prefix, script: Arc::new(redis::Script::new(SCRIPT)) }
    }

    /// Counts one attempt from `client` and says whether it is within the limit.
    pub(crate) async fn check(&self, client: IpAddr, deadline: Deadline) -> Result<Decision, RedisError> {
        let key = format!("{}{}", self.key_prefix, budget_owner(client, self.settings.ipv6_prefix));
        let window_ms = u64::try_from(self.settings.window.as_millis()).unwrap_or(u64::MAX);
        let limit = self.settings.max_attempts;
        let attempt = self.sources.uuid().to_string();
        let (counted, used, ttl_ms): (u8, u32, u64) = self
            .redis
            .execute(COUNT_ATTEMPT, &key, deadline, |mut connection| {
                let mut invocation = self.script.key(&key);
                invocation.arg(window_ms).arg(limit).arg(&attempt);
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(Decision {
            allowed: counted == 1,
            limit,
            remaining: limit.saturating_sub(used),
            window: self.settings.window,
            reset_after: Duration::from_secs(ttl_ms.div_ceil(1000).max(1)),
        })
    }

    pub(crate) fn trusted_proxy_hops(&self) -> usize {
        self.settings.trusted_proxy_hops
    }
}

/// Who a budget belongs to: an IPv4 address, or the IPv6 network of `ipv6_prefix` bits around the
/// address, since one host usually holds a whole /64. An IPv4-mapped IPv6 address is its IPv4
/// address, as a dual-stack socket reports IPv4 clients that way.
fn budget_owner(client: IpAddr, ipv6_prefix: u8) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => Ipv6Net::new(v6, ipv6_prefix).expect("settings keep the prefix within 1..=128").trunc().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::ipv4_as_is("203.0.113.9", 64, "203.0.113.9")]
    #[case::ipv6_by_its_64("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64")]
    #[case::ipv6_by_a_48("2001:db8:1:2::1", 48, "2001:db8:1::/48")]
    #[case::ipv6_by_itself("2001:db8:1:2::1", 128, "2001:db8:1:2::1/128")]
    #[case::ipv4_mapped_as_ipv4("::ffff:203.0.113.9", 64, "203.0.113.9")]
    fn each_budget_has_one_owner(#[case] client: &str, #[case] prefix: u8, #[case] owner: &str) {
        assert_eq!(budget_owner(client.parse().unwrap(), prefix), owner);
    }
}
