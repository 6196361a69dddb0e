//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): a secret is
//! `whsec_` and the base64 of 32 random bytes; a delivery carries `webhook-id`,
//! `webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated
//! list of `v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one
//! per secret in use (two while a rotated secret overlaps the new one).

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The prefix of a webhook signing secret.
pub const PREFIX: &str = "whsec_";

/// A new signing secret, as the endpoint's owner receives it once.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap_or_default();
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header for `body` sent as `id` at `timestamp`, signed
/// with each of `secrets` (texts as [`new_secret`] makes them).
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &str) -> String {
    let content = format!("{id}.{timestamp}.{body}");
    secrets
        .iter()
        .filter_map(|secret| STANDARD.decode(secret.strip_prefix(PREFIX)?).ok())
        .map(|key| {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), content.as_bytes());
            format!("v1,{}", STANDARD.encode(tag.as_ref()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_as_published() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn an_overlap_signs_with_both_secrets() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with(PREFIX) && a.len() > 40 && a != b);
        let both = signature(&[a.clone(), b], "msg_1", 1, "{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature(&[a], "msg_1", 1, "{}"));
    }
}
