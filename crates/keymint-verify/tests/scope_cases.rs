//! The scope case set that every recipe of docs/resource-servers.md answers too
//! (keymint's `tests/api/recipes.rs`), against this library.

use keymint_verify::scope::Scope;

fn covers(granted: &str, requested: &str) -> bool {
    match (Scope::parse(granted), Scope::parse(requested)) {
        (Ok(g), Ok(r)) => g.covers(&r),
        _ => false,
    }
}

#[test]
fn the_library_gives_every_answer_of_the_case_set() {
    let cases: serde_json::Value =
        serde_json::from_str(include_str!("scope_cases.json")).expect("the case set is JSON");
    let texts = |name: &str| -> Vec<String> {
        cases[name]
            .as_array()
            .expect(name)
            .iter()
            .map(|s| s.as_str().expect("text").to_string())
            .collect()
    };
    for scope in texts("valid") {
        assert!(Scope::parse(&scope).is_ok(), "{scope:?} is valid");
    }
    let invalid = texts("invalid");
    assert!(invalid.iter().any(|s| s.len() > 200), "the set holds an over-long scope");
    for scope in invalid {
        assert!(Scope::parse(&scope).is_err(), "{scope:?} is invalid");
    }
    let list = cases["covers"].as_array().expect("covers");
    assert!(list.len() > 30);
    for case in list {
        let (granted, requested) =
            (case[0].as_str().expect("granted"), case[1].as_str().expect("requested"));
        let expected = case[2].as_bool().expect("expected");
        assert_eq!(covers(granted, requested), expected, "{granted} covers {requested}");
    }
}
