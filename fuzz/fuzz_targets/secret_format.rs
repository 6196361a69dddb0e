//! The secret format: prefix, key id, random part and checksum; the mask.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    use keymint::apikeys::secret;
    if let Ok(id) = secret::parse(text) {
        assert!(keymint::apikeys::valid_key_id(id), "a parsed secret names a valid id");
    }
    let _ = secret::looks_generated(text);
    // The mask shows at most a generated secret's public prefix and the last four
    // characters, so it never holds a stored secret (at least 16 characters).
    let masked = secret::mask(text);
    assert!(masked.chars().count() <= 16, "{masked:?}");
    let last4: String = text.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(masked.ends_with(&last4));
    assert!(text.chars().count() < 16 || !masked.contains(text), "the mask shows the secret");
});
