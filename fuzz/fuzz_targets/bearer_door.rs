//! The `/v1` bearer door: the `Authorization` header, then the token's
//! verification against a real keyring (a keymint opened on a temporary SQLite).
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderValue};
use clap::Parser;
use libfuzzer_sys::fuzz_target;

struct Door {
    app: Arc<keymint::app::App>,
    _dir: tempfile::TempDir,
}

fn door() -> &'static Door {
    static DOOR: OnceLock<Door> = OnceLock::new();
    DOOR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let key = dir.path().join("master.key").display().to_string();
        let cli = keymint::cli::Cli::try_parse_from([
            "keymint",
            "--database-url",
            &url,
            "--master-key-file",
            &key,
        ])
        .expect("arguments");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let app = runtime
            .block_on(keymint::app::App::open(
                cli.settings().into_config(),
                Arc::new(keymint::clock::SystemClock),
            ))
            .expect("app");
        std::mem::forget(runtime);
        Door { app, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        headers.insert("authorization", v);
    }
    if let Ok(Some((scheme, token))) = keymint::http::extract::authorization(&headers) {
        if scheme == "bearer" {
            assert!(door().app.tokens.verify(token, None).is_err(), "no forged token verifies");
        }
    }
});
