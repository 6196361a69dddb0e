//! `keymint keys list` and `keymint keys hygiene`.

use clap::Args;

use crate::cli::api::Api;
use crate::cli::output::{self, text};

/// List keys, oldest first, a page at a time.
///
/// Example: keymint keys list --hygiene never-used --sort=-created --all
#[derive(Debug, Args)]
pub struct List {
    /// Case-insensitive name search.
    #[arg(long, visible_alias = "search")]
    q: Option<String>,
    /// active (default), inactive, expired, revoked or all.
    #[arg(long)]
    status: Option<String>,
    /// Only keys of this environment (exact).
    #[arg(long)]
    environment: Option<String>,
    /// Only keys of this type (exact).
    #[arg(long = "type")]
    key_type: Option<String>,
    /// Only the keys of this owner (exact).
    #[arg(long)]
    owner: Option<String>,
    /// Only keys of this workspace (default: every workspace).
    #[arg(long)]
    workspace: Option<String>,
    /// Only keys failing a hygiene check: never-expires, never-used, unused-90d,
    /// any-address or no-scope.
    #[arg(long)]
    hygiene: Option<String>,
    /// Order: created (default), last_used (never used first) or expires
    /// (soonest first); a leading - reverses it, e.g. --sort=-last_used.
    #[arg(long, allow_hyphen_values = true)]
    sort: Option<String>,
    /// Keys per page, 1 to 100.
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Start after this point: the cursor the previous page printed (with
    /// --all, every page from there).
    #[arg(long)]
    cursor: Option<String>,
    /// Every page, one after the other.
    #[arg(long)]
    all: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl List {
    pub async fn run(self, api: &Api) -> anyhow::Result<()> {
        let List {
            q,
            status,
            environment,
            key_type,
            owner,
            workspace,
            hygiene,
            sort,
            limit,
            cursor,
            all,
            json,
        } = self;
        output::check_limit(limit)?;
        let query = [
            ("q", q),
            ("status", status),
            ("environment", environment),
            ("type", key_type),
            ("owner", owner),
            ("workspace_id", workspace),
            ("hygiene", hygiene),
            ("sort", sort),
            ("limit", Some(limit.to_string())),
        ];
        let page = output::pages(api, "/v1/keys", &query, cursor, all, None).await?;
        if json {
            return output::json(&page);
        }
        let rows: Vec<Vec<String>> = output::items(&page)
            .map(|k| {
                let mut row: Vec<String> = [
                    "id",
                    "name",
                    "workspace_id",
                    "status",
                    "environment",
                    "type",
                    "owner",
                    "masked_secret",
                    "last_used_at",
                ]
                .iter()
                .map(|f| text(k, f))
                .collect();
                row.push(k["expires_at"].as_str().unwrap_or("never").to_string());
                row
            })
            .collect();
        output::table(
            &[
                "id",
                "name",
                "workspace",
                "status",
                "environment",
                "type",
                "owner",
                "secret",
                "last used",
                "expires",
            ],
            &rows,
        );
        if let Some(next) = page["next_cursor"].as_str() {
            outln!("(more keys: add --cursor {next} for the next page, or --all)");
        }
        Ok(())
    }
}
