//! A real OpenID provider for the sign-in tests: node-oidc-provider
//! (`tests/idp/provider.mjs`), on 127.0.0.2 so that it is another site than
//! keymint on 127.0.0.1, with its own login and consent pages.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::{spawn_app_with, Backend, TestApp};

/// Runs each listed `async fn name(backend: Backend)` on both backends when the
/// provider is installed (`npm ci --prefix tests/idp`).
#[macro_export]
macro_rules! with_an_idp_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(keymint_idp_tests), ignore = "sign-in tests skipped: run `npm ci --prefix tests/idp`")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(all(keymint_idp_tests, keymint_postgres_tests)), ignore = "sign-in or PostgreSQL run skipped: tests/idp not installed or TEST_DATABASE_URL not set")]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// keymint's client at the provider, and a second client of another application.
pub const CLIENT_ID: &str = "keymint-console";
pub const CLIENT_SECRET: &str = "idp-client-secret-4f9b2c7d1e8a3f6b";
pub const OTHER_CLIENT_ID: &str = "another-app";
/// The group whose members are platform admins (`--sso-admin-groups`).
pub const ADMIN_GROUP: &str = "keymint-admins";

/// The accounts the provider knows: `(login, email, email_verified, groups)`.
pub fn accounts() -> Value {
    json!({
        "alice": {"email": "alice@example.com", "email_verified": true, "name": "Alice Admin", "groups": [ADMIN_GROUP, "staff"]},
        "sam": {"email": "sam@example.com", "email_verified": true, "name": "Sam Support", "groups": ["support"]},
        "wes": {"email": "wes@example.com", "email_verified": true, "name": "Wes Writer", "groups": ["team-a"]},
        "nobody": {"email": "nobody@example.com", "email_verified": true, "name": "No Body", "groups": ["outsiders"]},
        "una": {"email": "una@example.com", "email_verified": false, "name": "Una Verified", "groups": []},
        "vic": {"email": "Vic@Example.com", "email_verified": true, "name": "Vic Verified", "groups": []},
    })
}

/// A running provider (killed on drop).
pub struct Idp {
    pub issuer: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Starts the provider; it serves once [`Idp::configure`] names its clients.
    pub fn start() -> Idp {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
        let mut child = Command::new(dir.join("node_modules/.bin/node"))
            .arg(dir.join("provider.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the test OpenID provider starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(30)).expect("the provider listens");
        let issuer = first.strip_prefix("listening ").expect("listening <issuer>").to_string();
        Idp { issuer, child, stdin, lines }
    }

    /// Sends one configuration line and waits for its "ok".
    pub fn send(&mut self, config: Value) {
        writeln!(self.stdin, "{config}").expect("write to the provider");
        self.stdin.flush().expect("flush");
        // Anything else it prints (its notices) is passed over.
        loop {
            let line =
                self.lines.recv_timeout(Duration::from_secs(30)).expect("the provider answers");
            if line == "ok" {
                break;
            }
        }
    }

    /// The settings that make keymint sign people in through this provider.
    pub fn keymint_args(&self) -> Vec<String> {
        [
            "--sso-issuer",
            &self.issuer,
            "--sso-client-id",
            CLIENT_ID,
            "--sso-client-secret",
            CLIENT_SECRET,
            "--sso-admin-groups",
            ADMIN_GROUP,
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// Registers keymint (whose issuer is `keymint`) and another application, both
    /// redirecting to keymint's callback, with [`accounts`].
    pub fn configure(&mut self, keymint: &str) {
        let callback = format!("{keymint}/console/sso/callback");
        self.send(json!({
            "accounts": accounts(),
            "clients": [
                {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [callback]},
                {"client_id": OTHER_CLIENT_ID, "client_secret": "another-secret-8c1d5e9f2a7b", "redirect_uris": [callback]},
            ],
        }));
    }
}

/// keymint with SSO through a fresh provider, bootstrapped (its admin key is the
/// break-glass door), and the provider.
pub async fn spawn_app_with_sso(backend: Backend, extra: &[&str]) -> (TestApp, Idp) {
    let mut idp = Idp::start();
    let mut args = idp.keymint_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_app_with(backend, &args).await;
    idp.configure(&app.base);
    (app, idp)
}

/// A browser's cookies for one site, as a header value.
#[derive(Default, Clone)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    /// Takes in every `Set-Cookie` of `response` (a cleared cookie is dropped).
    pub fn take(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().unwrap_or_default();
            let pair = value.split(';').next().unwrap_or_default();
            let Some((name, v)) = pair.split_once('=') else { continue };
            self.0.retain(|(n, _)| n != name);
            if !v.is_empty() && !value.contains("Max-Age=0") {
                self.0.push((name.to_string(), v.to_string()));
            }
        }
    }

    pub fn header(&self) -> String {
        self.0.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A client that follows no redirects, as the sign-in is walked step by step.
pub fn walker() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// `GET url` with the cookies of `jar`, taking in what it sets.
pub async fn get(client: &reqwest::Client, jar: &mut Jar, url: &str) -> Response {
    let response = client.get(url).header(COOKIE, jar.header()).send().await.unwrap();
    jar.take(&response);
    response
}

fn location(response: &Response, base: &str) -> String {
    let to = response.headers().get(LOCATION).expect("a redirect").to_str().unwrap();
    if to.starts_with('/') {
        format!("{base}{to}")
    } else {
        to.to_string()
    }
}

/// Begins a sign-in at keymint: the provider's authorization URL.
pub async fn begin(app: &TestApp, keymint: &mut Jar) -> String {
    let response = get(&walker(), keymint, &app.url("/console/sso/start")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "start redirects to the provider");
    location(&response, &app.base)
}

/// Walks the provider's own login and consent pages as `login` from
/// `authorize_url`, to the URL the provider sends the browser back to.
pub async fn log_in_at_idp(idp: &Idp, authorize_url: &str, login: &str) -> String {
    let client = walker();
    let mut jar = Jar::default();
    let mut url = authorize_url.to_string();
    for _ in 0..12 {
        if !url.starts_with(&idp.issuer) {
            return url;
        }
        let response = get(&client, &mut jar, &url).await;
        if response.status().is_redirection() {
            url = location(&response, &idp.issuer);
            continue;
        }
        let page = response.text().await.unwrap();
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("a form on the provider's page: {page}"))
            .to_string();
        let form: Vec<(&str, &str)> = if page.contains(r#"name="login""#) {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        let target = if action.starts_with('/') {
            format!("{}{action}", idp.issuer)
        } else {
            action.clone()
        };
        let response = client
            .post(target)
            .header(COOKIE, jar.header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap();
        jar.take(&response);
        if !response.status().is_redirection() {
            let status = response.status();
            panic!("the provider answered {status}: {}", response.text().await.unwrap());
        }
        url = location(&response, &idp.issuer);
    }
    panic!("the provider never sent the browser back");
}

/// Signs `login` in to keymint's console through the provider: keymint's
/// cookies afterwards, and the callback's answer.
pub async fn sign_in(app: &TestApp, idp: &Idp, login: &str) -> (Jar, Response) {
    let mut jar = Jar::default();
    let authorize = begin(app, &mut jar).await;
    let back = log_in_at_idp(idp, &authorize, login).await;
    let response = get(&walker(), &mut jar, &back).await;
    (jar, response)
}
