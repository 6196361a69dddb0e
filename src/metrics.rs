//! Prometheus metrics (served at `/metrics` in the text format): tokens issued and
//! refused by reason, request latency per endpoint, key cache hits and misses,
//! database errors, the age of the current signing key and the change feed's lag.

use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric keymint exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub tokens_issued: Counter,
    pub tokens_refused: Family<Labels, Counter>,
    pub request_seconds: Family<Labels, Histogram>,
    latency: std::sync::RwLock<std::collections::HashMap<String, Histogram>>,
    pub database_errors: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub signing_key_age_seconds: Gauge<i64, AtomicI64>,
    pub change_feed_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// HTTP connections this instance holds open now.
    pub connections_open: Gauge<i64, AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keymint");
        let tokens_issued = Counter::default();
        registry.register("tokens_issued", "Access tokens issued", tokens_issued.clone());
        let tokens_refused = Family::<Labels, Counter>::default();
        registry.register(
            "tokens_refused",
            "Token requests refused, by reason",
            tokens_refused.clone(),
        );
        let request_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0])
        });
        registry.register(
            "http_request_duration_seconds",
            "Request latency, by endpoint",
            request_seconds.clone(),
        );
        let database_errors = Counter::default();
        registry.register(
            "database_errors",
            "Database operations that failed",
            database_errors.clone(),
        );
        let cache_hits = Counter::default();
        registry.register("key_cache_hits", "Key lookups answered from memory", cache_hits.clone());
        let cache_misses = Counter::default();
        registry.register(
            "key_cache_misses",
            "Key lookups that read the database",
            cache_misses.clone(),
        );
        let signing_key_age_seconds = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "signing_key_age_seconds",
            "Seconds since the current signing key started signing",
            signing_key_age_seconds.clone(),
        );
        let change_feed_lag_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "change_feed_lag_seconds",
            "Delay between a change's commit and this instance applying it",
            change_feed_lag_seconds.clone(),
        );
        let connections_open = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "http_connections_open",
            "HTTP connections this instance holds open",
            connections_open.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            tokens_issued,
            tokens_refused,
            request_seconds,
            latency: std::sync::RwLock::default(),
            database_errors,
            cache_hits,
            cache_misses,
            signing_key_age_seconds,
            change_feed_lag_seconds,
            connections_open,
        }
    }
}

impl Metrics {
    /// A refused token request.
    pub fn refused(&self, reason: &str) {
        self.tokens_refused.get_or_create(&vec![("reason", reason.to_string())]).inc();
    }

    /// One request to `endpoint` took `seconds`. The histogram of a known endpoint
    /// is found without allocating.
    pub fn observe(&self, endpoint: &str, seconds: f64) {
        let known = self.latency.read().ok().and_then(|m| m.get(endpoint).cloned());
        let histogram = known.unwrap_or_else(|| {
            let labels = vec![("endpoint", endpoint.to_string())];
            let h = self.request_seconds.get_or_create(&labels).clone();
            if let Ok(mut m) = self.latency.write() {
                m.insert(endpoint.to_string(), h.clone());
            }
            h
        });
        histogram.observe(seconds);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}
