//! People sign in to the console in a real browser, through a real OpenID
//! provider's own login and consent pages (node-oidc-provider on 127.0.0.2,
//! another site than keymint on 127.0.0.1, so SameSite cookies are tested as a
//! deployment meets them).

use fantoccini::Locator;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::idp::{spawn_app_with_sso, Idp};
use crate::helpers::{Backend, TestApp};

/// Runs each listed test on both backends, with a browser and the provider.
macro_rules! in_a_browser_with_an_idp {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(all(keymint_browser_tests, keymint_idp_tests)), ignore = "browser sign-in tests skipped: chromedriver or tests/idp missing")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(all(keymint_browser_tests, keymint_idp_tests, keymint_postgres_tests)), ignore = "browser sign-in tests skipped: chromedriver, tests/idp or TEST_DATABASE_URL missing")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

in_a_browser_with_an_idp!(
    each_role_signs_in_through_the_provider_and_sees_exactly_its_controls,
    a_person_with_no_role_is_told_so,
    sign_out_everywhere_from_the_people_page_ends_the_other_browser,
);

/// From keymint's sign-in page: "Sign in with SSO", then the provider's own login
/// and consent pages as `login`.
async fn at_the_provider(browser: &Browser, login: &str) {
    browser.click("Sign in with SSO").await;
    let field = |name: &'static str| async move {
        browser.client.find(Locator::Css(&format!("input[name={name}]"))).await.unwrap()
    };
    field("login").await.send_keys(login).await.unwrap();
    field("password").await.send_keys("any password").await.unwrap();
    browser.click("Sign-in").await;
    browser.click("Continue").await;
}

/// Signs `login` in with "Sign in with SSO" and the provider's own pages.
async fn sign_in_with_sso(browser: &Browser, login: &str) {
    browser.go("/console/sign-in").await;
    at_the_provider(browser, login).await;
    // keymint's callback page moves on to the console by itself.
    crate::helpers::wait_until(std::time::Duration::from_secs(15), "the console", || async {
        browser.path().await.starts_with("/console/keys")
    })
    .await;
}

async fn bind(app: &TestApp, subject: &str, workspace: Option<&str>, role: &str) {
    let token = app.admin_token().await;
    let body = json!({"subject": subject, "workspace_id": workspace, "role": role});
    let response = app.post_with(&token, "/v1/role-bindings", &body).await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
}

/// The names of the console's navigation links.
async fn navigation(browser: &Browser) -> Vec<String> {
    let links = browser.client.find_all(Locator::Css("nav[aria-label=Console] a")).await.unwrap();
    let mut names = vec![];
    for link in links {
        names.push(link.text().await.unwrap());
    }
    names
}

async fn each_role_signs_in_through_the_provider_and_sees_exactly_its_controls(backend: Backend) {
    let (app, _idp): (TestApp, Idp) = spawn_app_with_sso(backend, &[]).await;
    let token = app.admin_token().await;
    let team = app.post_json(&token, "/v1/workspaces", &json!({"name": "team-a"})).await;
    let team = team["id"].as_str().unwrap().to_string();
    bind(&app, "group:support", None, "read-only").await;
    bind(&app, "group:team-a", Some(&team), "workspace-admin").await;

    // (login, email, role shown, navigation, may create keys)
    let everyone = [
        (
            "alice",
            "alice@example.com",
            "platform admin",
            vec![
                "API keys",
                "Usage",
                "Workspaces",
                "Webhooks",
                "Audit log",
                "Signing keys",
                "Access",
                "People",
            ],
            true,
        ),
        (
            "wes",
            "wes@example.com",
            "workspace admin",
            vec!["API keys", "Usage", "Workspaces", "Webhooks", "Audit log"],
            true,
        ),
        (
            "sam",
            "sam@example.com",
            "read-only",
            vec!["API keys", "Usage", "Workspaces", "Webhooks", "Audit log"],
            false,
        ),
    ];
    for (login, email, role, nav, writes) in everyone {
        let browser = Browser::open(&app).await;
        sign_in_with_sso(&browser, login).await;
        let header = browser.client.find(Locator::Css("[aria-label='Signed in']")).await.unwrap();
        let header = header.text().await.unwrap();
        assert!(header.contains(email), "{login}: the header shows the email: {header}");
        assert!(header.contains(role), "{login}: the header shows the role: {header}");
        assert_eq!(navigation(&browser).await, nav, "{login}: navigation");
        assert_eq!(browser.control("Create key").await.is_some(), writes, "{login}: Create key");
        // What the navigation hides, the server refuses too.
        browser.go("/console/access").await;
        let text = browser.text().await;
        assert_eq!(text.contains("New role binding"), login == "alice", "{login}: Access");
        browser.client.close().await.unwrap();
    }
}

async fn a_person_with_no_role_is_told_so(backend: Backend) {
    let (app, _idp) = spawn_app_with_sso(backend, &[]).await;
    let browser = Browser::open(&app).await;
    browser.go("/console/sign-in").await;
    at_the_provider(&browser, "nobody").await;
    let text = browser.text().await;
    assert!(text.contains("Sign-in refused"), "{text}");
    assert!(text.contains("no role in keymint is given to you"), "{text}");
    browser.go("/console/keys").await;
    assert_eq!(browser.path().await, "/console/sign-in", "no session");
    browser.client.close().await.unwrap();
}

async fn sign_out_everywhere_from_the_people_page_ends_the_other_browser(backend: Backend) {
    let (app, _idp) = spawn_app_with_sso(backend, &[]).await;
    bind(&app, "group:support", None, "read-only").await;
    let sam = Browser::open(&app).await;
    sign_in_with_sso(&sam, "sam").await;
    let alice = Browser::open(&app).await;
    sign_in_with_sso(&alice, "alice").await;

    alice.go("/console/people").await;
    let text = alice.text().await;
    assert!(text.contains("sam@example.com") && text.contains("read-only"), "{text}");
    let button = "Sign out everywhere: sam@example.com";
    let xpath = format!("//button[@aria-label='{button}']");
    let old = alice.client.find(Locator::Css("html")).await.unwrap();
    alice.client.find(Locator::XPath(&xpath)).await.unwrap().click().await.unwrap();
    crate::helpers::wait_until(std::time::Duration::from_secs(15), "the next page", || async {
        old.tag_name().await.is_err()
    })
    .await;
    assert!(alice.text().await.contains("Every session of that person has ended"));

    sam.go("/console/keys").await;
    assert_eq!(sam.path().await, "/console/sign-in?ended=1", "sam's session ended");
    sam.client.close().await.unwrap();
    alice.client.close().await.unwrap();
}

/// Takes the sign-in screenshots in `docs/images/` from the real pages (run by
/// `scripts/screenshots`, which passes the folder in `KEYMINT_SCREENSHOTS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/images; run scripts/screenshots to refresh them"]
async fn screenshots_of_signing_in_with_sso() {
    let dir = std::path::PathBuf::from(std::env::var("KEYMINT_SCREENSHOTS").unwrap());
    let (app, _idp) = spawn_app_with_sso(Backend::Sqlite, &[]).await;
    bind(&app, "group:support", None, "read-only").await;
    for login in ["sam"] {
        let browser = Browser::open(&app).await;
        sign_in_with_sso(&browser, login).await;
        browser.client.close().await.unwrap();
    }
    let browser = Browser::open(&app).await;
    browser.client.set_window_size(1280, 860).await.unwrap();
    browser.go("/console/sign-in").await;
    let shot = |name: &str| dir.join(format!("console-{name}.png"));
    std::fs::write(shot("sign-in-sso"), browser.client.screenshot().await.unwrap()).unwrap();
    sign_in_with_sso(&browser, "alice").await;
    browser.go("/console/people").await;
    std::fs::write(shot("people"), browser.client.screenshot().await.unwrap()).unwrap();
}

/// `keymint login --sso` from the binary, approved in a browser by a person who
/// signs in through the provider there, against a `keymint serve` process; then
/// the CLI acts as that person.
mod the_cli_as_a_person {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::helpers::TestDatabase;

    in_a_browser_with_an_idp!(the_cli_signs_in_with_sso_approved_in_the_browser);

    fn keymint(config: &std::path::Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keymint"));
        cmd.env("XDG_CONFIG_HOME", config).env_remove("KEYMINT_SERVER").env_remove("RUST_LOG");
        cmd
    }

    pub(super) async fn the_cli_signs_in_with_sso_approved_in_the_browser(backend: Backend) {
        // The TLS library's provider, as keymint's own start would choose it.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let db = TestDatabase::new(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let mut idp = Idp::start();
        let mut serve = keymint(&config);
        serve
            .current_dir(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db.url])
            .args(idp.keymint_args());
        let (_server, url) = crate::helpers::serve(serve);
        idp.configure(&url);

        let mut login = keymint(&config)
            .args(["login", "--server", &url, "--sso"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = login.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let recv =
            || lines.recv_timeout(std::time::Duration::from_secs(30)).expect("the CLI prints");
        let intro = recv();
        assert!(intro.starts_with("To sign in, open this page"), "{intro}");
        let page = recv().trim().to_string();
        assert!(page.starts_with(&format!("{url}/console/device?user_code=")), "{page}");
        let code_line = recv();
        let code = page.split("user_code=").nth(1).unwrap().to_string();
        assert!(code_line.contains(&format!("approve the code {code}")), "{code_line}");

        // Alice opens the page: she signs in through the provider first, and
        // lands back on it.
        let browser = Browser::open_at(&url).await;
        browser.client.goto(&page).await.unwrap();
        at_the_provider(&browser, "alice").await;
        crate::helpers::wait_until(
            std::time::Duration::from_secs(15),
            "the device page",
            || async { browser.path().await.starts_with("/console/device") },
        )
        .await;
        assert!(browser.text().await.contains(&code), "the page shows the CLI's code");
        browser.click("Approve").await;
        assert!(browser.text().await.contains("The CLI is signed in as you"));

        let status = tokio::task::spawn_blocking(move || login.wait().unwrap()).await.unwrap();
        assert!(status.success(), "keymint login --sso exits 0");
        // Everything it printed, up to the end of its output (the reader thread may
        // not have passed the last line on yet when the process has exited).
        let mut done = Vec::new();
        while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(10)) {
            done.push(line);
        }
        let said = format!("logged in to {url} as alice@example.com (");
        assert!(done.iter().any(|l| l.starts_with(&said)), "{done:?}");
        let file = config.join("keymint/credentials.json");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

        let out = keymint(&config).arg("whoami").output().unwrap();
        let whoami = String::from_utf8_lossy(&out.stdout);
        assert!(whoami.contains(&format!("remote: {url} as alice@example.com")), "{whoami}");
        let out = keymint(&config).args(["workspaces", "create", "made-by-cli"]).output();
        let out = out.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = keymint(&config).args(["audit", "--action", "workspace.create"]).output();
        let audit = String::from_utf8_lossy(&out.unwrap().stdout).to_string();
        assert!(audit.contains("alice@example.com"), "the audit names the person: {audit}");
        browser.client.close().await.unwrap();
    }
}
