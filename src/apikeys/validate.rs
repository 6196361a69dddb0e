//! Validation of management input: each failure names the field and the reason.

use std::str::FromStr;

use ipnet::IpNet;

use crate::store::KeyRecord;
use crate::vocab::scope::Scope;

pub use crate::vocab::{instant, invalid, FieldError};

/// A display name: 1 to 100 characters, no control characters, not blank.
pub fn name(field: &str, value: &str) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > 100 {
        return Err(invalid(field, "must be at most 100 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

/// A filter or reference value (a search term, an id, an actor, an action): at most
/// 200 characters, no control characters. Text either database cannot hold (NUL in
/// PostgreSQL) is the caller's error, named by its field, never a database failure.
pub fn filter(field: &str, value: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    if value.chars().count() > 200 {
        return Err(invalid(field, "must be at most 200 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(Some(value.to_string()))
}

/// Whether `id` has the form of a workspace id (`ws_` and 12 letters or digits), so
/// anything else is "not found" without asking the database.
pub fn workspace_id_form(id: &str) -> bool {
    id.strip_prefix("ws_")
        .is_some_and(|rest| rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Free text up to 1000 characters.
pub fn description(value: &str) -> Result<String, FieldError> {
    if value.chars().count() > 1000 {
        return Err(invalid("description", "must be at most 1000 characters"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("description", "must not contain control characters"));
    }
    Ok(value.to_string())
}

/// A label such as an environment or a key type: 1-32 of `a-z 0-9 - _`.
pub fn label(field: &str, value: &str) -> Result<String, FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(invalid(field, "must be 1-32 characters of a-z, 0-9, '-' and '_'"))
    }
}

/// A scope list: every scope valid, duplicates dropped, at most 100.
pub fn scopes(values: &[String]) -> Result<Vec<Scope>, FieldError> {
    if values.len() > 100 {
        return Err(invalid("scopes", "at most 100 scopes"));
    }
    let mut out: Vec<Scope> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let scope =
            Scope::parse(v).map_err(|e| invalid(format!("scopes[{i}]"), format!("{v:?}: {e}")))?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

/// CIDR ranges (IPv4 or IPv6); a bare address means that one address. Stored in
/// canonical network form.
pub fn cidrs(values: &[String]) -> Result<Vec<String>, FieldError> {
    if values.len() > 100 {
        return Err(invalid("allowed_cidrs", "at most 100 ranges"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let net = IpNet::from_str(v.trim())
            .or_else(|_| std::net::IpAddr::from_str(v.trim()).map(IpNet::from))
            .map_err(|_| {
                invalid(format!("allowed_cidrs[{i}]"), format!("{v:?} is not an IPv4 or IPv6 CIDR"))
            })?;
        let text = unmap(net.trunc()).to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

/// An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) as the IPv4 range it maps
/// (`10.0.0.0/8`): clients are matched by their IPv4 address, so a mapped range
/// would otherwise never match anyone.
fn unmap(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .addr()
            .to_ipv4_mapped()
            .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, IpNet::V4),
        other => other,
    }
}

/// Audiences: non-empty strings without whitespace, at most 200 characters, at most 20.
pub fn audiences(values: &[String]) -> Result<Vec<String>, FieldError> {
    if values.len() > 20 {
        return Err(invalid("audiences", "at most 20 audiences"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if v.is_empty() || v.len() > 200 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                format!("audiences[{i}]"),
                "must be 1-200 characters without whitespace",
            ));
        }
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(out)
}

/// The expiry presets accepted as `expires_in`, in seconds.
pub const EXPIRY_PRESETS: &[(&str, i64)] = &[
    ("1h", 3600),
    ("1d", 86_400),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
    ("90d", 90 * 86_400),
    ("180d", 180 * 86_400),
    ("360d", 360 * 86_400),
];

/// The expiry from `expires_at` (RFC 3339) or `expires_in` (a preset); both is an error.
pub fn expiry(
    expires_at: Option<&str>,
    expires_in: Option<&str>,
    now: i64,
) -> Result<Option<i64>, FieldError> {
    match (expires_at, expires_in) {
        (Some(_), Some(_)) => Err(invalid("expires_in", "give expires_at or expires_in, not both")),
        (Some(at), None) => {
            let at = crate::clock::parse_rfc3339(at).ok_or_else(|| {
                invalid("expires_at", "must be an RFC 3339 timestamp, e.g. 2030-01-31T00:00:00Z")
            })?;
            if at <= now {
                return Err(invalid("expires_at", "must be in the future"));
            }
            Ok(Some(at))
        }
        (None, Some(preset)) => EXPIRY_PRESETS
            .iter()
            .find(|(name, _)| *name == preset)
            .map(|(_, secs)| Some(now + secs))
            .ok_or_else(|| {
                invalid("expires_in", "must be one of 1h, 1d, 7d, 30d, 90d, 180d, 360d")
            }),
        (None, None) => Ok(None),
    }
}

/// An imported legacy secret: 16-256 printable ASCII characters without spaces, not
/// in keymint's own format, and not trivially weak.
pub fn imported_secret(value: &str) -> Result<(), FieldError> {
    let len = value.chars().count();
    if len < 16 {
        return Err(invalid("secret", "is too short: at least 16 characters"));
    }
    if len > 256 {
        return Err(invalid("secret", "is too long: at most 256 characters"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("secret", "must be printable ASCII without spaces"));
    }
    if super::secret::looks_generated(value) {
        return Err(invalid(
            "secret",
            "keymint-format secrets cannot be imported; create a key instead",
        ));
    }
    let mut distinct: Vec<u8> = value.bytes().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 6 {
        return Err(invalid("secret", "is too weak: it repeats too few distinct characters"));
    }
    Ok(())
}

/// The typed confirmation of a permanent action: `typed` must be `name` (of the
/// key or workspace, `what`), ignoring surrounding spaces.
pub fn confirmation(typed: &str, name: &str, what: &str) -> Result<(), FieldError> {
    if typed.trim() == name.trim() {
        Ok(())
    } else {
        Err(invalid("confirm", format!("type the {what}'s name exactly as shown to confirm")))
    }
}

/// Warnings for address ranges that let every address in (`0.0.0.0/0`, `::/0`).
pub fn cidr_warnings(cidrs: &[String]) -> Vec<String> {
    cidrs
        .iter()
        .filter(|c| c.ends_with("/0"))
        .map(|c| format!("{c} allows every address: the key works from anywhere"))
        .collect()
}

/// What an edit from `before` to `after` may break at once: callers relying on a
/// removed scope, address range or audience, or on the key living longer.
pub fn narrowing_warnings(before: &KeyRecord, after: &KeyRecord, now: i64) -> Vec<String> {
    let mut warnings = Vec::new();
    let removed = |from: &[String], to: &[String]| -> Vec<String> {
        from.iter().filter(|v| !to.contains(v)).cloned().collect()
    };
    let gone = removed(&Scope::texts(&before.scopes), &Scope::texts(&after.scopes));
    if !gone.is_empty() {
        warnings.push(format!(
            "removing {}: token requests that need them are refused at once",
            gone.join(", ")
        ));
    }
    // An empty list allows everything, so adding the first entry narrows too.
    let narrows = |from: &[String], to: &[String]| {
        (from.is_empty() && !to.is_empty()) || (!to.is_empty() && !removed(from, to).is_empty())
    };
    if refuses_more(&before.allowed_cidrs, &after.allowed_cidrs) {
        warnings.push(
            "narrower IP ranges: calls from addresses outside them are refused at once".into(),
        );
    }
    if narrows(&before.audiences, &after.audiences) {
        warnings.push(
            "narrower audiences: token requests for other audiences are refused at once".into(),
        );
    }
    match (before.expires_at, after.expires_at) {
        (_, Some(at)) if at <= now => {
            warnings.push("the new expiry is in the past: the key stops working at once".into())
        }
        (None, Some(_)) => warnings.push("the key will now expire".into()),
        (Some(was), Some(at)) if at < was => warnings.push("the key will expire sooner".into()),
        _ => {}
    }
    warnings
}

/// Whether allowed ranges `after` refuse some address that `before` allowed (an
/// empty list allows every address): a widened or merely rewritten list does not.
pub fn refuses_more(before: &[String], after: &[String]) -> bool {
    if after.is_empty() {
        return false;
    }
    let nets = |cidrs: &[String]| -> Vec<ipnet::IpNet> {
        cidrs.iter().filter_map(|c| c.parse().ok()).collect()
    };
    // Aggregated, the new ranges are disjoint blocks, so an old block is allowed
    // in full exactly when one of them contains it.
    let allowed = ipnet::IpNet::aggregate(&nets(after));
    let covered = |old: &ipnet::IpNet| allowed.iter().any(|new| new.contains(old));
    let before =
        if before.is_empty() { nets(&["0.0.0.0/0".into(), "::/0".into()]) } else { nets(before) };
    !before.iter().all(covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ranges_that_refuse_an_address_allowed_before_are_narrower() {
        let v = |cidrs: &[&str]| cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert!(!refuses_more(&v(&["10.50.0.0/16"]), &v(&["10.0.0.0/8"])), "widened");
        assert!(refuses_more(&v(&["10.0.0.0/8"]), &v(&["10.50.0.0/16"])), "narrowed");
        assert!(!refuses_more(&v(&["10.0.0.0/8"]), &v(&["10.0.0.0/9", "10.128.0.0/9"])), "split");
        assert!(refuses_more(&v(&["10.0.0.0/8"]), &v(&["10.0.0.0/9"])), "half of it");
        assert!(refuses_more(&v(&[]), &v(&["10.0.0.0/8"])), "a first range narrows");
        assert!(!refuses_more(&v(&["10.0.0.0/8"]), &v(&[])), "no range allows all");
        assert!(!refuses_more(&v(&[]), &v(&["0.0.0.0/0", "::/0"])), "everything, written out");
        assert!(refuses_more(&v(&["2001:db8::/32"]), &v(&["10.0.0.0/8"])), "another family");
    }

    #[test]
    fn cidrs_accept_v4_v6_and_bare_addresses_in_canonical_form() {
        let out =
            cidrs(&["10.1.2.3/8".into(), "2001:db8::1/32".into(), "192.0.2.7".into()]).unwrap();
        assert_eq!(out, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]);
    }

    #[test]
    fn ipv4_mapped_ranges_are_stored_as_ipv4() {
        let out = cidrs(&[
            "::ffff:10.0.0.0/104".into(),
            "::ffff:192.0.2.7".into(),
            "::ffff:0:0/96".into(),
            "2001:db8::/32".into(),
        ])
        .unwrap();
        assert_eq!(out, ["10.0.0.0/8", "192.0.2.7/32", "0.0.0.0/0", "2001:db8::/32"]);
    }

    #[test]
    fn filters_refuse_what_a_database_cannot_hold() {
        assert_eq!(filter("q", Some("a\0b")).unwrap_err().field, "q");
        assert_eq!(filter("q", Some("agents")).unwrap(), Some("agents".into()));
        assert_eq!(filter("q", None).unwrap(), None);
        assert!(workspace_id_form("ws_abcDEF123456"));
        assert!(!workspace_id_form("ws_abc\0EF123456"));
    }

    #[test]
    fn out_of_range_cidrs_name_the_field() {
        for bad in ["10.0.0.1/33", "300.1.1.1/8", "::1/129", "example.com"] {
            let err = cidrs(&["10.0.0.0/8".into(), bad.into()]).unwrap_err();
            assert_eq!(err.field, "allowed_cidrs[1]", "{bad}");
        }
    }

    #[test]
    fn expiry_takes_a_time_or_a_preset_but_not_the_past() {
        assert_eq!(expiry(None, Some("7d"), 100).unwrap(), Some(100 + 7 * 86_400));
        assert_eq!(expiry(Some("2100-01-01T00:00:00Z"), None, 100).unwrap(), Some(4_102_444_800));
        assert_eq!(
            expiry(Some("2000-01-01T00:00:00Z"), None, 10_000_000_000).unwrap_err().field,
            "expires_at"
        );
        assert_eq!(expiry(None, Some("2w"), 0).unwrap_err().field, "expires_in");
        assert!(expiry(Some("2100-01-01T00:00:00Z"), Some("1d"), 0).is_err());
        assert_eq!(expiry(None, None, 0).unwrap(), None);
    }

    #[test]
    fn weak_or_ambiguous_imported_secrets_are_refused() {
        assert!(imported_secret("short").is_err());
        assert!(imported_secret("aaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(imported_secret("km_live_looks_like_ours_123").is_err());
        assert!(imported_secret("with space in the middle").is_err());
        assert!(imported_secret("legacy-Secret-2019-xyz").is_ok());
    }

    #[test]
    fn labels_and_names_are_checked() {
        assert!(label("environment", "production").is_ok());
        assert!(label("environment", "Prod!").is_err());
        assert_eq!(name("name", "  ci deploy ").unwrap(), "ci deploy");
        assert!(name("name", " ").is_err());
        assert!(name("name", "bad\u{7}").is_err());
    }

    #[test]
    fn wildcard_ranges_are_warned_about_and_others_are_not() {
        let w = cidr_warnings(&["0.0.0.0/0".into(), "10.0.0.0/8".into(), "::/0".into()]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("0.0.0.0/0 allows every address"));
        assert!(w[1].starts_with("::/0"));
        assert!(cidr_warnings(&["192.0.2.0/24".into()]).is_empty());
    }

    #[test]
    fn narrowing_an_edit_is_named_and_widening_is_not() {
        let before = crate::store::fixtures::key(&["read:a", "write:b"], &[], Some(10_000));
        let mut after = before.clone();
        assert!(narrowing_warnings(&before, &after, 0).is_empty(), "no change, no warning");
        after.scopes = vec![Scope::parse("read:a").unwrap()];
        after.allowed_cidrs = vec!["10.0.0.0/8".into()];
        after.audiences = vec!["https://api.example".into()];
        after.expires_at = Some(5_000);
        let w = narrowing_warnings(&before, &after, 0);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("write:b"), "{w:?}");
        assert!(w[1].contains("IP ranges") && w[2].contains("audiences"), "{w:?}");
        assert!(w[3].contains("sooner"), "{w:?}");
        // Removing every range and the expiry lets more in: nothing to warn about.
        let wider = narrowing_warnings(
            &after,
            &{
                let mut k = after.clone();
                k.allowed_cidrs.clear();
                k.expires_at = None;
                k
            },
            0,
        );
        assert!(wider.is_empty(), "{wider:?}");
    }
}
