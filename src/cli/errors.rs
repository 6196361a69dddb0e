//! The API's refusals as the CLI words them: in flags, not API fields (`--cidr`
//! for `allowed_cidrs[0]`, `--force` for `force=true`), and naming the id a command
//! was given when it does not exist.

use super::api::Refusal;

/// The flag that sets API field `field` (its index, if any, dropped).
fn flag(field: &str) -> String {
    let base = field.split('[').next().unwrap_or(field);
    let flag = match base {
        "allowed_cidrs" => "cidr",
        "scopes" => "scope",
        "audiences" => "audience",
        "workspace_id" => "workspace",
        "expires_at" => "expires-at",
        "expires_in" => "expires-in",
        "grace_seconds" => "grace-seconds",
        "actor_ip" => "address",
        "from" => "since",
        "to" => "until",
        "target_id" => "target",
        "resources" => "resource",
        other => return format!("--{}", other.replace('_', "-")),
    };
    format!("--{flag}")
}

/// `reason` with the API's words for options replaced by the CLI's flags.
fn reworded(reason: &str) -> String {
    [
        ("give expires_at or expires_in", "give --expires-at or --expires-in"),
        ("pass force=true", "pass --force"),
        ("force=true", "--force"),
    ]
    .iter()
    .fold(reason.to_string(), |text, (api, cli)| text.replace(api, cli))
}

/// Rewords a command's error for the person who typed it; `id` is the id the
/// command was given, if any, and `place` where it looked (`--server URL`).
pub fn in_flags(e: anyhow::Error, id: Option<&str>, place: &str) -> anyhow::Error {
    let Some(refusal) = e.downcast_ref::<Refusal>() else {
        return e;
    };
    if let Some((field, reason)) = &refusal.field {
        return anyhow::anyhow!("{}: {}", flag(field), reworded(reason));
    }
    match (refusal.kind.as_str(), id) {
        ("not-found", Some(id)) => {
            let what = refusal.detail.trim_end_matches(" not found");
            anyhow::anyhow!("no {what} {id} (check the id, and {place} for where it is)")
        }
        ("insufficient-scope", _) | ("invalid-token", _) => {
            anyhow::anyhow!("{place} refused: {}", refusal.detail)
        }
        _ if refusal.status.is_server_error() => {
            anyhow::anyhow!("{place} answered {}: {}", refusal.status, refusal.detail)
        }
        _ => anyhow::anyhow!("{}", reworded(&refusal.detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn said(status: StatusCode, kind: &str, detail: &str, field: Option<(&str, &str)>) -> String {
        let refusal = Refusal {
            status,
            kind: kind.into(),
            detail: detail.into(),
            field: field.map(|(f, r)| (f.into(), r.into())),
        };
        in_flags(refusal.into(), Some("abc"), "--server https://k.example").to_string()
    }

    #[test]
    fn refusals_speak_in_flags_and_name_the_id() {
        let invalid = StatusCode::UNPROCESSABLE_ENTITY;
        let cidr = Some(("allowed_cidrs[1]", "\"10.0.0.300\": not an IP range"));
        assert_eq!(
            said(invalid, "validation", "x", cidr),
            "--cidr: \"10.0.0.300\": not an IP range"
        );
        let both = Some(("expires_in", "give expires_at or expires_in, not both"));
        assert_eq!(
            said(invalid, "validation", "x", both),
            "--expires-in: give --expires-at or --expires-in, not both"
        );
        assert_eq!(
            said(StatusCode::NOT_FOUND, "not-found", "key not found", None),
            "no key abc (check the id, and --server https://k.example for where it is)"
        );
        let held = "delete them first or pass force=true";
        assert_eq!(
            said(StatusCode::CONFLICT, "conflict", held, None),
            "delete them first or pass --force"
        );
        assert_eq!(
            said(invalid, "validation", "x", Some(("max_lifetime_days", "x"))),
            "--max-lifetime-days: x"
        );
        assert_eq!(
            said(
                StatusCode::FORBIDDEN,
                "insufficient-scope",
                "this action needs the keymint:keys:write scope",
                None
            ),
            "--server https://k.example refused: this action needs the keymint:keys:write scope"
        );
        let down = "the database is unavailable; retry shortly";
        assert_eq!(
            said(StatusCode::SERVICE_UNAVAILABLE, "unavailable", down, None),
            format!("--server https://k.example answered 503 Service Unavailable: {down}")
        );
    }
}
