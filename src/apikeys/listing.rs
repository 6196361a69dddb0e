//! Finding keys: the filtered, sorted and paged listing shared by `/v1/keys`, the
//! console and the CLI, and the hygiene checks that count risky keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;

use super::validate::{self, invalid};
use super::{Actor, KeyView, Keys, ManageError};
use crate::store::{KeyFilter, KeyOrder, KeySort, KeyStatus};

/// Filters of a key listing (`GET /v1/keys`).
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyListQuery {
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    /// `active` (default), `inactive`, `expired`, `revoked` or `all`.
    #[param(pattern = "^(active|inactive|expired|revoked|all)$")]
    pub status: Option<String>,
    pub environment: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub key_type: Option<String>,
    /// Key id of the creator, or `cli` / `bootstrap`.
    pub created_by: Option<String>,
    /// Only the keys of this owner (exact).
    pub owner: Option<String>,
    /// A hygiene check: `never-expires`, `never-used`, `unused-90d` (not used, or
    /// created, in 90 days), `any-address` (no IP range, or a range that lets every
    /// address in) or `no-scope`.
    #[param(pattern = "^(never-expires|never-used|unused-90d|any-address|no-scope)$")]
    pub hygiene: Option<String>,
    /// Only this workspace (platform admins; others always see their own).
    pub workspace_id: Option<String>,
    /// The order: `created` (default, oldest first), `last_used` (never used
    /// first, then least recently used), `expires` (soonest first, never-expiring
    /// last); a leading `-` reverses it, e.g. `-last_used`.
    #[param(pattern = "^-?(created|last_used|expires)$")]
    pub sort: Option<String>,
    /// 1-100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (of the same `sort`).
    pub cursor: Option<String>,
}

/// The order `sort` names (see [`KeyListQuery::sort`]).
fn key_sort(sort: Option<&str>) -> Result<KeySort, ManageError> {
    let sort = sort.unwrap_or("created");
    let (descending, name) = match sort.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, sort),
    };
    let by = match name {
        "created" => KeyOrder::Created,
        "last_used" => KeyOrder::LastUsed,
        "expires" => KeyOrder::Expires,
        _ => {
            return Err(invalid(
                "sort",
                "must be created, last_used or expires, with a leading - to reverse",
            )
            .into())
        }
    };
    Ok(KeySort { by, descending })
}

/// One page of keys, oldest first; `next_cursor` is absent on the last page.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct KeyPage {
    pub data: Vec<KeyView>,
    pub next_cursor: Option<String>,
}

impl Keys {
    /// A page of keys, oldest first, in a stable order (`created_at`, then `id`).
    pub async fn list(&self, actor: &Actor, query: &KeyListQuery) -> Result<KeyPage, ManageError> {
        Self::require_read(actor)?;
        self.settle_usage().await?;
        let now = self.clock.now();
        let limit = validate_limit(query.limit)?;
        let workspace_id =
            actor.read_scope(validate::filter("workspace_id", query.workspace_id.as_deref())?)?;
        let asked = query.status.as_deref().unwrap_or("active");
        let (status, unexpired_at) = match KeyStatus::parse(asked) {
            Some(KeyStatus::Active) => (Some(KeyStatus::Active), Some((now, true))),
            Some(KeyStatus::Expired) => (Some(KeyStatus::Active), Some((now, false))),
            Some(stored) => (Some(stored), None),
            None if asked == "all" => (None, None),
            None => {
                return Err(
                    invalid("status", "must be active, inactive, expired, revoked or all").into()
                )
            }
        };
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let sort = key_sort(query.sort.as_deref())?;
        let filter = match query.hygiene.as_deref() {
            None => KeyFilter::default(),
            Some(check) => hygiene_filter(check, now).ok_or_else(|| {
                invalid(
                    "hygiene",
                    "must be never-expires, never-used, unused-90d, any-address or no-scope",
                )
            })?,
        };
        let filter = KeyFilter {
            workspace_id,
            name_contains: validate::filter("q", query.q.as_deref())?.filter(|q| !q.is_empty()),
            status,
            unexpired_at,
            environment: validate::filter("environment", query.environment.as_deref())?,
            key_type: validate::filter("type", query.key_type.as_deref())?,
            created_by: validate::filter("created_by", query.created_by.as_deref())?,
            owner: validate::filter("owner", query.owner.as_deref())?.filter(|o| !o.is_empty()),
            sort,
            after,
            limit: limit + 1,
            ..filter
        };
        let mut rows = self.store.list_keys(&filter).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|k| encode_cursor(sort.value(k), &k.id))
        } else {
            None
        };
        Ok(KeyPage { data: rows.iter().map(|k| KeyView::new(k, now)).collect(), next_cursor })
    }
}

/// The hygiene checks: `(value, what it finds)`, as `GET /v1/keys?hygiene=` takes them.
pub const HYGIENE_CHECKS: [(&str, &str); 5] = [
    ("never-expires", "Never expire"),
    ("never-used", "Never used"),
    ("unused-90d", "Unused for 90 days"),
    ("any-address", "Usable from any address"),
    ("no-scope", "Without a scope"),
];

/// The keys hygiene check `check` finds at `now`; `None` for an unknown check.
fn hygiene_filter(check: &str, now: i64) -> Option<KeyFilter> {
    let mut filter = KeyFilter::default();
    match check {
        "never-expires" => filter.never_expires = true,
        "never-used" => filter.never_used = true,
        "unused-90d" => filter.unused_since = Some(now - 90 * 86_400),
        "any-address" => filter.any_address = true,
        "no-scope" => filter.no_scope = true,
        _ => return None,
    }
    Some(filter)
}

/// How many active keys one hygiene check finds.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HygieneCount {
    /// The check, as `GET /v1/keys?hygiene=` takes it.
    pub check: &'static str,
    pub label: &'static str,
    pub keys: i64,
}

impl Keys {
    /// How many active keys each hygiene check finds in workspace `workspace_id`
    /// (the caller's own unless a platform admin; every workspace for a platform
    /// admin who names none).
    pub async fn hygiene(
        &self,
        actor: &Actor,
        workspace_id: Option<&str>,
    ) -> Result<Vec<HygieneCount>, ManageError> {
        Self::require_read(actor)?;
        let workspace_id = actor.read_scope(validate::filter("workspace_id", workspace_id)?)?;
        self.settle_usage().await?;
        let now = self.clock.now();
        let mut counts = Vec::with_capacity(HYGIENE_CHECKS.len());
        for (check, label) in HYGIENE_CHECKS {
            let filter = KeyFilter {
                workspace_id: workspace_id.clone(),
                status: Some(KeyStatus::Active),
                unexpired_at: Some((now, true)),
                ..hygiene_filter(check, now).unwrap_or_default()
            };
            counts.push(HygieneCount { check, label, keys: self.store.count_keys(&filter).await? });
        }
        Ok(counts)
    }
}

/// A page size: 1 to 100, default 50.
pub fn validate_limit(limit: Option<i64>) -> Result<i64, ManageError> {
    let limit = limit.unwrap_or(50);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid("limit", "must be between 1 and 100").into())
    }
}

fn encode_cursor(created_at: i64, id: &str) -> String {
    B64.encode(format!("{created_at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ManageError> {
    let bad = || ManageError::from(invalid("cursor", "is not a cursor returned by this API"));
    let text = B64.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    if !super::valid_key_id(id) {
        return Err(bad());
    }
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}
