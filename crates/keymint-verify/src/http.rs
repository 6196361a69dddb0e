//! The requests a verifier makes to keymint: no redirects, bounded in time
//! ([`TIMEOUT`]) and size ([`MAX_ANSWER_BYTES`]).

use std::time::Duration;

use crate::error::Error;

/// The longest a request to keymint may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read from keymint.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The client every request of a verifier goes through.
pub(crate) fn client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| Error::Unavailable(e.to_string()))
}

/// Sends `request` and reads its answer as JSON, with the `max-age` of its
/// `Cache-Control`. The body is read as it streams and abandoned past
/// [`MAX_ANSWER_BYTES`].
pub(crate) async fn send_json(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(serde_json::Value, Option<i64>), Error> {
    let unavailable = |why: String| Error::Unavailable(format!("{url}: {why}"));
    let mut response = request.send().await.map_err(|e| unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unavailable(format!("answered {}", response.status())));
    }
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|n| n.parse::<i64>().ok())
        });
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(e.to_string()))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(unavailable(format!("answered more than {MAX_ANSWER_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let json = serde_json::from_slice(&body).map_err(|e| unavailable(format!("not JSON: {e}")))?;
    Ok((json, max_age))
}
