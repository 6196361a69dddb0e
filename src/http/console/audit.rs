//! The audit page: filters, each event with what it changed, paging, and a CSV
//! export of the filtered view.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::filters;
use super::forms::{self, shown};
use super::{render_refusal, Console, Me};
use crate::app::App;
use crate::audit::{AuditEvent, AuditQuery};
use crate::vocab::ManageError;

/// The filters, as the form and the address carry them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct AuditParams {
    actor: String,
    action: String,
    target: String,
    address: String,
    /// `YYYY-MM-DDTHH:MM` in UTC, as a `datetime-local` field sends it.
    from: String,
    to: String,
    cursor: String,
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A `datetime-local` value (UTC) as RFC 3339; anything else is passed on for the
/// domain to refuse.
fn utc(local: &str) -> Option<String> {
    let local = some(local)?;
    Some(if local.len() == 16 { format!("{local}:00Z") } else { local })
}

impl AuditParams {
    /// The domain's query: these filters, in the workspace the console shows.
    fn query(&self, console: &Console) -> AuditQuery {
        AuditQuery {
            workspace_id: console.workspace.clone(),
            actor: some(&self.actor),
            action: some(&self.action),
            target_id: some(&self.target),
            actor_ip: some(&self.address),
            from: utc(&self.from),
            to: utc(&self.to),
            cursor: some(&self.cursor),
            limit: Some(50),
        }
    }

    fn encode(&self, cursor: Option<&str>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("address", &self.address),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some(cursor) = cursor {
            q.append_pair("cursor", cursor);
        }
        q.finish()
    }
}

/// An event, with its details as lines people read: `field: from → to`.
struct Row {
    event: AuditEvent,
    changes: Vec<String>,
}

fn changes(details: &Value) -> Vec<String> {
    let Some(fields) = details.as_object() else {
        return vec![shown(details)];
    };
    fields
        .iter()
        .map(|(field, value)| match (value.get("from"), value.get("to")) {
            (Some(from), Some(to)) => format!("{field}: {} → {}", shown(from), shown(to)),
            _ => format!("{field}: {}", shown(value)),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    me: Option<Me>,
    filters: AuditParams,
    query: String,
    rows: Vec<Row>,
    error: Option<String>,
    next_query: Option<String>,
}

/// `GET /console/audit`.
pub async fn list(
    State(app): State<Arc<App>>,
    console: Console,
    Query(params): Query<AuditParams>,
) -> Response {
    let (rows, next, error) =
        match app.audit.list(&console.session.actor, &params.query(&console)).await {
            Ok(page) => {
                let rows = page
                    .data
                    .into_iter()
                    .map(|event| Row { changes: changes(&event.details), event })
                    .collect();
                (rows, page.next_cursor, None)
            }
            Err(ManageError::Invalid(field)) => (vec![], None, Some(field.to_string())),
            Err(e) => return forms::refused(e, console.me()),
        };
    let template = AuditPage {
        me: console.me(),
        query: params.encode(None),
        next_query: next.as_deref().map(|c| params.encode(Some(c))),
        filters: params,
        rows,
        error,
    };
    render_refusal(template.error.is_some(), &template)
}

/// One CSV field: quoted, quotes doubled, and a leading `=`, `+`, `-` or `@`
/// defused so a spreadsheet never runs it as a formula.
fn csv_field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{value}"),
        _ => value.to_string(),
    };
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// `GET /console/audit.csv`: the filtered view, every page, as CSV.
pub async fn export(
    State(app): State<Arc<App>>,
    console: Console,
    Query(params): Query<AuditParams>,
) -> Response {
    let events = match app.audit.export(&console.session.actor, &params.query(&console)).await {
        Ok(events) => events,
        Err(e) => return forms::refused(e, console.me()),
    };
    let mut csv = String::from(
        "at,actor,actor_email,actor_ip,workspace_id,action,target_type,target_id,details\r\n",
    );
    for e in &events {
        let fields = [
            e.at.as_str(),
            &e.actor,
            e.actor_email.as_deref().unwrap_or_default(),
            e.actor_ip.as_deref().unwrap_or_default(),
            e.workspace_id.as_deref().unwrap_or_default(),
            &e.action,
            &e.target_type,
            &e.target_id,
            &e.details.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"keymint-audit.csv\""),
        ],
        csv,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)"] {
            assert_eq!(csv_field(formula), format!("\"'{formula}\""));
        }
    }

    #[test]
    fn details_read_as_changes() {
        let details = serde_json::json!({
            "status": {"from": "active", "to": "inactive"},
            "scopes": {"from": ["a", "b"], "to": []},
            "reason": "bad secret",
        });
        assert_eq!(
            changes(&details),
            ["reason: bad secret", "scopes: a, b → none", "status: active → inactive"]
        );
    }
}
