//! Key records in memory, so a warm token exchange never waits on the database.
//! Misses are loaded in batches: concurrent misses (a fleet restarting together)
//! share one `WHERE id IN (...)` query instead of one round trip each.
//! Entries are loaded on first use and dropped when the key changes: at once for
//! changes made by this instance, and through the change feed for
//! changes made by others. Memory is bounded by design: records are weighed by
//! their approximate size and held in a `moka` cache whose TinyLFU policy keeps
//! the keys in use and evicts the rest, so a scan of cold keys cannot push the
//! hot set out and the cache never grows past its budget, whatever the traffic. A generation counter and a short log of recent
//! invalidations keep a load that raced with an invalidation of the same key from
//! putting the stale row back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use crate::store::{Batched, KeyRecord, Store, StoreResult};

type Invalidation = (u64, Option<String>, Option<i64>);

/// Most unknown ids (and secret lookups) remembered; past this, the least used go.
const ABSENT_CAPACITY: u64 = 100_000;

/// Unknown ids are remembered this long at most, so a key created by a process
/// that does not announce it (an import straight into the database) is found.
const ABSENT_FOR: Duration = Duration::from_secs(300);

/// How many recent invalidations are remembered for racing loads.
const RECENT_INVALIDATIONS: usize = 1024;

/// The approximate memory one cached record takes, in bytes: what the cache's
/// budget is counted in. Its fixed part covers the struct, the map entry and the
/// allocator's overhead; the rest is what it holds on the heap.
fn weight(key: &KeyRecord) -> u32 {
    let strings = [&key.id, &key.workspace_id, &key.name, &key.description]
        .iter()
        .map(|s| s.len())
        .sum::<usize>();
    let lists = key.scopes.len() * 96
        + key.allowed_cidrs.iter().chain(&key.audiences).map(|s| s.len() + 32).sum::<usize>();
    let claims = key.claims.iter().map(|(k, v)| k.len() + v.to_string().len() + 64).sum::<usize>();
    let credential = match &key.credential {
        crate::store::Credential::PublicKeys(source) => match source {
            crate::store::PublicKeySource::Held(jwks)
            | crate::store::PublicKeySource::Published(jwks) => jwks.len(),
        },
        crate::store::Credential::Secret { .. } => 256,
    };
    let federated = key.federated.len() * 256;
    u32::try_from(640 + strings + lists + claims + credential + federated).unwrap_or(u32::MAX)
}

/// A key is read again on demand ([`KeyCache::refresh`]) at most once in this long...
const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// ...and at most this many keys in one such interval, whatever the traffic.
const REFRESHES_PER_INTERVAL: usize = 32;

/// The on-demand reads of the current interval.
#[derive(Debug)]
struct Refreshes {
    since: std::time::Instant,
    ids: std::collections::HashSet<String>,
}

/// The key cache. One per process.
pub struct KeyCache {
    /// Batches misses; `None` loads each miss on its own.
    loader: Option<Batched<String, Loaded>>,
    /// Each key with the change feed position it was read at.
    map: moka::sync::Cache<String, (Arc<KeyRecord>, i64)>,
    /// Ids known not to exist, with the feed position they were read at.
    absent: moka::sync::Cache<String, i64>,
    /// Secret lookup hash -> key id, for raw keys found by value. An entry that no
    /// longer holds (the key was rotated) only costs one verification that fails.
    lookups: moka::sync::Cache<String, String>,
    generation: AtomicU64,
    /// Recent invalidations: (generation after it, key id or `None` for all).
    /// Entries: (generation after it, key id or `None` for all, the feed change id
    /// for changes that came through the feed).
    recent: std::sync::Mutex<VecDeque<Invalidation>>,
    /// Held while a load checks that it raced with no invalidation and stores its
    /// row, and while an invalidation is noted and applied, so none falls between
    /// the check and the store (a hit never takes it).
    writes: std::sync::Mutex<()>,
    refreshes: std::sync::Mutex<Refreshes>,
    hits: Counter,
    misses: Counter,
}

/// A key (if it exists) and the change feed position it was read at.
type Loaded = (Option<Arc<KeyRecord>>, i64);

/// Most ids one batched load asks for.
const MAX_BATCH: usize = 256;

/// Most batched loads under way at once: while one waits on the database, the
/// next gathers the misses that came since and goes too (a fleet restarting
/// against PostgreSQL waits on round trips, not on one load at a time).
const LOADS_IN_FLIGHT: usize = 4;

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").field("len", &self.len()).finish_non_exhaustive()
    }
}

/// The keys `ids` asks for, one answer per id (an id asked twice gets its key twice).
async fn load(store: Arc<dyn Store>, ids: Vec<String>) -> StoreResult<Vec<Loaded>> {
    let (found, seen) = store.find_keys(&ids).await?;
    let found: HashMap<String, Arc<KeyRecord>> =
        found.into_iter().map(|k| (k.id.clone(), Arc::new(k))).collect();
    Ok(ids.iter().map(|id| (found.get(id).cloned(), seen)).collect())
}

impl KeyCache {
    /// A cache of at most `budget_bytes` of key records whose misses are loaded
    /// from `store` in batches (needs a tokio runtime).
    pub fn new(store: Arc<dyn Store>, budget_bytes: u64) -> Self {
        let loader = Batched::start("key loader", MAX_BATCH, LOADS_IN_FLIGHT, move |ids| {
            load(store.clone(), ids)
        });
        KeyCache { loader: Some(loader), ..Self::with_budget(budget_bytes) }
    }

    /// A cache of at most `budget_bytes` of key records that loads each miss on its own.
    pub fn with_budget(budget_bytes: u64) -> Self {
        KeyCache {
            loader: None,
            map: moka::sync::Cache::builder()
                .max_capacity(budget_bytes)
                .weigher(|_, (key, _): &(Arc<KeyRecord>, i64)| weight(key))
                .build(),
            absent: moka::sync::Cache::builder()
                .max_capacity(ABSENT_CAPACITY)
                .time_to_live(ABSENT_FOR)
                .build(),
            lookups: moka::sync::Cache::new(ABSENT_CAPACITY),
            generation: AtomicU64::new(0),
            recent: std::sync::Mutex::new(VecDeque::new()),
            writes: std::sync::Mutex::new(()),
            refreshes: std::sync::Mutex::new(Refreshes {
                since: std::time::Instant::now(),
                ids: std::collections::HashSet::new(),
            }),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    /// The key `id`, from memory or else from `store`.
    pub async fn find(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Arc<KeyRecord>>> {
        if let Some((key, _)) = self.map.get(id) {
            self.hits.inc();
            return Ok(Some(key));
        }
        if self.absent.contains_key(id) {
            self.hits.inc();
            return Ok(None);
        }
        self.misses.inc();
        let generation = self.generation.load(Ordering::SeqCst);
        let (key, seen) = match &self.loader {
            Some(loader) => loader.call(id.to_string()).await?,
            None => (store.find_key(id).await?.map(Arc::new), 0),
        };
        let Some(key) = key else {
            // Remembered as absent, so a flood of unknown ids costs no database work.
            let _writes = self.writing();
            if !self.invalidated_since(generation, id, seen) {
                self.absent.insert(id.to_string(), seen);
            }
            return Ok(None);
        };
        // Only if this key was not invalidated while we read it.
        let _writes = self.writing();
        if !self.invalidated_since(generation, id, seen) {
            self.map.insert(id.to_string(), (key.clone(), seen));
        }
        Ok(Some(key))
    }

    /// The key `id` if it is in memory, without any database work.
    pub fn peek(&self, id: &str) -> Option<Arc<KeyRecord>> {
        self.map.get(id).map(|(key, _)| key)
    }

    /// Reads key `id` again from `store`, replacing what memory holds, when the
    /// bound allows: each key at most once per `REFRESH_INTERVAL` (250 ms), and at
    /// most `REFRESHES_PER_INTERVAL` (32) keys in one, so a flood of well-formed wrong
    /// secrets costs the database a bounded number of reads. `None`: not now.
    pub async fn refresh(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> StoreResult<Option<Option<Arc<KeyRecord>>>> {
        {
            let Ok(mut r) = self.refreshes.lock() else { return Ok(None) };
            if r.since.elapsed() >= REFRESH_INTERVAL {
                r.since = std::time::Instant::now();
                r.ids.clear();
            }
            if r.ids.len() >= REFRESHES_PER_INTERVAL || !r.ids.insert(id.to_string()) {
                return Ok(None);
            }
        }
        self.invalidate(id);
        self.find(store, id).await.map(Some)
    }

    /// The key id remembered for a secret lookup hash.
    pub fn remembered_lookup(&self, lookup: &str) -> Option<String> {
        self.lookups.get(lookup)
    }

    /// Remembers that `lookup` found key `id` (bounded like the absent ids).
    pub fn remember_lookup(&self, lookup: &str, id: &str) {
        self.lookups.insert(lookup.to_string(), id.to_string());
    }

    /// Forgets what `lookup` found.
    pub fn forget_lookup(&self, lookup: &str) {
        self.lookups.invalidate(lookup);
    }

    /// Whether `id` (or everything) was invalidated after `generation`.
    /// A row read at feed position `seen` already includes feed changes up to it.
    fn invalidated_since(&self, generation: u64, id: &str, seen: i64) -> bool {
        if self.generation.load(Ordering::SeqCst) == generation {
            return false;
        }
        let Ok(recent) = self.recent.lock() else {
            return true;
        };
        match recent.front() {
            // The log no longer reaches back that far: assume the worst.
            Some((oldest, _, _)) if *oldest > generation + 1 => true,
            None => true,
            Some(_) => {
                recent.iter().filter(|(g, _, _)| *g > generation).any(|(_, target, change)| {
                    target.as_deref().is_none_or(|t| t == id) && change.is_none_or(|c| c > seen)
                })
            }
        }
    }

    fn writing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn note(&self, target: Option<&str>, change: Option<i64>) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= RECENT_INVALIDATIONS {
                recent.pop_front();
            }
            recent.push_back((generation, target.map(str::to_string), change));
        }
    }

    /// Forgets key `id` (it changed or went away).
    pub fn invalidate(&self, id: &str) {
        let _writes = self.writing();
        self.note(Some(id), None);
        self.map.invalidate(id);
        self.absent.invalidate(id);
    }

    /// Applies change `change_id` of key `id` from the feed: the cached row goes
    /// unless it was read after that change was committed.
    pub fn apply_change(&self, id: &str, change_id: i64) {
        let _writes = self.writing();
        self.note(Some(id), Some(change_id));
        // A row read after the change that lands between the check and the removal
        // is only read again.
        if self.map.get(id).is_some_and(|(_, seen)| seen < change_id) {
            self.map.invalidate(id);
        }
        if self.absent.get(id).is_some_and(|seen| seen < change_id) {
            self.absent.invalidate(id);
        }
    }

    /// Applies change `change_id` of workspace `workspace_id` from the feed (a delete
    /// takes its keys along): its keys read before that change go.
    pub fn apply_workspace_change(&self, workspace_id: &str, change_id: i64) {
        let _writes = self.writing();
        self.note(None, Some(change_id));
        for (id, (key, seen)) in &self.map {
            if key.workspace_id == workspace_id && seen < change_id {
                self.map.invalidate(id.as_str());
            }
        }
    }

    /// Forgets every key (a workspace went away, or changes may have been missed).
    pub fn clear(&self) {
        let _writes = self.writing();
        self.note(None, None);
        self.map.invalidate_all();
        self.absent.invalidate_all();
    }

    /// Counts hits and misses in these counters (e.g. registered metrics).
    pub fn counting(mut self, hits: Counter, misses: Counter) -> Self {
        self.hits = hits;
        self.misses = misses;
        self
    }

    /// How many keys are held (after pending evictions are applied).
    pub fn len(&self) -> usize {
        self.map.run_pending_tasks();
        usize::try_from(self.map.entry_count()).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The approximate bytes of key records held (each weighed by `weight`).
    pub fn weighed_bytes(&self) -> u64 {
        self.map.run_pending_tasks();
        self.map.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_read_already_does_not_evict_the_row() {
        let cache = KeyCache::with_budget(1 << 20);
        let key = crate::store::fixtures::key(&[], &[], None);
        cache.map.insert("k1".into(), (Arc::new(key), 7));
        cache.apply_change("k1", 7);
        assert_eq!(cache.len(), 1, "change 7 was committed before the read");
        cache.apply_change("k1", 8);
        assert!(cache.is_empty());
        // A load racing with feed change 9 keeps its row if it read after change 9.
        let start = cache.generation.load(Ordering::SeqCst);
        cache.apply_change("k1", 9);
        assert!(!cache.invalidated_since(start, "k1", 9));
        assert!(cache.invalidated_since(start, "k1", 8));
        // An id remembered as absent comes back once a later change creates it.
        cache.absent.insert("k2".into(), 9);
        cache.apply_change("k2", 9);
        assert!(cache.absent.contains_key("k2"));
        cache.apply_change("k2", 10);
        assert!(!cache.absent.contains_key("k2"));
    }

    #[tokio::test]
    async fn re_reads_on_demand_are_bounded_per_key_and_in_all() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cache.db").display());
        let store = crate::store::open(&url).await.unwrap();
        let cache = KeyCache::with_budget(1 << 20);
        assert!(cache.refresh(store.as_ref(), "k0").await.unwrap().is_some(), "a first read");
        assert!(cache.refresh(store.as_ref(), "k0").await.unwrap().is_none(), "not twice");
        for i in 1..REFRESHES_PER_INTERVAL {
            let id = format!("k{i}");
            assert!(cache.refresh(store.as_ref(), &id).await.unwrap().is_some(), "{id}");
        }
        let over = cache.refresh(store.as_ref(), "one-too-many").await.unwrap();
        assert!(over.is_none(), "at most {REFRESHES_PER_INTERVAL} keys per interval");
        cache.refreshes.lock().unwrap().since -= REFRESH_INTERVAL;
        assert!(cache.refresh(store.as_ref(), "k0").await.unwrap().is_some(), "a new interval");
    }

    #[test]
    fn only_an_invalidation_of_the_same_key_blocks_a_racing_load() {
        let cache = KeyCache::with_budget(1 << 20);
        let start = cache.generation.load(Ordering::SeqCst);
        cache.invalidate("other");
        assert!(!cache.invalidated_since(start, "mine", 0));
        cache.invalidate("mine");
        assert!(cache.invalidated_since(start, "mine", 0));
        let later = cache.generation.load(Ordering::SeqCst);
        cache.clear();
        assert!(cache.invalidated_since(later, "anything", 0));
    }

    #[test]
    fn the_budget_holds_and_a_scan_of_cold_keys_does_not_push_the_hot_ones_out() {
        let key = |id: String| {
            let mut key = crate::store::fixtures::key(&[], &[], None);
            key.id = id;
            Arc::new(key)
        };
        let one = u64::from(weight(&key("hot-0".into())));
        let cache = KeyCache::with_budget(200 * one);
        for round in 0..20 {
            for i in 0..50 {
                let id = format!("hot-{i}");
                if cache.peek(&id).is_none() {
                    cache.map.insert(id.clone(), (key(id), round));
                }
            }
            cache.map.run_pending_tasks();
        }
        for i in 0..20_000 {
            let id = format!("cold-{i}");
            cache.map.insert(id.clone(), (key(id), 0));
        }
        assert!(cache.weighed_bytes() <= 200 * one, "{} > {}", cache.weighed_bytes(), 200 * one);
        let hot = (0..50).filter(|i| cache.peek(&format!("hot-{i}")).is_some()).count();
        assert!(hot >= 45, "only {hot} of 50 hot keys kept");
    }
}
