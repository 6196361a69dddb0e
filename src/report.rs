//! How an error is written to a log: its message and every cause after it, so a
//! typed error that carries its source loses nothing at the one place it is logged.

use std::error::Error;
use std::fmt;

/// Displays `error: cause: cause of cause ...`.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;
    use crate::signing::MasterKeyError;

    #[test]
    fn a_chain_names_every_cause() {
        let e = MasterKeyError::Invalid {
            origin: "KEYMINT_MASTER_KEY".into(),
            source: Box::new(MasterKeyError::WrongLength(16)),
        };
        assert_eq!(
            Chain(&e).to_string(),
            "invalid master key in KEYMINT_MASTER_KEY: the master key must be 32 bytes, found 16"
        );
    }
}
