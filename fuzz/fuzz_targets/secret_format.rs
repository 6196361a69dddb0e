//! The secret format: prefix, key id, random part and checksum; the mask.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    use keymint::apikeys::secret;
    if let Ok(id) = secret::parse(text) {
        assert!(keymint::apikeys::valid_key_id(id), "a parsed secret names a valid id");
    }
    let _ = secret::looks_generated(text);
    let masked = secret::mask(text);
    assert!(text.len() < 12 || !masked.contains(text), "the mask never shows the secret");
});
