//! The backend's Lua scripts, run natively: each is known by the SHA1 of its source, which the
//! backend publishes (`lua_scripts`), and implemented here command for command.
//!
//! Natively rather than under an embedded Lua: the three scripts are short, a native run is
//! deterministic and costs nothing (the simulation runs thousands of seeds), and no C
//! toolchain is needed. The fidelity test replays a recorded command log against this Redis and
//! a real `redis-server`, which runs the real Lua, and compares the answers: a script changed in
//! the backend without its native twin here stops being recognised by its SHA1 and fails every
//! run.

use bytes::Bytes;
use tokio::time::Instant;

use super::commands::Writes;
use super::db::Effect;
use super::reply::Reply;

/// The SHA1 of `source`, as Redis names a script.
pub fn sha1(source: &[u8]) -> String {
    sha1_smol::Sha1::from(source).digest().to_string()
}

/// A script's native twin.
type Native = fn(&mut Writes<'_, '_>, &[Bytes], &[Bytes]) -> Reply;

/// The native twin of each of the backend's scripts, by name.
const NATIVE: [(&str, Native); 3] =
    [("rate_limit", rate_limit), ("create_user", create_user), ("undo_user", undo_user)];

/// The native twin of the script whose SHA1 is `sha`.
fn native(sha: &str) -> Option<Native> {
    static BY_SHA: std::sync::LazyLock<Vec<(String, Native)>> = std::sync::LazyLock::new(|| {
        gift_genie_backend::lua_scripts()
            .into_iter()
            .filter_map(|(name, source)| {
                let (_, native) = NATIVE.iter().find(|(native_name, _)| *native_name == name)?;
                Some((sha1(source.as_bytes()), *native))
            })
            .collect()
    });
    BY_SHA.iter().find(|(known, _)| known == sha).map(|(_, native)| *native)
}

/// `EVAL`, `EVALSHA` and `SCRIPT LOAD`/`SCRIPT EXISTS`/`SCRIPT FLUSH`.
pub fn run(writes: &mut Writes<'_, '_>, name: &str, args: &[Bytes]) -> Reply {
    match name {
        "SCRIPT" => script(writes, args),
        "EVAL" | "EVALSHA" => {
            let [body, count, rest @ ..] = args else {
                return Reply::Error(format!(
                    "ERR wrong number of arguments for '{}' command",
                    name.to_ascii_lowercase()
                ));
            };
            let sha = if name == "EVAL" { sha1(body) } else { String::from_utf8_lossy(body).to_ascii_lowercase() };
            if name == "EVALSHA" && !writes.scripts().contains(&sha) {
                return Reply::Error("NOSCRIPT No matching script. Please use EVAL.".to_owned());
            }
            let Some(native) = native(&sha) else {
                return Reply::Error(format!("ERR the simulation knows no script with SHA1 {sha}"));
            };
            writes.scripts().insert(sha);
            let count = std::str::from_utf8(count).ok().and_then(|count| count.parse::<usize>().ok());
            match count {
                Some(count) if count <= rest.len() => native(writes, &rest[..count], &rest[count..]),
                _ => Reply::Error("ERR Number of keys can't be greater than number of args".to_owned()),
            }
        }
        _ => Reply::Error(format!("ERR unknown command '{name}'")),
    }
}

fn script(writes: &mut Writes<'_, '_>, args: &[Bytes]) -> Reply {
    let sub = args.first().map(|sub| String::from_utf8_lossy(sub).to_ascii_uppercase());
    match (sub.as_deref(), &args[1.min(args.len())..]) {
        (Some("LOAD"), [source]) => {
            let sha = sha1(source);
            if native(&sha).is_none() {
                return Reply::Error(format!("ERR the simulation knows no script with SHA1 {sha}"));
            }
            writes.scripts().insert(sha.clone());
            Reply::Bulk(sha.into())
        }
        (Some("EXISTS"), shas) => Reply::Array(
            shas.iter()
                .map(|sha| {
                    Reply::Integer(i64::from(
                        writes.scripts().contains(&String::from_utf8_lossy(sha).to_ascii_lowercase()),
                    ))
                })
                .collect(),
        ),
        (Some("FLUSH"), _) => {
            writes.scripts().clear();
            Reply::Ok
        }
        _ => Reply::Error("ERR unknown subcommand".to_owned()),
    }
}

/// `HSET key field value [field value ...]`: the fields that are new.
pub fn hset(writes: &mut Writes<'_, '_>, args: &[Bytes]) -> Reply {
    let [key, pairs @ ..] = args else {
        return Reply::Error("ERR wrong number of arguments for 'hset' command".to_owned());
    };
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Reply::Error("ERR wrong number of arguments for 'hset' command".to_owned());
    }
    let Ok(existing) = writes.db().hash(key) else {
        return Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".to_owned());
    };
    let mut added = 0;
    for pair in pairs.chunks(2) {
        added += i64::from(!existing.contains_key(&pair[0]));
        writes.write(Effect::HashSet { key: key.clone(), field: pair[0].clone(), value: pair[1].clone() });
    }
    Reply::Integer(added)
}

fn integer(raw: Option<&Bytes>) -> i64 {
    raw.and_then(|raw| std::str::from_utf8(raw).ok()?.parse().ok()).unwrap_or(0)
}

/// `rate_limit.rs`'s script: counts attempt `ARGV[3]` once, within `ARGV[2]` per window of
/// `ARGV[1]` ms; answers whether it counts, the count, and the time left.
fn rate_limit(writes: &mut Writes<'_, '_>, keys: &[Bytes], argv: &[Bytes]) -> Reply {
    let (Some(key), Some(attempt)) = (keys.first(), argv.get(2)) else {
        return Reply::Error("ERR script arguments".to_owned());
    };
    let Ok(hash) = writes.db().hash(key) else {
        return Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".to_owned());
    };
    let mut used = i64::try_from(hash.len()).unwrap_or(i64::MAX);
    let mut counted = hash.contains_key(attempt);
    if !counted && used < integer(argv.get(1)) {
        writes.write(Effect::HashSet { key: key.clone(), field: attempt.clone(), value: Bytes::from_static(b"1") });
        used += 1;
        counted = true;
    }
    let mut ttl = writes.db().pttl(key);
    if ttl < 0 {
        let window = integer(argv.first());
        let at = Instant::now() + std::time::Duration::from_millis(u64::try_from(window).unwrap_or(0));
        writes.write(Effect::ExpireAt { key: key.clone(), at });
        ttl = window;
    }
    Reply::Array(vec![Reply::Integer(i64::from(counted)), Reply::Integer(used), Reply::Integer(ttl)])
}

/// `users.rs`'s create script: writes the account unless the email has one; answers the owner.
fn create_user(writes: &mut Writes<'_, '_>, keys: &[Bytes], argv: &[Bytes]) -> Reply {
    let Some(key) = keys.first() else { return Reply::Error("ERR script arguments".to_owned()) };
    let Ok(account) = writes.db().hash(key) else {
        return Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".to_owned());
    };
    if let Some(owner) = account.get(b"id".as_slice()) {
        return Reply::Bulk(owner.clone());
    }
    if argv.len() < 5 {
        return Reply::Error("ERR script arguments".to_owned());
    }
    for (field, value) in ["id", "email", "name", "password_hash", "created_at"].into_iter().zip(argv) {
        writes.write(Effect::HashSet {
            key: key.clone(),
            field: Bytes::from_static(field.as_bytes()),
            value: value.clone(),
        });
    }
    Reply::Bulk(argv[0].clone())
}

/// `users.rs`'s undo script: deletes the account if it is still this user's.
fn undo_user(writes: &mut Writes<'_, '_>, keys: &[Bytes], argv: &[Bytes]) -> Reply {
    let (Some(key), Some(id)) = (keys.first(), argv.first()) else {
        return Reply::Error("ERR script arguments".to_owned());
    };
    if writes.db().hash(key).is_ok_and(|account| account.get(b"id".as_slice()) == Some(id)) {
        writes.write(Effect::Delete { key: key.clone() });
    }
    Reply::Integer(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_backend_sends_has_a_native_twin() {
        for (name, source) in gift_genie_backend::lua_scripts() {
            assert!(native(&sha1(source.as_bytes())).is_some(), "{name}");
        }
    }
}
