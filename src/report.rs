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

    /// An error with an optional cause, as every layer's errors are.
    #[derive(Debug, thiserror::Error)]
    #[error("{what}")]
    struct Layer {
        what: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    #[test]
    fn a_chain_names_every_cause() {
        let inner = Layer { what: "the master key must be 32 bytes, found 16", cause: None };
        let middle = Layer { what: "invalid master key", cause: Some(Box::new(inner)) };
        let e = Layer { what: "cannot start", cause: Some(Box::new(middle)) };
        assert_eq!(
            Chain(&e).to_string(),
            "cannot start: invalid master key: the master key must be 32 bytes, found 16"
        );
    }
}
