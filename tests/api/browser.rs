//! The console in a real browser: Debian's `chromium`, driven through `chromedriver`
//! (WebDriver) against a real server. Controls are found by their accessible names
//! (label text, button text), as a person finds them.
//!
//! Without `chromedriver` these tests are reported ignored with the reason; under
//! `CI=true` that is a failure (`ci_runs_the_browser_tests`).

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use keymint::vocab::scope::Scope;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Backend, TestApp};

/// Runs each listed `async fn name(backend: Backend)` in a browser on each backend.
macro_rules! in_a_browser_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(keymint_browser_tests), ignore = "browser tests skipped: chromedriver not found")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(all(keymint_browser_tests, keymint_postgres_tests)), ignore = "browser or PostgreSQL run skipped: chromedriver not found or TEST_DATABASE_URL not set")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

#[test]
fn ci_runs_the_browser_tests() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci || cfg!(keymint_browser_tests),
        "CI=true but chromedriver was not found when the tests were built: install the \
         chromium and chromium-driver packages"
    );
}

/// Browsers running at once: each is a few hundred MB and a busy core.
static BROWSERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Starts chromedriver and a headless Chromium session through it; on failure,
/// what went wrong and everything chromedriver wrote on its stderr.
async fn start(path: &str) -> Result<(Client, tokio::process::Child), String> {
    let mut driver = tokio::process::Command::new(path)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{path} cannot start: {e}"))?;
    // Everything chromedriver says on stderr, kept to explain a failed start.
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut errors = BufReader::new(driver.stderr.take().unwrap()).lines();
    let kept = stderr.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            let mut kept = kept.lock().unwrap();
            kept.push_str(&line);
            kept.push('\n');
        }
    });
    let why = |what: &str| format!("{what}; chromedriver's stderr:\n{}", stderr.lock().unwrap());
    let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(port) = line.split("started successfully on port ").nth(1) {
                return Some(port.trim_end_matches('.').trim().to_string());
            }
        }
        None
    })
    .await;
    let port = match port {
        Ok(Some(port)) => port,
        Ok(None) => {
            let status = driver.wait().await.map(|s| s.to_string()).unwrap_or_default();
            // The process is gone: its stderr ends, and is read to its end.
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
            return Err(why(&format!("chromedriver exited before it listened ({status})")));
        }
        Err(_) => return Err(why("chromedriver did not listen within 30 s")),
    };
    // Keep reading so chromedriver never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"]
        }),
    );
    let client = ClientBuilder::rustls()
        .map_err(|e| e.to_string())?
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| why(&format!("no browser session: {e}")))?;
    Ok((client, driver))
}

/// [`start`], tried once more when it fails; both failures told if both fail.
async fn start_retrying(path: &str) -> Result<(Client, tokio::process::Child), String> {
    match start(path).await {
        Ok(started) => Ok(started),
        Err(first) => {
            eprintln!("the browser did not start, trying once more: {first}");
            start(path)
                .await
                .map_err(|second| format!("the browser did not start twice:\n{first}\n{second}"))
        }
    }
}

#[tokio::test]
async fn a_chromedriver_that_exits_early_is_explained_and_tried_once_more() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("chromedriver");
    std::fs::write(&fake, "#!/bin/sh\necho 'bind() failed: Address in use' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let Err(failed) = start(fake.to_str().unwrap()).await else {
        panic!("a driver that exits fails");
    };
    assert!(failed.contains("chromedriver exited before it listened"), "{failed}");
    assert!(failed.contains("bind() failed: Address in use"), "its stderr is kept: {failed}");

    // A start that fails is tried once more, and both failures are told.
    let tries = dir.path().join("tries");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho try >> {}\necho 'no display' >&2\nexit 1\n", tries.display()),
    )
    .unwrap();
    let Err(failed) = start_retrying(fake.to_str().unwrap()).await else {
        panic!("a driver that always exits fails");
    };
    assert_eq!(std::fs::read_to_string(&tries).unwrap().lines().count(), 2, "tried twice");
    assert!(failed.starts_with("the browser did not start twice"), "{failed}");
    assert_eq!(failed.matches("no display").count(), 2, "both stderrs: {failed}");
}

/// A headless Chromium session and the chromedriver serving it (killed on drop).
pub struct Browser {
    pub client: Client,
    base: String,
    _driver: tokio::process::Child,
    _permit: tokio::sync::SemaphorePermit<'static>,
}

impl Browser {
    /// A new browser, pointed at nothing yet.
    pub async fn open(app: &TestApp) -> Browser {
        Browser::open_at(&app.base).await
    }

    /// A new browser for the keymint at `base` (e.g. a `keymint serve` process).
    /// A start that fails (chromedriver exiting early, a session refused) is tried
    /// once more; a second failure says why, with chromedriver's stderr.
    pub async fn open_at(base: &str) -> Browser {
        let permit = BROWSERS.acquire().await.unwrap();
        let path = option_env!("KEYMINT_CHROMEDRIVER").unwrap_or("chromedriver");
        let (client, driver) = start_retrying(path).await.unwrap_or_else(|why| panic!("{why}"));
        Browser { client, base: base.to_string(), _driver: driver, _permit: permit }
    }

    pub async fn go(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    /// The form control labelled exactly `label`.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!("//label[normalize-space()={}]", xpath_text(label));
        self.field_by(&xpath, label).await
    }

    async fn field_by(&self, label_xpath: &str, what: &str) -> Element {
        let label = self
            .client
            .find(Locator::XPath(label_xpath))
            .await
            .unwrap_or_else(|e| panic!("no label {what:?}: {e}"));
        let id = label.attr("for").await.unwrap().expect("the label names its control");
        self.client.find(Locator::Id(&id)).await.unwrap()
    }

    /// Replaces the value of the field labelled `label`.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Chooses the option with `value` in the select labelled `label`.
    pub async fn choose(&self, label: &str, value: &str) {
        self.field(label).await.select_by_value(value).await.unwrap();
    }

    /// The button or button-styled link named `name`.
    pub async fn control(&self, name: &str) -> Option<Element> {
        let xpath =
            format!("//*[(self::button or self::a) and normalize-space()={}]", xpath_text(name));
        self.client.find(Locator::XPath(&xpath)).await.ok()
    }

    /// Clicks the control named `name` and waits for the page it leads to.
    pub async fn click(&self, name: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.press(name).await;
        // The old document's root goes stale once the next page replaces it.
        crate::helpers::wait_until(Duration::from_secs(15), "the next page", || async {
            old.tag_name().await.is_err() && self.loaded().await
        })
        .await;
    }

    /// Clicks the control named `name`, expecting no new page (a checkbox, a
    /// button the browser itself refuses to submit, a copy button).
    pub async fn press(&self, name: &str) {
        self.control(name)
            .await
            .unwrap_or_else(|| panic!("no control named {name:?} on {}", self.base))
            .click()
            .await
            .unwrap();
    }

    async fn loaded(&self) -> bool {
        let state = self.client.execute("return document.readyState", vec![]).await;
        state.is_ok_and(|s| s == "complete")
    }

    /// Signs in with a key's id and secret.
    pub async fn sign_in(&self, id: &str, secret: &str) {
        self.go("/console").await;
        self.fill("Client ID", id).await;
        self.fill("Client secret", secret).await;
        self.click("Sign in").await;
    }
}

/// `text` as an XPath string literal.
fn xpath_text(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

async fn an_admin_signs_in_and_out_and_a_wrong_secret_is_refused(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, "km_live_wrong").await;
    assert_eq!(browser.path().await, "/console/sign-in");
    assert!(browser.text().await.contains("the client ID or secret is wrong"));
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    assert_eq!(browser.path().await, "/console/keys");
    let page = browser.text().await;
    assert!(page.contains("API keys") && page.contains("platform admin"), "{page}");
    assert!(page.contains("platform-admin"), "the signed-in key is shown: {page}");
    assert!(!page.contains(&app.admin_secret), "never the secret");
    browser.click("Sign out").await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser.go("/console/keys").await;
    assert_eq!(browser.path().await, "/console/sign-in", "signed out for good");
    browser.client.close().await.unwrap();
}

async fn a_key_created_in_the_form_exchanges_and_its_secret_is_shown_once(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Create key").await;
    browser.fill("Name", "checkout").await;
    browser.fill("Description", "the checkout service").await;
    browser.fill("Environment", "staging").await;
    browser.fill("Scopes", "read:orders/*\nwrite:carts/*").await;
    browser.fill("Allowed IP ranges", "0.0.0.0/0").await;
    browser.choose("Expires", "90d").await;
    browser.click("Review").await;
    let review = browser.text().await;
    assert!(review.contains("Review the new key"), "{review}");
    assert!(review.contains("0.0.0.0/0 allows every address"), "the wildcard warning");
    // Back to the form, values kept; narrow the range, review again, create.
    browser.click("Back to edit").await;
    assert_eq!(browser.field("Name").await.prop("value").await.unwrap().unwrap(), "checkout");
    browser.fill("Allowed IP ranges", "127.0.0.0/8").await;
    browser.click("Review").await;
    assert!(!browser.text().await.contains("allows every address"));
    browser.click("Create key").await;

    let reveal_path = browser.path().await;
    assert!(reveal_path.ends_with("/secret") && !reveal_path.contains("km_"), "{reveal_path}");
    let secret =
        browser.field("Client secret").await.prop("value").await.unwrap().expect("the secret");
    assert!(secret.starts_with("km_test_"), "a staging key: {secret}");
    let id = reveal_path.split('/').nth(3).unwrap().to_string();
    let curl = browser.field("Exchange it for a token").await.prop("value").await.unwrap();
    let curl = curl.expect("the command line");
    assert!(curl.contains(&id) && !curl.contains(&secret), "the secret stays out of it: {curl}");
    // The line as a person runs it: pasted into a shell, the secret typed at its prompt.
    let mut shell = std::process::Command::new("bash")
        .args(["-c", &curl])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(shell.stdin.take().unwrap(), "{secret}").unwrap();
    let out = shell.wait_with_output().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("curl answers JSON: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(answer["access_token"].is_string(), "the pasted line exchanges the key: {answer}");
    assert!(browser.control("Copy").await.is_some());
    let token = app.token_basic(&id, &secret, &[("scope", "read:orders/*")]).await;
    assert_eq!(token.status(), reqwest::StatusCode::OK, "the revealed secret works");

    // Continue needs the checkbox: the browser refuses to submit without it.
    browser.press("Continue").await;
    assert_eq!(browser.path().await, reveal_path, "not ticked, not gone");
    let stored = browser.field_by("//label[contains(., 'stored')]", "stored").await;
    stored.click().await.unwrap();
    browser.click("Continue").await;
    assert!(browser.path().await.starts_with(&format!("/console/keys/{id}")));
    assert!(browser.text().await.contains("checkout"));
    browser.client.back().await.unwrap();
    assert!(!browser.text().await.contains(&secret), "back does not show it");
    browser.client.refresh().await.unwrap();
    let page = browser.text().await;
    assert!(!page.contains(&secret), "a reload does not show it");
    assert!(page.contains("shown once"), "{page}");
    browser.client.close().await.unwrap();
}

async fn search_and_filters_narrow_the_list_and_stay_in_the_url(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let admin = app.admin_token().await;
    app.create_key(json!({"name": "alpha-web", "type": "gateway"})).await;
    app.create_key(json!({"name": "beta-web", "environment": "staging"})).await;
    let gone = app.create_key(json!({"name": "alpha-old"})).await;
    let id = gone["id"].as_str().unwrap();
    app.post_with(&admin, &format!("/v1/keys/{id}/deactivate"), &json!({})).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    let all = browser.text().await;
    assert!(all.contains("alpha-web") && all.contains("beta-web"));
    assert!(!all.contains("alpha-old"), "active keys by default");

    browser.fill("Search", "alpha").await;
    browser.click("Apply filters").await;
    let found = browser.text().await;
    assert!(found.contains("alpha-web") && !found.contains("beta-web"), "{found}");
    browser.choose("Status", "inactive").await;
    browser.click("Apply filters").await;
    let path = browser.path().await;
    assert!(path.contains("q=alpha") && path.contains("status=inactive"), "{path}");
    let inactive = browser.text().await;
    assert!(inactive.contains("alpha-old") && !inactive.contains("alpha-web"), "{inactive}");

    // The view is a bookmark.
    browser.go("/console/keys?status=all&environment=staging").await;
    let staging = browser.text().await;
    assert!(staging.contains("beta-web") && !staging.contains("alpha-web"), "{staging}");
    browser.go("/console/keys?status=all&type=gateway").await;
    let gateways = browser.text().await;
    assert!(gateways.contains("alpha-web") && !gateways.contains("beta-web"), "{gateways}");
    assert_eq!(browser.field("Type").await.prop("value").await.unwrap().unwrap(), "gateway");

    // Server-side paging: 30 more keys make two pages of 25.
    for n in 0..30 {
        app.clock.advance(1);
        app.create_key(json!({"name": format!("bulk-{n:02}")})).await;
    }
    browser.go("/console/keys?q=bulk").await;
    let first = browser.text().await;
    assert!(first.contains("bulk-00") && !first.contains("bulk-29"), "oldest first");
    browser.click("Next page").await;
    let second = browser.text().await;
    assert!(second.contains("bulk-29") && !second.contains("bulk-00"), "{second}");
    browser.client.close().await.unwrap();
}

async fn rotating_in_the_browser_replaces_the_secret(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, old) = app.new_client("rotating", &["read:a"]).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("rotating").await;
    assert_eq!(
        browser.client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap(),
        "rotating"
    );
    browser.choose("Old secret keeps working for", "0").await;
    browser.click("Rotate").await;
    let new = browser.field("Client secret").await.prop("value").await.unwrap().unwrap();
    assert_ne!(new, old);
    let refused = app.token_basic(&id, &old, &[]).await;
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED, "the old secret stops");
    assert_eq!(app.token_basic(&id, &new, &[]).await.status(), reqwest::StatusCode::OK);
    browser.client.close().await.unwrap();
}

async fn access_is_granted_and_removed_from_the_access_page(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Access").await;
    assert_eq!(browser.path().await, "/console/access");
    browser.fill("Subject", "support").await;
    browser.click("Add role binding").await;
    assert!(browser.text().await.contains("must be group:<name> or email:<address>"));
    browser.fill("Subject", "email:Ana@Example.com").await;
    browser.choose("Role", "workspace-admin").await;
    browser.choose("Workspace", "").await;
    browser.click("Add role binding").await;
    let page = browser.text().await;
    assert!(page.contains("Role binding added."), "{page}");
    assert!(page.contains("email:ana@example.com") && page.contains("workspace-admin"), "{page}");
    browser.click("Remove").await;
    let page = browser.text().await;
    assert!(
        page.contains("the rights it gave have ended") && page.contains("No role bindings yet.")
    );
    browser.client.close().await.unwrap();
}

async fn revoke_and_delete_ask_for_the_name(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, secret) = app.new_client("doomed", &["read:a"]).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.go(&format!("/console/keys/{id}")).await;
    browser.click("Revoke").await;
    assert!(browser.text().await.contains("permanent"));
    browser.fill("Type the key's name to confirm", "doomd").await;
    browser.click("Revoke").await;
    assert!(browser.text().await.contains("type the key's name exactly"), "a typo is refused");
    assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), reqwest::StatusCode::OK);
    browser.fill("Type the key's name to confirm", "doomed").await;
    browser.click("Revoke").await;
    let page = browser.text().await;
    assert!(page.contains("revoked"), "{page}");
    assert!(browser.control("Rotate").await.is_none(), "no rotation of a revoked key");
    assert_eq!(
        app.token_basic(&id, &secret, &[]).await.status(),
        reqwest::StatusCode::UNAUTHORIZED
    );

    browser.click("Delete").await;
    assert!(browser.text().await.contains("audit log keeps the event"));
    browser.fill("Type the key's name to confirm", "doomed").await;
    browser.click("Delete").await;
    assert!(browser.path().await.starts_with("/console/keys"));
    assert!(app.app.store.find_key(&id).await.unwrap().is_none(), "deleted");
    browser.client.close().await.unwrap();
}

async fn read_only_and_workspace_admins_see_only_what_they_may(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let other = app.post_json(&admin, "/v1/workspaces", &json!({"name": "other-team"})).await;
    let other_ws = other["id"].as_str().unwrap();
    let theirs = app.create_key(json!({"name": "their-key", "workspace_id": other_ws})).await;
    let (ours, _) = app.new_client("our-key", &["read:a"]).await;
    let (reader, reader_secret) = app.new_client("reader", &["keymint:keys:read"]).await;
    let (ws_admin, ws_secret) =
        app.new_client("team-admin", &["keymint:keys:read", "keymint:keys:write"]).await;

    let browser = Browser::open(&app).await;
    browser.sign_in(&reader, &reader_secret).await;
    assert!(browser.text().await.contains("read-only"));
    assert!(browser.control("Create key").await.is_none());
    browser.go(&format!("/console/keys/{ours}")).await;
    assert!(browser.text().await.contains("our-key"));
    for control in ["Edit", "Rotate", "Deactivate", "Revoke", "Delete"] {
        assert!(browser.control(control).await.is_none(), "{control} shown to a reader");
    }
    browser.click("Sign out").await;

    browser.sign_in(&ws_admin, &ws_secret).await;
    let page = browser.text().await;
    assert!(page.contains("workspace admin") && page.contains("our-key"), "{page}");
    assert!(!page.contains("their-key"), "another workspace's key is not listed");
    assert!(browser.control("Create key").await.is_some());
    browser.go(&format!("/console/keys/{}", theirs["id"].as_str().unwrap())).await;
    assert!(browser.text().await.contains("Not found"), "nor reachable by its id");
    browser.go("/console/keys/new").await;
    assert!(
        browser.client.find(Locator::Id("workspace_id")).await.is_err(),
        "no workspace choice for a workspace admin"
    );
    browser.client.close().await.unwrap();
}

async fn a_hostile_name_is_text_and_a_cross_site_form_changes_nothing(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let hostile = "<img src=x onerror=alert(1)>";
    let key = app.create_key(json!({"name": hostile})).await;
    let id = key["id"].as_str().unwrap().to_string();
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.go(&format!("/console/keys/{id}")).await;
    let heading = browser.client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, hostile, "shown as text");
    assert!(browser.client.find(Locator::Css("main img")).await.is_err(), "never an element");

    // A page on another origin (same host, another port: same-site, so the strict
    // cookie is sent) posts the deactivate form, even with the right form token.
    let token = browser
        .client
        .find(Locator::Css("input[name=form_token]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let evil = format!(
        "<!doctype html><form method=post action='{}/console/keys/{id}/deactivate'>\
         <input type=hidden name=form_token value='{token}'><button>Win a prize</button></form>",
        app.base
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_addr = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .route("/", axum::routing::get(move || async move { axum::response::Html(evil) }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    browser.client.goto(&format!("http://{evil_addr}/")).await.unwrap();
    browser.click("Win a prize").await;
    assert!(browser.text().await.contains("not sent from this console"));
    let stored = app.app.store.find_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.status.as_str(), "active", "nothing changed");
    browser.client.close().await.unwrap();
}

async fn revoking_the_signed_in_key_ends_the_session(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, secret) =
        app.new_client("short-lived", &["keymint:keys:read", "keymint:keys:write"]).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&id, &secret).await;
    assert_eq!(browser.path().await, "/console/keys");
    let admin = app.admin_token().await;
    app.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await;
    browser.go("/console/keys").await;
    assert_eq!(browser.path().await, "/console/sign-in?ended=1");
    assert!(browser.text().await.contains("Your session has ended"));
    browser.client.close().await.unwrap();
}

async fn the_audit_page_filters_by_action_and_exports_the_view(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, _) = app.new_client("watched", &["read:a"]).await;
    let admin = app.admin_token().await;
    app.post_with(&admin, &format!("/v1/keys/{id}/revoke"), &json!({})).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Audit log").await;
    assert!(browser.text().await.contains("key.create"));
    browser.fill("Action", "key.revoke").await;
    browser.click("Apply filters").await;
    let page = browser.text().await;
    assert!(page.contains("key.revoke") && page.contains("status: active → revoked"), "{page}");
    assert!(!page.contains("key.create"), "{page}");
    let export = browser.control("Export CSV").await.unwrap().attr("href").await.unwrap();
    assert_eq!(export.unwrap(), "/console/audit.csv?action=key.revoke", "the filtered view");
    browser.client.close().await.unwrap();
}

async fn an_emergency_rotation_needs_the_current_kid_typed(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let kid = app.app.keyring.current().kid().to_string();
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Signing keys").await;
    let label = "Type the current key's kid to confirm the emergency rotation";
    browser.fill(label, &kid[..10]).await;
    browser.click("Emergency rotation").await;
    assert!(browser.text().await.contains("type the kid of the current signing key"));
    assert_eq!(app.app.keyring.current().kid(), kid, "nothing rotated");
    browser.fill(label, &kid).await;
    browser.click("Emergency rotation").await;
    let page = browser.text().await;
    assert!(page.contains("Emergency rotation done"), "{page}");
    assert!(!page.contains(&kid), "the old key is gone: {page}");
    assert_ne!(app.app.keyring.current().kid(), kid);
    browser.client.close().await.unwrap();
}

async fn a_platform_admin_creates_a_workspace_and_switches_to_it(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    app.create_key(json!({"name": "home-key"})).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Workspaces").await;
    browser.fill("Workspace name", "payments").await;
    browser.click("Create workspace").await;
    assert!(browser.text().await.contains("Workspace created."));
    let ws = app.app.store.find_workspace_by_name("payments").await.unwrap().unwrap();
    app.create_key(json!({"name": "pay-key", "workspace_id": ws.id})).await;
    browser.click("API keys").await;
    browser.choose("Show workspace", &ws.id).await;
    browser.click("Switch").await;
    let page = browser.text().await;
    assert!(page.contains("pay-key") && !page.contains("home-key"), "{page}");
    assert_eq!(browser.path().await, "/console/keys", "back on the page it was switched from");
    // The choice holds on every page until switched again.
    browser.click("Usage").await;
    assert!(browser.text().await.contains(&format!("Workspace {}", ws.id)));
    browser.choose("Show workspace", "").await;
    browser.click("Switch").await;
    assert!(browser.text().await.contains("Every workspace"));
    browser.client.close().await.unwrap();
}

async fn a_key_page_charts_its_usage_and_the_usage_page_ranks_keys(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, secret) = app.new_client("charted", &["read:a"]).await;
    for _ in 0..3 {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    let wrong = "km_test_wrong_secret_but_well_formed_xx";
    assert_eq!(app.token_basic(&id, wrong, &[]).await.status(), StatusCode::UNAUTHORIZED);
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    let spark = browser
        .client
        .find(Locator::Css("svg.spark[aria-label='3 tokens in the last 7 days']"))
        .await;
    assert!(spark.is_ok(), "the list's spark line names its total");
    browser.click("charted").await;
    let caption = browser.client.find(Locator::Css("figcaption")).await.unwrap();
    let caption = caption.text().await.unwrap();
    assert_eq!(caption, "Last 7 days: 3 issued, 1 refused (1 wrong secret).");
    let chart = browser.client.find(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(chart.attr("role").await.unwrap().as_deref(), Some("img"));
    assert_eq!(browser.client.find_all(Locator::Css("svg.chart rect")).await.unwrap().len(), 2);
    let summary = browser.client.find(Locator::Css("figure details summary")).await.unwrap();
    summary.click().await.unwrap();
    let last_row = browser
        .client
        .find(Locator::XPath("(//figure//tbody/tr)[last()]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        last_row.ends_with("3 0 0 1 1 0 0 0 0"),
        "today: issued, exchanged, verified, refused, by reason: {last_row}"
    );
    browser.click("Last 24 hours").await;
    let rows = browser.client.find_all(Locator::XPath("//figure//tbody/tr")).await.unwrap();
    assert_eq!(rows.len(), 24, "hourly over a day");
    browser.click("Usage").await;
    let page = browser.text().await;
    assert!(page.contains("Keys with the most refusals"), "{page}");
    let refused = browser
        .client
        .find(Locator::XPath("//section[h2='Keys with the most refusals']//tbody/tr[1]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.starts_with("charted 1 1"), "{refused}");
    browser.client.close().await.unwrap();
}

async fn the_create_form_offers_the_catalog_and_flags_a_typo(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let ws = app.app.store.find_key(&app.admin_id).await.unwrap().unwrap().workspace_id;
    let catalog = keymint::apikeys::catalog::ScopeCatalog::parse(
        r#"{"resources": [{"name": "agents", "description": "AI agents", "actions": ["read"]}]}"#,
    )
    .unwrap();
    let cli = keymint::vocab::Actor::cli();
    app.app.workspaces.set_scope_catalog(&cli, &ws, catalog).await.unwrap();
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Create key").await;
    browser.fill("Name", "catalogued").await;
    browser.field("read agents (AI agents) read:agents/**").await.click().await.unwrap();
    browser.fill("Scopes", "read:agnets/x").await;
    browser.click("Review").await;
    let review = browser.text().await;
    assert!(review.contains("perhaps a typo: read:agnets/x"), "{review}");
    assert!(review.contains("read:agents/**"), "the ticked scope is in the draft: {review}");
    browser.click("Back to edit").await;
    let ticked = browser.field("read agents (AI agents) read:agents/**").await;
    assert_eq!(ticked.prop("checked").await.unwrap().as_deref(), Some("true"), "kept ticked");
    let typed = browser.field("Scopes").await.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some("read:agnets/x"), "a ticked scope shows once");
    browser.click("Review").await;
    browser.click("Create key").await;
    let id = browser.path().await.split('/').nth(3).unwrap().to_string();
    let key = app.app.store.find_key(&id).await.unwrap().unwrap();
    assert_eq!(Scope::texts(&key.scopes), ["read:agnets/x", "read:agents/**"]);
    browser.client.close().await.unwrap();
}

async fn an_edit_review_counts_the_callers_a_narrower_range_refuses(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, secret) = app.new_client("narrowed", &["read:a"]).await;
    for _ in 0..3 {
        assert_eq!(app.token_basic(&id, &secret, &[]).await.status(), StatusCode::OK);
    }
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.go(&format!("/console/keys/{id}")).await;
    browser.click("Edit").await;
    browser.fill("Allowed IP ranges", "10.0.0.0/8").await;
    browser.click("Review changes").await;
    let review = browser.text().await;
    let counted =
        "3 tokens issued in the last 7 days went to addresses the new ranges refuse: 127.0.0.1";
    assert!(review.contains(counted), "{review}");
    assert!(
        app.app.store.find_key(&id).await.unwrap().unwrap().allowed_cidrs.is_empty(),
        "nothing saved yet"
    );
    browser.client.close().await.unwrap();
}

async fn a_key_moves_to_public_keys_in_the_browser(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (id, secret) = app.new_client("mover", &["read:a"]).await;
    let signer = crate::assertions::ClientKey::new(Some("browser-key"));
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.go(&format!("/console/keys/{id}")).await;
    browser.click("Edit").await;
    let summary = "Authenticate with the client's own keys instead of a secret";
    let xpath = format!("//summary[normalize-space()={}]", xpath_text(summary));
    browser.client.find(Locator::XPath(&xpath)).await.unwrap().click().await.unwrap();
    browser.fill("Public keys (JWK Set)", &signer.jwks().to_string()).await;
    browser.click("Review changes").await;
    let review = browser.text().await;
    assert!(review.contains("its secret stops working"), "{review}");
    browser.click("Save changes").await;
    let page = browser.text().await;
    assert!(page.contains("signed assertions (private_key_jwt)"), "{page}");
    assert!(page.contains("browser-key (EC P-256)"), "{page}");
    let refused = app.token_basic(&id, &secret, &[]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "the secret no longer works");
    browser.client.close().await.unwrap();
}

async fn a_key_gets_an_owner_claims_and_a_federated_credential_in_the_browser(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Create key").await;
    browser.fill("Name", "ledger-job").await;
    browser.fill("Owner", "team-ledger").await;
    browser.fill("Claims", r#"{"sub": "someone-else"}"#).await;
    browser.click("Review").await;
    let error = browser.client.find(Locator::Css("#claims-error")).await.unwrap();
    let error = error.text().await.unwrap();
    assert!(error.contains("'sub'"), "the refusal is next to the field: {error}");
    let described = browser.field("Claims").await.attr("aria-describedby").await.unwrap();
    assert!(described.unwrap().contains("claims-error"), "and tied to it");
    browser.fill("Claims", r#"{"tenant": "acme"}"#).await;
    let github =
        "https://token.actions.githubusercontent.com repo:acme/ledger:ref:refs/heads/main keymint";
    browser.fill("Federated credentials", github).await;
    browser.click("Review").await;
    browser.click("Create key").await;
    let stored = browser.field_by("//label[contains(., 'stored')]", "stored").await;
    stored.click().await.unwrap();
    browser.click("Continue").await;
    let page = browser.text().await;
    for shown in ["team-ledger", "tenant: \"acme\"", "repo:acme/ledger:ref:refs/heads/main"] {
        assert!(page.contains(shown), "{shown} on the key page: {page}");
    }
    let path = browser.path().await;
    let id = path.split(['/', '?', '#']).nth(3).unwrap().to_string();
    let key = app.app.store.find_key(&id).await.unwrap().expect(&path);
    assert_eq!(key.owner.as_deref(), Some("team-ledger"));
    assert_eq!(key.federated[0].issuer, "https://token.actions.githubusercontent.com");

    // The owner finds the key in the list; an edit of the claims is previewed.
    browser.click("team-ledger").await;
    assert!(browser.text().await.contains("ledger-job"), "the owner's keys");
    assert_eq!(
        browser.field("Owner").await.prop("value").await.unwrap().as_deref(),
        Some("team-ledger")
    );
    browser.go(&format!("/console/keys/{id}")).await;
    browser.click("Edit").await;
    browser.fill("Claims", r#"{"tenant": "globex"}"#).await;
    browser.click("Review changes").await;
    let review = browser.text().await;
    assert!(review.contains("the claims in its tokens change"), "{review}");
    browser.click("Save changes").await;
    assert_eq!(app.app.store.find_key(&id).await.unwrap().unwrap().claims["tenant"], "globex");
    browser.client.close().await.unwrap();
}

in_a_browser_on_both_backends!(
    a_key_gets_an_owner_claims_and_a_federated_credential_in_the_browser,
    a_key_moves_to_public_keys_in_the_browser,
    an_edit_review_counts_the_callers_a_narrower_range_refuses,
    the_create_form_offers_the_catalog_and_flags_a_typo,
    a_key_page_charts_its_usage_and_the_usage_page_ranks_keys,
    a_platform_admin_creates_a_workspace_and_switches_to_it,
    an_emergency_rotation_needs_the_current_kid_typed,
    the_audit_page_filters_by_action_and_exports_the_view,
    an_admin_signs_in_and_out_and_a_wrong_secret_is_refused,
    a_key_created_in_the_form_exchanges_and_its_secret_is_shown_once,
    search_and_filters_narrow_the_list_and_stay_in_the_url,
    rotating_in_the_browser_replaces_the_secret,
    revoke_and_delete_ask_for_the_name,
    access_is_granted_and_removed_from_the_access_page,
    read_only_and_workspace_admins_see_only_what_they_may,
    a_hostile_name_is_text_and_a_cross_site_form_changes_nothing,
    revoking_the_signed_in_key_ends_the_session,
    a_webhook_endpoint_is_added_tested_and_its_deliveries_resent,
    a_leaked_key_says_where_it_was_found,
);

async fn a_leaked_key_says_where_it_was_found(backend: Backend) {
    use crate::leaks::{keys_document, report, Signer};
    let github = Signer::new();
    let (url, _) = keys_document(&github, "k1").await;
    let app =
        crate::helpers::spawn_app_with(backend, &["--github-secret-scanning-keys-url", &url]).await;
    let (id, secret) = app.new_client("pushed-by-mistake", &["read:a"]).await;
    let found = "https://github.com/octocat/Hello-World/blob/1234/config.env";
    let body =
        json!([{"token": secret, "type": "keymint_api_key", "url": found, "source": "commit"}])
            .to_string();
    let answer = report(&app, &body, Some("k1"), Some(github.sign(&body))).await;
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    // A revoked key leaves the default list: its page, as its link elsewhere opens it.
    browser.go(&format!("/console/keys/{id}")).await;
    let page = browser.text().await;
    assert!(
        page.contains(&format!(
            "Leaked: its secret was found at {found} (commit), reported by github"
        )),
        "{page}"
    );
    assert!(page.contains("the key was revoked"), "{page}");
    browser.client.close().await.unwrap();
}

async fn a_webhook_endpoint_is_added_tested_and_its_deliveries_resent(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, &["--allow-private-webhook-urls"]).await;
    let receiver = crate::webhooks::Receiver::start(1).await;
    let browser = Browser::open(&app).await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    browser.click("Webhooks").await;
    assert_eq!(browser.path().await, "/console/webhooks");
    browser.fill("Endpoint URL", &receiver.url).await;
    browser.fill("Events", "key.teleported").await;
    browser.click("Add endpoint").await;
    let page = browser.text().await;
    assert!(page.contains("\"key.teleported\" is not an event type"), "{page}");
    browser.fill("Events", "*").await;
    browser.choose("Workspace", "*").await;
    browser.click("Add endpoint").await;
    let secret = browser.field("Signing secret").await.prop("value").await.unwrap().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.click("Go to the endpoint").await;
    browser.click("Send test event").await;
    assert!(browser.text().await.contains("Test event queued"));
    let got = receiver.wait_for(1).await;
    // The first answer was a 500: the page lists it, and "Resend" sends it again.
    let path = browser.path().await;
    browser.go(&path).await;
    let page = browser.text().await;
    assert!(page.contains("webhook.test") && page.contains("500"), "{page}");
    assert!(page.contains("receiver down for maintenance"), "{page}");
    browser.click("Resend").await;
    assert!(browser.text().await.contains("Delivery queued again."));
    let again = receiver.wait_for(2).await;
    assert_eq!(again[1].header("webhook-id"), got[0].header("webhook-id"));
    browser.go(&path).await;
    assert!(browser.text().await.contains("204"));
    browser.click("Webhooks").await;
    assert!(browser.text().await.contains("Healthy"));
    browser.client.close().await.unwrap();
}

/// Takes the screenshots in `docs/images/` from the real pages. Run by
/// `scripts/screenshots`, which passes the folder in `KEYMINT_SCREENSHOTS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/images; run scripts/screenshots to refresh them"]
async fn screenshots_of_the_console() {
    let dir = std::path::PathBuf::from(std::env::var("KEYMINT_SCREENSHOTS").unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    for (name, environment, key_type, scopes) in [
        ("billing-service", "production", "access", vec!["read:invoices/*", "write:charges/*"]),
        ("edge-gateway", "production", "gateway", vec!["read:*"]),
        ("reporting-job", "staging", "access", vec!["read:reports/**"]),
    ] {
        app.clock.advance(60);
        app.create_key(json!({
            "name": name, "environment": environment, "type": key_type, "scopes": scopes,
            "allowed_cidrs": ["10.20.0.0/16"], "expires_in": "90d",
        }))
        .await;
    }
    let rotated = app
        .create_key(json!({"name": "mobile-app", "scopes": ["read:profile"],
            "owner": "team-mobile", "claims": {"tenant": "acme", "tier": "pro"}}))
        .await;
    let rotated_id = rotated["id"].as_str().unwrap();
    // A week of traffic, so the charts have something to show.
    let secret = rotated["client_secret"].as_str().unwrap();
    for day in 0..7 {
        for _ in 0..(4 + 3 * day % 7) {
            app.token_basic(rotated_id, secret, &[]).await;
        }
        for _ in 0..(day % 3) {
            app.token_basic(rotated_id, "not-the-secret", &[]).await;
        }
        app.token_basic(rotated_id, secret, &[("scope", "write:profile")]).await;
        app.clock.advance(86_400);
    }
    let admin = app.admin_token().await;
    app.post_with(
        &admin,
        &format!("/v1/keys/{rotated_id}/rotate"),
        &json!({"grace_seconds": 3600}),
    )
    .await;
    let browser = Browser::open(&app).await;
    let shot = |name: &'static str| {
        let browser = &browser;
        let path = dir.join(format!("console-{name}.png"));
        async move {
            std::fs::write(path, browser.client.screenshot().await.unwrap()).unwrap();
        }
    };
    browser.client.set_window_size(1280, 860).await.unwrap();
    browser.go("/console").await;
    shot("sign-in").await;
    browser.sign_in(&app.admin_id, &app.admin_secret).await;
    shot("keys").await;
    browser.click("Create key").await;
    browser.fill("Name", "checkout").await;
    browser.fill("Description", "Checkout service, EU region").await;
    browser.fill("Owner", "team-checkout").await;
    browser.fill("Scopes", "read:orders/*\nwrite:carts/*").await;
    browser.fill("Allowed IP ranges", "0.0.0.0/0").await;
    browser.choose("Expires", "90d").await;
    shot("create").await;
    browser.click("Review").await;
    shot("review").await;
    browser.click("Create key").await;
    shot("secret").await;
    browser.go(&format!("/console/keys/{rotated_id}")).await;
    shot("key").await;
    browser.click("Edit").await;
    browser.fill("Scopes", "").await;
    browser.fill("Allowed IP ranges", "192.0.2.0/24").await;
    browser.click("Review changes").await;
    shot("edit-review").await;
    browser.go("/console/usage").await;
    shot("usage").await;
    browser.go(&format!("/console/keys/{rotated_id}/revoke")).await;
    shot("revoke").await;
    browser.go("/console/audit").await;
    shot("audit").await;
    browser.go("/console/signing-keys").await;
    shot("signing-keys").await;
    browser.go("/console/workspaces").await;
    shot("workspaces").await;
    let admin = app.admin_token().await;
    for (subject, role) in [
        ("group:keymint-admins", "platform-admin"),
        ("group:support", "read-only"),
        ("email:ana@example.com", "workspace-admin"),
    ] {
        let binding = json!({"subject": subject, "role": role});
        app.post_json(&admin, "/v1/role-bindings", &binding).await;
    }
    browser.go("/console/access").await;
    shot("access").await;
    browser.client.set_window_size(400, 860).await.unwrap();
    browser.go("/console/keys").await;
    shot("keys-phone").await;
    browser.client.close().await.unwrap();
}
