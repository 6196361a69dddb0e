//! The scope grammar: parsing, the canonical text, and coverage.
#![no_main]

use keymint::vocab::scope::{self, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(list) = scope::parse_list(text) {
        for s in &list {
            // The canonical text parses back to the same scope, which covers itself.
            let again = Scope::parse(&s.to_string()).expect("canonical text parses");
            assert_eq!(again.to_string(), s.to_string());
            assert!(scope::any_covers(std::slice::from_ref(s), s), "a scope covers itself");
        }
    }
});
