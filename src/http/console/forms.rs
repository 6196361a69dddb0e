//! The console's forms: what a browser posts, turned into the domain's requests,
//! and the domain's refusals turned back into messages next to the fields.

use crate::apikeys::catalog::{CatalogResource, ScopeCatalog};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{message, Me};
use crate::apikeys::{KeyUpdate, NewKey};
use crate::http::error::Refusal;
use crate::store::AuthMethod;
use crate::vocab::{FederatedCredential, ManageError};

/// Expiry choices when creating a key: `(value, label)`.
pub const CREATE_EXPIRY: [(&str, &str); 9] = [
    ("none", "Never"),
    ("1h", "In 1 hour"),
    ("1d", "In 1 day"),
    ("7d", "In 7 days"),
    ("30d", "In 30 days"),
    ("90d", "In 90 days"),
    ("180d", "In 180 days"),
    ("360d", "In 360 days"),
    ("date", "On a date"),
];

/// Expiry choices when editing: keep it, remove it, or set a new one.
pub const EDIT_EXPIRY: [(&str, &str); 10] = [
    ("keep", "Keep as is"),
    ("none", "Never (remove the expiry)"),
    ("1h", "In 1 hour"),
    ("1d", "In 1 day"),
    ("7d", "In 7 days"),
    ("30d", "In 30 days"),
    ("90d", "In 90 days"),
    ("180d", "In 180 days"),
    ("360d", "In 360 days"),
    ("date", "On a date"),
];

/// Grace periods offered for a rotation: `(seconds, label)`.
pub const GRACE: [(&str, &str); 5] = [
    ("0", "No grace: stops at once"),
    ("900", "15 minutes"),
    ("3600", "1 hour"),
    ("21600", "6 hours"),
    ("86400", "24 hours"),
];

/// A JSON value of a change or an audit event as people read it: text without
/// quotes, lists joined with commas, `none` for null or an empty list.
pub fn shown(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One value per line, blank lines dropped.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// `expires` and `expires_on` as the API's `(expires_at, expires_in)`; a date is
/// midnight UTC of that day. `None` for "keep".
fn expiry(expires: &str, on: &str) -> Option<(Option<String>, Option<String>)> {
    match expires {
        "keep" => None,
        "none" | "" => Some((None, None)),
        "date" => Some((Some(format!("{on}T00:00:00Z")), None)),
        preset => Some((None, Some(preset.to_string()))),
    }
}

/// The create form, as posted (and as shown again with its errors).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct KeyForm {
    pub workspace_id: String,
    pub name: String,
    pub description: String,
    pub environment: String,
    #[serde(rename = "type")]
    pub key_type: String,
    pub scopes: String,
    pub allowed_cidrs: String,
    pub audiences: String,
    pub expires: String,
    pub expires_on: String,
    /// A legacy secret to import; never put back into a page.
    #[serde(skip_serializing)]
    pub secret: String,
    /// The client's public keys (a JWK Set, as JSON text), for `private_key_jwt`.
    pub jwks: String,
    /// Or where the client publishes them.
    pub jwks_uri: String,
    /// `on`: every token must be DPoP-bound.
    pub dpop_bound_access_tokens: String,
    /// A JSON object copied into every token.
    pub claims: String,
    pub owner: String,
    /// One per line: `issuer subject audience...`.
    pub federated_credentials: String,
    #[serde(skip_serializing)]
    pub intent: String,
    /// The catalog's checkboxes, `pick:{scope}`; merged into `scopes` on arrival.
    #[serde(flatten, skip_serializing)]
    pub picks: std::collections::HashMap<String, String>,
}

/// A scope the create form offers from the workspace's catalog.
pub struct Offer {
    pub scope: String,
    pub label: String,
    pub checked: bool,
}

impl KeyForm {
    /// Moves the ticked catalog scopes into `scopes`, so the rest of the flow (the
    /// review's hidden fields, the domain) sees one list.
    pub fn absorb_picks(&mut self) {
        let mut picked: Vec<&str> =
            self.picks.keys().filter_map(|k| k.strip_prefix("pick:")).collect();
        picked.sort_unstable();
        let mut lines: Vec<String> = self.scopes.lines().map(str::to_string).collect();
        for scope in picked {
            if !lines.iter().any(|l| l.trim() == scope) {
                lines.push(scope.to_string());
            }
        }
        self.scopes = lines.join("\n");
        self.picks.clear();
    }

    /// The catalog's scopes as checkboxes, ticked when `scopes` holds them, which
    /// then leave `scopes` (so each shows once).
    pub fn offer(&mut self, catalog: &ScopeCatalog) -> Vec<Offer> {
        let offered = catalog.offered();
        let mut lines: Vec<String> = self.scopes.lines().map(str::to_string).collect();
        let offers = offered
            .into_iter()
            .map(|o| {
                let checked = lines.iter().any(|l| l.trim() == o.scope);
                lines.retain(|l| l.trim() != o.scope);
                Offer { scope: o.scope, label: o.label, checked }
            })
            .collect();
        self.scopes = lines.join("\n");
        offers
    }

    /// A fresh form with the API's defaults.
    pub fn blank(workspace_id: &str) -> Self {
        KeyForm {
            workspace_id: workspace_id.to_string(),
            environment: "production".into(),
            key_type: "access".into(),
            expires: "none".into(),
            ..KeyForm::default()
        }
    }

    /// The create request this form makes.
    pub fn to_new_key(&self) -> NewKey {
        let (expires_at, expires_in) =
            expiry(&self.expires, &self.expires_on).unwrap_or((None, None));
        NewKey {
            workspace_id: (!self.workspace_id.is_empty()).then(|| self.workspace_id.clone()),
            name: self.name.clone(),
            description: self.description.clone(),
            environment: Some(self.environment.trim().to_string()),
            key_type: Some(self.key_type.trim().to_string()),
            scopes: lines(&self.scopes),
            allowed_cidrs: lines(&self.allowed_cidrs),
            audiences: lines(&self.audiences),
            expires_at,
            expires_in,
            secret: (!self.secret.is_empty()).then(|| self.secret.clone()),
            jwks: json_value(&self.jwks),
            jwks_uri: text_value(&self.jwks_uri),
            dpop_bound_access_tokens: (self.dpop_bound_access_tokens == "on").then_some(true),
            claims: json_value(&self.claims),
            owner: text_value(&self.owner),
            federated_credentials: federated(&self.federated_credentials),
            ..NewKey::default()
        }
    }

    /// The fields a review page carries forward: every field but the secret.
    pub fn hidden(&self) -> Vec<(String, String)> {
        carried(self)
    }
}

/// The fields of a form a review page carries forward as hidden inputs, by the
/// names the form reads them: every field but those it never serializes (a
/// secret, the intent of the button pressed).
fn carried(form: &impl Serialize) -> Vec<(String, String)> {
    match serde_json::to_value(form) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .map(|(name, value)| (name, value.as_str().unwrap_or_default().to_string()))
            .collect(),
        _ => Vec::new(),
    }
}

/// A JSON field (a JWK Set, claims): `None` when empty. Text that is not JSON
/// goes on as a string, which the domain refuses beside the field.
fn json_value(text: &str) -> Option<serde_json::Value> {
    (!text.trim().is_empty()).then(|| {
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.into()))
    })
}

/// Federated credentials, one per line as `issuer subject audience...`; a line
/// with fewer parts goes on incomplete, for the domain to refuse beside the field.
fn federated(text: &str) -> Vec<FederatedCredential> {
    lines(text)
        .iter()
        .map(|line| {
            let mut parts = line.split_whitespace().map(String::from);
            FederatedCredential {
                issuer: parts.next().unwrap_or_default(),
                subject: parts.next().unwrap_or_default(),
                audiences: parts.collect(),
            }
        })
        .collect()
}

/// The form's lines for `credentials`.
fn federated_lines(credentials: &[FederatedCredential]) -> String {
    let line =
        |c: &FederatedCredential| format!("{} {} {}", c.issuer, c.subject, c.audiences.join(" "));
    credentials.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// A key's claims as the form shows them: pretty JSON, empty for none.
fn claims_text(claims: &serde_json::Map<String, serde_json::Value>) -> String {
    if claims.is_empty() {
        return String::new();
    }
    serde_json::to_string_pretty(claims).unwrap_or_default()
}

/// A one-line text field: `None` when empty.
fn text_value(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.trim().to_string())
}

/// The edit form.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EditForm {
    pub name: String,
    pub description: String,
    pub scopes: String,
    pub allowed_cidrs: String,
    pub audiences: String,
    pub expires: String,
    pub expires_on: String,
    /// A `private_key_jwt` key's public keys (JSON text), or where they are published.
    pub jwks: String,
    pub jwks_uri: String,
    /// `on`: every token must be DPoP-bound.
    pub dpop_bound_access_tokens: String,
    /// `on`: a `private_key_jwt` key goes back to a secret.
    pub use_secret: String,
    pub claims: String,
    pub owner: String,
    pub federated_credentials: String,
    #[serde(skip_serializing)]
    pub intent: String,
}

impl EditForm {
    /// The form filled with the key's values.
    pub fn of(key: &crate::apikeys::KeyView) -> Self {
        EditForm {
            name: key.name.clone(),
            description: key.description.clone(),
            scopes: key.scopes.join("\n"),
            allowed_cidrs: key.allowed_cidrs.join("\n"),
            audiences: key.audiences.join("\n"),
            expires: "keep".into(),
            jwks: key
                .jwks
                .as_ref()
                .and_then(|set| serde_json::to_string_pretty(set).ok())
                .unwrap_or_default(),
            jwks_uri: key.jwks_uri.clone().unwrap_or_default(),
            dpop_bound_access_tokens: if key.dpop_bound_access_tokens { "on" } else { "" }.into(),
            claims: claims_text(&key.claims),
            owner: key.owner.clone().unwrap_or_default(),
            federated_credentials: federated_lines(&key.federated_credentials),
            ..EditForm::default()
        }
    }

    /// The update this form makes: every list and text field is set as shown.
    /// Public keys make the key authenticate with assertions (a `private_key_jwt`
    /// key's own keys, shown in the form, leave it as it is); `use_secret` takes
    /// it back to a secret.
    pub fn to_update(&self) -> KeyUpdate {
        let (expires_at, expires_in) = match expiry(&self.expires, &self.expires_on) {
            None => (None, None),
            Some((at, in_)) => (Some(at), in_),
        };
        let secret = self.use_secret == "on";
        let jwks = json_value(&self.jwks).filter(|_| !secret);
        let jwks_uri = text_value(&self.jwks_uri).filter(|_| !secret);
        let method = match (secret, jwks.is_some() || jwks_uri.is_some()) {
            (true, _) => Some(AuthMethod::ClientSecretBasic.as_str().to_string()),
            (false, true) => Some(AuthMethod::PrivateKeyJwt.as_str().to_string()),
            (false, false) => None,
        };
        KeyUpdate {
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            scopes: Some(lines(&self.scopes)),
            allowed_cidrs: Some(lines(&self.allowed_cidrs)),
            audiences: Some(lines(&self.audiences)),
            expires_at,
            expires_in,
            token_endpoint_auth_method: method,
            jwks,
            jwks_uri,
            dpop_bound_access_tokens: Some(self.dpop_bound_access_tokens == "on"),
            claims: Some(json_value(&self.claims).unwrap_or_else(|| serde_json::json!({}))),
            owner: Some(self.owner.trim().to_string()),
            federated_credentials: Some(federated(&self.federated_credentials)),
        }
    }

    /// The fields a review page carries forward.
    pub fn hidden(&self) -> Vec<(String, String)> {
        carried(self)
    }
}

/// Messages for a form: per field, and one for the whole form.
#[derive(Debug, Default)]
pub struct Errors {
    fields: Vec<(String, String)>,
    general: Option<String>,
    /// The status of the refusal the messages come from ([`Refusal`]).
    status: Option<StatusCode>,
}

impl Errors {
    /// The message for form field `field`.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    /// Whether there is no message at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_none()
    }

    /// The message about the form as a whole.
    pub fn general(&self) -> Option<&str> {
        self.general.as_deref()
    }

    /// The status of the page that shows them: the refusal's, as `/v1` answers
    /// it (422 for a field); 200 with nothing to say.
    pub fn status(&self) -> StatusCode {
        match self.status {
            Some(status) => status,
            None if self.is_empty() => StatusCode::OK,
            None => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The refusal `e` placed on the form field it concerns; `None` when `e` is no
    /// refusal of the input (not allowed, the database is down, an internal fault ...).
    pub fn from_refusal(e: &ManageError) -> Option<Self> {
        let mut errors = Errors::default();
        if let ManageError::Invalid(_) | ManageError::Conflict(_) | ManageError::NotFound(_) = e {
            errors.status = Some(Refusal::of(e).status);
        }
        match e {
            ManageError::Invalid(field) => {
                // API field names (`allowed_cidrs[2]`, `expires_in`) to form fields.
                let base = field.field.split('[').next().unwrap_or_default();
                let form_field = match base {
                    "expires_at" | "expires_in" => "expires",
                    // A member of the JWK Set (`jwks.keys[0].crv`) belongs to the set.
                    jwks if jwks.starts_with("jwks.") => "jwks",
                    other => other,
                };
                let reason = format!("{}: {}", label(form_field), field.reason);
                if FIELDS.iter().any(|(f, _)| *f == form_field) {
                    errors.fields.push((form_field.into(), reason));
                } else {
                    errors.general = Some(reason);
                }
            }
            ManageError::Conflict(why) if why.contains("name") => {
                errors.fields.push(("name".into(), format!("Name: {why}")));
            }
            ManageError::Conflict(why) => {
                errors.general = Some(why.clone());
            }
            ManageError::NotFound(what) => errors.general = Some(format!("{what} not found")),
            // Not allowed is the caller's rights, not the input: 403 with no form,
            // as `/v1` answers it and every other console action shows it.
            ManageError::Forbidden(_)
            | ManageError::Busy
            | ManageError::Unavailable(_)
            | ManageError::Internal(_) => return None,
        }
        Some(errors)
    }
}

/// The label a person sees for a form field.
/// The key forms' fields that show their own messages, with the label each
/// message starts with.
const FIELDS: [(&str, &str); 16] = [
    ("name", "Name"),
    ("description", "Description"),
    ("environment", "Environment"),
    ("type", "Type"),
    ("scopes", "Scopes"),
    ("allowed_cidrs", "Allowed IP ranges"),
    ("audiences", "Audiences"),
    ("expires", "Expires"),
    ("secret", "Secret to import"),
    ("jwks", "Public keys (JWK Set)"),
    ("token_endpoint_auth_method", "Public keys (JWK Set)"),
    ("jwks_uri", "Public keys URL"),
    ("confirm", "Confirmation"),
    ("owner", "Owner"),
    ("claims", "Claims"),
    ("federated_credentials", "Federated credentials"),
];

fn label(field: &str) -> &str {
    FIELDS.iter().find(|(f, _)| *f == field).map_or(field, |(_, label)| label)
}

/// The page for a refusal that is not about a form field: status, heading and
/// words from the one table `/v1` answers with ([`Refusal`]).
pub fn refused(e: ManageError, me: Option<Me>) -> Response {
    let refusal = Refusal::of(&e);
    let mut response = message(refusal.status, me, refusal.title, &refusal.detail, "/console/keys");
    if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::http::error::RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// A scope catalog as the workspace page shows it: one resource per line, its
/// name, its actions, and after ` -- ` its description.
pub fn catalog_lines(catalog: &ScopeCatalog) -> String {
    catalog
        .resources
        .iter()
        .map(|r| {
            let mut line = format!("{} {}", r.name, r.actions.join(" "));
            if !r.description.is_empty() {
                line.push_str(" -- ");
                line.push_str(&r.description);
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the workspace page's catalog text (see [`catalog_lines`]); a line with a
/// name only takes every action. The domain checks names and actions.
pub fn parse_catalog(text: &str) -> Result<ScopeCatalog, String> {
    let mut resources = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (spec, description) = match line.split_once(" -- ") {
            Some((spec, description)) => (spec, description.trim().to_string()),
            None => (line, String::new()),
        };
        let mut words = spec.split_whitespace();
        let Some(name) = words.next() else {
            return Err(format!("Scope catalog, line {}: a resource name first", n + 1));
        };
        let actions: Vec<String> = words.map(str::to_string).collect();
        resources.push(CatalogResource::new(name, &description, actions));
    }
    Ok(ScopeCatalog { resources })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_carries_every_field_forward_but_the_secret_and_the_button() {
        let mut form = KeyForm {
            name: "n".into(),
            key_type: "gateway".into(),
            secret: "legacy-secret-value".into(),
            intent: "review".into(),
            ..KeyForm::default()
        };
        form.picks.insert("pick:read:a".into(), "on".into());
        let hidden = form.hidden();
        let names: Vec<&str> = hidden.iter().map(|(n, _)| n.as_str()).collect();
        for expected in ["workspace_id", "name", "type", "scopes", "jwks_uri", "expires_on"] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        for never in ["secret", "intent", "pick:read:a", "picks"] {
            assert!(!names.contains(&never), "{never} in {names:?}");
        }
        assert!(hidden.iter().all(|(_, v)| v != "legacy-secret-value"));
        assert!(hidden.contains(&("type".into(), "gateway".into())));
        let edit = EditForm { use_secret: "on".into(), ..EditForm::default() }.hidden();
        assert!(edit.contains(&("use_secret".into(), "on".into())));
        assert!(!edit.iter().any(|(n, _)| n == "intent"));
    }
}
