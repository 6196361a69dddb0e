//! Signing keys as admins manage them, through `/v1` and the CLI alike: who may
//! list and rotate them, and what a refused or lost rotation answers.

use std::sync::Arc;

use super::{Keyring, RotationOutcome, SigningError, SigningKeyView};
use crate::clock::Clock;
use crate::vocab::scope::ManagementScope;
use crate::vocab::{Actor, ManageError};

/// The signing-key service of the management doors.
#[derive(Clone)]
pub struct SigningKeys {
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
}

impl SigningKeys {
    pub fn new(keyring: Arc<Keyring>, clock: Arc<dyn Clock>) -> Self {
        SigningKeys { keyring, clock }
    }

    /// Every published key and its state (`keymint:signing-keys:admin`).
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SigningKeyView>, ManageError> {
        actor.require(ManagementScope::SigningKeysAdmin)?;
        Ok(self.keyring.list(self.clock.now()).await?)
    }

    /// [`SigningKeys::rotate`], once the admin has typed the current key's `kid`:
    /// the guard a person passes before changing what signs every token.
    pub async fn rotate_confirmed(
        &self,
        actor: &Actor,
        emergency: bool,
        typed: &str,
    ) -> Result<RotationOutcome, ManageError> {
        let current = self.list(actor).await?;
        let current = current.iter().find(|k| k.state == crate::store::SigningKeyState::Current);
        if current.is_none_or(|k| k.kid != typed.trim()) {
            return Err(crate::vocab::FieldError {
                field: "confirm".into(),
                reason: "type the kid of the current signing key exactly as shown".into(),
            }
            .into());
        }
        self.rotate(actor, emergency).await
    }

    /// Rotates now (`keymint:signing-keys:admin`); see [`Keyring::rotate`]. Losing a
    /// race with another instance's rotation is a 409 to retry.
    pub async fn rotate(
        &self,
        actor: &Actor,
        emergency: bool,
    ) -> Result<RotationOutcome, ManageError> {
        actor.require(ManagementScope::SigningKeysAdmin)?;
        self.keyring.rotate(self.clock.now(), emergency, &actor.id).await.map_err(|e| match e {
            SigningError::Store(store) => ManageError::from(store),
            e @ (SigningError::Raced | SigningError::NoCurrent) => {
                ManageError::Conflict(e.to_string())
            }
            e => ManageError::Internal(Box::new(e)),
        })
    }
}
