//! Redis Cluster's slots: which node owns each, the `CLUSTER SLOTS` answer, and the redirects
//! a node gives for a key it does not serve: `MOVED` to the owner, and, while a slot range
//! moves from one node to another, `ASK` to the target for a key the source no longer has (the
//! target serves it only after `ASKING`).

use bytes::Bytes;
use gift_genie_backend::redis_pool::key_slot;

use super::reply::Reply;

/// Slots in a cluster.
const SLOTS: usize = 16_384;

/// A slot range on its way from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub first: u16,
    pub last: u16,
    pub from: usize,
    pub to: usize,
}

impl Migration {
    pub fn holds(&self, slot: u16) -> bool {
        (self.first..=self.last).contains(&slot)
    }
}

/// The slots' owners, and the range that moves, if one does.
#[derive(Debug, Clone)]
pub struct Slots {
    owner: Vec<usize>,
    /// `owner` as contiguous ranges, kept with it: every connection asks `CLUSTER SLOTS`, and
    /// walking 16,384 slots for each answer was most of a cluster seed's time.
    ranges: Vec<(u16, u16, usize)>,
    pub migration: Option<Migration>,
}

impl Slots {
    /// `nodes` nodes, each owning an even, contiguous share of the slots.
    pub fn even(nodes: usize) -> Self {
        let owner: Vec<usize> = (0..SLOTS).map(|slot| slot * nodes / SLOTS).collect();
        Self { ranges: ranges(&owner), owner, migration: None }
    }

    /// The slots `node` owns, as contiguous ranges.
    pub fn ranges_of(&self, node: usize) -> Vec<(u16, u16)> {
        self.ranges.iter().filter(|(_, _, owner)| *owner == node).map(|&(first, last, _)| (first, last)).collect()
    }

    /// The node that owns `key`'s slot.
    pub fn owner_of(&self, key: &[u8]) -> usize {
        self.owner[usize::from(key_slot(&String::from_utf8_lossy(key)))]
    }

    /// The range has moved: its slots belong to the target.
    pub fn finish(&mut self, migration: Migration) {
        for slot in migration.first..=migration.last {
            self.owner[usize::from(slot)] = migration.to;
        }
        self.ranges = ranges(&self.owner);
        self.migration = None;
    }

    /// The redirect `node` gives for `key`, or `None` when it serves it; `asking` says the
    /// client sent `ASKING` just before, and `has` whether a node holds the key now.
    pub fn redirect(
        &self,
        node: usize,
        key: &[u8],
        asking: bool,
        has: impl Fn(usize) -> bool,
        address: impl Fn(usize) -> String,
    ) -> Option<Reply> {
        let slot = key_slot(&String::from_utf8_lossy(key));
        if let Some(migration) = self.migration.filter(|migration| migration.holds(slot)) {
            return if node == migration.from {
                (!has(migration.from)).then(|| Reply::Error(format!("ASK {slot} {}", address(migration.to))))
            } else if node == migration.to && asking {
                None
            } else {
                Some(Reply::Error(format!("MOVED {slot} {}", address(migration.from))))
            };
        }
        let owner = self.owner[usize::from(slot)];
        (owner != node).then(|| Reply::Error(format!("MOVED {slot} {}", address(owner))))
    }

    /// `CLUSTER SLOTS`: each range with its primary's host, port and id.
    pub fn reply(&self, host: impl Fn(usize) -> (String, u16)) -> Reply {
        Reply::Array(
            self.ranges
                .iter()
                .map(|&(first, last, owner)| {
                    let (name, port) = host(owner);
                    Reply::Array(vec![
                        Reply::Integer(i64::from(first)),
                        Reply::Integer(i64::from(last)),
                        Reply::Array(vec![
                            Reply::Bulk(name.into()),
                            Reply::Integer(i64::from(port)),
                            Reply::Bulk(node_id(owner)),
                        ]),
                    ])
                })
                .collect(),
        )
    }
}

/// A node's 40-character id: its number in hex, zero-padded (`format!`'s padding, written a
/// character at a time, was a visible share of every `CLUSTER SLOTS`).
fn node_id(node: usize) -> Bytes {
    let number = format!("{:x}", node + 1);
    let mut id = [b'0'; 40];
    id[40 - number.len()..].copy_from_slice(number.as_bytes());
    Bytes::copy_from_slice(&id)
}

/// Every contiguous range of `owner` and its owner, in slot order.
fn ranges(owner: &[usize]) -> Vec<(u16, u16, usize)> {
    let mut ranges: Vec<(u16, u16, usize)> = Vec::new();
    for (slot, owner) in owner.iter().copied().enumerate() {
        let slot = u16::try_from(slot).expect("fewer than 65536 slots");
        match ranges.last_mut() {
            Some((_, last, current)) if *current == owner => *last = slot,
            _ => ranges.push((slot, slot, owner)),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(node: usize) -> String {
        format!("node-{}:700{}", node + 1, node + 1)
    }

    #[test]
    fn a_node_id_is_its_number_in_hex_padded_to_forty_characters() {
        assert_eq!(node_id(0), format!("{:040x}", 1));
        assert_eq!(node_id(10), format!("{:040x}", 11));
        assert_eq!(node_id(10).len(), 40);
    }

    #[test]
    fn three_nodes_share_the_slots_evenly_and_each_key_has_one_owner() {
        let slots = Slots::even(3);
        assert_eq!(slots.ranges_of(0), [(0, 5461)]);
        assert_eq!(slots.ranges_of(2), [(10923, 16383)]);
        let owner = slots.owner_of(b"gift-genie:account:a@example.com");
        assert_eq!(slots.redirect(owner, b"gift-genie:account:a@example.com", false, |_| true, address), None);
        let other = (owner + 1) % 3;
        let moved = slots.redirect(other, b"gift-genie:account:a@example.com", false, |_| true, address);
        assert!(
            matches!(moved, Some(Reply::Error(ref message)) if message.starts_with("MOVED ") && message.ends_with(&address(owner))),
            "{moved:?}"
        );
    }

    #[test]
    fn a_moving_key_is_asked_of_the_target_once_the_source_no_longer_has_it() {
        let mut slots = Slots::even(3);
        let key = b"k";
        let slot = key_slot("k");
        let from = slots.owner_of(key);
        let to = (from + 1) % 3;
        slots.migration = Some(Migration { first: slot, last: slot, from, to });
        assert_eq!(slots.redirect(from, key, false, |_| true, address), None, "the source serves what it still has");
        assert_eq!(
            slots.redirect(from, key, false, |_| false, address),
            Some(Reply::Error(format!("ASK {slot} {}", address(to))))
        );
        assert_eq!(slots.redirect(to, key, true, |_| false, address), None, "the target serves it after ASKING");
        assert_eq!(
            slots.redirect(to, key, false, |_| false, address),
            Some(Reply::Error(format!("MOVED {slot} {}", address(from))))
        );
        slots.finish(Migration { first: slot, last: slot, from, to });
        assert_eq!(slots.owner_of(key), to);
        assert_eq!(slots.redirect(to, key, false, |_| true, address), None);
    }
}
