//! Enables the parts of the test suite that need outside programs, and says why
//! when they are skipped:
//! - the PostgreSQL half, when `TEST_DATABASE_URL` is set;
//! - the browser tests, when `chromedriver` is found (`CHROMEDRIVER`, or on `PATH`);
//! - the sign-in tests, when node-oidc-provider is installed in `tests/idp`;
//! - the resource-server recipe and webhook tests, when `interop/install` has
//!   installed the packages they drive, as the lists name them.
//! - the systemd unit's checks, when `systemd-analyze` is found;
//! - the image tests, when `podman` is found, the Debian base image
//!   `localhost/keymint-base:bookworm` exists (`scripts/image-base` makes it)
//!   and the tests run as root (they mount and chroot).
//!   Under `CI=true` a missing `chromedriver`, `systemd-analyze` or image base
//!   fails a test instead (`browser.rs`, `deploy.rs`): CI must run them.
//!
//! It also names the schema version (the newest migration, the same on both
//! backends) for `keymint --version` and the upgrade checks.

use std::path::{Path, PathBuf};

fn main() {
    schema_version();
    println!("cargo:rustc-check-cfg=cfg(keymint_postgres_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_browser_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_idp_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_interop_installed)");
    println!("cargo:rustc-check-cfg=cfg(keymint_systemd_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_image_tests)");
    if on_path("systemd-analyze").is_some() {
        println!("cargo:rustc-cfg=keymint_systemd_tests");
    }
    // Written by scripts/image-base once the base image exists.
    println!("cargo:rerun-if-changed=deploy/.image-base");
    let base_exists = || {
        std::process::Command::new("podman")
            .args(["image", "exists", "localhost/keymint-base:bookworm"])
            .status()
            .is_ok_and(|s| s.success())
    };
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    // The image test mounts the image's filesystem read-only and chroots into it.
    if root && on_path("podman").is_some() && base_exists() {
        println!("cargo:rustc-cfg=keymint_image_tests");
    }
    println!("cargo:rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo:rerun-if-env-changed=CHROMEDRIVER");
    println!("cargo:rerun-if-env-changed=PATH");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=keymint_postgres_tests");
    }
    // The OpenID provider of the sign-in tests: node-oidc-provider and the Node it
    // needs, installed into tests/idp/node_modules by `npm ci --prefix tests/idp`.
    let idp = Path::new("tests/idp/node_modules");
    println!("cargo:rerun-if-changed=tests/idp/node_modules/.package-lock.json");
    if idp.join(".bin/node").is_file() && idp.join("oidc-provider/package.json").is_file() {
        println!("cargo:rustc-cfg=keymint_idp_tests");
    }
    // Packages from npm and PyPI that tests drive (the resource-server recipes'
    // jose, express, PyJWT, FastAPI, uvicorn; Standard Webhooks' verifier),
    // installed by `interop/install`, which stamps each install with the list it
    // installed: the tests run when both stamps match the lists.
    println!("cargo:rerun-if-changed=interop/node/package-lock.json");
    println!("cargo:rerun-if-changed=interop/node/node_modules/.package-lock.json.stamp");
    println!("cargo:rerun-if-changed=interop/python/requirements.txt");
    println!("cargo:rerun-if-changed=interop/python/.venv/.requirements");
    let same =
        |a: &str, b: &str| matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y);
    if same("interop/node/package-lock.json", "interop/node/node_modules/.package-lock.json.stamp")
        && same("interop/python/requirements.txt", "interop/python/.venv/.requirements")
    {
        println!("cargo:rustc-cfg=keymint_interop_installed");
    }
    if let Some(path) = chromedriver() {
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-cfg=keymint_browser_tests");
        println!("cargo:rustc-env=KEYMINT_CHROMEDRIVER={}", path.display());
    }
}

fn chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    on_path("chromedriver")
}

/// Where `program` is on `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| Path::new(p).is_file())
}

/// Sets `KEYMINT_SCHEMA_VERSION` to the newest migration's number, after checking
/// that both backends carry the same migrations.
fn schema_version() {
    let versions = |backend: &str| -> Vec<u32> {
        let dir = format!("migrations/{backend}");
        println!("cargo:rerun-if-changed={dir}");
        let mut versions: Vec<u32> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().to_string_lossy().to_string();
                name.split('_').next()?.parse().ok()
            })
            .collect();
        versions.sort_unstable();
        versions
    };
    let (sqlite, postgres) = (versions("sqlite"), versions("postgres"));
    assert_eq!(sqlite, postgres, "migrations/sqlite and migrations/postgres differ");
    let newest = sqlite.last().copied().unwrap_or(0);
    println!("cargo:rustc-env=KEYMINT_SCHEMA_VERSION={newest}");
}
