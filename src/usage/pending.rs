//! What is counted in memory between two flushes: one entry per key (its counts
//! per hour, tokens per day and client address, last use), so counting an
//! exchange is one lookup by `&str` that allocates nothing for a key already seen,
//! and a key costs one map entry however many kinds of counts it has.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::store::{AddressUse, AuditRecord, LastUse, PreviousUse, UsageBatch, UsageRow};
use crate::vocab::Tally;

use super::Unwritten;

/// Most distinct keys held between flushes for refusals (ids that may not exist).
const MAX_PENDING_KEYS: usize = 10_000;

/// Most distinct (key, day, address) counters held between flushes.
pub const MAX_PENDING_ADDRESSES: usize = 100_000;

/// Most refusal events kept between flushes; more are counted and dropped.
const MAX_PENDING_EVENTS: usize = 100;

/// A key's uses since the last write.
#[derive(Clone, Copy)]
pub(super) struct Use {
    pub(super) at: i64,
    pub(super) ip: Option<IpAddr>,
    /// Uses of the pre-rotation secret: (count, last at, last address).
    pub(super) previous: Option<(i64, i64, Option<IpAddr>)>,
}

impl Use {
    pub(super) fn new(at: i64, ip: Option<IpAddr>, previous_secret: bool) -> Self {
        Use { at, ip, previous: previous_secret.then_some((1, at, ip)) }
    }

    /// Adds `other`, the later of the two giving the last time and address.
    pub(super) fn merge(&mut self, other: Use) {
        if other.at >= self.at {
            self.at = other.at;
            self.ip = other.ip;
        }
        self.previous = match (self.previous, other.previous) {
            (Some((n, at, ip)), Some((m, other_at, other_ip))) => {
                Some(if other_at >= at { (n + m, other_at, other_ip) } else { (n + m, at, ip) })
            }
            (mine, theirs) => mine.or(theirs),
        };
    }
}

/// Past this many, a key's address counters move from a list to a map.
const LISTED_ADDRESSES: usize = 16;

/// Tokens issued to one key per (day, client address): almost every key is used
/// from a few addresses, which a short list holds in less memory than a map; a
/// key used from many gets a map, so counting stays one lookup.
enum Addresses {
    Few(Vec<((i64, IpAddr), i64)>),
    Many(HashMap<(i64, IpAddr), i64>),
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses::Few(Vec::new())
    }
}

impl Addresses {
    fn get_mut(&mut self, at: (i64, IpAddr)) -> Option<&mut i64> {
        match self {
            Addresses::Few(list) => list.iter_mut().find(|(k, _)| *k == at).map(|(_, n)| n),
            Addresses::Many(map) => map.get_mut(&at),
        }
    }

    fn insert(&mut self, at: (i64, IpAddr), issued: i64) {
        match self {
            Addresses::Few(list) if list.len() < LISTED_ADDRESSES => list.push((at, issued)),
            Addresses::Few(list) => {
                let mut map: HashMap<_, _> = list.drain(..).collect();
                map.insert(at, issued);
                *self = Addresses::Many(map);
            }
            Addresses::Many(map) => {
                map.insert(at, issued);
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Addresses::Few(list) => list.len(),
            Addresses::Many(map) => map.len(),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (&(i64, IpAddr), &i64)> + '_> {
        match self {
            Addresses::Few(list) => Box::new(list.iter().map(|(k, n)| (k, n))),
            Addresses::Many(map) => Box::new(map.iter()),
        }
    }
}

/// One key's counts since the last write.
#[derive(Default)]
struct KeyPending {
    /// Its workspace, when known as it was counted: its counts are written even if
    /// the key is deleted before they are.
    workspace: Option<String>,
    /// (hour start, counts).
    hours: Vec<(i64, Tally)>,
    addresses: Addresses,
    /// Its last use, and its uses of the pre-rotation secret.
    last_use: Option<Use>,
}

/// What counting a token at an address did.
enum Counted {
    /// Added to the address's counter.
    Added,
    /// Made a new (day, address) counter.
    New,
    /// Dropped: no room for a new counter.
    Dropped,
}

impl KeyPending {
    fn count(&mut self, workspace_id: Option<&str>, hour: i64, tally: &Tally) {
        if self.workspace.is_none() {
            self.workspace = workspace_id.map(str::to_string);
        }
        match self.hours.iter_mut().find(|h| h.0 == hour) {
            Some(h) => h.1.add(tally),
            None => self.hours.push((hour, *tally)),
        }
    }

    /// Counts `issued` at `ip` on `day`; a new counter only if there is `room`.
    fn count_address(&mut self, day: i64, ip: IpAddr, issued: i64, room: bool) -> Counted {
        if let Some(n) = self.addresses.get_mut((day, ip)) {
            *n += issued;
            Counted::Added
        } else if room {
            self.addresses.insert((day, ip), issued);
            Counted::New
        } else {
            Counted::Dropped
        }
    }

    fn last_used(&mut self, used: Use) {
        match &mut self.last_use {
            Some(before) => before.merge(used),
            None => self.last_use = Some(used),
        }
    }
}

/// Everything counted since the last flush.
#[derive(Default)]
pub(super) struct Pending {
    keys: HashMap<String, KeyPending>,
    /// How many (key, day, address) counters the keys hold.
    address_count: usize,
    events: Vec<AuditRecord>,
    pub(super) dropped: u64,
}

impl Pending {
    /// Whether a new (key, day, address) counter may be made.
    fn address_room(&self) -> bool {
        self.address_count < MAX_PENDING_ADDRESSES
    }

    fn note(&mut self, counted: Counted) {
        match counted {
            Counted::Added => {}
            Counted::New => self.address_count += 1,
            Counted::Dropped => self.dropped += 1,
        }
    }

    /// The entry of `key_id`, made if `admit` allows (an entry is made only to
    /// hold a count at once, so none is ever empty); `None` counts one dropped.
    fn entry(&mut self, key_id: &str, admit: bool) -> Option<&mut KeyPending> {
        if !self.keys.contains_key(key_id) {
            if !admit {
                self.dropped += 1;
                return None;
            }
            self.keys.insert(key_id.to_string(), KeyPending::default());
        }
        self.keys.get_mut(key_id)
    }

    pub(super) fn add(
        &mut self,
        key_id: &str,
        workspace_id: Option<&str>,
        hour: i64,
        tally: &Tally,
    ) {
        // Refusals for ids that may not exist must not grow memory without bound.
        let admit = self.keys.len() < MAX_PENDING_KEYS || tally.succeeded();
        if let Some(key) = self.entry(key_id, admit) {
            key.count(workspace_id, hour, tally);
        }
    }

    /// A success of `key_id`: counted in its hour, at its client address's day, and
    /// as its last use, with one lookup of the key.
    pub(super) fn add_success(
        &mut self,
        key_id: &str,
        workspace_id: Option<&str>,
        (hour, day): (i64, i64),
        tally: &Tally,
        used: Use,
    ) {
        let room = self.address_room();
        let Some(key) = self.entry(key_id, true) else { return };
        key.count(workspace_id, hour, tally);
        key.last_used(used);
        if let Some(ip) = used.ip {
            let counted = key.count_address(day, ip, 1, room);
            self.note(counted);
        }
    }

    pub(super) fn add_address(&mut self, key_id: &str, day: i64, ip: IpAddr, issued: i64) {
        let room = self.address_room();
        let Some(key) = self.entry(key_id, room) else { return };
        let counted = key.count_address(day, ip, issued, room);
        self.note(counted);
    }

    pub(super) fn add_use(&mut self, key_id: &str, used: Use) {
        if let Some(key) = self.entry(key_id, true) {
            key.last_used(used);
        }
    }

    pub(super) fn add_event(&mut self, event: AuditRecord) {
        if self.events.len() < MAX_PENDING_EVENTS {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }

    /// Whether it holds nothing (no entry is ever empty).
    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.events.is_empty()
    }

    pub(super) fn summary(&self) -> Unwritten {
        let mut tally = Tally::default();
        let mut keys = 0;
        for key in self.keys.values() {
            for (_, t) in &key.hours {
                tally.add(t);
            }
            keys += usize::from(!key.hours.is_empty() || key.last_use.is_some());
        }
        Unwritten { keys, tally, events: self.events.len() }
    }

    /// What the store writes: hourly rows (days are summed from them when read, and
    /// rolled up once the hours expire), client addresses, last uses and events.
    pub(super) fn batch(&self) -> UsageBatch {
        let mut batch = UsageBatch {
            hours: Vec::with_capacity(self.keys.len()),
            last_uses: Vec::with_capacity(self.keys.len()),
            addresses: Vec::with_capacity(self.address_count),
            events: self.events.clone(),
        };
        for (key_id, key) in &self.keys {
            let workspace_id = key.workspace.clone().unwrap_or_default();
            batch.hours.extend(key.hours.iter().map(|(hour, tally)| UsageRow {
                key_id: key_id.clone(),
                workspace_id: workspace_id.clone(),
                start: *hour,
                tally: *tally,
            }));
            batch.addresses.extend(key.addresses.iter().map(|((day, ip), issued)| AddressUse {
                key_id: key_id.clone(),
                day: *day,
                address: ip.to_string(),
                issued: *issued,
            }));
            if let Some(used) = key.last_use {
                batch.last_uses.push(LastUse {
                    key_id: key_id.clone(),
                    at: used.at,
                    ip: used.ip.map(|ip| ip.to_string()),
                    previous: used.previous.map(|(count, at, ip)| PreviousUse {
                        count,
                        at,
                        ip: ip.map(|ip| ip.to_string()),
                    }),
                });
            }
        }
        batch
    }

    /// Moves out the counts of at most `n` keys (and the events): a flush writes
    /// them while the rest wait, so the memory it needs for the store's rows grows
    /// with `n`, not with the number of keys used.
    pub(super) fn split_off(&mut self, n: usize) -> Pending {
        let keys: HashMap<String, KeyPending> = self.keys.extract_if(|_, _| true).take(n).collect();
        let address_count = keys.values().map(|k| k.addresses.len()).sum();
        self.address_count -= address_count;
        Pending { keys, address_count, events: std::mem::take(&mut self.events), dropped: 0 }
    }

    /// Puts a batch that could not be written back in front of what came since.
    pub(super) fn restore(&mut self, batch: Pending) {
        for (key_id, key) in batch.keys {
            for (hour, tally) in key.hours {
                self.add(&key_id, key.workspace.as_deref(), hour, &tally);
            }
            for ((day, ip), issued) in key.addresses.iter() {
                self.add_address(&key_id, *day, *ip, *issued);
            }
            if let Some(used) = key.last_use {
                self.add_use(&key_id, used);
            }
        }
        for event in batch.events {
            self.add_event(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Outcome;

    #[test]
    fn merged_uses_add_old_secret_counts_and_keep_the_latest_of_each() {
        let a = "10.0.0.1".parse().ok();
        let b = "10.0.0.2".parse().ok();
        let mut used = Use::new(100, a, true);
        used.merge(Use::new(90, b, true));
        used.merge(Use::new(95, b, false));
        assert_eq!((used.at, used.ip), (100, a), "the latest use, wherever merged from");
        assert_eq!(used.previous, Some((2, 100, a)), "two old-secret uses, the last at 100");
        let mut fresh = Use::new(50, b, false);
        fresh.merge(Use::new(40, a, true));
        assert_eq!((fresh.at, fresh.ip, fresh.previous), (50, b, Some((1, 40, a))));
    }

    fn address(i: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    /// The address rows of `key_id` in `batch`, sorted: (day, address, issued).
    fn addresses_of(batch: &UsageBatch, key_id: &str) -> Vec<(i64, String, i64)> {
        let mut rows: Vec<_> = batch
            .addresses
            .iter()
            .filter(|a| a.key_id == key_id)
            .map(|a| (a.day, a.address.clone(), a.issued))
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn a_key_used_from_many_addresses_keeps_every_count_past_the_list() {
        let mut p = Pending::default();
        let n = u32::try_from(LISTED_ADDRESSES).unwrap() * 3;
        for round in 0..2 {
            for i in 0..n {
                p.add_address("k1", 86_400, address(i), 1 + i64::from(round));
            }
        }
        p.add_address("k2", 86_400, address(0), 5);
        let batch = p.batch();
        let k1 = addresses_of(&batch, "k1");
        assert_eq!(k1.len(), n as usize, "one row per address, none lost in the move to a map");
        assert!(k1.iter().all(|(day, _, issued)| *day == 86_400 && *issued == 3), "{k1:?}");
        assert_eq!(addresses_of(&batch, "k2"), vec![(86_400, "10.0.0.0".to_string(), 5)]);
        assert_eq!(p.address_count, n as usize + 1);
    }

    #[test]
    fn a_batch_put_back_adds_to_what_came_since() {
        let ip = address(1);
        let mut failed = Pending::default();
        failed.add("k1", Some("ws1"), 3_600, &Tally::of(Outcome::Issued));
        failed.add_address("k1", 0, ip, 1);
        failed.add_use("k1", Use::new(3_601, Some(ip), true));
        failed.add("k2", None, 3_600, &Tally::of(Outcome::WrongSecret));
        let mut since = Pending::default();
        since.add("k1", None, 3_600, &Tally::of(Outcome::Issued));
        since.add("k1", None, 7_200, &Tally::of(Outcome::Issued));
        since.add_address("k1", 0, ip, 1);
        since.add_use("k1", Use::new(7_201, None, false));
        since.restore(failed);

        let batch = since.batch();
        let mut hours: Vec<_> = batch
            .hours
            .iter()
            .map(|h| (h.key_id.as_str(), h.workspace_id.as_str(), h.start, h.tally))
            .collect();
        hours.sort_by_key(|h| (h.0, h.2));
        let issued = |n| Tally { issued: n, ..Tally::default() };
        assert_eq!(
            hours,
            vec![
                ("k1", "ws1", 3_600, issued(2)),
                ("k1", "ws1", 7_200, issued(1)),
                ("k2", "", 3_600, Tally::of(Outcome::WrongSecret)),
            ],
            "the workspace learnt from the put-back batch covers the key's later hours"
        );
        assert_eq!(addresses_of(&batch, "k1"), vec![(0, ip.to_string(), 2)]);
        assert_eq!(batch.last_uses.len(), 1);
        let last = &batch.last_uses[0];
        assert_eq!((last.at, last.ip.as_deref()), (7_201, None));
        assert_eq!(last.previous.as_ref().map(|p| (p.count, p.at)), Some((1, 3_601)));
        let summary = since.summary();
        assert_eq!((summary.keys, summary.tally.issued, summary.tally.failed), (2, 3, 1));
    }

    #[test]
    fn a_split_moves_at_most_n_keys_with_their_addresses_and_the_events() {
        let mut p = Pending::default();
        for i in 0..25 {
            p.add_success(
                &format!("k{i}"),
                None,
                (0, 0),
                &Tally::of(Outcome::Issued),
                Use::new(1, Some(address(i)), false),
            );
        }
        p.add_event(AuditRecord {
            id: 0,
            at_us: 0,
            actor: "k1".into(),
            actor_email: None,
            actor_ip: None,
            workspace_id: None,
            action: crate::vocab::Action::TokenRefused,
            target_id: "k1".into(),
            details: serde_json::json!({}),
            event: None,
        });
        let first = p.split_off(10);
        assert_eq!((first.keys.len(), first.address_count, first.events.len()), (10, 10, 1));
        assert_eq!((p.keys.len(), p.address_count, p.events.len()), (15, 15, 0));
        let second = p.split_off(10);
        let third = p.split_off(10);
        assert_eq!((second.keys.len(), third.keys.len()), (10, 5));
        assert!(p.is_empty());
        let mut all: Vec<String> =
            [first, second, third].iter().flat_map(|part| part.keys.keys().cloned()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 25, "every key in exactly one part");
    }

    #[test]
    fn refusals_for_unknown_ids_stop_at_the_bound_but_successes_do_not() {
        let mut p = Pending::default();
        for i in 0..MAX_PENDING_KEYS + 5 {
            p.add(&format!("guess{i}"), None, 0, &Tally::of(Outcome::WrongSecret));
        }
        assert_eq!((p.keys.len(), p.dropped), (MAX_PENDING_KEYS, 5));
        p.add("real", Some("ws"), 0, &Tally::of(Outcome::Issued));
        assert!(p.keys.contains_key("real"), "a success is counted past the bound");
    }
}
