//! `keymint login --sso`: the CLI signs in as a person through the device flow
//! (RFC 8628) at keymint itself. It prints where to approve and the code to
//! check, then polls until the person approves or denies it in the console, or
//! the code expires. Nothing needs a browser on this machine, so it works over SSH.

use std::time::Duration;

use serde_json::Value;

use super::remote::REQUEST_TIMEOUT;
use crate::devices::CLI_CLIENT_ID;

/// What the CLI keeps once the person approved.
pub struct SignedIn {
    /// The session's refresh token (kept 0600 like an admin key's secret).
    pub refresh_token: String,
    /// The person's email (or id), as the token names them.
    pub person: String,
    pub scope: String,
}

/// Runs the device flow against `base`.
pub async fn sign_in(base: &str) -> anyhow::Result<SignedIn> {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("keymint-cli/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let unreachable = |e: reqwest::Error| {
        anyhow::anyhow!("{base} could not be reached: {}", crate::report::Chain(&e))
    };
    let response = http
        .post(format!("{base}/oauth/device_authorization"))
        .form(&[("client_id", CLI_CLIENT_ID)])
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let started = json(response).await;
    let text = |v: &Value, name: &str| v[name].as_str().unwrap_or_default().to_string();
    if !status.is_success() || started["device_code"].as_str().is_none() {
        anyhow::bail!(
            "{base} did not start a sign-in ({status}): {} (does it run keymint with --sso-issuer?)",
            text(&started, "error_description")
        );
    }
    outln!("To sign in, open this page and sign in with SSO if asked:");
    outln!("  {}", text(&started, "verification_uri_complete"));
    outln!(
        "and approve the code {} (it expires in {} minutes).",
        text(&started, "user_code"),
        started["expires_in"].as_i64().unwrap_or(600) / 60
    );
    let mut interval = started["interval"].as_u64().unwrap_or(5).max(1);
    let device_code = text(&started, "device_code");
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let response = http
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code.as_str()),
                ("client_id", CLI_CLIENT_ID),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        let ok = response.status().is_success();
        let body = json(response).await;
        if ok {
            let access = text(&body, "access_token");
            return Ok(SignedIn {
                refresh_token: text(&body, "refresh_token"),
                person: person_of(&access),
                scope: text(&body, "scope"),
            });
        }
        match body["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some("access_denied") => anyhow::bail!(
                "the sign-in was denied in the console, or no role in keymint is given to you"
            ),
            Some("expired_token") => {
                anyhow::bail!(
                    "the code expired before it was approved: run keymint login --sso again"
                )
            }
            _ => anyhow::bail!(
                "{base} refused the sign-in: {} {}",
                text(&body, "error"),
                text(&body, "error_description")
            ),
        }
    }
}

/// The JSON body of `response` (`null` when it is none).
async fn json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The person a keymint token names (its `email`, else its `sub`). Only for
/// display: the server checks the token on every request.
fn person_of(token: &str) -> String {
    use base64::Engine;
    let claims: Value = token
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    claims["email"].as_str().or(claims["sub"].as_str()).unwrap_or("a person").to_string()
}
