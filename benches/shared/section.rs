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

/// A section benchmark's `main`: `run` for one turn's length (`--seconds N`, else
/// `default` seconds) on a multi-threaded runtime; its section printed and
/// written between `start` and `end`. Nothing when `cargo test --benches` probes.
#[allow(dead_code, reason = "the benchmarks with a main of their own share this file too")]
pub fn main<F>(
    default: u64,
    run: impl FnOnce(std::time::Duration) -> F,
    start: &str,
    end: &str,
) -> Result<(), Box<dyn std::error::Error>>
where
    F: std::future::Future<Output = Result<String, Box<dyn std::error::Error>>>,
{
    let Some(turn) = turn_from_args(default) else { return Ok(()) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let text = runtime.block_on(run(turn))?;
    print!("{text}");
    write(&text, start, end)
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
