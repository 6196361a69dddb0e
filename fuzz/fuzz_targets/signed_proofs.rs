//! What clients sign and send: a compact JWS (`private_key_jwt` assertions, DPoP
//! proofs), a DPoP proof checked in full, and a JWK Set registered for a key.
#![no_main]

use keymint::apikeys::jwks::PublicKeys;
use keymint::oauth::dpop::{self, Target};
use keymint::oauth::{assertion, jws::Jws};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = Jws::parse(text) {
        assert!(keymint::apikeys::jwks::allowed(jws.alg), "only allow-listed algorithms parse");
    }
    let _ = assertion::claimed_client(text);
    let _ = assertion::claimed_kid(text);
    let target =
        Target { method: "POST", url: "https://keymint.test/oauth/token", access_token: None };
    // Nobody's key signed this input: no proof may pass.
    assert!(dpop::check(text, target, 1_800_000_000, None).is_err(), "no forged proof passes");
    if let Ok(set) = serde_json::from_str::<serde_json::Value>(text) {
        if let Ok(keys) = PublicKeys::parse(&set, "jwks") {
            let kept = keys.to_json();
            let members = kept["keys"].as_array().into_iter().flatten();
            assert!(members.clone().all(|k| k.get("d").is_none()), "no private member is kept");
            let again = PublicKeys::parse(&kept, "jwks");
            assert_eq!(again.ok(), Some(keys), "what is kept parses back to itself");
        }
    }
});
