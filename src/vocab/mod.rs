//! The words every door and every domain module speaks, on a floor of their own
//! below all of them: the scope grammar and the management scopes, who acts
//! (`Actor`), what went wrong (`ManageError`, `FieldError`), what happened
//! (`Action`, `Target`: the audit log's and the change feed's words), which platform
//! tokens may act as a key (`FederatedCredential`), how a token exchange ended
//! (`Outcome`, `Tally`), the signing algorithms (`Algorithm`) and base62
//! identifiers. Nothing here imports another module of keymint but the clock.

mod actor;
mod alg;
pub mod base62;
mod error;
pub mod event;
mod federated;
pub mod outcome;
pub mod role;
pub mod scope;

pub use actor::Actor;
pub use alg::Algorithm;
pub use error::{instant, invalid, FieldError, ManageError};
pub use event::{Action, Target};
pub use federated::FederatedCredential;
pub use outcome::{Outcome, Tally};
