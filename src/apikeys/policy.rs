//! A workspace's key policy: the guardrails every create and edit of a key in it
//! passes, from every front door. A refusal names the policy it breaks.

use serde::{Deserialize, Serialize};

use super::catalog::ScopeCatalog;
use super::validate::{self, invalid, FieldError};
use crate::clock::rfc3339;
use crate::store::KeyRecord;
use crate::vocab::scope::Scope;

/// Longest maximum lifetime a policy may set: 10 years.
const MAX_LIFETIME_DAYS: i64 = 3650;

/// The key policy of a workspace. Every field is optional; `{}` is no policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicy {
    /// The expiry given to a new key that names none: a preset (`1h` ... `360d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(1h|1d|7d|30d|90d|180d|360d)$")]
    pub default_expires_in: Option<String>,
    /// Every key must expire, at most this many days ahead (1 to 3650).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub max_lifetime_days: Option<i64>,
    /// `false`: a key's expiry is fixed once it is created.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub expiry_editable: bool,
    /// `true`: every key needs at least one scope.
    #[serde(default, skip_serializing_if = "is_no")]
    pub require_scope: bool,
    /// `false`: `0.0.0.0/0` and `::/0` are refused as allowed IP ranges.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub allow_wildcard_ranges: bool,
    /// `true`: a scope outside the workspace's scope catalog is refused (otherwise
    /// it is only flagged as a probable typo).
    #[serde(default, skip_serializing_if = "is_no")]
    pub catalog_scopes_only: bool,
    /// What happens to a key whose secret a scanner reports found in public:
    /// `revoke` (the default), `deactivate` (reversible), or `notify` (only the
    /// audit event and the `key.leaked` webhook).
    #[serde(default, skip_serializing_if = "LeakResponse::is_default")]
    pub on_leak: LeakResponse,
}

/// A workspace's answer to a leaked key.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LeakResponse {
    #[default]
    Revoke,
    Deactivate,
    Notify,
}

impl LeakResponse {
    fn is_default(&self) -> bool {
        *self == LeakResponse::Revoke
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LeakResponse::Revoke => "revoke",
            LeakResponse::Deactivate => "deactivate",
            LeakResponse::Notify => "notify",
        }
    }
}

fn yes() -> bool {
    true
}

fn is_yes(v: &bool) -> bool {
    *v
}

fn is_no(v: &bool) -> bool {
    !*v
}

impl KeyPolicy {
    /// The policy with no guardrail.
    pub fn none() -> Self {
        KeyPolicy {
            default_expires_in: None,
            max_lifetime_days: None,
            expiry_editable: true,
            require_scope: false,
            allow_wildcard_ranges: true,
            catalog_scopes_only: false,
            on_leak: LeakResponse::Revoke,
        }
    }

    /// Reads a stored policy.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("stored key policy: {e}"))
    }

    /// The stored form.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Checks a policy an admin sets.
    pub fn check(&self, now: i64) -> Result<(), FieldError> {
        if let Some(days) = self.max_lifetime_days {
            if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
                return Err(invalid(
                    "max_lifetime_days",
                    format!("must be between 1 and {MAX_LIFETIME_DAYS}"),
                ));
            }
        }
        if let Some(preset) = &self.default_expires_in {
            let at = validate::expiry(None, Some(preset), now)
                .map_err(|e| invalid("default_expires_in", e.reason))?;
            if let (Some(at), Some(days)) = (at, self.max_lifetime_days) {
                if at > now + days * 86_400 {
                    return Err(invalid(
                        "default_expires_in",
                        "is longer than max_lifetime_days allows",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The expiry preset a create with neither `expires_at` nor `expires_in` gets.
    pub fn default_expiry(&self) -> Option<&str> {
        self.default_expires_in.as_deref()
    }

    /// Refuses a new key (with this expiry, scopes and ranges, created at `now`)
    /// that breaks the policy.
    pub fn check_new(
        &self,
        expires_at: Option<i64>,
        scopes: &[Scope],
        cidrs: &[String],
        now: i64,
    ) -> Result<(), FieldError> {
        self.check_lifetime(expires_at, now)?;
        self.check_scopes_and_ranges(scopes, cidrs)
    }

    /// Refuses an edit from `before` to `after` (at `now`) that breaks the policy.
    pub fn check_edit(
        &self,
        before: &KeyRecord,
        after: &KeyRecord,
        now: i64,
    ) -> Result<(), FieldError> {
        if after.expires_at != before.expires_at {
            if !self.expiry_editable {
                return Err(invalid(
                    "expires_at",
                    "the workspace's key policy (expiry_editable: false) fixes a key's expiry \
                     once it is created",
                ));
            }
            self.check_lifetime(after.expires_at, now)?;
        }
        if after.scopes != before.scopes || after.allowed_cidrs != before.allowed_cidrs {
            self.check_scopes_and_ranges(&after.scopes, &after.allowed_cidrs)?;
        }
        Ok(())
    }

    fn check_lifetime(&self, expires_at: Option<i64>, now: i64) -> Result<(), FieldError> {
        let Some(days) = self.max_lifetime_days else { return Ok(()) };
        let latest = now + days * 86_400;
        match expires_at {
            Some(at) if at <= latest => Ok(()),
            Some(_) => Err(invalid(
                "expires_at",
                format!(
                    "the workspace's key policy (max_lifetime_days: {days}) allows an expiry \
                     up to {}",
                    rfc3339(latest)
                ),
            )),
            None => Err(invalid(
                "expires_at",
                format!(
                    "the workspace's key policy (max_lifetime_days: {days}) requires an expiry"
                ),
            )),
        }
    }

    fn check_scopes_and_ranges(
        &self,
        scopes: &[Scope],
        cidrs: &[String],
    ) -> Result<(), FieldError> {
        if self.require_scope && scopes.is_empty() {
            return Err(invalid(
                "scopes",
                "the workspace's key policy (require_scope: true) requires at least one scope",
            ));
        }
        if !self.allow_wildcard_ranges {
            if let Some(wild) = cidrs.iter().find(|c| c.ends_with("/0")) {
                return Err(invalid(
                    "allowed_cidrs",
                    format!(
                        "the workspace's key policy (allow_wildcard_ranges: false) refuses {wild}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What a workspace holds its keys to: its key policy and its scope catalog.
#[derive(Debug, Clone)]
pub struct Guardrails {
    pub policy: KeyPolicy,
    pub catalog: ScopeCatalog,
}

impl Guardrails {
    /// Refuses a new key that breaks the policy; the warnings of one it lets pass.
    pub fn check_new(
        &self,
        expires_at: Option<i64>,
        scopes: &[Scope],
        cidrs: &[String],
        now: i64,
    ) -> Result<Vec<String>, FieldError> {
        self.policy.check_new(expires_at, scopes, cidrs, now)?;
        self.check_catalog(scopes)
    }

    /// Refuses an edit that breaks the policy; the warnings of one it lets pass.
    pub fn check_edit(
        &self,
        before: &KeyRecord,
        after: &KeyRecord,
        now: i64,
    ) -> Result<Vec<String>, FieldError> {
        self.policy.check_edit(before, after, now)?;
        if after.scopes == before.scopes {
            return Ok(vec![]);
        }
        self.check_catalog(&after.scopes)
    }

    /// Scopes outside the catalog: a warning, or a refusal when the policy says
    /// `catalog_scopes_only`.
    fn check_catalog(&self, scopes: &[Scope]) -> Result<Vec<String>, FieldError> {
        let unknown = self.catalog.unknown(scopes);
        if unknown.is_empty() {
            return Ok(vec![]);
        }
        let listed = unknown.join(", ");
        if self.policy.catalog_scopes_only {
            return Err(invalid(
                "scopes",
                format!(
                    "the workspace's key policy (catalog_scopes_only: true) refuses scopes \
                     outside its scope catalog: {listed}"
                ),
            ));
        }
        Ok(vec![format!("not in the workspace's scope catalog, perhaps a typo: {listed}")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[&str], cidrs: &[&str], expires_at: Option<i64>) -> KeyRecord {
        let mut k = crate::store::fixtures::key(scopes, &[], expires_at);
        k.allowed_cidrs = cidrs.iter().map(|c| c.to_string()).collect();
        k
    }

    fn check_new(policy: &KeyPolicy, k: &KeyRecord) -> Result<(), FieldError> {
        policy.check_new(k.expires_at, &k.scopes, &k.allowed_cidrs, 0)
    }

    #[test]
    fn no_policy_allows_everything_and_reads_back_as_empty() {
        let none = KeyPolicy::parse("{}").unwrap();
        assert_eq!(none, KeyPolicy::none());
        assert_eq!(none.to_text(), "{}");
        assert!(check_new(&none, &key(&[], &["0.0.0.0/0"], None)).is_ok());
    }

    #[test]
    fn each_guardrail_names_itself_when_refusing() {
        let policy = KeyPolicy {
            max_lifetime_days: Some(30),
            require_scope: true,
            allow_wildcard_ranges: false,
            expiry_editable: false,
            ..KeyPolicy::none()
        };
        let day = 86_400;
        let ok = key(&["read:a"], &["10.0.0.0/8"], Some(10 * day));
        assert!(check_new(&policy, &ok).is_ok());
        let forever = check_new(&policy, &key(&["read:a"], &[], None)).unwrap_err();
        assert!(forever.reason.contains("max_lifetime_days: 30") && forever.field == "expires_at");
        let long = check_new(&policy, &key(&["read:a"], &[], Some(31 * day))).unwrap_err();
        assert!(long.reason.contains("up to"), "{long}");
        let bare = check_new(&policy, &key(&[], &[], Some(day))).unwrap_err();
        assert_eq!(bare.field, "scopes");
        let wild = check_new(&policy, &key(&["read:a"], &["::/0"], Some(day))).unwrap_err();
        assert!(wild.reason.contains("refuses ::/0"));
        let mut later = ok.clone();
        later.expires_at = Some(20 * day);
        let fixed = policy.check_edit(&ok, &later, 0).unwrap_err();
        assert!(fixed.reason.contains("expiry_editable: false"));
        let mut renamed = ok.clone();
        renamed.name = "other".into();
        assert!(policy.check_edit(&ok, &renamed, 0).is_ok(), "other edits pass");
    }

    #[test]
    fn a_policy_is_checked_before_it_is_set() {
        let long_default = KeyPolicy {
            default_expires_in: Some("90d".into()),
            max_lifetime_days: Some(30),
            ..KeyPolicy::none()
        };
        assert_eq!(long_default.check(0).unwrap_err().field, "default_expires_in");
        let zero = KeyPolicy { max_lifetime_days: Some(0), ..KeyPolicy::none() };
        assert_eq!(zero.check(0).unwrap_err().field, "max_lifetime_days");
        assert!(KeyPolicy::parse("{\"typo\": 1}").is_err(), "unknown fields are refused");
    }
}
