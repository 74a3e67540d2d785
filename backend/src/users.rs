//! Users, stored in Redis so that each operation touches one key, and so one hash slot: the same
//! code is exact on one server and on Redis Cluster.
//!
//! - `account:<email>`, a hash with the whole account: its existence is the email's claim, so
//!   two registrations of one email can never both win, whatever slot anything else is on.
//! - `user-id:<id>`, the account's email: how an id finds its account.
//!
//! An account is written whole (one `HSET` in a script), before its id points at it: no read
//! finds half an account. Should the index write never happen (the process dies in between), the
//! account is only invisible by id, and the next registration of that email writes the index
//! again on its way to a 409. Accounts created before this layout (`user:<id>` hashes claimed by
//! `user-email:<email>`) stay readable and keep their email.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::deadline::Deadline;
use crate::redis_pool::{Operation, RedisConnection, RedisError, RedisPool, Retry};
use crate::sources::Sources;

/// Idempotent thanks to the script: a retry after a lost reply finds the account already owned
/// by this very user, and succeeds instead of answering 409 to the request that created it.
const CREATE_USER: Operation = Operation { name: "create_user", retry: Retry::Idempotent };
const INDEX_USER: Operation = Operation { name: "index_user", retry: Retry::Idempotent };
const UNDO_USER: Operation = Operation { name: "undo_user", retry: Retry::Idempotent };
const FIND_USER: Operation = Operation { name: "find_user", retry: Retry::Idempotent };
const FIND_LEGACY: Operation = Operation { name: "find_legacy_user", retry: Retry::Idempotent };

/// How many of `wanted` replicas have the write that just happened to `key` on `connection`
/// (`WAIT` on the node that holds `key`, on the connection that wrote, so that it counts this
/// write), waiting at most `wait_for`; 0 without asking when none are wanted.
async fn replicas_after_write(
    connection: &mut RedisConnection,
    key: &str,
    wanted: u32,
    wait_for: Duration,
) -> redis::RedisResult<u32> {
    if wanted == 0 {
        return Ok(0);
    }
    // Never 0, which would wait forever.
    let timeout = u64::try_from(wait_for.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut wait = redis::cmd("WAIT");
    wait.arg(wanted).arg(timeout);
    Ok(redis::from_redis_value(connection.on_node_of(key, wait).await?)?)
}

/// Writes the account unless the email already has one; answers the owner's id either way.
pub(crate) const CREATE_SCRIPT: &str = r"
local owner = redis.call('HGET', KEYS[1], 'id')
if owner then
  return owner
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'email', ARGV[2], 'name', ARGV[3], 'password_hash', ARGV[4], 'created_at', ARGV[5])
return ARGV[1]
";

/// Takes back an account that too few replicas confirmed, if it is still this user's.
pub(crate) const UNDO_SCRIPT: &str = r"
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
";

/// A user as the API shows it: never with the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
}

impl User {
    /// A user about to be created: the id is chosen once per registration, so that every
    /// attempt to store it stores the same user.
    pub fn new(email: String, name: String, sources: &Sources) -> Self {
        Self { id: sources.uuid(), email, name, created_at: sources.now() }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    User,
    EmailTaken,
}

#[derive(Clone, Debug)]
pub struct UserStore {
    redis: RedisPool,
    prefix: String,
    create: Arc<redis::Script>,
    undo: Arc<redis::Script>,
}

impl UserStore {
    pub fn new(redis: RedisPool) -> Self {
        let prefix = redis.settings().key_prefix.clone();
        Self {
            redis,
            prefix,
            create: Arc::new(redis::Script::new(CREATE_SCRIPT)),
            undo: Arc::new(redis::Script::new(UNDO_SCRIPT)),
        }
    }

    fn account_key(&self, email: &str) -> String {
        format!("{}account:{email}", self.prefix)
    }

    fn index_key(&self, id: Uuid) -> String {
        format!("{}user-id:{id}", self.prefix)
    }

    fn legacy_user_key(&self, id: Uuid) -> String {
        format!("{}user:{id}", self.prefix)
    }

    fn legacy_claim_key(&self, email: &str) -> String {
        format!("{}user-email:{email}", self.prefix)
    }

    /// Stores `user` with its password hash (a PHC string: the plain password never reaches this
    /// module), unless another user has its email. With `REDIS_WAIT_REPLICAS`, the account is
    /// answered for only once that many replicas have both it and the index that finds it
    /// (`WAIT` after each write, for at most half an operation timeout); if they do not confirm
    /// them in time, the account is taken back and the call fails, so that no 201 rests on a
    /// write a failover could lose.
    pub async fn create(&self, user: &User, password_hash: &str, deadline: Deadline) -> Result<Created, RedisError> {
        if self.legacy_claim(&user.email, deadline).await? {
            return Ok(Created::EmailTaken);
        }
        let account = self.account_key(&user.email);
        let wanted = self.redis.settings().wait_replicas;
        let wait_for = self.replica_wait(deadline);
        let (owner, acknowledged): (String, u32) = self
            .redis
            .execute(CREATE_USER, &account, deadline, |mut connection| {
                let mut invocation = self.create.key(&account);
                invocation
                    .arg(user.id.to_string())
                    .arg(&user.email)
                    .arg(&user.name)
                    .arg(password_hash)
                    .arg(user.created_at.to_string());
                let account = account.clone();
                async move {
                    let owner: String = invocation.invoke_async(&mut connection).await?;
                    if owner != user.id.to_string() {
                        // Someone else's account: nothing of ours to wait for.
                        return Ok((owner, 0));
                    }
                    let acknowledged = replicas_after_write(&mut connection, &account, wanted, wait_for).await?;
                    Ok((owner, acknowledged))
                }
            })
            .await?;
        let owner: Uuid = owner.parse().map_err(|_| RedisError::Server {
            operation: CREATE_USER.name,
            source: redis::RedisError::from((redis::ErrorKind::Client, "an account holds an id that is not a UUID")),
        })?;
        if owner != user.id {
            // This also heals an index a registration never wrote; nobody is answered 201 on it.
            self.index(owner, &user.email, 0, deadline).await?;
            return Ok(Created::EmailTaken);
        }
        // The index is how the new id finds its account: a 201 rests on both writes, which
        // may live on different nodes, so the replicas must confirm each.
        let acknowledged =
            if acknowledged < wanted { acknowledged } else { self.index(owner, &user.email, wanted, deadline).await? };
        if acknowledged < wanted {
            self.undo(user, deadline).await?;
            return Err(RedisError::NotReplicated { wanted, acknowledged });
        }
        Ok(Created::User)
    }

    async fn legacy_claim(&self, email: &str, deadline: Deadline) -> Result<bool, RedisError> {
        let key = self.legacy_claim_key(email);
        self.redis
            .execute(FIND_LEGACY, &key, deadline, |mut connection| {
                let key = key.clone();
                async move { redis::cmd("EXISTS").arg(key).query_async(&mut connection).await }
            })
            .await
    }

    /// Points `id` at its account; answers how many of the `wanted` replicas confirmed it.
    async fn index(&self, id: Uuid, email: &str, wanted: u32, deadline: Deadline) -> Result<u32, RedisError> {
        let key = self.index_key(id);
        let wait_for = self.replica_wait(deadline);
        self.redis
            .execute(INDEX_USER, &key, deadline, |mut connection| {
                let key = key.clone();
                async move {
                    redis::cmd("SET").arg(&key).arg(email).query_async::<()>(&mut connection).await?;
                    replicas_after_write(&mut connection, &key, wanted, wait_for).await
                }
            })
            .await
    }

    /// How long one write may wait for its replicas: within the attempt (one operation timeout),
    /// and leaving the request an operation timeout to take the account back should they not
    /// confirm it.
    fn replica_wait(&self, deadline: Deadline) -> Duration {
        let timeout = self.redis.settings().operation_timeout;
        (timeout / 2).min(deadline.remaining().saturating_sub(timeout))
    }

    async fn undo(&self, user: &User, deadline: Deadline) -> Result<(), RedisError> {
        let account = self.account_key(&user.email);
        self.redis
            .execute(UNDO_USER, &account, deadline, |mut connection| {
                let mut invocation = self.undo.key(&account);
                invocation.arg(user.id.to_string());
                async move { invocation.invoke_async::<()>(&mut connection).await }
            })
            .await
    }

    pub async fn find(&self, id: Uuid, deadline: Deadline) -> Result<Option<User>, RedisError> {
        let index = self.index_key(id);
        let email: Option<String> = self
            .redis
            .execute(FIND_USER, &index, deadline, |mut connection| {
                let index = index.clone();
                async move { redis::cmd("GET").arg(index).query_async(&mut connection).await }
            })
            .await?;
        let (operation, key) = match email {
            Some(email) => (FIND_USER, self.account_key(&email)),
            None => (FIND_LEGACY, self.legacy_user_key(id)),
        };
        let fields: HashMap<String, String> = self
            .redis
            .execute(operation, &key, deadline, |mut connection| {
                let key = key.clone();
                async move { redis::cmd("HGETALL").arg(key).query_async(&mut connection).await }
            })
            .await?;
        // An index that points at another account (its email re-registered after a removal)
        // names no user.
        Ok(user_from_fields(&fields).filter(|user| user.id == id))
    }
}

fn user_from_fields(fields: &HashMap<String, String>) -> Option<User> {
    Some(User {
        id: fields.get("id")?.parse().ok()?,
        email: fields.get("email")?.clone(),
        name: fields.get("name")?.clone(),
        created_at: fields.get("created_at")?.parse().ok()?,
    })
}
