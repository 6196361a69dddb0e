//! The rules a client's `jwks_uri` meets: checked when an admin registers it
//! ([`check_uri`]), and at each fetch with every address it resolves to
//! ([`is_public`]); the fetching is `oauth::jwks_uri`'s.

use std::net::IpAddr;

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Checks a `jwks_uri` an admin gives (its form; its addresses are checked at
/// each fetch). The error says what to fix.
pub fn check_uri(uri: &str, allow_private: bool) -> Result<(), String> {
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not hold spaces or control characters".into());
    }
    let url = reqwest::Url::parse(uri).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("must be an https URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    if uri.len() > 2000 {
        return Err("is longer than 2000 characters".into());
    }
    let host = url.host_str().ok_or("must name a host")?;
    let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>();
    if let Ok(ip) = literal {
        if !allow_private && !is_public(ip) {
            return Err(format!(
                "points at {ip}, a loopback or private address (allowed only with --allow-private-jwks-uri)"
            ));
        }
    }
    Ok(())
}

/// A client for requests to `url`, an address admins typed: the host is
/// resolved, every address it has must be public (unless `allow_private`), and
/// the client connects to the address checked, whatever DNS says next; no
/// redirects, `timeout` for the whole request. The error says why not, without
/// the URL (the caller logs what it may).
pub async fn pinned_client(
    url: &reqwest::Url,
    allow_private: bool,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, &'static str> {
    let (bare, address) = checked_address(url, allow_private, timeout).await?;
    build_pinned(&bare, address, timeout)
}

/// The host of `url` and the address to connect to, resolved and checked.
async fn checked_address(
    url: &reqwest::Url,
    allow_private: bool,
    timeout: std::time::Duration,
) -> Result<(String, std::net::SocketAddr), &'static str> {
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addresses: Vec<std::net::SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((bare.as_str(), port)))
            .await
            .map_err(|_| "the host did not resolve in time")?
            .map_err(|_| "the host does not resolve")?
            .collect();
    let address = *addresses.first().ok_or("the host has no address")?;
    if !allow_private && addresses.iter().any(|a| !is_public(a.ip())) {
        return Err("the host resolves to a private or loopback address");
    }
    Ok((bare, address))
}

fn build_pinned(
    bare: &str,
    address: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, &'static str> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve(bare, address)
        .build()
        .map_err(|_| "no HTTP client could be built")
}

/// [`pinned_client`] for a sender of many requests (webhook deliveries): the
/// host is resolved and checked at every request, and the client for a host and
/// the address it resolved to is kept and reused, with its connections.
#[derive(Default)]
pub struct PinnedClients {
    held: std::sync::Mutex<
        std::collections::HashMap<(String, std::net::SocketAddr), reqwest::Client>,
    >,
}

impl PinnedClients {
    /// Most clients kept; past this, the memory starts over.
    const MAX: usize = 1000;

    pub async fn client(
        &self,
        url: &reqwest::Url,
        allow_private: bool,
        timeout: std::time::Duration,
    ) -> Result<reqwest::Client, &'static str> {
        let (bare, address) = checked_address(url, allow_private, timeout).await?;
        let key = (bare, address);
        if let Some(client) = self.held.lock().ok().and_then(|held| held.get(&key).cloned()) {
            return Ok(client);
        }
        let client = build_pinned(&key.0, address, timeout)?;
        if let Ok(mut held) = self.held.lock() {
            if held.len() >= Self::MAX {
                held.clear();
            }
            held.insert(key, client.clone());
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "198.18.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_jwks_uri_is_https_to_a_public_host_unless_the_operator_allows_otherwise() {
        assert!(check_uri("https://client.example.com/jwks.json", false).is_ok());
        for (uri, why) in [
            ("http://client.example.com/jwks.json", "https"),
            ("https://127.0.0.1/jwks.json", "loopback"),
            ("https://[::1]/jwks.json", "loopback"),
            ("https://10.0.0.5/jwks.json", "private"),
            ("https://user:pw@client.example.com/jwks", "credentials"),
            ("https://client.example.com/jwks#x", "fragment"),
            ("not-a-url", "not a URL"),
            ("https://client.example.com/a b", "spaces or control characters"),
            ("https://client.example.com/\u{0}", "spaces or control characters"),
        ] {
            let err = check_uri(uri, false).unwrap_err();
            assert!(err.contains(why), "{uri}: {err}");
        }
        assert!(check_uri("http://127.0.0.1:8080/jwks.json", true).is_ok());
    }
}
