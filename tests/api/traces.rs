//! Traces through the binary, received by an OTLP/HTTP endpoint in the test that
//! decodes them with OpenTelemetry's own protobuf definitions: spans named by
//! route with the HTTP semantic conventions' attributes, the token path's steps
//! as child spans, the caller's `traceparent` continued, and no secret or token
//! in any attribute.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::binary::keymint;

/// What the receiver got: each span with its resource's `service.name`.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP receiver (`POST /v1/traces`, protobuf) on a port of its own.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                for resource in request.resource_spans {
                    let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
                    let service = text(&attributes, "service.name").unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            store.lock().unwrap().push((service.clone(), span));
                        }
                    }
                }
                let answer = ExportTraceServiceResponse::default().encode_to_vec();
                ([("content-type", "application/x-protobuf")], answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// An attribute's value as text.
fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(n) => n.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
#[cfg_attr(not(feature = "otel"), ignore = "built without the otel feature")]
async fn spans_are_named_by_route_hold_the_token_steps_and_no_secret() {
    let (endpoint, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = keymint(dir.path());
    serve
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SERVICE_NAME", "keymint-under-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(std::process::Stdio::piped());
    let mut child = serve.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let addresses = crate::helpers::logged_address(child.stderr.take().unwrap());
    let creds = crate::helpers::printed_credentials(child.stdout.take().unwrap());
    let _running = crate::helpers::Running(child);
    let base = format!("http://{}", addresses.recv_timeout(Duration::from_secs(30)).unwrap());
    let (id, secret) = (&creds["client_id"], &creds["client_secret"]);

    let response = crate::processes::token(&base, id, secret).await;
    assert_eq!(response.status(), 200);
    let token: serde_json::Value = response.json().await.unwrap();
    let access_token = token["access_token"].as_str().unwrap().to_string();
    // A caller's trace, continued: the W3C example trace id.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let keys = reqwest::Client::new()
        .get(format!("{base}/v1/keys?limit=1"))
        .bearer_auth(&access_token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 200);

    let started = Instant::now();
    let spans = loop {
        let spans = received.lock().unwrap().clone();
        let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
        if ["POST /oauth/token", "GET /v1/keys", "store"].iter().all(|n| names.contains(n)) {
            break spans;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "spans received: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(spans.iter().all(|(service, _)| service == "keymint-under-test"));

    let token_span = &spans.iter().find(|(_, s)| s.name == "POST /oauth/token").unwrap().1;
    let server = opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server as i32;
    assert_eq!(token_span.kind, server);
    let attribute = |span: &Span, key: &str| text(&span.attributes, key);
    assert_eq!(attribute(token_span, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attribute(token_span, "http.route").as_deref(), Some("/oauth/token"));
    assert_eq!(attribute(token_span, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(token_span, "url.path").as_deref(), Some("/oauth/token"));
    assert_eq!(attribute(token_span, "network.protocol.version").as_deref(), Some("1.1"));
    for step in ["authenticate", "decide", "sign", "store"] {
        let child = &spans.iter().find(|(_, s)| s.name == step).unwrap().1;
        assert_eq!(child.parent_span_id, token_span.span_id, "{step} is a step of the exchange");
        assert_eq!(child.trace_id, token_span.trace_id);
    }

    let keys_span = &spans.iter().find(|(_, s)| s.name == "GET /v1/keys").unwrap().1;
    assert_eq!(hex(&keys_span.trace_id), trace_id, "the caller's trace goes on");
    assert_eq!(hex(&keys_span.parent_span_id), caller_span);
    assert_eq!(attribute(keys_span, "url.path").as_deref(), Some("/v1/keys"), "no query");

    // Nothing a client must keep to itself is in any attribute or event.
    let admin_secret_tail = &secret[secret.len() - 20..];
    for (_, span) in &spans {
        let everything = format!("{:?} {:?}", span.attributes, span.events);
        for (what, needle) in [
            ("the secret", admin_secret_tail),
            ("the token", &access_token[access_token.len() - 20..]),
            ("the query", "limit=1"),
        ] {
            assert!(!everything.contains(needle), "{what} in span {}: {everything}", span.name);
        }
    }
}

#[test]
#[cfg_attr(not(feature = "otel"), ignore = "built without the otel feature")]
fn a_grpc_endpoint_is_refused_with_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = keymint(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), "{message}");
    assert!(message.contains("http/protobuf"), "{message}");
}
