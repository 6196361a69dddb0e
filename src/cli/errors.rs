//! Domain refusals as the CLI words them: in flags, not API fields (`--cidr` for
//! `allowed_cidrs[0]`, `--force` for `force=true`), and naming the id a command
//! was given when it does not exist.

use crate::apikeys::ManageError;

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
/// command was given, if any.
pub fn in_flags(e: anyhow::Error, id: Option<&str>) -> anyhow::Error {
    match e.downcast_ref::<ManageError>() {
        Some(ManageError::Invalid(field)) => {
            anyhow::anyhow!("{}: {}", flag(&field.field), reworded(&field.reason))
        }
        Some(ManageError::NotFound(what)) => match id {
            Some(id) => anyhow::anyhow!(
                "no {what} {id} (check the id, and --database-url for the database it is in)"
            ),
            None => e,
        },
        Some(ManageError::Conflict(why)) => anyhow::anyhow!("{}", reworded(why)),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikeys::{field_error, ManageError};

    fn said(e: ManageError, id: Option<&str>) -> String {
        in_flags(e.into(), id).to_string()
    }

    #[test]
    fn refusals_speak_in_flags_and_name_the_id() {
        let cidr = field_error("allowed_cidrs[1]", "\"10.0.0.300\": not an IP range");
        assert_eq!(said(cidr.into(), None), "--cidr: \"10.0.0.300\": not an IP range");
        let both = field_error("expires_in", "give expires_at or expires_in, not both");
        assert_eq!(
            said(both.into(), None),
            "--expires-in: give --expires-at or --expires-in, not both"
        );
        assert_eq!(
            said(ManageError::NotFound("key"), Some("abc")),
            "no key abc (check the id, and --database-url for the database it is in)"
        );
        let held = ManageError::Conflict("delete them first or pass force=true".into());
        assert_eq!(said(held, None), "delete them first or pass --force");
        assert_eq!(
            said(field_error("max_lifetime_days", "x").into(), None),
            "--max-lifetime-days: x"
        );
    }
}
