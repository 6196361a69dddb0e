//! The schema's version, and what opening a database may do with the schema it
//! finds: only `serve` and `migrate` change it; a server runs on a newer schema
//! when every migration it does not know is an expand (migration 26 on records,
//! in `schema_compatibility`, whether each one only adds); every other command
//! needs the schema it was built for. See docs/upgrading.md.

use std::collections::HashMap;

/// The newest migration this keymint carries (both backends have the same ones).
pub const VERSION: i64 = parse_version(env!("KEYMINT_SCHEMA_VERSION"));

const fn parse_version(text: &str) -> i64 {
    let digits = text.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < digits.len() {
        value = value * 10 + (digits[i] - b'0') as i64;
        i += 1;
    }
    value
}

/// What opening may do to the schema it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// Create keymint's tables where there are none (and the SQLite file).
    pub create: bool,
    /// Apply this keymint's migrations to an older schema.
    pub upgrade: bool,
    /// Run on a newer schema whose migrations unknown here are all expands.
    pub newer: bool,
}

impl Opening {
    /// `keymint serve` and `keymint migrate`.
    pub const MIGRATE: Opening = Opening { create: true, upgrade: true, newer: true };
    /// `keymint serve --no-migrate`: the schema is upgraded by `keymint migrate`.
    pub const SERVE_ONLY: Opening = Opening { create: false, upgrade: false, newer: true };
    /// `keymint bootstrap`: sets up a new database, never upgrades one.
    pub const CREATE_ONLY: Opening = Opening { create: true, upgrade: false, newer: false };
    /// Admin commands: the schema this keymint was built for, nothing else.
    pub const SAME: Opening = Opening { create: false, upgrade: false, newer: false };
}

/// What a database holds of keymint's schema.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The migrations applied successfully.
    pub applied: Vec<i64>,
    /// Whether each migration from 26 on is an expand.
    pub expand: HashMap<i64, bool>,
}

impl Found {
    fn version(&self) -> i64 {
        self.applied.iter().copied().max().unwrap_or(0)
    }
}

/// Whether to run this keymint's migrations (`known`) on what `found` holds (`None`:
/// no keymint tables), or why not to open the database at all.
pub(super) fn plan(
    url: &str,
    opening: Opening,
    known: &[i64],
    found: Option<&Found>,
) -> anyhow::Result<bool> {
    let Some(found) = found else {
        return if opening.create {
            Ok(true)
        } else {
            Err(super::no_database(url, "the database holds no keymint tables"))
        };
    };
    let own = known.iter().copied().max().unwrap_or(0);
    let at = found.version();
    let mut unknown = found.applied.iter().filter(|v| !known.contains(v)).peekable();
    if unknown.peek().is_some() {
        let mut unknown = unknown.copied().collect::<Vec<_>>();
        unknown.sort_unstable();
        if let Some(contract) = unknown.iter().find(|v| found.expand.get(v) != Some(&true)) {
            anyhow::bail!(
                "the database schema is at version {at}, newer than this keymint's ({own}), \
                 and migration {contract} changed what this release reads and writes: run a \
                 keymint release of schema {at}, or restore the backup taken before the \
                 upgrade (docs/upgrading.md)"
            );
        }
        if !opening.newer {
            anyhow::bail!(
                "the database schema is at version {at}, this keymint's is {own}: run the \
                 release the servers run (`keymint --version` names its schema), or manage \
                 them over --server (docs/upgrading.md)"
            );
        }
        tracing::warn!(
            database = at,
            keymint = own,
            "the database schema is newer than this keymint's; its newer migrations are \
             all expands, so this release runs on it"
        );
    }
    let behind = known.iter().any(|v| !found.applied.contains(v));
    if behind && !opening.upgrade {
        anyhow::bail!(
            "the database schema is at version {at}, older than this keymint's ({own}): \
             upgrade it first with `keymint migrate` (take a backup before; docs/upgrading.md)"
        );
    }
    Ok(opening.upgrade)
}

#[cfg(test)]
mod tests {
    use super::{plan, Found, Opening};

    const URL: &str = "sqlite://test.db";

    fn found(applied: std::ops::RangeInclusive<i64>, expand: &[(i64, bool)]) -> Found {
        Found { applied: applied.collect(), expand: expand.iter().copied().collect() }
    }

    fn refusal(opening: Opening, found: &Found) -> String {
        let known: Vec<i64> = (1..=26).collect();
        format!("{:#}", plan(URL, opening, &known, Some(found)).unwrap_err())
    }

    #[test]
    fn only_serve_and_migrate_upgrade_and_only_servers_run_on_a_newer_expand() {
        let known: Vec<i64> = (1..=26).collect();
        let same = found(1..=26, &[(26, true)]);
        for opening in [Opening::MIGRATE, Opening::SERVE_ONLY, Opening::CREATE_ONLY, Opening::SAME]
        {
            assert_eq!(plan(URL, opening, &known, Some(&same)).unwrap(), opening.upgrade);
        }
        let older = found(1..=24, &[]);
        assert!(plan(URL, Opening::MIGRATE, &known, Some(&older)).unwrap());
        for opening in [Opening::SERVE_ONLY, Opening::CREATE_ONLY, Opening::SAME] {
            let message = refusal(opening, &older);
            assert!(message.contains("at version 24, older than this keymint's (26)"), "{message}");
            assert!(message.contains("keymint migrate"), "{message}");
        }
        let newer = found(1..=28, &[(26, true), (27, true), (28, true)]);
        assert!(plan(URL, Opening::MIGRATE, &known, Some(&newer)).unwrap());
        assert!(!plan(URL, Opening::SERVE_ONLY, &known, Some(&newer)).unwrap());
        let message = refusal(Opening::SAME, &newer);
        assert!(message.contains("at version 28, this keymint's is 26"), "{message}");
    }

    #[test]
    fn a_contract_or_an_unrecorded_newer_migration_stops_every_command() {
        let contract = found(1..=28, &[(26, true), (27, true), (28, false)]);
        let unrecorded = found(1..=27, &[(26, true)]);
        for (found, version) in [(contract, 28), (unrecorded, 27)] {
            for opening in [Opening::MIGRATE, Opening::SERVE_ONLY, Opening::SAME] {
                let message = refusal(opening, &found);
                assert!(message.contains(&format!("migration {version} changed")), "{message}");
                assert!(message.contains("newer than this keymint's (26)"), "{message}");
            }
        }
    }

    #[test]
    fn every_migration_from_26_says_whether_it_is_an_expand_and_the_version_is_the_newest() {
        for migrator in [sqlx::migrate!("migrations/sqlite"), sqlx::migrate!("migrations/postgres")]
        {
            let newest = migrator.iter().map(|m| m.version).max().unwrap();
            assert_eq!(newest, super::VERSION);
            for migration in migrator.iter().filter(|m| m.version >= 26) {
                let record = |expand| {
                    format!(
                        "INSERT INTO schema_compatibility (version, expand) VALUES ({}, {expand});",
                        migration.version
                    )
                };
                assert!(
                    migration.sql.contains(&record("TRUE"))
                        || migration.sql.contains(&record("FALSE")),
                    "migration {} must end with `{}` (or FALSE for a contract)",
                    migration.version,
                    record("TRUE")
                );
            }
        }
    }

    #[test]
    fn no_tables_are_created_only_where_allowed() {
        assert!(plan(URL, Opening::CREATE_ONLY, &[1], None).unwrap());
        let message = format!("{:#}", plan(URL, Opening::SAME, &[1], None).unwrap_err());
        assert!(message.contains("no keymint database"), "{message}");
    }
}
