//! The `/v1` JSON bodies: one JSON value exactly, then the fields' validation.
#![no_main]

use keymint::apikeys::{KeyUpdate, NewKey};
use keymint::http::extract::json_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(new) = json_body::<NewKey>(data) {
        let _ = keymint::apikeys::validate_name("name", &new.name);
        let _ = keymint::apikeys::validate_cidrs(&new.allowed_cidrs);
        for s in &new.scopes {
            let _ = keymint::vocab::scope::Scope::parse(s);
        }
    }
    if let Ok(update) = json_body::<KeyUpdate>(data) {
        if let Some(cidrs) = &update.allowed_cidrs {
            let _ = keymint::apikeys::validate_cidrs(cidrs);
        }
    }
    let _ = json_body::<keymint::workspaces::WorkspaceInput>(data);
    let _ = json_body::<keymint::http::admin::keys::RotateBody>(data);
    let _ = json_body::<serde_json::Value>(data);
});
