//! The OAuth form (RFC 6749 appendix B) and client credentials in the body.
#![no_main]

use axum::http::HeaderMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = keymint::http::oauth::read_client_request(&HeaderMap::new(), body);
});
