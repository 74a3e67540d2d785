//! A node's keyspace: strings and hashes, with expiry on tokio's clock. Every change is an
//! [`Effect`], so that a replica applies exactly what its primary did, in order, later.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::time::Instant;

/// A value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    String(Bytes),
    Hash(BTreeMap<Bytes, Bytes>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

/// One change to a keyspace, with any expiry as an instant: what replication carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Set { key: Bytes, value: Bytes, expires_at: Option<Instant> },
    HashSet { key: Bytes, field: Bytes, value: Bytes },
    Delete { key: Bytes },
    ExpireAt { key: Bytes, at: Instant },
}

/// Why a command cannot touch a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// A keyspace. Ordered, so that anything that walks it walks it the same way every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Db {
    entries: BTreeMap<Bytes, Entry>,
}

impl Db {
    fn live(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let expired =
            self.entries.get(key).is_some_and(|entry| entry.expires_at.is_some_and(|at| at <= Instant::now()));
        if expired {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Whether `key` is live, without forgetting it if it expired.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.entries.get(key).is_some_and(|entry| entry.expires_at.is_none_or(|at| at > Instant::now()))
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    pub fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>, WrongType> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(Value::Hash(_)) => Err(WrongType),
        }
    }

    pub fn hash(&mut self, key: &[u8]) -> Result<BTreeMap<Bytes, Bytes>, WrongType> {
        match self.live(key).map(|entry| &entry.value) {
            None => Ok(BTreeMap::new()),
            Some(Value::Hash(fields)) => Ok(fields.clone()),
            Some(Value::String(_)) => Err(WrongType),
        }
    }

    /// Milliseconds to live: -2 for no key, -1 for a key without expiry, as `PTTL` answers.
    pub fn pttl(&mut self, key: &[u8]) -> i64 {
        match self.live(key) {
            None => -2,
            Some(Entry { expires_at: None, .. }) => -1,
            Some(Entry { expires_at: Some(at), .. }) => {
                i64::try_from(at.saturating_duration_since(Instant::now()).as_millis()).unwrap_or(i64::MAX)
            }
        }
    }

    /// Applies `effect`.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Set { key, value, expires_at } => {
                self.entries
                    .insert(key.clone(), Entry { value: Value::String(value.clone()), expires_at: *expires_at });
            }
            Effect::HashSet { key, field, value } => {
                let live = self.live(key).is_some();
                let entry = if live {
                    self.entries.get_mut(key).expect("a live key")
                } else {
                    self.entries
                        .entry(key.clone())
                        .or_insert(Entry { value: Value::Hash(BTreeMap::new()), expires_at: None })
                };
                if let Value::Hash(fields) = &mut entry.value {
                    fields.insert(field.clone(), value.clone());
                }
            }
            Effect::Delete { key } => {
                self.entries.remove(key);
            }
            Effect::ExpireAt { key, at } => {
                if let Some(entry) = self.live(key) {
                    entry.expires_at = Some(*at);
                }
            }
        }
    }

    /// Takes `key` away, with its value and expiry: a slot's key on its way to another node.
    pub fn take(&mut self, key: &[u8]) -> Option<(Value, Option<Instant>)> {
        self.live(key)?;
        self.entries.remove(key).map(|entry| (entry.value, entry.expires_at))
    }

    /// Puts a key taken from another node.
    pub fn put(&mut self, key: Bytes, (value, expires_at): (Value, Option<Instant>)) {
        self.entries.insert(key, Entry { value, expires_at });
    }

    /// Every live key, for an administrator's look.
    pub fn keys(&mut self) -> Vec<Bytes> {
        let now = Instant::now();
        self.entries.retain(|_, entry| entry.expires_at.is_none_or(|at| at > now));
        self.entries.keys().cloned().collect()
    }
}
