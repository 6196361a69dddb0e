//! The records of usage: counters per key and bucket, as written in a batch and as
//! read back by range.

use super::AuditRecord;
use crate::vocab::Tally;

/// Usage counters for one key and one bucket (an hour or a UTC day starting at
/// `start`). When written, `workspace_id` is taken from the key; counters of ids
/// that are not keys are dropped. Read grouped by bucket, `key_id` is empty; read
/// grouped by key, `start` is the start of the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub key_id: String,
    pub workspace_id: String,
    pub start: i64,
    pub tally: Tally,
}

/// The size of a usage bucket.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Hour => 3_600,
            Granularity::Day => 86_400,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn bucket(self, at: i64) -> i64 {
        at - at.rem_euclid(self.seconds())
    }
}

/// Which usage to read: buckets of `granularity` starting in `[from, to)`, of the
/// keys `key_ids` (all when empty) in `workspace_id` (all when `None`).
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub granularity: Granularity,
    pub key_ids: Vec<String>,
    pub workspace_id: Option<String>,
    /// Only the keys of this owner.
    pub owner: Option<String>,
    pub from: i64,
    pub to: i64,
}

/// How usage rows are grouped when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    /// One row per key and bucket, oldest bucket first.
    KeyAndBucket,
    /// One row per bucket (every key summed), oldest first.
    Bucket,
    /// One row per key over the whole range: the `limit` keys with the most tokens
    /// issued (or, `refusals`, the most refusals) first, keys with none left out;
    /// `start` is the key's first bucket in the range.
    TopKeys { refusals: bool, limit: u32 },
}

/// Tokens issued to one key from one client address on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressUse {
    pub key_id: String,
    pub day: i64,
    pub address: String,
    pub issued: i64,
}

/// What one usage flush writes: appended to the usage log (and the events to the
/// audit log) in one transaction that touches no row anyone else writes, so it
/// never waits for, or holds up, an admin's change or another instance's flush.
#[derive(Debug, Clone, Default)]
pub struct UsageBatch {
    pub hours: Vec<UsageRow>,
    /// The last use of each key used since the last flush.
    pub last_uses: Vec<LastUse>,
    pub addresses: Vec<AddressUse>,
    pub events: Vec<AuditRecord>,
}

/// When a fold of the usage log (into hourly rows, client addresses and keys'
/// last uses) runs, and the time it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Now, after a fold under way: a usage read then sees every flush before it.
    Now { at: i64 },
    /// Only if no fold ran since `since` and none is under way: the background's
    /// cadence, shared by every instance.
    Due { at: i64, since: i64 },
}

/// Most uses of old secrets one transaction of a fold adds to their keys: the key
/// rows it updates stay locked until it commits, and an admin's change to one of
/// them waits that long.
pub const PREVIOUS_USE_CHUNK: i64 = 2_000;

/// Last-use information for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub key_id: String,
    pub at: i64,
    pub ip: Option<String>,
    /// Uses of the old secret (during a rotation grace) since the last write, and
    /// the time and address of the last of them.
    pub previous: Option<PreviousUse>,
}

/// Uses of a key's pre-rotation secret during its grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousUse {
    pub count: i64,
    pub at: i64,
    pub ip: Option<String>,
}
