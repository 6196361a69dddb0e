//! What usage counts: the outcome of each exchange, and a bucket's tally of them.

/// How one token exchange (or raw-key check) ended, as usage counts it. The admin
/// sees these; the client only ever sees `invalid_client` for the refusals.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A token was issued.
    Issued,
    /// The key exists and the secret was not its own.
    WrongSecret,
    /// The client's address is outside the key's allowed ranges.
    AddressNotAllowed,
    /// The request asked for a scope or audience the key does not carry.
    ScopeRefused,
    /// The key is deactivated, expired or revoked.
    KeyInactive,
    /// Refused unchecked: too many failures for this key id or address.
    Throttled,
    /// The raw key was verified at introspection (a caller not yet on tokens).
    Verified,
    /// A token was issued by token exchange (RFC 8693 delegation, or a workload's
    /// platform token under one of the key's federated credentials).
    Exchanged,
}

impl Outcome {
    /// Every refusal, in column order.
    pub const REFUSALS: [Outcome; 5] = [
        Outcome::WrongSecret,
        Outcome::AddressNotAllowed,
        Outcome::ScopeRefused,
        Outcome::KeyInactive,
        Outcome::Throttled,
    ];

    /// The name used in the API, the CLI and the store's columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::WrongSecret => "wrong_secret",
            Outcome::AddressNotAllowed => "address_not_allowed",
            Outcome::ScopeRefused => "scope_refused",
            Outcome::KeyInactive => "key_inactive",
            Outcome::Throttled => "throttled",
            Outcome::Verified => "verified",
            Outcome::Exchanged => "exchanged",
        }
    }

    /// What a person reads (charts, the console).
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Issued => "Issued",
            Outcome::WrongSecret => "Wrong secret",
            Outcome::AddressNotAllowed => "Address not allowed",
            Outcome::ScopeRefused => "Scope or audience refused",
            Outcome::KeyInactive => "Key inactive, expired or revoked",
            Outcome::Throttled => "Throttled",
            Outcome::Verified => "Raw key verified",
            Outcome::Exchanged => "Exchanged",
        }
    }

    fn refusal_index(self) -> Option<usize> {
        Outcome::REFUSALS.iter().position(|&o| o == self)
    }
}

/// A bucket's counts: tokens issued, refusals in all (`failed`) and by reason, and
/// raw keys verified, tokens exchanged. Rows written before refusals had reasons
/// carry only `failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub issued: i64,
    pub failed: i64,
    /// Refusals in the order of [`Outcome::REFUSALS`].
    pub refused: [i64; 5],
    pub verified: i64,
    pub exchanged: i64,
}

impl Tally {
    /// Every counter: issued, failed, the refusals in the order of
    /// [`Outcome::REFUSALS`], verified, exchanged (the store's column order).
    pub fn counts(&self) -> [i64; 9] {
        let [a, b, c, d, e] = self.refused;
        [self.issued, self.failed, a, b, c, d, e, self.verified, self.exchanged]
    }

    /// One exchange that ended with `outcome`.
    pub fn of(outcome: Outcome) -> Self {
        let mut t = Tally::default();
        t.count(outcome, 1);
        t
    }

    pub fn count(&mut self, outcome: Outcome, n: i64) {
        match (outcome, outcome.refusal_index()) {
            (Outcome::Verified, _) => self.verified += n,
            (Outcome::Exchanged, _) => self.exchanged += n,
            (_, None) => self.issued += n,
            (_, Some(i)) => {
                self.failed += n;
                self.refused[i] += n;
            }
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.issued += other.issued;
        self.failed += other.failed;
        self.verified += other.verified;
        self.exchanged += other.exchanged;
        for (mine, theirs) in self.refused.iter_mut().zip(other.refused) {
            *mine += theirs;
        }
    }

    /// Takes away `other`, a part of this tally.
    pub fn subtract(&mut self, other: &Tally) {
        self.issued -= other.issued;
        self.failed -= other.failed;
        self.verified -= other.verified;
        self.exchanged -= other.exchanged;
        for (mine, theirs) in self.refused.iter_mut().zip(other.refused) {
            *mine -= theirs;
        }
    }

    /// How many ended with `outcome`.
    pub fn get(&self, outcome: Outcome) -> i64 {
        match (outcome, outcome.refusal_index()) {
            (Outcome::Verified, _) => self.verified,
            (Outcome::Exchanged, _) => self.exchanged,
            (_, None) => self.issued,
            (_, Some(i)) => self.refused[i],
        }
    }

    /// Exchanges and raw-key checks in all.
    pub fn total(&self) -> i64 {
        self.issued + self.failed + self.verified + self.exchanged
    }

    /// Whether anything in it succeeded (a token issued or a raw key verified).
    pub fn succeeded(&self) -> bool {
        self.issued > 0 || self.verified > 0 || self.exchanged > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_refusals_in_all_and_by_reason() {
        let mut t = Tally::of(Outcome::Issued);
        t.count(Outcome::WrongSecret, 2);
        t.add(&Tally::of(Outcome::Throttled));
        assert_eq!((t.issued, t.failed, t.total()), (1, 3, 4));
        assert_eq!(t.get(Outcome::WrongSecret), 2);
        assert_eq!(t.get(Outcome::Throttled), 1);
        assert_eq!(t.get(Outcome::KeyInactive), 0);
        t.count(Outcome::Verified, 5);
        assert_eq!((t.issued, t.failed, t.verified, t.total()), (1, 3, 5, 9));
        assert_eq!(t.get(Outcome::Verified), 5);
        t.count(Outcome::Exchanged, 2);
        assert_eq!((t.issued, t.exchanged, t.total()), (1, 2, 11));
        assert!(Tally::of(Outcome::Exchanged).succeeded());
    }
}
