//! Reading usage: one key's, a workspace's (with its top keys), the spark lines of
//! a page of keys, and which of a key's recent exchanges an edit would refuse.

use std::collections::HashMap;

use super::manage::Keys;
use super::{address_allowed, Actor, ManageError};
use crate::store::{Granularity, KeyRecord, UsageGroup, UsageQuery, UsageRow};
use crate::usage::{
    AddressExchanges, CallersRefused, KeyUsage, TopKey, UsageRange, WorkspaceUsage,
};

/// How many keys each top list of a workspace's usage holds.
const TOP_KEYS: u32 = 10;

/// How far back an edit's preview looks for exchanges it would refuse.
pub const PREVIEW_DAYS: i64 = 7;

impl Keys {
    /// One key's usage over `range`.
    pub async fn key_usage(
        &self,
        actor: &Actor,
        id: &str,
        range: UsageRange,
    ) -> Result<KeyUsage, ManageError> {
        Self::require_read(actor)?;
        let key = self.load(actor, id).await?;
        self.settle_usage().await?;
        let query = usage_query(range, vec![key.id.clone()], None);
        let rows = self.store.usage(&query, UsageGroup::Bucket).await?;
        Ok(KeyUsage::new(&key.id, range, &rows))
    }

    /// Usage across workspace `workspace_id` (the caller's own unless a platform
    /// admin; every workspace for a platform admin who names none) over `range`,
    /// with its most used and most refused keys.
    pub async fn workspace_usage(
        &self,
        actor: &Actor,
        workspace_id: Option<&str>,
        owner: Option<&str>,
        range: UsageRange,
    ) -> Result<WorkspaceUsage, ManageError> {
        Self::require_read(actor)?;
        let workspace_id =
            actor.read_scope(super::validate_filter("workspace_id", workspace_id)?)?;
        let owner = super::validate_filter("owner", owner)?.filter(|o| !o.is_empty());
        self.settle_usage().await?;
        let mut query = usage_query(range, vec![], workspace_id.clone());
        query.owner = owner.clone();
        let rows = self.store.usage(&query, UsageGroup::Bucket).await?;
        let mut tops = Vec::with_capacity(2);
        for refusals in [false, true] {
            let group = UsageGroup::TopKeys { refusals, limit: TOP_KEYS };
            let rows = self.store.usage(&query, group).await?;
            tops.push(self.top_keys(rows).await?);
        }
        let top_refused = tops.pop().unwrap_or_default();
        let top_keys = tops.pop().unwrap_or_default();
        let mut usage = WorkspaceUsage::new(workspace_id, range, &rows, top_keys, top_refused);
        usage.owner = owner;
        Ok(usage)
    }

    /// The rows with their keys' names, read in one query.
    async fn top_keys(&self, rows: Vec<UsageRow>) -> Result<Vec<TopKey>, ManageError> {
        let ids: Vec<String> = rows.iter().map(|r| r.key_id.clone()).collect();
        let (keys, _) = self.store.find_keys(&ids).await?;
        let names: HashMap<String, String> = keys.into_iter().map(|k| (k.id, k.name)).collect();
        Ok(rows
            .into_iter()
            .map(|row| TopKey {
                name: names.get(&row.key_id).cloned(),
                key_id: row.key_id,
                workspace_id: row.workspace_id,
                counts: row.tally.into(),
            })
            .collect())
    }

    /// Tokens issued per day over the last `days` days (today included) to each of
    /// `ids`, oldest first: the spark lines of a page of keys the caller has listed
    /// (keys of other workspaces never are).
    pub async fn daily_issued(
        &self,
        actor: &Actor,
        ids: &[String],
        days: i64,
    ) -> Result<HashMap<String, Vec<i64>>, ManageError> {
        Self::require_read(actor)?;
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.settle_usage().await?;
        let range = UsageRange::last(Granularity::Day, days, self.clock.now());
        let query = usage_query(range, ids.to_vec(), None);
        let rows = self.store.usage(&query, UsageGroup::KeyAndBucket).await?;
        let mut lines: HashMap<String, Vec<i64>> =
            ids.iter().map(|id| (id.clone(), vec![0; days as usize])).collect();
        for row in rows {
            let day = ((row.start - range.from) / 86_400) as usize;
            if let Some(slot) = lines.get_mut(&row.key_id).and_then(|l| l.get_mut(day)) {
                *slot = row.tally.issued;
            }
        }
        Ok(lines)
    }

    /// Who an edit from `before` to `after` refuses among the key's callers of the
    /// last [`PREVIEW_DAYS`] days, from the tokens issued per address: `None` when
    /// the allowed ranges did not change or no recent caller falls outside them.
    pub(super) async fn callers_refused(
        &self,
        before: &KeyRecord,
        after: &KeyRecord,
    ) -> Result<Option<CallersRefused>, ManageError> {
        if before.allowed_cidrs == after.allowed_cidrs {
            return Ok(None);
        }
        self.settle_usage().await?;
        let since = Granularity::Day.bucket(self.clock.now()) - (PREVIEW_DAYS - 1) * 86_400;
        let addresses: Vec<AddressExchanges> = self
            .store
            .address_usage(&after.id, since)
            .await?
            .into_iter()
            // Callers the ranges allowed and the edit would refuse: not those
            // refused already.
            .filter(|(address, _)| {
                address.parse().is_ok_and(|ip| {
                    address_allowed(&before.allowed_cidrs, Some(ip))
                        && !address_allowed(&after.allowed_cidrs, Some(ip))
                })
            })
            .map(|(address, exchanges)| AddressExchanges { address, exchanges })
            .collect();
        if addresses.is_empty() {
            return Ok(None);
        }
        let exchanges = addresses.iter().map(|a| a.exchanges).sum();
        Ok(Some(CallersRefused { days: PREVIEW_DAYS, exchanges, addresses }))
    }
}

fn usage_query(
    range: UsageRange,
    key_ids: Vec<String>,
    workspace_id: Option<String>,
) -> UsageQuery {
    UsageQuery {
        granularity: range.granularity,
        key_ids,
        workspace_id,
        owner: None,
        from: range.from,
        to: range.to,
    }
}
