//! Key records in memory, so a warm token exchange never waits on the database.
//! Entries are loaded on first use and dropped when the key changes: at once for
//! changes made by this instance, and through the change feed (`crate::feed`) for
//! changes made by others. A generation counter and a short log of recent
//! invalidations keep a load that raced with an invalidation of the same key from
//! putting the stale row back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::store::{KeyRecord, Store, StoreResult};

/// How many recent invalidations are remembered for racing loads.
const RECENT_INVALIDATIONS: usize = 1024;

/// Most keys held; past this, the cache starts over (the hot set refills quickly).
const DEFAULT_CAPACITY: usize = 200_000;

/// The key cache. One per process.
#[derive(Debug)]
pub struct KeyCache {
    map: RwLock<HashMap<String, Arc<KeyRecord>>>,
    generation: AtomicU64,
    /// Recent invalidations: (generation after it, key id or `None` for all).
    recent: std::sync::Mutex<VecDeque<(u64, Option<String>)>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl KeyCache {
    pub fn with_capacity(capacity: usize) -> Self {
        KeyCache {
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            recent: std::sync::Mutex::new(VecDeque::new()),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The key `id`, from memory or else from `store`.
    pub async fn find(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Arc<KeyRecord>>> {
        if let Some(key) = self.map.read().ok().and_then(|m| m.get(id).cloned()) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(key));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(key) = store.find_key(id).await? else {
            return Ok(None);
        };
        let key = Arc::new(key);
        if let Ok(mut map) = self.map.write() {
            // Only if this key was not invalidated while we read it.
            if !self.invalidated_since(generation, id) {
                if map.len() >= self.capacity {
                    map.clear();
                }
                map.insert(id.to_string(), key.clone());
            }
        }
        Ok(Some(key))
    }

    /// Whether `id` (or everything) was invalidated after `generation`.
    fn invalidated_since(&self, generation: u64, id: &str) -> bool {
        if self.generation.load(Ordering::SeqCst) == generation {
            return false;
        }
        let Ok(recent) = self.recent.lock() else {
            return true;
        };
        match recent.front() {
            // The log no longer reaches back that far: assume the worst.
            Some((oldest, _)) if *oldest > generation + 1 => true,
            None => true,
            Some(_) => recent
                .iter()
                .filter(|(g, _)| *g > generation)
                .any(|(_, target)| target.as_deref().is_none_or(|t| t == id)),
        }
    }

    fn note(&self, target: Option<&str>) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= RECENT_INVALIDATIONS {
                recent.pop_front();
            }
            recent.push_back((generation, target.map(str::to_string)));
        }
    }

    /// Forgets key `id` (it changed or went away).
    pub fn invalidate(&self, id: &str) {
        self.note(Some(id));
        if let Ok(mut map) = self.map.write() {
            map.remove(id);
        }
    }

    /// Forgets every key (a workspace went away, or changes may have been missed).
    pub fn clear(&self) {
        self.note(None);
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }

    /// (hits, misses) since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_invalidation_of_the_same_key_blocks_a_racing_load() {
        let cache = KeyCache::default();
        let start = cache.generation.load(Ordering::SeqCst);
        cache.invalidate("other");
        assert!(!cache.invalidated_since(start, "mine"));
        cache.invalidate("mine");
        assert!(cache.invalidated_since(start, "mine"));
        let later = cache.generation.load(Ordering::SeqCst);
        cache.clear();
        assert!(cache.invalidated_since(later, "anything"));
    }
}
