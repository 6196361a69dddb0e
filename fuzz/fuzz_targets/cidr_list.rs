//! Allowed IP ranges: parsing lists, normalising them, and matching addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let items: Vec<String> = text.split(',').map(str::to_string).collect();
    if let Ok(ranges) = keymint::apikeys::validate_cidrs(&items) {
        // Normalised ranges are stable and parse again.
        assert_eq!(keymint::apikeys::validate_cidrs(&ranges).as_ref(), Ok(&ranges));
        for item in &items {
            if let Ok(ip) = item.trim().parse::<std::net::IpAddr>() {
                assert!(
                    keymint::apikeys::address_allowed(&ranges, Some(ip)),
                    "{item} in {ranges:?}"
                );
            }
        }
    }
});
