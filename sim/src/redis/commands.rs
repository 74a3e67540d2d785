//! The commands the backend sends, as Redis answers them in RESP3, and their effects.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::db::{Db, Effect, WrongType};
use super::reply::Reply;
use super::scripts;

/// What running a command needs of its node.
pub struct Node<'a> {
    pub db: &'a mut Db,
    /// The SHA1s of the scripts loaded on this node.
    pub scripts: &'a mut BTreeSet<String>,
    /// A replica refuses writes.
    pub read_only: bool,
    /// Cluster mode's `CLUSTER SLOTS` answer, when the node is in a cluster and the command is
    /// `CLUSTER`.
    pub slots: Option<Reply>,
}

/// What a command did.
pub enum Outcome {
    Reply(Reply),
    /// `WAIT`: the server blocks until this many replicas have the connection's writes, or the
    /// timeout passes.
    Wait {
        replicas: u64,
        timeout: Duration,
    },
}

/// The effects of writes, applied to the node as they happen, so that a script reads its own.
pub struct Writes<'a, 'n> {
    node: &'a mut Node<'n>,
    pub effects: Vec<Effect>,
}

impl Writes<'_, '_> {
    pub fn db(&mut self) -> &mut Db {
        self.node.db
    }

    pub fn scripts(&mut self) -> &mut BTreeSet<String> {
        self.node.scripts
    }

    pub fn write(&mut self, effect: Effect) {
        self.node.db.apply(&effect);
        self.effects.push(effect);
    }
}

/// The first key `command` touches, if it touches one: what a cluster routes it by.
pub fn first_key(command: &[Bytes]) -> Option<&Bytes> {
    let name = String::from_utf8_lossy(command.first()?).to_ascii_uppercase();
    match name.as_str() {
        "EVAL" | "EVALSHA" => {
            let keys: usize = std::str::from_utf8(command.get(2)?).ok()?.parse().ok()?;
            if keys == 0 { None } else { command.get(3) }
        }
        "GET" | "SET" | "EXISTS" | "HGETALL" | "HGET" | "HSET" | "DEL" | "INCR" | "INCRBY" | "HINCRBY" | "PEXPIRE"
        | "EXPIRE" | "PTTL" | "HLEN" | "HEXISTS" => command.get(1),
        _ => None,
    }
}

/// Commands that change data, which a replica refuses.
pub fn is_write(name: &str) -> bool {
    matches!(name, "SET" | "DEL" | "HSET" | "PEXPIRE" | "EXPIRE" | "INCR" | "INCRBY" | "HINCRBY" | "EVAL" | "EVALSHA")
}

/// Commands that change data by a different amount each time they run: sent twice, they count
/// twice.
pub fn is_not_idempotent(name: &str) -> bool {
    matches!(name, "INCR" | "INCRBY" | "HINCRBY" | "LPUSH" | "RPUSH")
}

fn wrong_type() -> Reply {
    Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".to_owned())
}

fn syntax() -> Reply {
    Reply::Error("ERR syntax error".to_owned())
}

fn number(raw: &[u8]) -> Option<i64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Runs `command` (its name upper-cased first) on `node`; gives the outcome and the effects.
pub fn run(node: &mut Node<'_>, command: &[Bytes]) -> (Outcome, Vec<Effect>) {
    let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
    let args = &command[1..];
    if node.read_only && is_write(&name) {
        return (
            Outcome::Reply(Reply::Error("READONLY You can't write against a read only replica.".to_owned())),
            Vec::new(),
        );
    }
    if name == "WAIT" {
        return match (args.first().and_then(|raw| number(raw)), args.get(1).and_then(|raw| number(raw))) {
            (Some(replicas), Some(timeout)) => (
                Outcome::Wait {
                    replicas: u64::try_from(replicas).unwrap_or(0),
                    timeout: Duration::from_millis(u64::try_from(timeout).unwrap_or(0)),
                },
                Vec::new(),
            ),
            _ => (Outcome::Reply(syntax()), Vec::new()),
        };
    }
    let mut writes = Writes { node, effects: Vec::new() };
    let reply = dispatch(&mut writes, &name, args);
    (Outcome::Reply(reply), writes.effects)
}

fn dispatch(writes: &mut Writes<'_, '_>, name: &str, args: &[Bytes]) -> Reply {
    match name {
        "HELLO" => hello(),
        "CLIENT" | "AUTH" => Reply::Ok,
        "PING" => Reply::Simple("PONG".to_owned()),
        "SELECT" if args.first().map(AsRef::as_ref) == Some(b"0") => Reply::Ok,
        "SELECT" => Reply::Error("ERR DB index is out of range".to_owned()),
        "GET" => match args {
            [key] => match writes.db().get(key) {
                Ok(value) => value.map_or(Reply::Null, Reply::Bulk),
                Err(WrongType) => wrong_type(),
            },
            _ => arity(name),
        },
        "SET" => set(writes, args),
        "DEL" => {
            let mut removed = 0;
            for key in args {
                if writes.db().exists(key) {
                    removed += 1;
                    writes.write(Effect::Delete { key: key.clone() });
                }
            }
            Reply::Integer(removed)
        }
        "EXISTS" => Reply::count(args.iter().filter(|key| writes.db().exists(key)).count()),
        "HGETALL" => match args {
            [key] => match writes.db().hash(key) {
                Ok(fields) => Reply::Map(
                    fields.into_iter().map(|(field, value)| (Reply::Bulk(field), Reply::Bulk(value))).collect(),
                ),
                Err(WrongType) => wrong_type(),
            },
            _ => arity(name),
        },
        "HGET" => match args {
            [key, field] => match writes.db().hash(key) {
                Ok(fields) => fields.get(field).cloned().map_or(Reply::Null, Reply::Bulk),
                Err(WrongType) => wrong_type(),
            },
            _ => arity(name),
        },
        "HSET" => scripts::hset(writes, args),
        "HLEN" => match args {
            [key] => writes.db().hash(key).map_or_else(|WrongType| wrong_type(), |fields| Reply::count(fields.len())),
            _ => arity(name),
        },
        "PTTL" => match args {
            [key] => Reply::Integer(writes.db().pttl(key)),
            _ => arity(name),
        },
        "PEXPIRE" | "EXPIRE" => match args {
            [key, amount] => match number(amount) {
                Some(amount) if writes.db().exists(key) => {
                    let millis = if name == "EXPIRE" { amount.saturating_mul(1000) } else { amount };
                    let at = Instant::now() + Duration::from_millis(u64::try_from(millis).unwrap_or(0));
                    writes.write(Effect::ExpireAt { key: key.clone(), at });
                    Reply::Integer(1)
                }
                Some(_) => Reply::Integer(0),
                None => Reply::Error("ERR value is not an integer or out of range".to_owned()),
            },
            _ => arity(name),
        },
        "INCR" => match args {
            [key] => match writes.db().get(key) {
                Ok(current) => {
                    let current = current.map_or(Some(0), |value| number(&value));
                    match current.and_then(|current| current.checked_add(1)) {
                        Some(next) => {
                            let pttl = writes.db().pttl(key);
                            let expires_at =
                                u64::try_from(pttl).ok().map(|ms| Instant::now() + Duration::from_millis(ms));
                            writes.write(Effect::Set { key: key.clone(), value: next.to_string().into(), expires_at });
                            Reply::Integer(next)
                        }
                        None => Reply::Error("ERR value is not an integer or out of range".to_owned()),
                    }
                }
                Err(WrongType) => wrong_type(),
            },
            _ => arity(name),
        },
        "EVAL" | "EVALSHA" | "SCRIPT" => scripts::run(writes, name, args),
        "CLUSTER" => match writes.node.slots.clone() {
            Some(slots) if args.first().is_some_and(|sub| sub.eq_ignore_ascii_case(b"SLOTS")) => slots,
            _ => Reply::Error("ERR This instance has cluster support disabled".to_owned()),
        },
        _ => Reply::Error(format!("ERR unknown command '{name}', with args beginning with: ")),
    }
}

fn arity(name: &str) -> Reply {
    Reply::Error(format!("ERR wrong number of arguments for '{}' command", name.to_ascii_lowercase()))
}

fn set(writes: &mut Writes<'_, '_>, args: &[Bytes]) -> Reply {
    let [key, value, options @ ..] = args else { return arity("SET") };
    let mut expires_at = None;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let option = String::from_utf8_lossy(option).to_ascii_uppercase();
        let amount = options.next().and_then(|raw| number(raw)).and_then(|amount| u64::try_from(amount).ok());
        match (option.as_str(), amount) {
            ("PX", Some(ms)) => expires_at = Some(Instant::now() + Duration::from_millis(ms)),
            ("EX", Some(seconds)) => expires_at = Some(Instant::now() + Duration::from_secs(seconds)),
            _ => return syntax(),
        }
    }
    if writes.db().get(key).is_err() {
        // SET replaces a value of any type.
        writes.write(Effect::Delete { key: key.clone() });
    }
    writes.write(Effect::Set { key: key.clone(), value: value.clone(), expires_at });
    Reply::Ok
}

/// `HELLO 3`'s answer: who this server is.
fn hello() -> Reply {
    Reply::Map(vec![
        (Reply::Bulk("server".into()), Reply::Bulk("redis".into())),
        (Reply::Bulk("version".into()), Reply::Bulk("7.0.15".into())),
        (Reply::Bulk("proto".into()), Reply::Integer(3)),
        (Reply::Bulk("id".into()), Reply::Integer(1)),
        (Reply::Bulk("mode".into()), Reply::Bulk("standalone".into())),
        (Reply::Bulk("role".into()), Reply::Bulk("master".into())),
        (Reply::Bulk("modules".into()), Reply::Array(Vec::new())),
    ])
}
