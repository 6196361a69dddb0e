//! The module graph, read from the code's own paths: every module of `src/` names
//! only modules below it in the order docs/ARCHITECTURE.md gives, so no module
//! imports upward and there is no cycle. A new module must take its place here.

/// From the floor up (docs/ARCHITECTURE.md, "Layering").
const ORDER: &[&str] = &[
    "clock",
    "vocab",
    "metrics",
    "report",
    "telemetry",
    "store",
    "usage",
    "signing",
    "apikeys",
    "sso",
    "workspaces",
    "audit",
    "access",
    "webhooks",
    "oauth",
    "people",
    "sessions",
    "devices",
    "feed",
    "config",
    "app",
    "http",
    "cli",
];

/// Every `.rs` file under `dir`.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules `line` names as `crate::<module>`, comments aside.
fn named(line: &str) -> Vec<&str> {
    let code = line.split("//").next().unwrap_or_default();
    code.match_indices("crate::")
        .map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            &rest[..end.unwrap_or(rest.len())]
        })
        .collect()
}

#[test]
fn every_module_names_only_modules_below_it() {
    let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    sources(src, &mut files);
    let rank = |module: &str| ORDER.iter().position(|m| *m == module);
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| panic!("src/{module} has no place in ORDER"));
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for other in named(line) {
                match rank(other) {
                    Some(theirs) if theirs > own => upward.push(format!(
                        "{}:{}: {module} -> {other}",
                        relative.display(),
                        n + 1
                    )),
                    Some(_) => {}
                    None => {
                        panic!("src/{}:{}: crate::{other} has no place", relative.display(), n + 1)
                    }
                }
            }
        }
    }
    assert!(upward.is_empty(), "imports upward:\n{}", upward.join("\n"));
}

#[test]
fn the_order_is_the_one_the_architecture_page_gives() {
    let page = include_str!("../../docs/ARCHITECTURE.md");
    let layering = page.split("## Layering").nth(1).unwrap().split("```").nth(1).unwrap();
    let listed: Vec<&str> = layering
        .lines()
        .filter_map(|l| l.split("  ").next())
        .flat_map(|names| names.split(", "))
        .map(str::trim)
        .filter(|m| !m.is_empty() && !m.starts_with("text"))
        .collect();
    let mut from_the_floor: Vec<&str> = listed.into_iter().rev().collect();
    from_the_floor.dedup();
    assert_eq!(from_the_floor, ORDER, "docs/ARCHITECTURE.md lists the modules, top first");
}
