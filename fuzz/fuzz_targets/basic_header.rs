//! `Authorization` headers at the OAuth endpoints: Basic with its form encoding,
//! other schemes, repeats; with or without credentials in the body.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: how many headers; the rest, split at the first NUL: headers | body.
    let Some((&count, rest)) = data.split_first() else { return };
    let (values, body) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for value in values.split(|b| *b == b'\n').take(usize::from(count % 3) + 1) {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append("authorization", v);
        }
    }
    let _ = keymint::http::extract::authorization(&headers);
    let _ = keymint::http::oauth::read_client_request(&headers, body);
});
