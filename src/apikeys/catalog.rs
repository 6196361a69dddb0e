//! A workspace's scope catalog: the resources its APIs understand and the actions
//! each takes, so admins pick scopes instead of typing them, and a scope outside
//! the catalog is flagged as a probable typo (or refused, when the workspace's key
//! policy says `catalog_scopes_only`).

use serde::{Deserialize, Serialize};

use super::validate::{invalid, FieldError};
use crate::vocab::scope::Scope;

/// Most resources one catalog lists.
const MAX_RESOURCES: usize = 100;

/// The actions a resource takes when the catalog names none.
const ACTIONS: [&str; 3] = ["read", "write", "admin"];

/// A workspace's scope catalog. `{}` (no resource) is no catalog: nothing is flagged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeCatalog {
    #[serde(default)]
    #[schema(max_items = 100)]
    pub resources: Vec<CatalogResource>,
}

/// One resource of a catalog, e.g. `{"name": "agents", "actions": ["read", "write"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogResource {
    /// A resource path: segments of letters, digits, `.`, `_`, `-`, `~`, no wildcard.
    #[schema(
        example = "agents",
        pattern = "^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$",
        max_length = 196
    )]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schema(max_length = 200, pattern = "^[^\\x00-\\x1f\\x7f]*$")]
    pub description: String,
    /// Of `read`, `write`, `admin`; all three when absent.
    #[serde(default = "all_actions")]
    #[schema(min_items = 1, inline, value_type = Vec<CatalogAction>)]
    pub actions: Vec<String>,
}

fn all_actions() -> Vec<String> {
    ACTIONS.iter().map(|a| a.to_string()).collect()
}

impl CatalogResource {
    /// A resource taking `actions`, or every action when none is given.
    pub fn new(name: &str, description: &str, actions: Vec<String>) -> Self {
        let actions = if actions.is_empty() { all_actions() } else { actions };
        CatalogResource { name: name.to_string(), description: description.to_string(), actions }
    }
}

/// The actions a catalog resource may take (for the API's schema).
#[derive(utoipa::ToSchema)]
#[schema(as = CatalogAction)]
#[allow(dead_code)]
enum CatalogAction {
    #[schema(rename = "read")]
    Read,
    #[schema(rename = "write")]
    Write,
    #[schema(rename = "admin")]
    Admin,
}

/// A scope the catalog offers, with what it grants in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub scope: String,
    pub label: String,
}

impl ScopeCatalog {
    /// Reads a stored catalog.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("stored scope catalog: {e}"))
    }

    /// The stored form.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Checks a catalog an admin sets; names and actions are kept as given.
    pub fn check(&self) -> Result<(), FieldError> {
        if self.resources.len() > MAX_RESOURCES {
            return Err(invalid("resources", format!("at most {MAX_RESOURCES} resources")));
        }
        for (i, r) in self.resources.iter().enumerate() {
            let field = |name: &str| format!("resources[{i}].{name}");
            let path_ok = !r.name.split('/').any(|s| s == "*" || s == "**")
                && Scope::parse(&format!("read:{}", r.name)).is_ok();
            if !path_ok {
                return Err(invalid(
                    field("name"),
                    format!(
                        "{:?} is not a resource path (segments of letters, digits, '.', '_', \
                         '-', '~'; no wildcard)",
                        r.name
                    ),
                ));
            }
            if self.resources[..i].iter().any(|o| o.name == r.name) {
                return Err(invalid(field("name"), format!("{:?} is listed twice", r.name)));
            }
            if r.description.chars().count() > 200 || r.description.chars().any(char::is_control) {
                return Err(invalid(
                    field("description"),
                    "at most 200 characters, no control characters",
                ));
            }
            if r.actions.is_empty() || r.actions.iter().any(|a| !ACTIONS.contains(&a.as_str())) {
                return Err(invalid(field("actions"), "one or more of read, write, admin"));
            }
        }
        Ok(())
    }

    /// The resource scopes of `scopes` the catalog does not know: a resource it does
    /// not list (or a path under none), or an action that resource does not take.
    /// Wildcard resources (`read:*`), the `*` action and management scopes are
    /// always known; with no catalog, every scope is.
    pub fn unknown(&self, scopes: &[Scope]) -> Vec<String> {
        if self.resources.is_empty() {
            return vec![];
        }
        scopes
            .iter()
            .filter(|s| match s {
                Scope::Resource { filter, .. }
                    if matches!(filter.first().map(String::as_str), Some("*" | "**")) =>
                {
                    false
                }
                Scope::Resource { filter, raw, .. } => {
                    let action = raw.split_once(':').map(|(a, _)| a).unwrap_or_default();
                    !self.resources.iter().any(|r| {
                        let path: Vec<&str> = r.name.split('/').collect();
                        let under = filter.len() >= path.len()
                            && path.iter().zip(filter).all(|(p, f)| p == f);
                        under && (action == "*" || r.actions.iter().any(|a| a == action))
                    })
                }
                _ => false,
            })
            .map(Scope::to_string)
            .collect()
    }

    /// The scopes a form offers: per action, every resource including ones added
    /// later (`read:*`), then each resource and everything under it, per action.
    pub fn offered(&self) -> Vec<Offered> {
        if self.resources.is_empty() {
            return vec![];
        }
        let mut offered: Vec<Offered> = ACTIONS
            .iter()
            .filter(|a| self.resources.iter().any(|r| r.actions.iter().any(|x| x == *a)))
            .map(|a| Offered {
                scope: format!("{a}:*"),
                label: format!("{a} every resource, including ones added later"),
            })
            .collect();
        for r in &self.resources {
            for a in &r.actions {
                let what = if r.description.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.description)
                };
                offered.push(Offered {
                    scope: format!("{a}:{}/**", r.name),
                    label: format!("{a} {}{what}", r.name),
                });
            }
        }
        offered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::parse(
            r#"{"resources": [{"name": "agents", "actions": ["read", "write"]}, {"name": "prompts"}]}"#,
        )
        .unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scopes_outside_the_catalog_are_flagged() {
        let c = catalog();
        let scopes = strings(&[
            "read:agents/**",
            "write:agents",
            "read:agnets/*",
            "admin:agents/x",
            "admin:prompts/welcome",
            "*:agents",
            "read:*",
            "keymint:keys:read",
        ]);
        let scopes: Vec<Scope> = scopes.iter().map(|s| Scope::parse(s).unwrap()).collect();
        assert_eq!(c.unknown(&scopes), ["read:agnets/*", "admin:agents/x"]);
        assert!(ScopeCatalog::default().unknown(&scopes).is_empty(), "no catalog, no opinion");
    }

    #[test]
    fn a_catalog_offers_wildcards_then_each_resource() {
        let offered: Vec<String> = catalog().offered().into_iter().map(|o| o.scope).collect();
        assert_eq!(
            offered,
            [
                "read:*",
                "write:*",
                "admin:*",
                "read:agents/**",
                "write:agents/**",
                "read:prompts/**",
                "write:prompts/**",
                "admin:prompts/**"
            ]
        );
    }

    #[test]
    fn a_catalog_is_checked_before_it_is_kept() {
        let bad = |json: &str| ScopeCatalog::parse(json).unwrap().check().unwrap_err().field;
        assert_eq!(bad(r#"{"resources": [{"name": "a/*"}]}"#), "resources[0].name");
        assert_eq!(bad(r#"{"resources": [{"name": "a b"}]}"#), "resources[0].name");
        assert_eq!(bad(r#"{"resources": [{"name": "a"}, {"name": "a"}]}"#), "resources[1].name");
        assert_eq!(bad(r#"{"resources": [{"name": "a", "actions": []}]}"#), "resources[0].actions");
        assert_eq!(
            bad(r#"{"resources": [{"name": "a", "actions": ["delete"]}]}"#),
            "resources[0].actions"
        );
        assert!(ScopeCatalog::parse(r#"{"resources": [{"name": "x"}], "extra": 1}"#).is_err());
        assert!(catalog().check().is_ok());
    }
}
