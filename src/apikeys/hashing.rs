//! Secret storage by entropy, as documented in `docs/security.md`:
//!
//! - a generated secret (>= 160 random bits) is stored as `sha256:<hex>` and checked
//!   in microseconds: guessing it is infeasible, so a slow hash buys nothing;
//! - an imported secret may be weak, so it is stored as an argon2id PHC string and
//!   verified on a bounded blocking pool; a success is remembered in memory under an
//!   HMAC of (stored hash, presented secret) with a per-process key, never the secret,
//!   so the argon2 cost is paid once per instance and a rotation forgets it;
//! - [`HashPolicy::Argon2idForAll`] stores every secret as argon2id, with the same memory.
//!
//! The work a verification costs depends only on the presented secret's form and the
//! policy, never on whether the key id exists: unknown ids go through [`Hasher::verify_unknown`].

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use aws_lc_rs::{digest, hmac, rand::SystemRandom};
use subtle::ConstantTimeEq;

use super::secret::{self, Secret};

/// How secrets are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPolicy {
    /// SHA-256 for generated secrets, argon2id for imported ones.
    ByEntropy,
    /// argon2id for every secret.
    Argon2idForAll,
}

impl HashPolicy {
    /// Every policy.
    pub const ALL: [HashPolicy; 2] = [HashPolicy::ByEntropy, HashPolicy::Argon2idForAll];

    /// The policy's name in settings.
    pub fn name(self) -> &'static str {
        match self {
            HashPolicy::ByEntropy => "by-entropy",
            HashPolicy::Argon2idForAll => "argon2id-for-all",
        }
    }
}

/// Why a secret could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The argon2 pool and its queue are full: try again shortly (503).
    #[error("secret verification is saturated")]
    Busy,
    /// The stored hash is not one keymint writes.
    #[error("unrecognised stored hash")]
    Corrupt,
}

const SHA256_PREFIX: &str = "sha256:";
const MEMO_CAPACITY: usize = 100_000;

/// Hashes and verifies secrets. One per process, shared.
pub struct Hasher {
    policy: HashPolicy,
    /// The argon2 pool: a fixed set of threads fed through a bounded queue. Fixed
    /// threads also bound memory: each holds one ~19 MiB argon2 buffer while
    /// verifications wait, and frees it when none does.
    pool: Pool,
    memo_key: hmac::Key,
    memo: Mutex<HashSet<[u8; 32]>>,
    /// Keys [`Hasher::lookup`]: derived from the master key, so every instance
    /// computes the same lookup and the database alone cannot.
    lookup_key: hmac::Key,
    dummy_sha256: String,
    /// How long one argon2id verification takes here (microseconds, a moving
    /// average of real ones): what an unknown id waits instead of computing.
    argon2_micros: Arc<AtomicU64>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The stored form of a generated secret: `sha256:<hex>`.
pub fn sha256_hex(value: &str) -> String {
    let d = digest::digest(&digest::SHA256, value.as_bytes());
    let mut out = String::with_capacity(SHA256_PREFIX.len() + 64);
    out.push_str(SHA256_PREFIX);
    push_hex(&mut out, d.as_ref());
    out
}

/// Appends `bytes` to `out` as lower-case hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

fn argon2_hash(value: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    // Hashing with valid default parameters and a fresh salt cannot fail.
    Argon2::default()
        .hash_password(value.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

thread_local! {
    // Each argon2 worker's working buffer (~19 MiB at OWASP settings), kept from
    // one verification to the next while more wait, so memory is bounded by the
    // number of workers and a burst allocates it once.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's argon2 buffer.
fn free_blocks() {
    BLOCKS.with(|buffer| drop(std::mem::take(&mut *buffer.borrow_mut())));
}

fn argon2_verify(phc: &str, value: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashError::Corrupt)?;
    let params = argon2::Params::try_from(&parsed).map_err(|_| HashError::Corrupt)?;
    let algorithm =
        argon2::Algorithm::try_from(parsed.algorithm).map_err(|_| HashError::Corrupt)?;
    let version = parsed
        .version
        .map_or(Ok(argon2::Version::default()), argon2::Version::try_from)
        .map_err(|_| HashError::Corrupt)?;
    let mut salt = [0u8; 64];
    let salt = parsed
        .salt
        .ok_or(HashError::Corrupt)?
        .decode_b64(&mut salt)
        .map_err(|_| HashError::Corrupt)?;
    let expected = parsed.hash.ok_or(HashError::Corrupt)?;
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    BLOCKS
        .with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            buffer.resize(blocks, argon2::Block::default());
            hasher.hash_password_into_with_memory(
                value.as_bytes(),
                salt,
                &mut out,
                &mut buffer[..blocks],
            )
        })
        .map_err(|_| HashError::Corrupt)?;
    Ok(out.ct_eq(expected.as_bytes()).into())
}

impl Hasher {
    /// A hasher running at most `workers` argon2 computations at once, with up to
    /// `max_pending` more waiting; past that, verification answers [`HashError::Busy`].
    pub fn new(policy: HashPolicy, workers: usize, max_pending: usize) -> Self {
        let rng = SystemRandom::new();
        #[expect(clippy::expect_used, reason = "start-up: no safe fallback without randomness")]
        let memo_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system RNG failed");
        #[expect(clippy::expect_used, reason = "start-up: no safe fallback without randomness")]
        let lookup_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system RNG failed");
        // One hash at start-up measures what a verification costs on this machine.
        let started = Instant::now();
        let _ = argon2_hash(&secret::random_base62(32));
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        Hasher {
            policy,
            pool: Pool::start(workers.max(1), max_pending),
            memo_key,
            memo: Mutex::new(HashSet::new()),
            lookup_key,
            dummy_sha256: sha256_hex(&secret::random_base62(32)),
            argon2_micros: Arc::new(AtomicU64::new(micros)),
        }
    }

    /// Computes [`Hasher::lookup`] under `key` (derived from the master key) rather
    /// than a key of this process's own.
    pub fn with_lookup_key(mut self, key: hmac::Key) -> Self {
        self.lookup_key = key;
        self
    }

    /// The keyed hash that finds an imported secret from its value alone (raw-key
    /// verification): HMAC-SHA256 under a key derived from the master key, so a
    /// copy of the database cannot test guesses against it. Stored beside the key;
    /// a match is then verified against the key's stored hash.
    pub fn lookup(&self, value: &Secret) -> String {
        let tag = hmac::sign(&self.lookup_key, value.expose().as_bytes());
        let mut out = String::with_capacity(64);
        push_hex(&mut out, tag.as_ref());
        out
    }

    /// The default number of argon2id workers: half the CPUs (at least one), so
    /// slow verification can never take the whole machine from token exchanges.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
    }

    /// Whether checking `presented` against `stored` costs microseconds (SHA-256),
    /// not an argon2id computation.
    pub fn is_cheap(&self, stored: &str, presented: &Secret) -> bool {
        stored.starts_with(SHA256_PREFIX) && secret::looks_generated(presented.expose())
    }

    pub fn policy(&self) -> HashPolicy {
        self.policy
    }

    /// Whether a presented secret is checked by the fast path (SHA-256).
    fn fast_path(&self, presented: &Secret) -> bool {
        self.policy == HashPolicy::ByEntropy && secret::looks_generated(presented.expose())
    }

    /// The stored form of a new secret.
    pub async fn hash(&self, value: &Secret, imported: bool) -> Result<String, HashError> {
        if self.policy == HashPolicy::ByEntropy && !imported {
            return Ok(sha256_hex(value.expose()));
        }
        let value = value.clone();
        self.on_pool(move || Ok(argon2_hash(value.expose()))).await
    }

    /// Checks `presented` against a stored hash, in constant time.
    pub async fn verify(&self, stored: &str, presented: &Secret) -> Result<bool, HashError> {
        if let Some(hex) = stored.strip_prefix(SHA256_PREFIX) {
            // A key keeps the hash it was stored with, whatever the policy is now.
            if !secret::looks_generated(presented.expose()) {
                // A generated key presented with a secret of another form: spend the
                // same work an unknown id would, then refuse.
                self.verify_unknown(presented).await?;
                return Ok(false);
            }
            let computed = sha256_hex(presented.expose());
            return Ok(computed.as_bytes()[SHA256_PREFIX.len()..].ct_eq(hex.as_bytes()).into());
        }

        let tag = self.memo_tag(stored, presented);
        if self.memo_contains(&tag) {
            return Ok(true);
        }
        let (stored, value) = (stored.to_string(), presented.clone());
        let average = self.argon2_micros.clone();
        let ok = self
            .on_pool(move || {
                let started = Instant::now();
                let ok = argon2_verify(&stored, value.expose());
                let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                // A moving average over about eight verifications.
                let before = average.load(Ordering::Relaxed);
                average.store(before - before / 8 + took / 8, Ordering::Relaxed);
                ok
            })
            .await?;
        if ok {
            self.memo_insert(tag);
        }
        Ok(ok)
    }

    /// The time of a verification against a key that does not exist; always refuses.
    /// A fast-path secret costs its SHA-256, as for a real key. A slow-path one waits
    /// as long as an argon2id verification takes here, without computing one: equal
    /// time, not equal work, so junk ids from many addresses cannot buy CPU.
    pub async fn verify_unknown(&self, presented: &Secret) -> Result<(), HashError> {
        if self.fast_path(presented) {
            let computed = sha256_hex(presented.expose());
            let _ = bool::from(computed.as_bytes().ct_eq(self.dummy_sha256.as_bytes()));
            return Ok(());
        }
        let micros = self.argon2_micros.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_micros(micros)).await;
        Ok(())
    }

    fn memo_tag(&self, stored: &str, presented: &Secret) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.memo_key);
        ctx.update(stored.as_bytes());
        ctx.update(&[0]);
        ctx.update(presented.expose().as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    fn memo_contains(&self, tag: &[u8; 32]) -> bool {
        self.memo.lock().map(|m| m.contains(tag)).unwrap_or(false)
    }

    fn memo_insert(&self, tag: [u8; 32]) {
        if let Ok(mut memo) = self.memo.lock() {
            if memo.len() >= MEMO_CAPACITY {
                memo.clear();
            }
            memo.insert(tag);
        }
    }

    /// Runs `work` on the argon2 pool; a full queue answers [`HashError::Busy`] at once.
    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        if !self.pool.submit(job) {
            return Err(HashError::Busy);
        }
        rx.await.map_err(|_| HashError::Busy)?
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of threads serving a bounded queue of jobs.
struct Pool {
    jobs: std::sync::mpsc::SyncSender<Job>,
    /// Jobs submitted and not yet taken by a worker.
    waiting: Arc<AtomicUsize>,
}

impl Pool {
    /// Starts `workers` threads serving a queue of at most `max_pending` waiting
    /// jobs. A worker that finds no job waiting after one frees its argon2 buffer.
    fn start(workers: usize, max_pending: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(max_pending);
        let rx = Arc::new(Mutex::new(rx));
        let waiting = Arc::new(AtomicUsize::new(0));
        for n in 0..workers {
            let (rx, waiting) = (rx.clone(), waiting.clone());
            let spawned =
                std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return }; // the hasher is gone
                    waiting.fetch_sub(1, Ordering::AcqRel);
                    job();
                    if waiting.load(Ordering::Acquire) == 0 {
                        free_blocks();
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %crate::report::Chain(&e), "cannot start an argon2 worker thread");
            }
        }
        Pool { jobs: tx, waiting }
    }

    /// Queues `job`: `false` (refused at once) when the queue is full.
    fn submit(&self, job: Job) -> bool {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let queued = self.jobs.try_send(job).is_ok();
        if !queued {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(policy: HashPolicy) -> Hasher {
        Hasher::new(policy, 2, 16)
    }

    #[tokio::test]
    async fn generated_secrets_are_stored_as_sha256_and_verify() {
        let h = hasher(HashPolicy::ByEntropy);
        let s = secret::generate(&secret::new_key_id(), "production");
        let stored = h.hash(&s, false).await.unwrap();
        assert!(stored.starts_with("sha256:"));
        assert!(!stored.contains(s.expose()));
        assert!(h.verify(&stored, &s).await.unwrap());
        let other = secret::generate(&secret::new_key_id(), "production");
        assert!(!h.verify(&stored, &other).await.unwrap());
    }

    #[tokio::test]
    async fn imported_secrets_are_stored_as_argon2id_and_remembered() {
        let h = hasher(HashPolicy::ByEntropy);
        let s = Secret::new("legacy-secret-0123456789".into());
        let stored = h.hash(&s, true).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify(&stored, &s).await.unwrap());
        assert!(h.memo_contains(&h.memo_tag(&stored, &s)));
        assert!(h.verify(&stored, &s).await.unwrap());
        assert!(!h.verify(&stored, &Secret::new("legacy-secret-0123456780".into())).await.unwrap());
    }

    #[tokio::test]
    async fn argon2_for_all_hashes_generated_secrets_too() {
        let h = hasher(HashPolicy::Argon2idForAll);
        let s = secret::generate(&secret::new_key_id(), "staging");
        let stored = h.hash(&s, false).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify(&stored, &s).await.unwrap());
    }

    #[tokio::test]
    async fn keys_stored_under_another_policy_still_verify() {
        let s = secret::generate(&secret::new_key_id(), "production");
        let stored = hasher(HashPolicy::ByEntropy).hash(&s, false).await.unwrap();
        assert!(hasher(HashPolicy::Argon2idForAll).verify(&stored, &s).await.unwrap());
        let stored = hasher(HashPolicy::Argon2idForAll).hash(&s, false).await.unwrap();
        assert!(hasher(HashPolicy::ByEntropy).verify(&stored, &s).await.unwrap());
    }

    /// Occupies the pool's only worker until the returned sender is used or dropped;
    /// returns once the worker has taken the job.
    fn occupy_the_worker(h: &Hasher) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, taken) = std::sync::mpsc::channel::<()>();
        assert!(h.pool.submit(Box::new(move || {
            let _ = started.send(());
            let _ = wait.recv();
        })));
        taken.recv().unwrap();
        release
    }

    #[tokio::test]
    async fn an_unknown_id_takes_the_time_of_argon2_without_its_work() {
        let h = Hasher::new(HashPolicy::ByEntropy, 1, 1);
        let s = Secret::new("legacy-secret-0123456789".into());
        // Occupy the only worker: an unknown id must not need it.
        let release = occupy_the_worker(&h);
        let expected = Duration::from_micros(h.argon2_micros.load(Ordering::Relaxed));
        let started = Instant::now();
        h.verify_unknown(&s).await.unwrap();
        assert!(started.elapsed() >= expected, "as long as a verification takes");
        assert!(h.pool.submit(Box::new(|| {})));
        assert!(!h.pool.submit(Box::new(|| {})), "the pool did no work");
        release.send(()).unwrap();
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_instead_of_queueing_without_bound() {
        let h = Hasher::new(HashPolicy::ByEntropy, 1, 1);
        let s = Secret::new("legacy-secret-0123456789".into());
        let stored = h.hash(&s, true).await.unwrap();
        // Occupy the one worker, fill the one queue slot: the next one is refused at once.
        let release = occupy_the_worker(&h);
        assert!(h.pool.submit(Box::new(|| {})));
        let wrong = Secret::new("legacy-secret-0123456780".into());
        assert!(matches!(h.verify(&stored, &wrong).await, Err(HashError::Busy)));
        release.send(()).unwrap();
    }

    /// The capacity, in blocks, of the argon2 buffer of the pool's only worker,
    /// read on that worker after the jobs queued before.
    async fn worker_buffer(h: &Hasher) -> usize {
        h.on_pool(|| Ok(BLOCKS.with(|b| b.borrow().capacity()))).await.unwrap()
    }

    #[tokio::test]
    async fn a_worker_keeps_its_buffer_while_verifications_wait_and_frees_it_after() {
        let h = Hasher::new(HashPolicy::Argon2idForAll, 1, 4);
        let s = Secret::new("legacy-secret-0123456789".into());
        let stored = h.hash(&s, true).await.unwrap();
        // Two verifications queued behind a busy worker: the second, and the
        // probe after it, find the buffer the first allocated.
        let release = occupy_the_worker(&h);
        let (h, stored) = (Arc::new(h), Arc::new(stored));
        let verify = |s: Secret| {
            let (h, stored) = (h.clone(), stored.clone());
            tokio::spawn(async move { h.verify(&stored, &s).await })
        };
        let first = verify(s.clone());
        let second = verify(Secret::new("legacy-secret-0123456780".into()));
        while h.pool.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        let probe = {
            let h = h.clone();
            tokio::spawn(async move { worker_buffer(&h).await })
        };
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert!(!second.await.unwrap().unwrap());
        assert!(probe.await.unwrap() > 0, "kept while a job waited");
        // Nothing waits now: the worker frees the buffer after its last job.
        let mut freed = false;
        for _ in 0..100 {
            if worker_buffer(&h).await == 0 {
                freed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(freed, "the buffer outlived the queue");
    }
}
