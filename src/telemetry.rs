//! Traces over OpenTelemetry: OTLP over HTTP, configured by the standard `OTEL_*`
//! variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! turns them on; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS` and the rest
//! as the specification says). Off by default: then requests get the same span
//! as without this module, and the token path's step spans are disabled callsites.
//!
//! Spans are named by route (`POST /oauth/token`) with the HTTP semantic
//! conventions' attributes; the token path's steps (`authenticate`, `decide`,
//! `sign`, `store`) are its children. No attribute holds a secret or a token:
//! spans carry the method, the route, the path (never the query) and the status.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are being exported.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the environment asks for traces: an OTLP endpoint is named (or
/// `OTEL_TRACES_EXPORTER=otlp`), and neither `OTEL_SDK_DISABLED=true` nor
/// `OTEL_TRACES_EXPORTER=none` says otherwise.
pub fn requested() -> bool {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    match var("OTEL_TRACES_EXPORTER").map(|v| v.to_ascii_lowercase()) {
        Some(exporter) if exporter == "none" => false,
        Some(exporter) if exporter == "otlp" => true,
        _ => {
            var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        }
    }
}

#[cfg(feature = "otel")]
pub use otlp::{continue_trace, Tracing};

#[cfg(feature = "otel")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::Layer;

    /// The protocol the `OTEL_*` variables name: `http/protobuf` (the
    /// specification's default) or `http/json`.
    fn protocol() -> anyhow::Result<opentelemetry_otlp::Protocol> {
        let named = ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]
            .into_iter()
            .find_map(|name| Some((name, std::env::var(name).ok()?.trim().to_string())));
        match named {
            None => Ok(opentelemetry_otlp::Protocol::HttpBinary),
            Some((_, p)) if p == "http/protobuf" => Ok(opentelemetry_otlp::Protocol::HttpBinary),
            Some((_, p)) if p == "http/json" => Ok(opentelemetry_otlp::Protocol::HttpJson),
            Some((name, p)) => anyhow::bail!(
                "{name}={p}: keymint exports OTLP over HTTP; set it to http/protobuf (or \
                 http/json) and point the endpoint at the collector's HTTP port (4318)"
            ),
        }
    }

    /// The exporting pipeline, from start to shutdown.
    pub struct Tracing {
        provider: SdkTracerProvider,
    }

    impl Tracing {
        /// Starts exporting when the environment asks for it ([`super::requested`]).
        pub fn start() -> anyhow::Result<Option<Tracing>> {
            if !super::requested() {
                return Ok(None);
            }
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol()?)
                .build()
                .map_err(|e| anyhow::anyhow!("cannot export traces over OTLP: {e}"))?;
            let named = std::env::var("OTEL_SERVICE_NAME").is_ok()
                || std::env::var("OTEL_RESOURCE_ATTRIBUTES")
                    .is_ok_and(|v| v.contains("service.name="));
            let mut resource = opentelemetry_sdk::Resource::builder();
            if !named {
                resource = resource.with_service_name("keymint");
            }
            let resource = resource
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build();
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build();
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            super::ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(Some(Tracing { provider }))
        }

        /// The layer that turns keymint's spans into OpenTelemetry spans: the
        /// request spans and, below them, the token path's steps (debug level).
        pub fn layer<S>(&self) -> Box<dyn Layer<S> + Send + Sync>
        where
            S: tracing::Subscriber
                + for<'a> tracing_subscriber::registry::LookupSpan<'a>
                + Send
                + Sync,
        {
            let spans = Targets::new()
                .with_target("keymint", tracing::Level::DEBUG)
                .with_default(tracing::Level::INFO);
            tracing_opentelemetry::layer()
                .with_tracer(self.provider.tracer("keymint"))
                .with_filter(spans)
                .boxed()
        }

        /// Sends the spans still waiting, then stops.
        pub fn shutdown(self) {
            super::ENABLED.store(false, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = self.provider.shutdown() {
                eprintln!("warning: traces not all sent at shutdown: {e}");
            }
        }
    }

    /// Makes `span` continue the trace an incoming request names in its W3C
    /// `traceparent` (and `tracestate`) header.
    pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        struct Headers<'a>(&'a axum::http::HeaderMap);
        impl opentelemetry::propagation::Extractor for Headers<'_> {
            fn get(&self, key: &str) -> Option<&str> {
                self.0.get(key).and_then(|v| v.to_str().ok())
            }
            fn keys(&self) -> Vec<&str> {
                self.0.keys().map(|k| k.as_str()).collect()
            }
        }
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Headers(headers))
        });
        let _ = span.set_parent(parent);
    }
}

/// Without the `otel` feature: no traces, and a clear refusal if they are asked for.
#[cfg(not(feature = "otel"))]
pub enum Tracing {}

#[cfg(not(feature = "otel"))]
impl Tracing {
    pub fn start() -> anyhow::Result<Option<Tracing>> {
        if requested() {
            anyhow::bail!(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but this keymint was built without \
                 OpenTelemetry (the `otel` feature)"
            );
        }
        Ok(None)
    }

    pub fn layer<S>(&self) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
    {
        match *self {}
    }

    pub fn shutdown(self) {}
}

#[cfg(not(feature = "otel"))]
pub fn continue_trace(_: &tracing::Span, _: &axum::http::HeaderMap) {}
