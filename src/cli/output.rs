//! Printing for admin commands: aligned tables for people, JSON for scripts.

use serde::Serialize;
use serde_json::Value;

use super::api::{Api, Query};

/// Writes one line on stdout. A reader that went away (a closed pipe) ends the
/// command at once with success: what it asked for was done, and nobody is left
/// to read the rest. Any other failure to write ends it with an error.
pub fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Member `name` of an API object as a table cell: `-` when absent, null or empty,
/// a list joined with commas, anything else as JSON.
pub fn text(object: &Value, name: &str) -> String {
    match object.get(name) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        }
        Some(other) => other.to_string(),
    }
}

/// The items of a list answer (`{"data": [...]}`).
pub fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list["data"].as_array().into_iter().flatten()
}

/// An id as one URL path segment.
pub fn segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>().replace('+', "%20")
}

/// Refuses a page size the API would refuse, naming the flag and the value.
pub fn check_limit(limit: i64) -> anyhow::Result<()> {
    crate::apikeys::validate_limit(Some(limit))
        .map(|_| ())
        .map_err(|_| anyhow::anyhow!("--limit {limit}: must be between 1 and 100"))
}

/// A page of `path` from `cursor`, or with `all` every page after it joined into
/// one, as `{"data": [...], "next_cursor": ...}`. With `max`, `all` stops before a
/// page could take it past `max` items and answers the cursor to go on from.
pub async fn pages(
    api: &Api,
    path: &str,
    query: &Query<'_>,
    cursor: Option<String>,
    all: bool,
    max: Option<usize>,
) -> anyhow::Result<Value> {
    let mut cursor = cursor;
    let mut data = Vec::new();
    loop {
        let mut asked = query.to_vec();
        asked.push(("cursor", cursor.take()));
        let mut page = api.get(path, &asked).await?;
        let items = page["data"].as_array_mut().map(std::mem::take).unwrap_or_default();
        let size = items.len();
        data.extend(items);
        let next = page["next_cursor"].as_str().map(str::to_string);
        let room = max.is_none_or(|max| data.len() + size <= max);
        match next {
            Some(next) if all && room => cursor = Some(next),
            next => return Ok(serde_json::json!({ "data": data, "next_cursor": next })),
        }
    }
}

/// Asks the person at the terminal to type `expected` (a name) before a destructive
/// command goes on; `warning` says what will happen. Refuses when the answer
/// differs, and says how scripts skip the question.
pub fn confirm_by_typing(warning: &str, what: &str, expected: &str) -> anyhow::Result<()> {
    if ask(&format!("{warning}\nType the {what} to confirm: "))? != expected {
        anyhow::bail!("not confirmed; nothing was changed (pass --yes to skip this question)");
    }
    Ok(())
}

/// Reads one line the person at the terminal types, `prompt` first (on stderr),
/// without its surrounding whitespace.
pub fn ask(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}
