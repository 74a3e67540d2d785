//! Users, stored in Redis: one hash per user and one index key per email.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::redis_pool::{Operation, RedisError, RedisPool, Retry};

/// Creating a user is not idempotent: a retry after a lost reply would answer 409 to the very
/// request that created the account.
const CREATE_USER: Operation = Operation { name: "create_user", retry: Retry::Never };
const FIND_USER: Operation = Operation { name: "find_user", retry: Retry::Idempotent };

/// Claims the email and writes the user in one step, so that concurrent registrations of one
/// email produce exactly one account.
const CREATE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('HSET', KEYS[2], 'id', ARGV[1], 'email', ARGV[2], 'name', ARGV[3], 'password_hash', ARGV[4], 'created_at', ARGV[5])
  return 1
end
return 0
";

/// A user as the API shows it: never with the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    /// A PHC string (argon2id); the plain password never reaches this module.
    pub password_hash: String,
}

#[derive(Debug)]
pub enum Created {
    User(User),
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

    pub async fn create(&self, new: NewUser) -> Result<Created, RedisError> {
        let user = User { id: Uuid::new_v4(), email: new.email, name: new.name, created_at: Timestamp::now() };
        let (email_key, user_key) = (self.email_key(&user.email), self.user_key(user.id));
        let created: bool = self
            .redis
            .execute(CREATE_USER, |mut connection| {
                let mut invocation = self.create.key(&email_key);
                invocation
                    .key(&user_key)
                    .arg(user.id.to_string())
                    .arg(&user.email)
                    .arg(&user.name)
                    .arg(&new.password_hash)
                    .arg(user.created_at.to_string());
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(if created { Created::User(user) } else { Created::EmailTaken })
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<User>, RedisError> {
        let key = self.user_key(id);
        let fields: HashMap<String, String> = self
            .redis
            .execute(FIND_USER, |mut connection| {
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
