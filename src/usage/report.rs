//! Usage as `/v1`, the CLI and the console show it: a range of hourly or daily
//! buckets, every bucket present (zero when nothing happened), counts by outcome.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::{Granularity, UsageRow};
use crate::vocab::{instant, invalid, FieldError, Outcome, Tally};

/// A usage range: buckets of `granularity` starting in `[from, to)`, both on bucket
/// boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRange {
    pub granularity: Granularity,
    pub from: i64,
    pub to: i64,
}

impl UsageRange {
    /// The last `buckets` buckets, the current one included.
    pub fn last(granularity: Granularity, buckets: i64, now: i64) -> Self {
        let to = granularity.bucket(now) + granularity.seconds();
        UsageRange { granularity, from: to - buckets * granularity.seconds(), to }
    }

    /// The range a request asks for: `from` and `to` in RFC 3339 (widened to whole
    /// buckets), by default the last 24 hours (hourly) or 30 days (daily, the
    /// default granularity). At most 31 days of hours, 366 of days.
    pub fn parse(
        granularity: Option<Granularity>,
        from: Option<&str>,
        to: Option<&str>,
        now: i64,
    ) -> Result<Self, FieldError> {
        // Unlike a list filter, an empty bound is a mistake, not "no bound".
        for (field, value) in [("from", from), ("to", to)] {
            if value == Some("") {
                return Err(invalid(field, "must be an RFC 3339 time, e.g. 2026-11-30T12:00:00Z"));
            }
        }
        let granularity = granularity.unwrap_or(Granularity::Day);
        let size = granularity.seconds();
        let (default_buckets, max_buckets) = match granularity {
            Granularity::Hour => (24, 31 * 24),
            Granularity::Day => (30, 366),
        };
        // The range ends before `to`, rounded up to a whole second and then to a
        // whole bucket; by default after the second under way (`now` is whole
        // seconds), so the current bucket is in from its first instant.
        let end = match to {
            Some(to) => crate::clock::parse_rfc3339_ceil(to).ok_or_else(|| {
                invalid("to", "must be an RFC 3339 time, e.g. 2026-11-30T12:00:00Z")
            })?,
            None => now + 1,
        };
        let to = granularity.bucket(end + size - 1);
        let from = match instant("from", from)? {
            Some(from) => granularity.bucket(from),
            None => to - default_buckets * size,
        };
        if from >= to {
            return Err(invalid("from", "must be before to"));
        }
        if (to - from) / size > max_buckets {
            let most = match granularity {
                Granularity::Hour => "an hourly range spans at most 31 days; use granularity=day",
                Granularity::Day => "a daily range spans at most 366 days",
            };
            return Err(invalid("from", most));
        }
        Ok(UsageRange { granularity, from, to })
    }

    /// The start of every bucket, oldest first.
    pub fn starts(&self) -> impl Iterator<Item = i64> {
        let (from, size) = (self.from, self.granularity.seconds());
        (0..(self.to - from) / size).map(move |i| from + i * size)
    }

    /// Rows grouped by bucket, one per bucket of the range (zero where none).
    pub fn buckets(&self, rows: &[UsageRow]) -> Vec<Bucket> {
        let mut rows = rows.iter().peekable();
        self.starts()
            .map(|start| {
                let mut tally = Tally::default();
                while let Some(row) = rows.next_if(|r| r.start <= start) {
                    if row.start == start {
                        tally.add(&row.tally);
                    }
                }
                Bucket { start: rfc3339(start), counts: tally.into() }
            })
            .collect()
    }
}

/// Refusals by reason (see [`Outcome`]).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Refusals {
    pub wrong_secret: i64,
    pub address_not_allowed: i64,
    pub scope_refused: i64,
    pub key_inactive: i64,
    pub throttled: i64,
}

/// Exchanges by outcome: tokens `issued`, refusals in all (`failed`) and by reason,
/// and raw keys `verified` at introspection (callers not yet on tokens).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Counts {
    pub issued: i64,
    pub failed: i64,
    pub refused: Refusals,
    pub verified: i64,
    /// Tokens issued by token exchange (delegation, workload federation).
    pub exchanged: i64,
}

impl From<Tally> for Counts {
    fn from(t: Tally) -> Self {
        Counts {
            issued: t.issued,
            failed: t.failed,
            refused: Refusals {
                wrong_secret: t.get(Outcome::WrongSecret),
                address_not_allowed: t.get(Outcome::AddressNotAllowed),
                scope_refused: t.get(Outcome::ScopeRefused),
                key_inactive: t.get(Outcome::KeyInactive),
                throttled: t.get(Outcome::Throttled),
            },
            verified: t.verified,
            exchanged: t.exchanged,
        }
    }
}

impl Counts {
    /// How many ended with `outcome`.
    pub fn get(&self, outcome: Outcome) -> i64 {
        let r = &self.refused;
        match outcome {
            Outcome::Issued => self.issued,
            Outcome::WrongSecret => r.wrong_secret,
            Outcome::AddressNotAllowed => r.address_not_allowed,
            Outcome::ScopeRefused => r.scope_refused,
            Outcome::KeyInactive => r.key_inactive,
            Outcome::Throttled => r.throttled,
            Outcome::Verified => self.verified,
            Outcome::Exchanged => self.exchanged,
        }
    }
}

/// One bucket: its start (RFC 3339) and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Bucket {
    #[schema(example = "2026-11-30T00:00:00Z")]
    pub start: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The range of a report, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Range {
    pub granularity: Granularity,
    pub from: String,
    pub to: String,
}

impl From<UsageRange> for Range {
    fn from(r: UsageRange) -> Self {
        Range { granularity: r.granularity, from: rfc3339(r.from), to: rfc3339(r.to) }
    }
}

/// Every row summed (the store reads only the range's rows).
fn total(rows: &[UsageRow]) -> Counts {
    let mut total = Tally::default();
    for row in rows {
        total.add(&row.tally);
    }
    total.into()
}

/// One key's usage over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyUsage {
    pub key_id: String,
    #[serde(flatten)]
    pub range: Range,
    /// The whole range.
    pub total: Counts,
    /// Every bucket of the range, oldest first.
    pub data: Vec<Bucket>,
}

impl KeyUsage {
    pub fn new(key_id: &str, range: UsageRange, rows: &[UsageRow]) -> Self {
        let data = range.buckets(rows);
        KeyUsage { key_id: key_id.to_string(), range: range.into(), total: total(rows), data }
    }
}

/// A key among a workspace's most used or most refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TopKey {
    pub key_id: String,
    /// Absent when the key was deleted since.
    pub name: Option<String>,
    pub workspace_id: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Usage across a workspace (or every workspace) over a range, with the keys that
/// got the most tokens and the most refusals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WorkspaceUsage {
    /// The workspace, or absent for every workspace.
    pub workspace_id: Option<String>,
    /// The owner whose keys are counted, or absent for every key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(flatten)]
    pub range: Range,
    pub total: Counts,
    /// Every bucket of the range, oldest first, every key summed.
    pub data: Vec<Bucket>,
    /// The keys with the most tokens issued, most first.
    pub top_keys: Vec<TopKey>,
    /// The keys with the most refusals, most first.
    pub top_refused: Vec<TopKey>,
}

impl WorkspaceUsage {
    pub fn new(
        workspace_id: Option<String>,
        range: UsageRange,
        rows: &[UsageRow],
        top_keys: Vec<TopKey>,
        top_refused: Vec<TopKey>,
    ) -> Self {
        let data = range.buckets(rows);
        WorkspaceUsage {
            workspace_id,
            owner: None,
            range: range.into(),
            total: total(rows),
            data,
            top_keys,
            top_refused,
        }
    }
}

/// Tokens issued to one client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AddressExchanges {
    pub address: String,
    pub exchanges: i64,
}

/// The recent callers an edit of a key's allowed ranges refuses: over the last
/// `days` days, `exchanges` tokens went to `addresses` the new ranges leave out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallersRefused {
    pub days: i64,
    pub exchanges: i64,
    pub addresses: Vec<AddressExchanges>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start: i64, issued: i64) -> UsageRow {
        UsageRow {
            key_id: "k".into(),
            workspace_id: "ws".into(),
            start,
            tally: Tally { issued, ..Tally::default() },
        }
    }

    #[test]
    fn a_range_defaults_to_the_last_thirty_days_and_widens_to_whole_buckets() {
        let now = 1_764_547_200 + 3_700; // 2025-12-01T01:01:40Z
        let r = UsageRange::parse(None, None, None, now).unwrap();
        assert_eq!(r.granularity, Granularity::Day);
        assert_eq!(r.starts().count(), 30);
        assert_eq!(r.to, 1_764_547_200 + 86_400, "the current day is included");
        let hours = UsageRange::parse(
            Some(Granularity::Hour),
            Some("2025-12-01T00:30:00Z"),
            Some("2025-12-01T02:00:00Z"),
            now,
        )
        .unwrap();
        assert_eq!((hours.from, hours.to), (1_764_547_200, 1_764_547_200 + 7_200));
    }

    #[test]
    fn the_bucket_under_way_is_in_the_range_from_its_first_instant() {
        let hour = 1_764_547_200 + 3_600; // 2025-12-01T01:00:00Z
        let by_default = UsageRange::parse(Some(Granularity::Hour), None, None, hour).unwrap();
        assert_eq!(by_default.to, hour + 3_600, "read at 01:00:00.4, 01:00 is under way");
        let fraction = Some("2025-12-01T01:00:00.4Z");
        let explicit = UsageRange::parse(Some(Granularity::Hour), None, fraction, hour).unwrap();
        assert_eq!(explicit.to, hour + 3_600, "01:00:00.4 is inside the 01:00 bucket");
        let whole = Some("2025-12-01T01:00:00Z");
        let exclusive = UsageRange::parse(Some(Granularity::Hour), None, whole, hour).unwrap();
        assert_eq!(exclusive.to, hour, "a whole-hour end is exclusive");
    }

    #[test]
    fn a_range_refuses_what_it_cannot_show() {
        let now = 1_764_547_200;
        let refused = |g, from: &str, to: &str| {
            UsageRange::parse(Some(g), Some(from), Some(to), now).unwrap_err().reason
        };
        assert_eq!(
            refused(Granularity::Day, "2025-12-02T00:00:00Z", "2025-12-01T00:00:00Z"),
            "must be before to"
        );
        assert!(refused(Granularity::Hour, "2025-10-01T00:00:00Z", "2025-12-01T00:00:00Z")
            .contains("granularity=day"));
        assert_eq!(
            UsageRange::parse(None, Some("yesterday"), None, now).unwrap_err().field,
            "from"
        );
        assert_eq!(UsageRange::parse(None, None, Some(""), now).unwrap_err().field, "to");
    }

    #[test]
    fn every_bucket_is_present_and_rows_land_in_theirs() {
        let range = UsageRange { granularity: Granularity::Hour, from: 0, to: 4 * 3_600 };
        let rows = [row(3_600, 2), row(3_600, 1), row(3 * 3_600, 5)];
        let buckets = range.buckets(&rows);
        let issued: Vec<i64> = buckets.iter().map(|b| b.counts.issued).collect();
        assert_eq!(issued, [0, 3, 0, 5]);
        assert_eq!(total(&rows).issued, 8);
    }
}
