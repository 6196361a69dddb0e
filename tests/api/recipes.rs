//! The Node and Python recipes of docs/resource-servers.md, extracted from the
//! page as it stands and run against a real keymint: each answers the list of
//! `resource_conformance.rs` as the Rust library does, and gives the library's
//! answers for the scope case set. Their dependencies come from
//! `interop/install`; under `CI=true` a missing install is a failure
//! (`ci_runs_the_recipe_tests`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::Backend;
use crate::helpers::Running;
use crate::resource_conformance::{the_list, Fixture, AUDIENCE};

crate::on_both_backends_when!(
    keymint_interop_installed,
    "recipe tests skipped: run interop/install",
    "recipe or PostgreSQL run skipped: interop/install not run or TEST_DATABASE_URL not set",
    the_node_recipe_answers_every_case_of_the_list,
    the_python_recipe_answers_every_case_of_the_list,
);

#[test]
fn ci_runs_the_recipe_tests() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        !ci || cfg!(keymint_interop_installed),
        "CI=true but the recipes' dependencies were not installed when the tests were built: \
         run interop/install"
    );
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The code blocks of docs/resource-servers.md marked `<!-- recipe: dir/file -->`,
/// as (file, text).
fn recipes(dir: &str) -> Vec<(String, String)> {
    let page = std::fs::read_to_string(root().join("docs/resource-servers.md")).unwrap();
    let mut found = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("<!-- recipe: ").and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        assert!(lines.next().is_some_and(|l| l.starts_with("```")), "{name}: a code block follows");
        let text: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
        if let Some(file) = name.strip_prefix(&format!("{dir}/")) {
            found.push((file.to_string(), text.join("\n") + "\n"));
        }
    }
    found
}

/// The recipes of `dir` written out in a fresh folder.
fn written(dir: &str) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let files = recipes(dir);
    assert!(files.len() >= 2, "docs/resource-servers.md holds the {dir} recipe");
    for (file, text) in files {
        std::fs::write(folder.path().join(file), text).unwrap();
    }
    folder
}

/// How to run a recipe of each language, from the folder it was written to.
fn program(dir: &str) -> (PathBuf, &'static str) {
    match dir {
        "node" => ("node".into(), "server.mjs"),
        _ => (root().join("interop/python/.venv/bin/python"), "app.py"),
    }
}

/// The Node recipe resolves its packages from interop/node's install.
fn link_node_modules(folder: &Path) {
    std::os::unix::fs::symlink(
        root().join("interop/node/node_modules"),
        folder.join("node_modules"),
    )
    .unwrap();
}

/// Starts the recipe's API against `fx`'s keymint; its address once it answers.
async fn start_recipe(dir: &str, folder: &Path, fx: &Fixture) -> (Running, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (program, main) = program(dir);
    let log = std::fs::File::create(folder.join("stderr.log")).unwrap();
    let child = Command::new(program)
        .arg(main)
        .current_dir(folder)
        .env("KEYMINT_ISSUER", &fx.app.issuer)
        .env("API_AUDIENCE", AUDIENCE)
        .env("KEYMINT_INTROSPECT_ID", &fx.introspector.0)
        .env("KEYMINT_INTROSPECT_SECRET", &fx.introspector.1)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if let Some(status) = running.0.try_wait().unwrap() {
            let log = std::fs::read_to_string(folder.join("stderr.log")).unwrap_or_default();
            panic!("the {dir} recipe exited ({status}): {log}");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (running, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the {dir} recipe did not listen within 30 s");
}

async fn answers_the_list(dir: &str, backend: Backend) {
    let fx = Fixture::new(backend).await;
    let folder = written(dir);
    if dir == "node" {
        link_node_modules(folder.path());
    }
    let (_running, base) = start_recipe(dir, folder.path(), &fx).await;
    the_list(&fx, &base).await;
}

async fn the_node_recipe_answers_every_case_of_the_list(backend: Backend) {
    answers_the_list("node", backend).await;
}

async fn the_python_recipe_answers_every_case_of_the_list(backend: Backend) {
    answers_the_list("python", backend).await;
}

/// The scope case set, and the answers the Rust library gives for it.
fn cases_and_library_answers() -> (PathBuf, Value) {
    use keymint_verify::scope::Scope;
    let path = root().join("crates/keymint-verify/tests/scope_cases.json");
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let valid = |list: &Value| -> Vec<bool> {
        list.as_array().unwrap().iter().map(|s| Scope::parse(s.as_str().unwrap()).is_ok()).collect()
    };
    let covers: Vec<bool> = cases["covers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            match (Scope::parse(c[0].as_str().unwrap()), Scope::parse(c[1].as_str().unwrap())) {
                (Ok(g), Ok(r)) => g.covers(&r),
                _ => false,
            }
        })
        .collect();
    let answers = json!({"valid": valid(&cases["valid"]), "invalid": valid(&cases["invalid"]), "covers": covers});
    (path, answers)
}

/// A recipe's answers for the case set: the same JSON shape, from its own
/// `parseScope`/`parse_scope` and `covers`.
fn recipe_answers(dir: &str, cases: &Path) -> Value {
    let folder = written(dir);
    let script = match dir {
        "node" => {
            link_node_modules(folder.path());
            std::fs::write(
                folder.path().join("cases.mjs"),
                "import { readFileSync } from 'node:fs';\n\
                 import { parseScope, covers } from './keymint.mjs';\n\
                 const c = JSON.parse(readFileSync(process.env.CASES, 'utf8'));\n\
                 const valid = (list) => list.map((s) => parseScope(s) !== null);\n\
                 console.log(JSON.stringify({ valid: valid(c.valid), invalid: valid(c.invalid),\n\
                   covers: c.covers.map(([g, r]) => covers(g, r)) }));\n",
            )
            .unwrap();
            "cases.mjs"
        }
        _ => {
            std::fs::write(
                folder.path().join("cases.py"),
                "import json, os\n\
                 from keymint import covers, parse_scope\n\
                 c = json.load(open(os.environ['CASES']))\n\
                 valid = lambda items: [parse_scope(s) is not None for s in items]\n\
                 print(json.dumps({'valid': valid(c['valid']), 'invalid': valid(c['invalid']),\n\
                   'covers': [covers(g, r) for g, r, _ in c['covers']]}))\n",
            )
            .unwrap();
            "cases.py"
        }
    };
    let (program, _) = program(dir);
    let output = Command::new(program)
        .arg(script)
        .current_dir(folder.path())
        .env("CASES", cases)
        .output()
        .unwrap();
    assert!(output.status.success(), "{dir}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
#[cfg_attr(not(keymint_interop_installed), ignore = "recipe tests skipped: run interop/install")]
fn every_recipe_matches_scopes_as_the_library_does() {
    let (cases, library) = cases_and_library_answers();
    assert!(library["valid"].as_array().unwrap().iter().all(|v| v == true));
    assert!(library["invalid"].as_array().unwrap().iter().all(|v| v == false));
    for dir in ["node", "python"] {
        let answers = recipe_answers(dir, &cases);
        for part in ["valid", "invalid", "covers"] {
            let (mine, theirs) = (&library[part], &answers[part]);
            let differ: Vec<usize> =
                (0..mine.as_array().unwrap().len()).filter(|i| mine[i] != theirs[i]).collect();
            assert!(differ.is_empty(), "{dir} answers {part} cases {differ:?} otherwise");
        }
    }
}
