//! What a registration request must contain, and how its password is hashed.
//!
//! The body is read as a JSON object and each field checked on its own, so that one 422 lists
//! every problem at once. Messages never repeat the submitted values: a password typed into the
//! wrong field must not come back in a response or a log line.

use argon2::{Argon2, PasswordHasher as _};
use email_address::{EmailAddress, Options};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
pub const NAME_MAX_CHARS: usize = 100;
/// RFC 5321's limit on a forward path.
pub const EMAIL_MAX_CHARS: usize = 254;

/// One field that failed validation, with a message for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Why a password could not be hashed. Neither is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 hashing failed: {0}")]
    Argon2(String),
    #[error("the hashing task ended without an answer: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the hashing limiter is closed")]
    Closed(#[from] tokio::sync::AcquireError),
}

#[derive(Debug)]
pub struct Registration {
    /// Trimmed and lower-cased, so that one mailbox maps to one account.
    pub email: String,
    pub password: SecretString,
    /// Trimmed.
    pub name: String,
}

impl Registration {
    /// Reads and checks a registration, or lists every field that is wrong.
    pub fn from_json(body: &Value) -> Result<Self, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError {
                field: "body",
                message: "must be a JSON object with email, password and name".to_owned(),
            }]);
        };
        let mut problems = Vec::new();
        let email = field(object, "email", &mut problems).and_then(|raw| check(email(raw), "email", &mut problems));
        let password =
            field(object, "password", &mut problems).and_then(|raw| check(password(raw), "password", &mut problems));
        let name = field(object, "name", &mut problems).and_then(|raw| check(name(raw), "name", &mut problems));
        match (email, password, name) {
            (Some(email), Some(password), Some(name)) if problems.is_empty() => Ok(Self { email, password, name }),
            _ => Err(problems),
        }
    }
}

fn field<'a>(object: &'a Map<String, Value>, name: &'static str, problems: &mut Vec<FieldError>) -> Option<&'a str> {
    let message = match object.get(name) {
        Some(Value::String(value)) => return Some(value),
        None | Some(Value::Null) => "is required",
        Some(_) => "must be a string",
    };
    problems.push(FieldError { field: name, message: message.to_owned() });
    None
}

fn check<T>(result: Result<T, String>, field: &'static str, problems: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|message| problems.push(FieldError { field, message })).ok()
}

fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let invalid = || "must be a valid email address, such as name@example.com".to_owned();
    if email.is_empty() || email.chars().count() > EMAIL_MAX_CHARS || email.chars().any(char::is_control) {
        return Err(invalid());
    }
    let options = Options::default().without_display_text().without_domain_literal();
    let parsed = EmailAddress::parse_with_options(&email, options).map_err(|_| invalid())?;
    // RFC 5322 allows `user@localhost`; nobody registers with it, and it is a common typo trap.
    if !parsed.domain().contains('.') || parsed.domain().ends_with('.') {
        return Err(invalid());
    }
    Ok(email)
}

fn password(raw: &str) -> Result<SecretString, String> {
    let chars = raw.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters long"));
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    if !raw.chars().any(char::is_alphabetic) || !raw.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain at least one letter and one digit".to_owned());
    }
    Ok(SecretString::from(raw.to_owned()))
}

fn name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let chars = name.chars().count();
    if !(1..=NAME_MAX_CHARS).contains(&chars) {
        return Err(format!("must be 1 to {NAME_MAX_CHARS} characters long, not counting surrounding spaces"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name.to_owned())
}

/// Hashes with argon2id and its default cost, off the async runtime: a hash takes tens of
/// milliseconds of CPU and 19 MiB of memory by design. `permits` bounds how many run at once, so
/// that a burst of registrations queues instead of claiming a gigabyte of RAM.
pub async fn hash_password(password: SecretString, permits: &Semaphore) -> Result<String, HashError> {
    let _permit = permits.acquire().await?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| HashError::Argon2(error.to_string()))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(result: Result<Registration, Vec<FieldError>>) -> Vec<(&'static str, String)> {
        match result {
            Err(fields) => fields.into_iter().map(|f| (f.field, f.message)).collect(),
            Ok(registration) => panic!("expected a validation error, got {registration:?}"),
        }
    }

    #[test]
    fn a_valid_registration_is_normalised() {
        let registration = Registration::from_json(&json!({
            "email": "  Ada.Lovelace@Example.ORG ",
            "password": "analytical1",
            "name": "  Ada  ",
        }))
        .unwrap();
        assert_eq!(registration.email, "ada.lovelace@example.org");
        assert_eq!(registration.name, "Ada");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let problems = fields(Registration::from_json(&json!({"email": "nope", "password": 12, "name": ""})));
        let names: Vec<_> = problems.iter().map(|(field, _)| *field).collect();
        assert_eq!(names, ["email", "password", "name"]);
    }

    #[test]
    fn messages_never_repeat_the_submitted_password() {
        let secret = "hunter2hunter";
        let problems = fields(Registration::from_json(&json!({"email": secret, "password": "x", "name": secret})));
        assert!(problems.iter().all(|(_, message)| !message.contains(secret)), "{problems:?}");
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        // Eight characters, sixteen bytes.
        assert!(password("пароль12").is_ok());
        assert!(password(&"é1".repeat(65)).is_err(), "130 characters is over the limit");
    }

    #[tokio::test]
    async fn password_hash_is_argon2id_and_does_not_contain_the_password() {
        let hash = hash_password(SecretString::from("correct horse 1"), &Semaphore::new(1)).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
    }
}
