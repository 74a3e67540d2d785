//! Which shard a key lives on, so that failures are counted, and the breaker opens, per shard:
//! in cluster mode a shard that is down must not take the others' keys with it.
//!
//! In standalone mode there is one shard. In cluster mode the map comes from `CLUSTER SLOTS`
//! (which managed Redis users may run), is read when the pool starts and again after failures,
//! and names each shard by its primary's address.

use std::sync::RwLock;

use redis::Value;

/// The one shard of a standalone Redis, and the name keys get before a cluster's map is known.
pub const STANDALONE: &str = "primary";

/// Redis Cluster's 16384 hash slots.
const SLOTS: u16 = 16384;

/// The slot of `key`: CRC16 of the key, or of its hash tag (`{...}`) when it has one.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let close = bytes[open + 1..].iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &bytes[open + 1..open + 1 + close])
        })
        .unwrap_or(bytes);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// One primary and a range of slots it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub first_slot: u16,
    pub last_slot: u16,
    /// `host:port` of its primary.
    pub primary: String,
}

#[derive(Debug, Default)]
pub(crate) struct ShardMap {
    /// Every slot range and its primary, in slot order.
    shards: RwLock<Vec<Shard>>,
    /// Every node the last map named, primaries and replicas: whom to ask for the next one.
    nodes: RwLock<Vec<String>>,
}

impl ShardMap {
    /// The shard that holds `key`, by its primary's address; [`STANDALONE`] when there is no map.
    pub(crate) fn of(&self, key: &str) -> String {
        let slot = key_slot(key);
        self.read()
            .iter()
            .find(|shard| (shard.first_slot..=shard.last_slot).contains(&slot))
            .map_or_else(|| STANDALONE.to_owned(), |shard| shard.primary.clone())
    }

    /// Every shard, each primary once (with the first of its slot ranges: a primary serves
    /// several once a range has moved to it).
    pub(crate) fn shards(&self) -> Vec<Shard> {
        let mut shards: Vec<Shard> = Vec::new();
        for range in self.read().iter() {
            if !shards.iter().any(|shard| shard.primary == range.primary) {
                shards.push(range.clone());
            }
        }
        shards
    }

    /// Replaces the map with a `CLUSTER SLOTS` reply: `None` when the reply is unreadable (the
    /// map stays as it was), else whether the primaries or their slots changed.
    pub(crate) fn update(&self, reply: &Value) -> Option<bool> {
        let (mut shards, nodes) = parse_cluster_slots(reply)?;
        shards.sort_by_key(|shard| shard.first_slot);
        *self.nodes.write().expect("shard map lock") = nodes;
        let mut current = self.shards.write().expect("shard map lock");
        let changed = *current != shards;
        *current = shards;
        Some(changed)
    }

    /// Every node the map names, primaries first.
    pub(crate) fn nodes(&self) -> Vec<String> {
        self.nodes.read().expect("shard map lock").clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Shard>> {
        self.shards.read().expect("shard map lock")
    }
}

/// `CLUSTER SLOTS`: for each range, `[first, last, [host, port, id, ...], replicas...]`. Gives the
/// shards, and every node's address, primaries first.
fn parse_cluster_slots(reply: &Value) -> Option<(Vec<Shard>, Vec<String>)> {
    let Value::Array(ranges) = reply else { return None };
    let mut shards = Vec::with_capacity(ranges.len());
    let mut replicas = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else { return None };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(primary)) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return None;
        };
        shards.push(Shard {
            first_slot: u16::try_from(*first).ok()?,
            last_slot: u16::try_from(*last).ok()?,
            primary: address(primary)?,
        });
        replicas.extend(fields.iter().skip(3).filter_map(address));
    }
    let mut nodes: Vec<String> = Vec::new();
    for node in shards.iter().map(|shard| shard.primary.clone()).chain(replicas) {
        if !nodes.contains(&node) {
            nodes.push(node);
        }
    }
    Some((shards, nodes))
}

/// `[host, port, id, ...]` as `host:port`.
fn address(node: &Value) -> Option<String> {
    let Value::Array(fields) = node else { return None };
    let host = match fields.first()? {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    let Value::Int(port) = fields.get(1)? else { return None };
    Some(format!("{host}:{port}"))
}

/// A key of the form `{prefix}{tag}` that lands in `shard`, for writing to that shard alone.
pub(crate) fn key_in(shard: &Shard, prefix: &str) -> String {
    // A range of one slot is hit about once in 16384 tags; every slot is hit well before 2^32.
    (0..=u32::MAX)
        .map(|tag| format!("{prefix}{{{tag}}}"))
        .find(|key| (shard.first_slot..=shard.last_slot).contains(&key_slot(key)))
        .expect("every slot range holds the slot of some small tag")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_redis_clusters() {
        // From the Redis documentation of CLUSTER KEYSLOT and of hash tags.
        assert_eq!(key_slot("somekey"), 11058);
        assert_eq!(key_slot("foo{hash_tag}"), key_slot("hash_tag"));
        assert_eq!(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"), "an empty tag hashes the whole key");
        assert_ne!(key_slot("foo{}{bar}"), key_slot("bar"));
    }

    fn slots_reply() -> Value {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(5460), node("10.0.0.1", 6379), node("10.0.0.4", 6379)]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node("10.0.0.2", 6379)]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node("10.0.0.3", 6379)]),
        ])
    }

    #[test]
    fn keys_map_to_the_primary_that_serves_their_slot() {
        let map = ShardMap::default();
        assert_eq!(map.of("anything"), STANDALONE, "no map yet: one shard");
        assert_eq!(map.update(&slots_reply()), Some(true));
        assert_eq!(map.of("somekey"), "10.0.0.3:6379", "slot 11058");
        assert_eq!(map.shards().len(), 3);
        assert_eq!(map.nodes(), ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379"]);
        assert_eq!(map.update(&slots_reply()), Some(false), "the same map again is no change");
        assert_eq!(map.update(&Value::Nil), None, "a reply that is no map changes nothing");
        assert_eq!(map.shards().len(), 3);
    }

    #[test]
    fn a_primary_that_serves_several_ranges_is_one_shard_and_one_node() {
        // After a slot range moved from one primary to another, the target serves two ranges.
        let node = |host: &str| Value::Array(vec![Value::BulkString(host.as_bytes().to_vec()), Value::Int(6379)]);
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(99), node("10.0.0.2")]),
            Value::Array(vec![Value::Int(100), Value::Int(5460), node("10.0.0.1")]),
            Value::Array(vec![Value::Int(5461), Value::Int(16383), node("10.0.0.2")]),
        ]);
        let map = ShardMap::default();
        map.update(&reply);
        assert_eq!(map.nodes(), ["10.0.0.2:6379", "10.0.0.1:6379"]);
        let primaries: Vec<String> = map.shards().into_iter().map(|shard| shard.primary).collect();
        assert_eq!(primaries, ["10.0.0.2:6379", "10.0.0.1:6379"]);
        assert_eq!(map.of(&key_in(&map.shards()[0], "k:")), "10.0.0.2:6379");
        assert_eq!(map.of("somekey"), "10.0.0.2:6379", "slot 11058, in the second range");
    }

    #[test]
    fn every_shard_has_a_key_of_its_own() {
        let map = ShardMap::default();
        map.update(&slots_reply());
        for shard in map.shards() {
            let key = key_in(&shard, "gift-genie:health:");
            assert_eq!(map.of(&key), shard.primary, "{key}");
        }
    }
}
