//! Enables the parts of the test suite that need outside programs, and says why
//! when they are skipped:
//! - the PostgreSQL half, when `TEST_DATABASE_URL` is set;
//! - the browser tests, when `chromedriver` is found (`CHROMEDRIVER`, or on `PATH`);
//! - the sign-in tests, when node-oidc-provider is installed in `tests/idp`;
//! - the resource-server recipe tests, when `interop/install` has installed the
//!   recipes' Node and Python dependencies.
//!   Under `CI=true` a missing `chromedriver` fails a test instead (`browser.rs`):
//!   CI must run them.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rustc-check-cfg=cfg(keymint_postgres_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_browser_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_idp_tests)");
    println!("cargo:rustc-check-cfg=cfg(keymint_recipe_tests)");
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
    // The recipes of docs/resource-servers.md: jose and express for Node, PyJWT,
    // FastAPI and uvicorn for Python, installed by `interop/install`.
    println!("cargo:rerun-if-changed=interop/node/node_modules/.package-lock.json");
    println!("cargo:rerun-if-changed=interop/python/.venv/.requirements");
    let node = Path::new("interop/node/node_modules");
    if node.join("express/package.json").is_file()
        && node.join("jose/package.json").is_file()
        && Path::new("interop/python/.venv/bin/uvicorn").is_file()
    {
        println!("cargo:rustc-cfg=keymint_recipe_tests");
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
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| Path::new(p).is_file())
}
