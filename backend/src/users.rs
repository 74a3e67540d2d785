//! Users, stored in Redis: one hash per user and one index key per email.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::deadline::Deadline;
use crate::redis_pool::{Operation, RedisError, RedisPool, Retry};

/// Idempotent thanks to the script: a retry after a lost reply finds the email already mapped to
/// this very user, and succeeds instead of answering 409 to the request that created the account.
const CREATE_USER: Operation = Operation { name: "create_user", retry: Retry::Idempotent };
const FIND_USER: Operation = Operation { name: "find_user", retry: Retry::Idempotent };

/// Claims the email and writes the user in one step, so that concurrent registrations of one
/// email produce exactly one account. Running it again for the same user changes nothing and
/// answers as the first run did.
const CREATE_SCRIPT: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner then
  return owner == ARGV[1] and 1 or 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'email', ARGV[2], 'name', ARGV[3], 'password_hash', ARGV[4], 'created_at', ARGV[5])
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
    pub fn new(email: String, name: String) -> Self {
        Self { id: Uuid::new_v4(), email, name, created_at: Timestamp::now() }
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
}

impl UserStore {
    pub fn new(redis: RedisPool) -> Self {
        let prefix = redis.settings().key_prefix.clone();
        Self { redis, prefix, create: Arc::new(redis::Script::new(CREATE_SCRIPT)) }
    }

    fn user_key(&self, id: Uuid) -> String {
        format!("{}user:{id}", self.prefix)
    }

    fn email_key(&self, email: &str) -> String {
        format!("{}user-email:{email}", self.prefix)
    }

    /// Stores `user` with its password hash (a PHC string: the plain password never reaches this
    /// module), unless another user has its email.
    pub async fn create(&self, user: &User, password_hash: &str, deadline: Deadline) -> Result<Created, RedisError> {
        let (email_key, user_key) = (self.email_key(&user.email), self.user_key(user.id));
        let created: bool = self
            .redis
            .execute(CREATE_USER, deadline, |mut connection| {
                let mut invocation = self.create.key(&email_key);
                invocation
                    .key(&user_key)
                    .arg(user.id.to_string())
                    .arg(&user.email)
                    .arg(&user.name)
                    .arg(password_hash)
                    .arg(user.created_at.to_string());
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(if created { Created::User } else { Created::EmailTaken })
    }

    pub async fn find(&self, id: Uuid, deadline: Deadline) -> Result<Option<User>, RedisError> {
        let key = self.user_key(id);
        let fields: HashMap<String, String> = self
            .redis
            .execute(FIND_USER, deadline, |mut connection| {
                let key = key.clone();
                async move { redis::cmd("HGETALL").arg(key).query_async(&mut connection).await }
            })
            .await?;
        Ok(user_from_fields(&fields))
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
