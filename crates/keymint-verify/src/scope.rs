//! Scopes: `action:resource-filter`, e.g. `read:agents/*`, `write:prompts/welcome`, `*:*`.
//!
//! - Actions: `read`, `write` (implies `read`), `admin` (implies `write`), `*` (all).
//! - A filter is a `/`-separated path of segments. A `*` segment matches exactly one
//!   segment; a trailing `**` segment matches one or more segments below; a bare `*`
//!   (the whole filter) matches everything.
//! - Management scopes live under the reserved `keymint:` prefix (for example
//!   `keymint:keys:write`). They are matched exactly and are never covered by
//!   wildcards: `*:*` does not make a key an admin.
//!
//! The matching rules are documented for resource servers in `docs/scopes.md`.

use std::fmt;

/// The reserved prefix of management scopes.
pub const MANAGEMENT_PREFIX: &str = "keymint:";

/// A reserved `keymint:` scope: what it lets its holder do on keymint itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ManagementScope {
    /// `keymint:keys:read`
    KeysRead,
    /// `keymint:keys:write`
    KeysWrite,
    /// `keymint:audit:read`
    AuditRead,
    /// `keymint:signing-keys:admin`
    SigningKeysAdmin,
    /// `keymint:workspaces:admin`: a platform admin, acting on every workspace.
    WorkspacesAdmin,
    /// `keymint:introspect`: a resource server calling introspection; opens no `/v1`.
    Introspect,
}

impl ManagementScope {
    /// Every management scope, in the order they are documented.
    pub const ALL: [ManagementScope; 6] = [
        ManagementScope::KeysRead,
        ManagementScope::KeysWrite,
        ManagementScope::AuditRead,
        ManagementScope::SigningKeysAdmin,
        ManagementScope::WorkspacesAdmin,
        ManagementScope::Introspect,
    ];

    /// The scope as clients write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagementScope::KeysRead => "keymint:keys:read",
            ManagementScope::KeysWrite => "keymint:keys:write",
            ManagementScope::AuditRead => "keymint:audit:read",
            ManagementScope::SigningKeysAdmin => "keymint:signing-keys:admin",
            ManagementScope::WorkspacesAdmin => "keymint:workspaces:admin",
            ManagementScope::Introspect => "keymint:introspect",
        }
    }

    /// What the scope allows, for help texts and the documentation.
    pub fn description(self) -> &'static str {
        match self {
            ManagementScope::KeysRead => "list and read API keys, their usage",
            ManagementScope::KeysWrite => {
                "create, edit, rotate, (de)activate, revoke and delete API keys"
            }
            ManagementScope::AuditRead => "read the audit log",
            ManagementScope::SigningKeysAdmin => "list and rotate token signing keys",
            ManagementScope::WorkspacesAdmin => "act on every workspace: platform admin",
            ManagementScope::Introspect => "call the token introspection endpoint",
        }
    }

    /// The management scope named `text`, if keymint knows it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the scope opens the management API (`/v1`): all but `Introspect`.
    pub fn opens_management_api(self) -> bool {
        self != ManagementScope::Introspect
    }
}

impl fmt::Display for ManagementScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest accepted scope string.
pub const MAX_SCOPE_LEN: usize = 200;

/// What a resource scope allows; each action implies the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// `read`.
    Read,
    /// `write`, which allows `read` too.
    Write,
    /// `admin`, which allows `write` and `read` too.
    Admin,
    /// `*`: every action.
    All,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Action::Read),
            "write" => Some(Action::Write),
            "admin" => Some(Action::Admin),
            "*" => Some(Action::All),
            _ => None,
        }
    }
}

/// A parsed, valid scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A reserved `keymint:` scope, matched exactly.
    Management(ManagementScope),
    /// `action:filter`; `filter` holds the segments, with a bare `*` stored as `["**"]`.
    Resource {
        /// What it allows.
        action: Action,
        /// The filter's segments.
        filter: Vec<String>,
        /// The scope as written.
        raw: String,
    },
}

/// Why a scope string is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The empty string.
    #[error("scope is empty")]
    Empty,
    /// Longer than [`MAX_SCOPE_LEN`].
    #[error("scope is longer than {MAX_SCOPE_LEN} characters")]
    TooLong,
    /// No `action:` part.
    #[error("scope must be action:resource, e.g. read:agents/*")]
    NoColon,
    /// An action other than `read`, `write`, `admin` or `*`.
    #[error("unknown action; use read, write, admin or *")]
    UnknownAction,
    /// A `keymint:` scope keymint does not define.
    #[error("unknown management scope")]
    UnknownManagement,
    /// Two `/` in a row, or one at either end.
    #[error("resource path has an empty segment")]
    EmptySegment,
    /// A segment with a character outside the grammar.
    #[error("resource path may only hold letters, digits, '.', '_', '-', '~' and '*' segments")]
    BadCharacter,
    /// `**` before the last segment.
    #[error("'**' may only be the last segment")]
    MisplacedDoubleStar,
}

impl Scope {
    /// Parses and validates one scope.
    ///
    /// ```
    /// use keymint_verify::scope::{Scope, ScopeError};
    ///
    /// let granted = Scope::parse("write:agents/**").unwrap();
    /// assert!(granted.covers(&Scope::parse("read:agents/42/logs").unwrap()));
    /// assert_eq!(Scope::parse("read:a/**/b"), Err(ScopeError::MisplacedDoubleStar));
    /// ```
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        if s.is_empty() {
            return Err(ScopeError::Empty);
        }
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        if s.starts_with(MANAGEMENT_PREFIX) {
            return ManagementScope::parse(s)
                .map(Scope::Management)
                .ok_or(ScopeError::UnknownManagement);
        }
        let (action, filter) = s.split_once(':').ok_or(ScopeError::NoColon)?;
        let action = Action::parse(action).ok_or(ScopeError::UnknownAction)?;
        let segments: Vec<String> = if filter == "*" {
            vec!["**".to_string()]
        } else {
            filter.split('/').map(str::to_string).collect()
        };
        for (i, seg) in segments.iter().enumerate() {
            if seg.is_empty() {
                return Err(ScopeError::EmptySegment);
            }
            if seg == "**" {
                if i + 1 != segments.len() {
                    return Err(ScopeError::MisplacedDoubleStar);
                }
                continue;
            }
            if seg != "*"
                && !seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~'))
            {
                return Err(ScopeError::BadCharacter);
            }
        }
        Ok(Scope::Resource { action, filter: segments, raw: s.to_string() })
    }

    /// Whether this is a reserved management scope.
    pub fn is_management(&self) -> bool {
        matches!(self, Scope::Management(_))
    }

    /// Whether this scope gives access to the management API (`/v1`): every
    /// management scope but `keymint:introspect`, which is for resource servers.
    pub fn opens_management_api(&self) -> bool {
        matches!(self, Scope::Management(s) if s.opens_management_api())
    }

    /// Whether a holder of `self` may act as `other` asks: `other` is covered.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Management(a), Scope::Management(b)) => a == b,
            (
                Scope::Resource { action: ga, filter: gf, .. },
                Scope::Resource { action: ra, filter: rf, .. },
            ) => ga >= ra && filter_covers(gf, rf),
            _ => false,
        }
    }
}

impl Scope {
    /// The management scope this is, if it is one.
    pub fn management(&self) -> Option<ManagementScope> {
        match self {
            Scope::Management(m) => Some(*m),
            Scope::Resource { .. } => None,
        }
    }

    /// Texts of `scopes`, as stored and shown.
    pub fn texts(scopes: &[Scope]) -> Vec<String> {
        scopes.iter().map(Scope::to_string).collect()
    }
}

/// A scope is written as its text.
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// And read by parsing it: a text that is not a valid scope is an error.
impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Scope::parse(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Management(s) => f.write_str(s.as_str()),
            Scope::Resource { raw, .. } => f.write_str(raw),
        }
    }
}

fn filter_covers(granted: &[String], requested: &[String]) -> bool {
    match (granted.first().map(String::as_str), requested.first().map(String::as_str)) {
        (None, None) => true,
        (Some("**"), Some(_)) => true,
        (Some(_), None) | (None, Some(_)) => false,
        (Some(_), Some("**")) => false,
        (Some(g), Some(r)) => (g == "*" || g == r) && filter_covers(&granted[1..], &requested[1..]),
    }
}

/// Parses a space-separated scope list (RFC 6749 section 3.3), refusing duplicates.
pub fn parse_list(text: &str) -> Result<Vec<Scope>, (String, ScopeError)> {
    let mut out: Vec<Scope> = Vec::new();
    for item in text.split(' ').filter(|s| !s.is_empty()) {
        let scope = Scope::parse(item).map_err(|e| (item.to_string(), e))?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

/// Whether any of `granted` covers `requested`.
pub fn any_covers(granted: &[Scope], requested: &Scope) -> bool {
    granted.iter().any(|g| g.covers(requested))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(text: &str) -> Scope {
        Scope::parse(text).unwrap()
    }

    #[test]
    fn actions_imply_weaker_actions_only() {
        assert!(s("admin:agents/x").covers(&s("write:agents/x")));
        assert!(s("write:agents/x").covers(&s("read:agents/x")));
        assert!(s("*:agents/x").covers(&s("admin:agents/x")));
        assert!(!s("read:agents/x").covers(&s("write:agents/x")));
        assert!(!s("admin:agents/x").covers(&s("*:agents/x")));
    }

    #[test]
    fn single_star_matches_exactly_one_segment() {
        assert!(s("read:agents/*").covers(&s("read:agents/bot")));
        assert!(s("read:agents/*").covers(&s("read:agents/*")));
        assert!(!s("read:agents/*").covers(&s("read:agents/bot/logs")));
        assert!(!s("read:agents/*").covers(&s("read:agents")));
        assert!(!s("read:agents/*").covers(&s("read:prompts/x")));
        assert!(!s("read:agents/*").covers(&s("read:agents/**")));
    }

    #[test]
    fn double_star_and_bare_star_match_everything_below() {
        assert!(s("read:agents/**").covers(&s("read:agents/a/b/c")));
        assert!(s("read:agents/**").covers(&s("read:agents/*")));
        assert!(!s("read:agents/**").covers(&s("read:agents")));
        assert!(s("read:*").covers(&s("read:anything/at/all")));
        assert!(s("*:*").covers(&s("admin:prompts/welcome")));
    }

    #[test]
    fn wildcards_never_cover_management_scopes() {
        assert!(!s("*:*").covers(&s("keymint:keys:write")));
        assert!(s("keymint:keys:write").covers(&s("keymint:keys:write")));
        assert!(!s("keymint:keys:write").covers(&s("keymint:keys:read")));
        assert!(!s("keymint:keys:read").covers(&s("read:keys")));
    }

    #[test]
    fn malformed_scopes_name_their_fault() {
        assert_eq!(Scope::parse("agents"), Err(ScopeError::NoColon));
        assert_eq!(Scope::parse("delete:agents"), Err(ScopeError::UnknownAction));
        assert_eq!(Scope::parse("read:agents//x"), Err(ScopeError::EmptySegment));
        assert_eq!(Scope::parse("read:a/**/b"), Err(ScopeError::MisplacedDoubleStar));
        assert_eq!(Scope::parse("read:a b"), Err(ScopeError::BadCharacter));
        assert_eq!(Scope::parse("keymint:everything"), Err(ScopeError::UnknownManagement));
        assert_eq!(Scope::parse(""), Err(ScopeError::Empty));
    }

    fn scope_strategy() -> impl Strategy<Value = String> {
        let action = prop::sample::select(vec!["read", "write", "admin", "*"]);
        let seg = prop::sample::select(vec!["a", "b", "*"]);
        let tail = prop::sample::select(vec!["", "/**"]);
        (action, prop::collection::vec(seg, 1..4), tail, any::<bool>()).prop_map(
            |(a, segs, tail, bare)| {
                if bare {
                    format!("{a}:*")
                } else {
                    format!("{a}:{}{tail}", segs.join("/"))
                }
            },
        )
    }

    proptest! {
        #[test]
        fn coverage_is_reflexive(a in scope_strategy()) {
            prop_assert!(s(&a).covers(&s(&a)));
        }

        #[test]
        fn coverage_is_transitive(a in scope_strategy(), b in scope_strategy(), c in scope_strategy()) {
            let (a, b, c) = (s(&a), s(&b), s(&c));
            if a.covers(&b) && b.covers(&c) {
                prop_assert!(a.covers(&c), "{a} covers {b} covers {c}");
            }
        }

        #[test]
        fn a_literal_request_is_covered_only_by_a_literal_reading(
            granted in scope_strategy(),
            path in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..5),
        ) {
            let requested = s(&format!("read:{}", path.join("/")));
            let g = s(&granted);
            let Scope::Resource { filter, .. } = &g else { unreachable!() };
            // Reference reading: segment-by-segment with '*' = one segment, trailing '**' = rest.
            let literal = if filter.last().map(String::as_str) == Some("**") {
                let prefix = &filter[..filter.len() - 1];
                path.len() > prefix.len()
                    && prefix.iter().zip(&path).all(|(f, p)| f == "*" || f == p)
            } else {
                filter.len() == path.len() && filter.iter().zip(&path).all(|(f, p)| f == "*" || f == p)
            };
            prop_assert_eq!(g.covers(&requested), literal);
        }

        #[test]
        fn parse_never_panics(text in ".{0,80}") {
            let _ = Scope::parse(&text);
        }
    }
}
