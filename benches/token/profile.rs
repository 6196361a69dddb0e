//! Where the server's time goes: `perf` samples the keymint process (CPU clock,
//! 999 Hz, no call graphs) while one scenario runs again, and the symbols are
//! grouped by the part of the stack they belong to. Skipped, with the reason, when
//! `perf` is not installed or may not attach.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use super::Res;

/// One profiled path: its share of samples per area, and the hottest symbols.
pub struct Profile {
    pub path: &'static str,
    pub samples: u64,
    pub areas: Vec<(&'static str, f64)>,
    pub symbols: Vec<(f64, String)>,
}

/// Starts sampling process `pid` into `data`; stop it with [`stop`].
pub fn start(pid: u32, data: &std::path::Path) -> Res<std::process::Child> {
    let child = Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "999", "-p", &pid.to_string(), "-o"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // perf needs a moment to attach before the load starts.
    std::thread::sleep(std::time::Duration::from_millis(300));
    Ok(child)
}

/// Stops `perf` and reads what it sampled.
pub fn stop(
    mut perf: std::process::Child,
    data: &std::path::Path,
    path: &'static str,
) -> Res<Profile> {
    Command::new("kill").args(["-INT", &perf.id().to_string()]).status()?;
    perf.wait()?;
    let out = Command::new("perf")
        .args(["report", "--stdio", "--no-children", "--sort", "sym", "--percent-limit", "0", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let samples = text
        .lines()
        .find_map(|l| l.strip_prefix("# Samples: "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| match n.strip_suffix('K') {
            Some(thousands) => thousands.parse::<f64>().ok().map(|k| k * 1000.0),
            None => n.parse::<f64>().ok(),
        })
        .unwrap_or(0.0) as u64;
    let mut symbols: Vec<(f64, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (share, rest) = l.trim().split_once('%')?;
            Some((share.trim().parse::<f64>().ok()?, rest.trim().to_string()))
        })
        .collect();
    symbols.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut areas: Vec<(&'static str, f64)> = Vec::new();
    for (share, symbol) in &symbols {
        let area = area(symbol);
        match areas.iter_mut().find(|(a, _)| *a == area) {
            Some((_, total)) => *total += share,
            None => areas.push((area, *share)),
        }
    }
    areas.sort_by(|a, b| b.1.total_cmp(&a.1));
    symbols.truncate(12);
    Ok(Profile { path, samples, areas, symbols })
}

/// The part of the stack a sampled symbol belongs to.
fn area(symbol: &str) -> &'static str {
    let s = symbol.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if s.starts_with("[k]") {
        "kernel (sockets, scheduling)"
    } else if has(&[
        "aws_lc",
        "ecdsa",
        "p256",
        "sha256",
        "ec_gfp",
        "bn_",
        "fiat_",
        "ecp_nistz",
        "sha512",
        "ec_point",
        "ec_scalar",
        "ec_simple",
        "aes_",
        "gcm",
    ]) {
        "crypto (ES256 signing and verification, SHA-256)"
    } else if has(&["sqlx", "sqlite", "postgres", "libpq"]) {
        "database client"
    } else if has(&["moka", "crossbeam", "quanta"]) {
        "key cache"
    } else if has(&[
        "malloc", "free", "realloc", "_int_", "memcpy", "memmove", "memset", "mi_", "je_",
        "alloc::",
    ]) {
        "memory (allocation, copies)"
    } else if has(&["serde_json", "serde::"]) {
        "JSON"
    } else if has(&["hyper", "httparse", "http::", "h2::"]) {
        "HTTP (hyper)"
    } else if has(&["axum", "tower"]) {
        "routing and layers (axum, tower)"
    } else if has(&["tokio", "mio", "parking_lot", "futures"]) {
        "async runtime (tokio)"
    } else if has(&["prometheus", "tracing", "hdrhistogram"]) {
        "metrics and logs"
    } else if has(&["keymint"]) {
        "keymint's own code"
    } else if has(&[
        "form_urlencoded",
        "percent_encoding",
        "base64",
        "core::fmt",
        "alloc::fmt",
        "str::",
    ]) {
        "parsing and formatting"
    } else if has(&[
        "pthread", "syscall", "epoll", "__lll", "futex", "libc", "__send", "__recv", "write",
        "read",
    ]) {
        "libc (syscalls, locks)"
    } else {
        "other"
    }
}

/// The report's section for `profiles`.
pub fn report(profiles: &[Profile], setting: &str) -> String {
    let mut out = String::new();
    if profiles.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n## Where the time goes\n");
    let _ = writeln!(out, "Profiled with `perf record -e cpu-clock -F 999` on the keymint process ({setting}), each path driven again for the scenario's length after it was measured: the share of the server's samples by part of the stack, and the hottest symbols (inlined code counts in its caller).\n");
    for p in profiles {
        let _ = writeln!(out, "### {} ({} samples)\n", p.path, p.samples);
        let areas: Vec<String> = p
            .areas
            .iter()
            .filter(|(_, s)| *s >= 1.0)
            .map(|(a, s)| format!("{a} {s:.0}%"))
            .collect();
        let _ = writeln!(out, "{}.\n", areas.join(", "));
        let _ = writeln!(out, "| share | symbol |\n|---:|---|");
        for (share, symbol) in &p.symbols {
            let symbol: String = symbol.chars().take(110).collect();
            let _ = writeln!(
                out,
                "| {share:.1}% | `{}` |",
                symbol.replace('|', "\\|").replace('`', "'")
            );
        }
        let _ = writeln!(out);
    }
    out
}
