//! What a registration request must contain.
//!
//! The body is read as a JSON object and each field checked on its own, so that one 422 lists
//! every problem at once. Messages never repeat the submitted values: a password typed into the
//! wrong field must not come back in a response or a log line.

use email_address::{EmailAddress, Options};
use secrecy::SecretString;
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

pub(crate) const PASSWORD_MIN_CHARS: usize = 8;
pub(crate) const PASSWORD_MAX_CHARS: usize = 128;
pub(crate) const NAME_MAX_CHARS: usize = 100;
/// RFC 5321's limit on a forward path.
pub(crate) const EMAIL_MAX_CHARS: usize = 254;

/// One field that failed validation, with a message for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug)]
pub(crate) struct Registration {
    /// NFC, the local part lower-cased, the domain in ASCII (punycode): one mailbox, one account.
    pub email: String,
    pub password: SecretString,
    /// Trimmed, in NFC.
    pub name: String,
}

impl Registration {
    /// Reads and checks a registration, or lists every field that is wrong.
    pub(crate) fn from_json(body: &Value) -> Result<Self, Vec<FieldError>> {
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

/// NFC, the local part lower-cased, the domain in its ASCII (punycode) form: look-alike spellings
/// of one address (`bücher.example` and `xn--bcher-kva.example`, full-width letters, a decomposed
/// accent) become one string, so that they map to one account.
fn email(raw: &str) -> Result<String, String> {
    let invalid = || "must be a valid email address, such as name@example.com".to_owned();
    let composed: String = raw.trim().nfc().collect();
    if composed.chars().any(is_control_or_invisible) {
        return Err(invalid());
    }
    let (local, domain) = composed.rsplit_once('@').ok_or_else(invalid)?;
    let domain = idna::domain_to_ascii_strict(domain).map_err(|_| invalid())?;
    let local: String = local.to_lowercase().nfc().collect();
    let email = format!("{local}@{domain}");
    if local.is_empty() || email.chars().count() > EMAIL_MAX_CHARS {
        return Err(invalid());
    }
    let options = Options::default().without_display_text().without_domain_literal();
    EmailAddress::parse_with_options(&email, options).map_err(|_| invalid())?;
    // RFC 5322 allows `user@localhost`; nobody registers with it, and it is a common typo trap.
    if !domain.contains('.') || domain.ends_with('.') {
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

/// Trimmed and in NFC, so that one name has one spelling; its length is counted in characters
/// (Unicode scalar values) of that form.
fn name(raw: &str) -> Result<String, String> {
    let name: String = raw.trim().nfc().collect();
    let chars = name.chars().count();
    if !(1..=NAME_MAX_CHARS).contains(&chars) {
        return Err(format!("must be 1 to {NAME_MAX_CHARS} characters long, not counting surrounding spaces"));
    }
    if name.chars().any(is_control_or_invisible) {
        return Err("must not contain control characters or invisible formatting such as bidi overrides".to_owned());
    }
    Ok(name)
}

/// Control characters, and format characters and line separators: invisible, they let two names
/// that look alike differ, or turn the text around them (bidi overrides, zero-width spaces).
fn is_control_or_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
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
}
