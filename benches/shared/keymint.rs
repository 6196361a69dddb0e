//! A real `keymint serve` for a benchmark: on SQLite in a folder of its own,
//! bootstrapped, with the admin's credentials, killed when dropped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A running keymint: its base URL and its platform admin.
pub struct Keymint {
    child: std::process::Child,
    pub base: String,
    pub admin: (String, String),
    pub http: reqwest::Client,
}

impl Drop for Keymint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Keymint {
    /// Starts one in `dir` with these `KEYMINT_*` variables too.
    pub async fn start(dir: &std::path::Path, vars: &[(&str, &str)]) -> Res<Keymint> {
        Keymint::start_binary(env!("CARGO_BIN_EXE_keymint"), dir, vars).await
    }

    /// [`Keymint::start`] with the binary at `bin`.
    pub async fn start_binary(
        bin: &str,
        dir: &std::path::Path,
        vars: &[(&str, &str)],
    ) -> Res<Keymint> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = [
            ("KEYMINT_DATABASE_URL", format!("sqlite://{}/keymint.db", dir.display())),
            ("KEYMINT_MASTER_KEY_FILE", format!("{}/master.key", dir.display())),
            ("KEYMINT_LISTEN", format!("127.0.0.1:{port}")),
            ("KEYMINT_ISSUER", base.clone()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let bootstrap =
            Command::new(bin).args(["bootstrap", "--json"]).envs(env.clone()).output()?;
        if !bootstrap.status.success() {
            return Err(String::from_utf8_lossy(&bootstrap.stderr).into_owned().into());
        }
        let admin: Value = serde_json::from_slice(&bootstrap.stdout)?;
        let text = |k: &str| admin[k].as_str().unwrap_or("").to_string();
        let child = Command::new(bin)
            .arg("serve")
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let keymint = Keymint {
            child,
            base,
            admin: (text("client_id"), text("client_secret")),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        while keymint.http.get(format!("{}/readyz", keymint.base)).send().await.is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("keymint did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(keymint)
    }

    /// An access token of key `id` with `secret`.
    pub async fn token(&self, id: &str, secret: &str) -> Res<String> {
        let answer: Value = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?
            .json()
            .await?;
        Ok(answer["access_token"].as_str().ok_or("no access token")?.to_string())
    }

    /// The platform admin's access token.
    pub async fn admin_token(&self) -> Res<String> {
        self.token(&self.admin.0, &self.admin.1).await
    }

    /// A new key with `scopes`: its (client_id, client_secret).
    pub async fn new_key(
        &self,
        admin_token: &str,
        name: &str,
        scopes: &[&str],
    ) -> Res<(String, String)> {
        let key: Value = self
            .http
            .post(format!("{}/v1/keys", self.base))
            .bearer_auth(admin_token)
            .json(&json!({"name": name, "scopes": scopes}))
            .send()
            .await?
            .json()
            .await?;
        let text = |k: &str| key[k].as_str().unwrap_or("").to_string();
        Ok((text("client_id"), text("client_secret")))
    }

    /// Client-credentials exchanges per second over `turn`, by `connections`
    /// concurrent clients with key `id` and `secret`.
    #[allow(dead_code, reason = "not every benchmark that shares this file measures a rate")]
    pub async fn exchange_rate(
        &self,
        id: &str,
        secret: &str,
        turn: Duration,
        connections: usize,
    ) -> Res<f64> {
        use std::sync::atomic::{AtomicU64, Ordering};
        let done = std::sync::Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + turn;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (http, url) = (reqwest::Client::new(), format!("{}/oauth/token", self.base));
            let (id, secret, done) = (id.to_string(), secret.to_string(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let answer = http
                        .post(&url)
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    if answer.is_ok_and(|a| a.status().is_success()) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
        Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
    }
}
