//! The API key secret format, checkable offline like GitHub's tokens:
//!
//! ```text
//! km_live_<key id: 16 base62>_<random: 32 base62 = 190 bits><checksum: 6 base62>
//! ```
//!
//! The prefix names the deployment (`km` unless `--secret-prefix` says otherwise,
//! so a secret scanner can tell this deployment's keys from any other's) and the
//! environment class (`live` for production, `test` for everything else). The
//! checksum is CRC32 over everything before it, so a scanner (or keymint itself,
//! before any database lookup) can tell a real key from noise. Secrets minted
//! under a retired prefix (`--retired-secret-prefixes`) keep working. Secrets live
//! in [`Secret`], whose `Debug` prints `[REDACTED]`.

use std::sync::RwLock;

use crate::vocab::base62::BASE62;

/// The prefix secrets get unless the operator names another.
pub const DEFAULT_PREFIX: &str = "km";

/// The prefixes of this process: the one new secrets get, then the retired ones.
/// Process-wide: one deployment, one format (set at start-up by [`configure`]).
static PREFIXES: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Checks a prefix an operator gives: 2 to 16 lowercase letters and digits,
/// starting with a letter (so it reads well in a scanner's pattern).
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = (2..=16).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!("{prefix:?} is not a secret prefix: use 2 to 16 lowercase letters and digits, starting with a letter"))
    }
}

/// Sets this process's prefix and the retired ones (checked by [`check_prefix`]).
pub fn configure(prefix: &str, retired: &[String]) {
    let mut all = vec![prefix.to_string()];
    all.extend(retired.iter().filter(|r| *r != prefix).cloned());
    if let Ok(mut prefixes) = PREFIXES.write() {
        *prefixes = all;
    }
}

/// The prefixes in use: the current one first.
pub fn prefixes() -> Vec<String> {
    match PREFIXES.read() {
        Ok(p) if !p.is_empty() => p.clone(),
        _ => vec![DEFAULT_PREFIX.to_string()],
    }
}

/// The prefix `value` starts with (with its `_`), if it is one of ours.
fn known_prefix(value: &str) -> Option<usize> {
    prefixes()
        .iter()
        .find(|p| {
            value.len() > p.len()
                && value.starts_with(p.as_str())
                && value.as_bytes()[p.len()] == b'_'
        })
        .map(|p| p.len() + 1)
}

/// The regular expression that matches this deployment's secrets (current and
/// retired prefixes), for a secret scanner's custom pattern.
pub fn scanner_pattern() -> String {
    format!(
        "\\b(?:{})_(?:live|test)_[0-9A-Za-z]{{{ID_LEN}}}_[0-9A-Za-z]{{{}}}\\b",
        prefixes().join("|"),
        RANDOM_LEN + CHECKSUM_LEN
    )
}
/// Length of a key id.
pub const ID_LEN: usize = 16;
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;

/// A secret value. Never printed by `Debug`; compare through `apikeys::hashing`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret itself: only for hashing, and for the one-time reveal.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The environment class a prefix names.
pub fn env_class(environment: &str) -> &'static str {
    match environment {
        "production" | "prod" | "live" => "live",
        _ => "test",
    }
}

pub use crate::vocab::base62::{base62, random_base62};

/// A new key id.
pub fn new_key_id() -> String {
    random_base62(ID_LEN)
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Generates a new secret for key `id` in `environment`.
pub fn generate(id: &str, environment: &str) -> Secret {
    let prefix = prefixes().swap_remove(0);
    let body = format!("{prefix}_{}_{id}_{}", env_class(environment), random_base62(RANDOM_LEN));
    let sum = checksum(&body);
    Secret(body + &sum)
}

/// Why a value is not a well-formed generated secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a keymint secret")]
    NotKeymint,
    #[error("malformed keymint secret")]
    Malformed,
    #[error("checksum mismatch")]
    Checksum,
}

/// Whether `value` claims to be a generated secret (has one of our prefixes).
pub fn looks_generated(value: &str) -> bool {
    known_prefix(value).is_some()
}

/// Checks the structure and checksum of a generated secret, offline, and returns
/// the key id it embeds.
pub fn parse(value: &str) -> Result<&str, FormatError> {
    let id = claimed_id(value)?;
    let split = value.len() - CHECKSUM_LEN;
    if checksum(&value[..split]) != value[split..] {
        return Err(FormatError::Checksum);
    }
    Ok(id)
}

/// The key id a value in the generated secret's structure names, whatever its
/// checksum: the key a mistyped or tampered secret was meant for, which its
/// refusal counts against (at the token endpoint and raw-key verification alike).
pub fn claimed_id(value: &str) -> Result<&str, FormatError> {
    let rest = &value[known_prefix(value).ok_or(FormatError::NotKeymint)?..];
    let rest = rest
        .strip_prefix("live_")
        .or_else(|| rest.strip_prefix("test_"))
        .ok_or(FormatError::Malformed)?;
    let expected_len = ID_LEN + 1 + RANDOM_LEN + CHECKSUM_LEN;
    if rest.len() != expected_len || !rest.is_ascii() || rest.as_bytes()[ID_LEN] != b'_' {
        return Err(FormatError::Malformed);
    }
    let (id, tail) = (&rest[..ID_LEN], &rest[ID_LEN + 1..]);
    if !id.bytes().chain(tail.bytes()).all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::Malformed);
    }
    Ok(id)
}

/// The display form: the prefix (for generated secrets) and the last 4 characters.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let last4: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    let prefix = match (parse(value), known_prefix(value)) {
        (Ok(_), Some(len)) => &value[..len + 5],
        _ => "",
    };
    format!("{prefix}****{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_mask_of_any_value_shows_only_its_last_four_characters() {
        // Found by the secret_format fuzz target: short, multi-byte, with stars.
        let value = "***\u{720}\u{f500}\u{700}\u{614}";
        assert_eq!(mask(value), "****\u{720}\u{f500}\u{700}\u{614}");
        let imported = "legacy-Secret-value-0123456789";
        assert_eq!(mask(imported), "****6789");
    }

    #[test]
    fn generated_secret_parses_back_to_its_key_id() {
        let id = new_key_id();
        let secret = generate(&id, "production");
        assert!(secret.expose().starts_with("km_live_"));
        assert_eq!(parse(secret.expose()), Ok(id.as_str()));
        let test_secret = generate(&id, "staging");
        assert!(test_secret.expose().starts_with("km_test_"));
    }

    #[test]
    fn random_part_carries_at_least_160_bits() {
        // 32 characters of base62 = 32 * log2(62) = 190.5 bits.
        assert!(RANDOM_LEN as f64 * 62f64.log2() >= 160.0);
        assert_ne!(random_base62(RANDOM_LEN), random_base62(RANDOM_LEN));
    }

    #[test]
    fn any_single_character_change_fails_the_checksum_or_structure() {
        let secret = generate(&new_key_id(), "production");
        let value = secret.expose();
        for i in 8..value.len() {
            let mut bytes = value.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(parse(&changed).is_err(), "accepted a change at {i}: {changed}");
        }
    }

    #[test]
    fn other_values_are_rejected_with_the_reason() {
        assert_eq!(parse("sk_live_abc"), Err(FormatError::NotKeymint));
        assert_eq!(parse("km_prod_abc"), Err(FormatError::Malformed));
        assert_eq!(parse("km_live_short"), Err(FormatError::Malformed));
    }

    #[test]
    fn mask_keeps_prefix_and_last_four_only() {
        let secret = generate(&new_key_id(), "production");
        let masked = mask(secret.expose());
        assert!(masked.starts_with("km_live_****"));
        assert!(masked.ends_with(&secret.expose()[secret.expose().len() - 4..]));
        assert_eq!(masked.len(), "km_live_****".len() + 4);
        assert_eq!(mask("legacy-secret-value-1234"), "****1234");
    }

    #[test]
    fn a_prefix_is_short_lowercase_and_starts_with_a_letter() {
        for good in ["km", "acme", "acme2", "a1b2c3d4e5f6g7h8"] {
            assert!(check_prefix(good).is_ok(), "{good}");
        }
        for bad in ["", "k", "Acme", "2acme", "ac-me", "ac_me", "a1b2c3d4e5f6g7h8i", "acmé"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
        assert!(scanner_pattern().contains("_(?:live|test)_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = generate(&new_key_id(), "production");
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_valid_checksums(s in "km_(live|test)_[A-Za-z0-9_]{0,70}") {
            if let Ok(id) = parse(&s) {
                prop_assert_eq!(id.len(), ID_LEN);
                let split = s.len() - CHECKSUM_LEN;
                prop_assert_eq!(checksum(&s[..split]), &s[split..]);
            }
        }

        /// Valid secrets (any id, random part and class), each then changed in one
        /// character: the valid one parses to its id, the changed one never does,
        /// and it still names its id while its structure holds.
        #[test]
        fn valid_secrets_parse_and_any_one_character_change_is_refused(
            class in "live|test",
            id in "[A-Za-z0-9]{16}",
            random in "[A-Za-z0-9]{32}",
            at in 8usize..(8 + ID_LEN + 1 + RANDOM_LEN + CHECKSUM_LEN),
            replacement in "[A-Za-z0-9_]",
        ) {
            let body = format!("km_{class}_{id}_{random}");
            let valid = format!("{body}{}", checksum(&body));
            prop_assert_eq!(parse(&valid), Ok(id.as_str()));
            let mut bytes = valid.clone().into_bytes();
            prop_assume!(bytes[at] != replacement.as_bytes()[0]);
            bytes[at] = replacement.as_bytes()[0];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(parse(&changed).is_err(), "accepted {} (from {})", changed, valid);
            let structure_kept = at != 8 + ID_LEN && replacement != "_";
            let id_kept = !(8..8 + ID_LEN).contains(&at);
            if structure_kept && id_kept {
                prop_assert_eq!(claimed_id(&changed), Ok(id.as_str()));
                prop_assert_eq!(parse(&changed), Err(FormatError::Checksum));
            }
        }
    }
}
