//! Key records in memory, so a warm token exchange never waits on the database.
//! Entries are loaded on first use and dropped when the key changes: at once for
//! changes made by this instance, and through the change feed (`crate::feed`) for
//! changes made by others. A generation counter keeps a load that raced with an
//! invalidation from putting the stale row back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::store::{KeyRecord, Store, StoreResult};

/// Most keys held; past this, the cache starts over (the hot set refills quickly).
const DEFAULT_CAPACITY: usize = 200_000;

/// The key cache. One per process.
#[derive(Debug)]
pub struct KeyCache {
    map: RwLock<HashMap<String, Arc<KeyRecord>>>,
    generation: AtomicU64,
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
            // Only if nothing was invalidated while we read.
            if self.generation.load(Ordering::SeqCst) == generation {
                if map.len() >= self.capacity {
                    map.clear();
                }
                map.insert(id.to_string(), key.clone());
            }
        }
        Ok(Some(key))
    }

    /// Forgets key `id` (it changed or went away).
    pub fn invalidate(&self, id: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            map.remove(id);
        }
    }

    /// Forgets every key (a workspace went away, or changes may have been missed).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
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
