//! Editing a key: the checked update (`PATCH /v1/keys/{id}`, the console's edit
//! form, `keymint keys update`), its dry run, and what a change may break.

use serde::Deserialize;
use serde_json::{json, Value};

use super::claims;
use super::client_auth::ClientAuth;
use super::validate::{self, invalid};
use super::{Actor, KeyView, Keys, ManageError};
use crate::clock::rfc3339;
use crate::store::KeyRecord;
use crate::usage::CallersRefused;
use crate::vocab::scope::{ManagementScope, Scope};
use crate::vocab::Action;

/// The body of an update request: only the fields present change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyUpdate {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(max_length = 1000, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub allowed_cidrs: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    /// RFC 3339, or `null` to remove the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    #[schema(pattern = "^(1h|1d|7d|30d|90d|180d|360d)$")]
    pub expires_in: Option<String>,
    /// Switches how the key authenticates; to `private_key_jwt` drops its secret.
    pub token_endpoint_auth_method: Option<String>,
    /// Replaces its public keys (no secret needed).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Replaces where its public keys are published (in place of `jwks`).
    pub jwks_uri: Option<String>,
    /// Requires (or stops requiring) DPoP-bound tokens.
    pub dpop_bound_access_tokens: Option<bool>,
    /// Replaces the claims copied into its tokens (`{}` removes them all).
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Value>,
    /// Sets the owner; an empty string removes it.
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    /// Replaces the platform tokens that may act as the key (`[]` removes them).
    pub federated_credentials: Option<Vec<crate::vocab::FederatedCredential>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// What an edit would change (`{field: {from, to}}`), and what it may break.
#[derive(Debug, Clone)]
pub struct EditPreview {
    /// The key as it would be after the edit.
    pub key: KeyView,
    pub changes: Value,
    pub warnings: Vec<String>,
    /// Recent callers that narrower allowed ranges refuse.
    pub callers_refused: Option<CallersRefused>,
}

impl EditPreview {
    fn new(
        key: KeyView,
        changes: Value,
        mut warnings: Vec<String>,
        refused: Option<CallersRefused>,
    ) -> Self {
        if let Some(r) = &refused {
            let addresses: Vec<&str> = r.addresses.iter().map(|a| a.address.as_str()).collect();
            warnings.push(format!(
                "{} tokens issued in the last {} days went to addresses the new ranges refuse: {}",
                r.exchanges,
                r.days,
                addresses.join(", ")
            ));
        }
        EditPreview { key, changes, warnings, callers_refused: refused }
    }

    /// The key as `/v1` and `--json` show an edit: its fields, `changes`,
    /// `warnings`, `callers_refused` and whether it was a `dry_run`.
    pub fn to_json(&self, dry_run: bool) -> Value {
        let mut body = serde_json::to_value(&self.key).unwrap_or_default();
        body["changes"] = self.changes.clone();
        body["warnings"] = json!(self.warnings);
        body["callers_refused"] = json!(self.callers_refused);
        body["dry_run"] = json!(dry_run);
        body
    }
}

/// What an edit from `before` to `after` may break, or let in.
fn edit_warnings(before: &KeyRecord, after: &KeyRecord, now: i64) -> Vec<String> {
    let mut warnings = validate::narrowing_warnings(before, after, now);
    if after.allowed_cidrs != before.allowed_cidrs {
        warnings.extend(validate::cidr_warnings(&after.allowed_cidrs));
    }
    if after.claims != before.claims {
        warnings.push(
            "the claims in its tokens change: APIs that read them see the new values \
             in tokens issued from now on"
                .into(),
        );
    }
    if after.federated.len() < before.federated.len()
        || before.federated.iter().any(|c| !after.federated.contains(c))
    {
        warnings.push(
            "a federated credential is removed or changed: workloads using it get no new token"
                .into(),
        );
    }
    if after.credential.awaits_secret() {
        warnings.push("this key has no secret yet: rotate it to get one".into());
    }
    let by_assertion = |k: &KeyRecord| k.credential.method().by_assertion();
    if by_assertion(after) && !by_assertion(before) {
        warnings.push(
            "its secret stops working: the client must sign assertions with its own key".into(),
        );
    }
    warnings
}

/// A checked edit: the fields to set, each already valid.
struct Edit {
    name: Option<String>,
    description: Option<String>,
    scopes: Option<Vec<Scope>>,
    cidrs: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    expires_at: Option<Option<i64>>,
    auth_method: Option<String>,
    jwks: Option<Value>,
    dpop_bound: Option<bool>,
    jwks_uri: Option<String>,
    claims: Option<serde_json::Map<String, Value>>,
    owner: Option<Option<String>>,
    federated: Option<Vec<crate::vocab::FederatedCredential>>,
    /// The operator allows `jwks_uri`s on private addresses (and `http`).
    allow_private_jwks_uri: bool,
}

impl Edit {
    /// Applies the edit to `key`: what changed (`{field: {from, to}}`), or `None`.
    fn apply(self, key: &mut KeyRecord) -> Result<Option<Value>, validate::FieldError> {
        let client_auth = ClientAuth::edit(
            key,
            self.auth_method.as_deref(),
            self.jwks.as_ref(),
            self.jwks_uri.as_deref(),
            self.allow_private_jwks_uri,
        )?;
        let mut changes = serde_json::Map::new();
        let mut diff = |field: &str, from: Value, to: Value| {
            if from != to {
                changes.insert(field.into(), json!({"from": from, "to": to}));
            }
        };
        if let Some(v) = self.name {
            diff("name", json!(key.name), json!(v));
            key.name = v;
        }
        if let Some(v) = self.description {
            diff("description", json!(key.description), json!(v));
            key.description = v;
        }
        if let Some(v) = self.scopes {
            diff("scopes", json!(key.scopes), json!(v));
            key.scopes = v;
        }
        if let Some(v) = self.cidrs {
            diff("allowed_cidrs", json!(key.allowed_cidrs), json!(v));
            key.allowed_cidrs = v;
        }
        if let Some(v) = self.audiences {
            diff("audiences", json!(key.audiences), json!(v));
            key.audiences = v;
        }
        if let Some(v) = self.expires_at {
            diff("expires_at", json!(key.expires_at.map(rfc3339)), json!(v.map(rfc3339)));
            key.expires_at = v;
        }
        if let Some(v) = self.dpop_bound {
            diff("dpop_bound_access_tokens", json!(key.dpop_bound), json!(v));
            key.dpop_bound = v;
        }
        if let Some(v) = self.claims {
            diff("claims", json!(key.claims), json!(v));
            key.claims = v;
        }
        if let Some(v) = self.owner {
            diff("owner", json!(key.owner), json!(v));
            key.owner = v;
        }
        if let Some(v) = self.federated {
            diff("federated_credentials", json!(key.federated), json!(v));
            key.federated = v;
        }
        for (field, change) in client_auth.map(|auth| auth.apply(key)).unwrap_or_default() {
            changes.insert(field.into(), change);
        }
        Ok((!changes.is_empty()).then_some(Value::Object(changes)))
    }
}

impl Keys {
    /// Edits a key. Returns the key, what changed (`{field: {from, to}}`) and what
    /// the change may break at once, so every door can warn that calls may start
    /// failing.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        update: KeyUpdate,
    ) -> Result<EditPreview, ManageError> {
        let now = self.clock.now();
        // Validate everything before touching the key.
        let edit = self.check_edit(actor, update, now)?;
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        let guardrails = self.guardrails_of(&key.workspace_id).await?;
        let mut warnings = Vec::new();
        let mut before = None;
        let (key, details) = self
            .write_change(actor, key, Action::KeyUpdate, |key, _| {
                Self::refuse_if_revoked(key, "edited")?;
                let earlier = key.clone();
                let changes = edit.apply(key)?;
                warnings = guardrails.check_edit(&earlier, key, now)?;
                warnings.extend(edit_warnings(&earlier, key, now));
                before = Some(earlier);
                Ok(changes)
            })
            .await?;
        let refused = match &before {
            Some(before) => self.callers_refused(before, &key).await?,
            None => None,
        };
        let changes = details.unwrap_or_else(|| json!({}));
        Ok(EditPreview::new(KeyView::new(&key, now), changes, warnings, refused))
    }

    /// What [`Keys::update`] would answer, without saving anything.
    pub async fn preview_update(
        &self,
        actor: &Actor,
        id: &str,
        update: KeyUpdate,
    ) -> Result<EditPreview, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let now = self.clock.now();
        let edit = self.check_edit(actor, update, now)?;
        let before = self.load(actor, id).await?;
        Self::refuse_if_revoked(&before, "edited")?;
        let mut after = before.clone();
        let changes = edit.apply(&mut after)?.unwrap_or_else(|| json!({}));
        let mut warnings =
            self.guardrails_of(&before.workspace_id).await?.check_edit(&before, &after, now)?;
        warnings.extend(edit_warnings(&before, &after, now));
        let refused = self.callers_refused(&before, &after).await?;
        Ok(EditPreview::new(KeyView::new(&after, now), changes, warnings, refused))
    }

    fn check_edit(&self, actor: &Actor, update: KeyUpdate, now: i64) -> Result<Edit, ManageError> {
        let allow_private_jwks_uri = self.allow_private_jwks_uri;
        let name = update.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
        let description = update.description.as_deref().map(validate::description).transpose()?;
        let scopes = update.scopes.as_deref().map(validate::scopes).transpose()?;
        if let Some(scopes) = &scopes {
            Self::check_grantable(actor, scopes)?;
        }
        let cidrs = update.allowed_cidrs.as_deref().map(validate::cidrs).transpose()?;
        let audiences = update.audiences.as_deref().map(validate::audiences).transpose()?;
        let expires_at = match (&update.expires_at, &update.expires_in) {
            (None, None) => None,
            (Some(None), None) => Some(None),
            (Some(Some(at)), in_) => Some(validate::expiry(Some(at), in_.as_deref(), now)?),
            (None, Some(in_)) => Some(validate::expiry(None, Some(in_), now)?),
            (Some(None), Some(_)) => {
                return Err(invalid("expires_in", "give expires_at or expires_in, not both").into())
            }
        };
        let claims = update.claims.as_ref().map(claims::claims).transpose()?;
        let owner = update.owner.as_deref().map(claims::owner).transpose()?;
        let federated = update
            .federated_credentials
            .as_deref()
            .map(|list| claims::federated(list, allow_private_jwks_uri))
            .transpose()?;
        Ok(Edit {
            claims,
            owner,
            federated,
            name,
            description,
            scopes,
            cidrs,
            audiences,
            expires_at,
            auth_method: update.token_endpoint_auth_method,
            jwks: update.jwks,
            dpop_bound: update.dpop_bound_access_tokens,
            jwks_uri: update.jwks_uri,
            allow_private_jwks_uri,
        })
    }
}
