//! Enables the PostgreSQL half of the test suite when `TEST_DATABASE_URL` is set;
//! without it those tests are reported as ignored with the reason.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(keymint_postgres_tests)");
    println!("cargo:rerun-if-env-changed=TEST_DATABASE_URL");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=keymint_postgres_tests");
    }
}
