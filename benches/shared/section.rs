//! Writes one benchmark's section of docs/performance.md, between its own start
//! and end markers, below the part `benches/token_endpoint.rs` rewrites (which
//! keeps everything from its analysis marker on).

/// Replaces the text between `start` and `end` (markers included) with
/// `section`, or adds it after the analysis marker the first time.
pub fn write(section: &str, start: &str, end: &str) -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/performance.md");
    let page = std::fs::read_to_string(path)?;
    let page = match (page.find(start), page.find(end)) {
        (Some(from), Some(to)) => format!(
            "{}{}{}",
            &page[..from],
            section,
            page[to + end.len()..].trim_start_matches('\n')
        ),
        _ => {
            let marker = "<!-- analysis: kept when the benchmark rewrites this file -->\n";
            let at = page.find(marker).map_or(page.len(), |i| i + marker.len());
            format!("{}\n{}\n{}", &page[..at], section, &page[at..])
        }
    };
    std::fs::write(path, page)?;
    Ok(())
}

/// The length of one turn from `--seconds N` (else `default`), or `None` when
/// `cargo test --benches` only probes the target (`--test`, `--list`).
pub fn turn_from_args(default: u64) -> Option<std::time::Duration> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return None;
    }
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    Some(std::time::Duration::from_secs(seconds))
}

/// The median of `values`: the middle one once sorted (the upper middle of an
/// even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
