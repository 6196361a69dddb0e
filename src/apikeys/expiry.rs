//! Announcing what is about to break: each active key whose `expires_at` is
//! within [`NOTICE_SECONDS`] gets one `key.expiring` event, and each rotation
//! whose grace period ran out while the old secret was used in its last
//! [`IN_USE_SECONDS`] one `key.grace_ended` event (both audited by `system`,
//! with the key as `/v1` shows it, so webhooks carry it). Every instance runs
//! the job (`app.rs`); the store's claims let one announcement through each.

use serde_json::json;

use super::manage::Keys;
use super::view::KeyView;
use crate::store::{AuditRecord, Credential};
use crate::vocab::{Action, Actor, ManageError};

/// How long before its expiry a key is announced.
pub const NOTICE_SECONDS: i64 = 7 * 24 * 3600;
/// An old secret used this close to its grace's end was still in use.
pub const IN_USE_SECONDS: i64 = 3600;
/// How far back a lapsed grace is still announced (an instance that was down).
const LOOK_BACK_SECONDS: i64 = 24 * 3600;
/// Most keys announced per run.
const BATCH: i64 = 100;

impl Keys {
    /// Announces the keys expiring within a week that were not announced yet; how
    /// many this run announced.
    pub async fn announce_expiring(&self) -> Result<usize, ManageError> {
        let now = self.clock.now();
        let due = self.store.keys_expiring_unannounced(now, now + NOTICE_SECONDS, BATCH).await?;
        let system = Actor { id: "system".into(), ..Actor::cli() };
        let mut announced = 0;
        for key in due {
            let at_us = self.clock.now_micros();
            let view = KeyView::new(&key, now);
            let details = json!({"expires_at": view.expires_at, "name": key.name});
            let audit = AuditRecord::by(
                &system,
                at_us,
                Action::KeyExpiring,
                &key.id,
                Some(&key.workspace_id),
                details,
            )
            .announcing(serde_json::to_value(&view).unwrap_or_default());
            if self.store.announce_expiry(&key.id, &audit).await? {
                announced += 1;
            }
        }
        Ok(announced)
    }

    /// Announces the rotations whose grace ran out while the old secret was
    /// still in use; how many this run announced.
    pub async fn announce_grace_lapses(&self) -> Result<usize, ManageError> {
        let now = self.clock.now();
        let lapsed = self
            .store
            .keys_grace_lapsed_in_use(now - LOOK_BACK_SECONDS, now, IN_USE_SECONDS)
            .await?;
        let system = Actor { id: "system".into(), ..Actor::cli() };
        let mut announced = 0;
        for key in lapsed {
            let view = KeyView::new(&key, now);
            let Credential::Secret { previous: Some(previous), .. } = &key.credential else {
                continue;
            };
            let grace_end = previous.expires_at;
            let details = json!({"grace_ended_at": crate::clock::rfc3339(grace_end),
                "previous_secret_last_used_at": view.previous_secret_last_used_at,
                "still_in_use": true});
            let audit = AuditRecord::by(
                &system,
                self.clock.now_micros(),
                Action::KeyGraceLapsed,
                &key.id,
                Some(&key.workspace_id),
                details,
            )
            .announcing(serde_json::to_value(&view).unwrap_or_default());
            if self.store.announce_grace_lapse(&key.id, grace_end, &audit).await? {
                announced += 1;
            }
        }
        Ok(announced)
    }
}
