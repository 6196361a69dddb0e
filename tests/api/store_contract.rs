//! The `Store` contract: the same behaviour from every backend.

use keymint::store::{
    self, AddressUse, AuditFilter, AuditRecord, Credential, Fold, Granularity, KeyFilter,
    KeyRecord, KeyStatus, LastUse, PreviousSecret, PreviousUse, SessionHolder, SessionRecord,
    SigningKeyRecord, SigningKeyState, StoreError, StoredSecret, UsageBatch, UsageGroup,
    UsageQuery, UsageRow, WorkspaceRecord, WorkspaceSetting,
};
use keymint::vocab::{Outcome, Tally};
use serde_json::json;

use crate::helpers::{Backend, TestDatabase};
use crate::on_both_backends;
use keymint::vocab::scope::Scope;
use keymint::vocab::{Action, Target};

fn audit(target: &str, action: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        at_us: 1_000,
        actor: "tester".into(),
        actor_email: None,
        actor_ip: Some("192.0.2.1".into()),
        workspace_id: Some("ws_a".into()),
        action: Action::parse(action).expect("an action the audit log knows"),
        target_id: target.into(),
        details: json!({"changed": ["x", "y"]}),
        event: None,
    }
}

fn key(id: &str, workspace: &str, name: &str, created_at: i64) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        workspace_id: workspace.into(),
        name: name.into(),
        description: "d".into(),
        environment: "production".into(),
        key_type: "access".into(),
        scopes: vec![Scope::parse("read:a/*").unwrap()],
        allowed_cidrs: vec!["10.0.0.0/8".into()],
        audiences: vec!["https://a".into()],
        expires_at: None,
        status: KeyStatus::Active,
        credential: Credential::secret(StoredSecret {
            hash: "sha256:00".into(),
            masked: "km_live_****abcd".into(),
            imported: false,
            lookup: None,
        }),
        dpop_bound: false,
        claims: serde_json::Map::new(),
        owner: None,
        federated: Vec::new(),
        previous_use: None,
        created_at,
        created_by: Some("tester".into()),
        updated_at: created_at,
        last_used_at: None,
        last_used_ip: None,
        rotated_at: None,
        revoked_at: None,
        revoked_by: None,
        version: 1,
    }
}

async fn open(backend: Backend) -> (TestDatabase, std::sync::Arc<dyn store::Store>) {
    let db = TestDatabase::new(backend).await;
    let store = store::open(&db.url).await.expect("store opens");
    let ws = WorkspaceRecord { id: "ws_a".into(), name: "a".into(), created_at: 1 };
    store.insert_workspace(&ws, &audit("ws_a", "workspace.create")).await.unwrap();
    (db, store)
}

async fn only_a_creating_open_sets_up_a_database(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let refused = store::open_existing(&db.url).await.err().expect("nothing to open yet");
    assert!(refused.to_string().contains("no keymint database at"), "{refused}");
    if backend == Backend::Sqlite {
        let file = db.url.trim_start_matches("sqlite://");
        assert!(!std::path::Path::new(file).exists(), "no file was created");
    }
    store::open(&db.url).await.expect("a creating open").close().await;
    let store = store::open_existing(&db.url).await.expect("it exists now");
    assert_eq!(store.count_keys(&Default::default()).await.unwrap(), 0);
    store.close().await;
}

async fn failures_count_in_windows_that_start_over(backend: Backend) {
    let (_db, store) = open(backend).await;
    let count = |subjects: &[(&str, i64)], now: i64| {
        let subjects: Vec<(String, i64)> =
            subjects.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        let store = store.clone();
        async move { store.count_failures(&subjects, now, 60).await.unwrap() }
    };
    assert_eq!(count(&[("ip:192.0.2.1", 1)], 100).await, [(100, 1)]);
    assert_eq!(count(&[("ip:192.0.2.1", 1)], 130).await, [(100, 2)]);
    assert_eq!(count(&[("key:k1", 1)], 130).await, [(130, 1)], "per subject");
    assert_eq!(count(&[("ip:192.0.2.1", 1)], 160).await, [(160, 1)], "a new window");
    store.purge_failures(150).await.unwrap();
    assert_eq!(count(&[("key:k1", 1)], 170).await, [(170, 1)], "purged");
    assert_eq!(count(&[("ip:192.0.2.1", 1)], 170).await, [(160, 2)], "kept");
    // Several subjects and several failures in one statement, answered in order.
    let batch = count(&[("key:k2", 3), ("ip:192.0.2.1", 2), ("key:k1", 1)], 175).await;
    assert_eq!(batch, [(175, 3), (160, 4), (170, 2)]);
    assert_eq!(count(&[("ip:192.0.2.1", 5)], 220).await, [(220, 5)], "starts over with all 5");
    assert!(count(&[], 220).await.is_empty());
}

async fn keys_round_trip_and_names_are_unique_per_workspace(backend: Backend) {
    let (_db, store) = open(backend).await;
    let k = key("k1", "ws_a", "One", 10);
    store.insert_key(&k, &audit("k1", "key.create")).await.unwrap();
    assert_eq!(store.find_key("k1").await.unwrap(), Some(k.clone()));
    assert_eq!(store.find_key("nope").await.unwrap(), None);
    let (found, seen) = store.find_keys(&["k1".into(), "nope".into()]).await.unwrap();
    assert_eq!(found, vec![k.clone()], "only the keys that exist, in one query");
    assert!(seen >= 1, "the insert's change is visible to the read: {seen}");
    assert!(store.find_keys(&[]).await.unwrap().0.is_empty());
    let dup = store.insert_key(&key("k2", "ws_a", "One", 11), &audit("k2", "key.create")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    // The failed insert wrote no audit event.
    let events = store
        .list_audit(&AuditFilter { target_id: Some("k2".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert!(events.is_empty());
    assert_eq!(store.count_keys(&Default::default()).await.unwrap(), 1);
}

async fn imported_secrets_are_found_by_their_lookup_hash(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut a = key("k1", "ws_a", "One", 10);
    if let Credential::Secret { current: Some(current), .. } = &mut a.credential {
        current.imported = true;
        current.lookup = Some("lookup-1".into());
    }
    store.insert_key(&a, &audit("k1", "key.create")).await.unwrap();
    let mut b = key("k2", "ws_a", "Two", 11);
    if let Credential::Secret { previous, .. } = &mut b.credential {
        *previous = Some(PreviousSecret {
            hash: "sha256:11".into(),
            lookup: Some("lookup-1".into()),
            expires_at: 99,
        });
    }
    store.insert_key(&b, &audit("k2", "key.create")).await.unwrap();
    store.insert_key(&key("k3", "ws_a", "Three", 12), &audit("k3", "key.create")).await.unwrap();
    assert_eq!(store.find_key("k1").await.unwrap(), Some(a), "the lookup round-trips");
    assert_eq!(
        store.find_keys_by_lookup("lookup-1").await.unwrap(),
        ["k1", "k2"],
        "current and pre-rotation secrets alike"
    );
    assert!(store.find_keys_by_lookup("lookup-2").await.unwrap().is_empty());
    store.set_secret_lookup("k3", "lookup-2").await.unwrap();
    assert_eq!(store.find_keys_by_lookup("lookup-2").await.unwrap(), ["k3"]);
    let k3 = store.find_key("k3").await.unwrap().unwrap();
    assert_eq!(k3.version, 1, "indexing a secret is not an admin's change");
}

async fn jwt_ids_are_used_once_until_purged(backend: Backend) {
    let (_db, store) = open(backend).await;
    let id = |subject: &str, jti: &str, expires_at: i64| keymint::store::UsedJti {
        subject: subject.into(),
        jti: jti.into(),
        expires_at,
    };
    let first = [id("assertion:k1", "j1", 100), id("dpop:t1", "j1", 100)];
    assert_eq!(store.use_jtis(&first).await.unwrap(), [true, true], "ids are per subject");
    let again = [id("assertion:k1", "j1", 100), id("assertion:k1", "j2", 100)];
    assert_eq!(store.use_jtis(&again).await.unwrap(), [false, true], "a replay beside a new one");
    store.purge_jtis(50).await.unwrap();
    assert_eq!(store.use_jtis(&first[..1]).await.unwrap(), [false], "kept until it expires");
    store.purge_jtis(101).await.unwrap();
    assert_eq!(store.use_jtis(&first[..1]).await.unwrap(), [true], "forgotten after");
    assert!(store.use_jtis(&[]).await.unwrap().is_empty());
}

async fn updates_check_the_version_they_read(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut k = key("k1", "ws_a", "One", 10);
    store.insert_key(&k, &audit("k1", "key.create")).await.unwrap();
    k.status = KeyStatus::Inactive;
    store.update_key(&k, &audit("k1", "key.deactivate")).await.unwrap();
    let stored = store.find_key("k1").await.unwrap().unwrap();
    assert_eq!((stored.status.as_str(), stored.version), ("inactive", 2));
    // `k` still says version 1: a stale write is refused.
    let stale = store.update_key(&k, &audit("k1", "key.update")).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let missing = store.update_key(&key("zz", "ws_a", "Z", 1), &audit("zz", "key.update")).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

async fn listing_filters_and_pages_in_a_stable_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    for i in 0..7 {
        let mut k = key(&format!("k{i}"), "ws_a", &format!("Service {i}"), 100 + i / 2);
        if i == 3 {
            k.environment = "staging".into();
        }
        store.insert_key(&k, &audit(&k.id, "key.create")).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_keys(&KeyFilter { after: after.clone(), limit: 3, ..Default::default() })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|k| (k.created_at, k.id.clone()));
        seen.extend(page.into_iter().map(|k| k.id));
    }
    assert_eq!(seen, ["k0", "k1", "k2", "k3", "k4", "k5", "k6"]);
    let search = store
        .list_keys(&KeyFilter {
            name_contains: Some("SERVICE 4".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(search.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["k4"]);
    let literal = store
        .list_keys(&KeyFilter { name_contains: Some("%".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert!(literal.is_empty(), "LIKE wildcards in the search are literal");
    let staging = store
        .list_keys(&KeyFilter {
            environment: Some("staging".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(staging.len(), 1);
}

async fn delete_removes_the_row_and_keeps_the_audit_event(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.insert_key(&key("k1", "ws_a", "One", 10), &audit("k1", "key.create")).await.unwrap();
    store.delete_key("k1", &audit("k1", "key.delete")).await.unwrap();
    assert_eq!(store.find_key("k1").await.unwrap(), None);
    assert!(matches!(
        store.delete_key("k1", &audit("k1", "key.delete")).await,
        Err(StoreError::NotFound)
    ));
    let events = store
        .list_audit(&AuditFilter { target_id: Some("k1".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.delete", "key.create"], "newest first");
    assert_eq!(events[0].details, json!({"changed": ["x", "y"]}));
    assert_eq!(events[0].actor_ip.as_deref(), Some("192.0.2.1"));
}

async fn workspaces_refuse_deletion_while_they_hold_keys(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.insert_key(&key("k1", "ws_a", "One", 10), &audit("k1", "key.create")).await.unwrap();
    let refused = store.delete_workspace("ws_a", false, &audit("ws_a", "workspace.delete")).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))));
    store.delete_workspace("ws_a", true, &audit("ws_a", "workspace.delete")).await.unwrap();
    assert_eq!(store.find_key("k1").await.unwrap(), None);
    let events = store
        .list_audit(&AuditFilter { target_id: Some("k1".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(events[0].action, "key.delete", "each removed key has its own event");
    assert_eq!(events[0].actor, "tester");
    let dup = WorkspaceRecord { id: "ws_b".into(), name: "b".into(), created_at: 1 };
    store.insert_workspace(&dup, &audit("ws_b", "workspace.create")).await.unwrap();
    let same_name = WorkspaceRecord { id: "ws_c".into(), name: "b".into(), created_at: 1 };
    assert!(matches!(
        store.insert_workspace(&same_name, &audit("ws_c", "workspace.create")).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn usage_counters_add_up_and_last_use_moves_forward(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.insert_key(&key("k1", "ws_a", "One", 10), &audit("k1", "key.create")).await.unwrap();
    store.insert_key(&key("k2", "ws_a", "Two", 10), &audit("k2", "key.create")).await.unwrap();
    let day = 1_893_456_000; // 2030-01-01
    let row = |key: &str, start, issued, wrong_secret| UsageRow {
        key_id: key.into(),
        workspace_id: String::new(),
        start,
        tally: {
            let mut t = Tally::default();
            t.count(Outcome::Issued, issued);
            t.count(Outcome::WrongSecret, wrong_secret);
            t
        },
    };
    let used =
        |at| LastUse { key_id: "k1".into(), at, ip: Some("10.0.0.1".into()), previous: None };
    let batch = |hours: Vec<UsageRow>, events: Vec<AuditRecord>| UsageBatch {
        hours,
        events,
        ..Default::default()
    };
    let uses = |last_uses: Vec<LastUse>| UsageBatch { last_uses, ..Default::default() };
    store
        .record_usage(&batch(
            vec![row("k1", day, 3, 1), row("k1", day + 3_600, 1, 0), row("k2", day, 0, 4)],
            vec![audit("k1", "token.refused")],
        ))
        .await
        .unwrap();
    store.record_usage(&batch(vec![row("k1", day, 2, 0)], vec![])).await.unwrap();
    store.record_usage(&uses(vec![used(50)])).await.unwrap();
    let read = UsageQuery {
        granularity: Granularity::Hour,
        key_ids: vec!["k1".into()],
        workspace_id: None,
        owner: None,
        from: day,
        to: day + 86_400,
    };
    assert!(
        store.usage(&read, UsageGroup::Bucket).await.unwrap().is_empty(),
        "a flush only appends to the log"
    );
    let due = Fold::Due { at: 1_000, since: 940 };
    assert!(store.fold_usage(due).await.unwrap(), "the first fold is due");
    assert!(
        !store.fold_usage(Fold::Due { at: 1_010, since: 950 }).await.unwrap(),
        "not due again within the interval, whichever instance asks"
    );
    store.record_usage(&uses(vec![used(40)])).await.unwrap();
    assert!(store.fold_usage(Fold::Now { at: 1_020 }).await.unwrap(), "a read's fold runs now");
    let query = |granularity, key_ids: &[&str], workspace: Option<&str>| UsageQuery {
        granularity,
        key_ids: key_ids.iter().map(|k| k.to_string()).collect(),
        workspace_id: workspace.map(Into::into),
        owner: None,
        from: day,
        to: day + 86_400,
    };
    let hours =
        store.usage(&query(Granularity::Hour, &["k1"], None), UsageGroup::Bucket).await.unwrap();
    let counts: Vec<(i64, i64, i64)> =
        hours.iter().map(|r| (r.start, r.tally.issued, r.tally.failed)).collect();
    assert_eq!(counts, [(day, 5, 1), (day + 3_600, 1, 0)], "rows add up per bucket");
    assert_eq!(hours[0].tally.get(Outcome::WrongSecret), 1, "refusals keep their reason");
    let days = store
        .usage(&query(Granularity::Day, &[], Some("ws_a")), UsageGroup::KeyAndBucket)
        .await
        .unwrap();
    let per_key: Vec<(&str, &str, i64, i64)> = days
        .iter()
        .map(|r| (r.key_id.as_str(), r.workspace_id.as_str(), r.tally.issued, r.tally.failed))
        .collect();
    assert_eq!(per_key, [("k1", "ws_a", 6, 1), ("k2", "ws_a", 0, 4)], "the workspace is the key's");
    for (refusals, expected) in [(false, vec!["k1"]), (true, vec!["k2", "k1"])] {
        let group = UsageGroup::TopKeys { refusals, limit: 5 };
        let rows = store.usage(&query(Granularity::Day, &[], None), group).await.unwrap();
        let keys: Vec<&str> = rows.iter().map(|r| r.key_id.as_str()).collect();
        assert_eq!(keys, expected, "the most first, keys with none left out");
    }
    store.record_usage(&batch(vec![row("nobody", day, 0, 9)], vec![])).await.unwrap();
    store.fold_usage(Fold::Now { at: 1_030 }).await.unwrap();
    assert!(
        store
            .usage(&query(Granularity::Day, &["nobody"], None), UsageGroup::Bucket)
            .await
            .unwrap()
            .is_empty(),
        "ids that are not keys are dropped"
    );
    let counted_in_ws_a =
        UsageRow { workspace_id: "ws_a".into(), ..row("deleted-since", day, 1, 0) };
    store.record_usage(&batch(vec![counted_in_ws_a], vec![])).await.unwrap();
    store.fold_usage(Fold::Now { at: 1_040 }).await.unwrap();
    let kept = store
        .usage(&query(Granularity::Hour, &["deleted-since"], Some("ws_a")), UsageGroup::Bucket)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "counts taken with their key's workspace stay");
    let address = |address: &str, issued| AddressUse {
        key_id: "k1".into(),
        day,
        address: address.into(),
        issued,
    };
    let addresses = vec![address("10.0.0.1", 2), address("10.0.0.2", 5)];
    store.record_usage(&UsageBatch { addresses, ..Default::default() }).await.unwrap();
    store
        .record_usage(&UsageBatch { addresses: vec![address("10.0.0.1", 4)], ..Default::default() })
        .await
        .unwrap();
    store.fold_usage(Fold::Now { at: 1_050 }).await.unwrap();
    assert_eq!(
        store.address_usage("k1", day).await.unwrap(),
        [("10.0.0.1".to_string(), 6), ("10.0.0.2".to_string(), 5)],
        "tokens per address add up, most first"
    );
    assert!(store.address_usage("k1", day + 86_400).await.unwrap().is_empty());
    store.purge_usage(day + 3_600, day).await.unwrap();
    let hours =
        store.usage(&query(Granularity::Hour, &["k1"], None), UsageGroup::Bucket).await.unwrap();
    assert_eq!(hours.len(), 1, "hours before the cut are gone");
    assert!(store.address_usage("k1", 0).await.unwrap().is_empty(), "addresses go with hours");
    let days =
        store.usage(&query(Granularity::Day, &["k1"], None), UsageGroup::Bucket).await.unwrap();
    let totals: Vec<(i64, i64, i64)> =
        days.iter().map(|r| (r.start, r.tally.issued, r.tally.failed)).collect();
    assert_eq!(totals, [(day, 6, 1)], "expired hours roll up into their day: nothing is lost");
    store.purge_usage(day + 3_600, day).await.unwrap();
    let again =
        store.usage(&query(Granularity::Day, &["k1"], None), UsageGroup::Bucket).await.unwrap();
    assert_eq!(again, days, "a second roll-up (another instance's) counts nothing twice");
    store.purge_usage(day + 2 * 86_400, day + 86_400).await.unwrap();
    assert!(
        store
            .usage(&query(Granularity::Day, &["k1"], None), UsageGroup::Bucket)
            .await
            .unwrap()
            .is_empty(),
        "days before their cut are gone"
    );
    let events = store
        .list_audit(&AuditFilter {
            action: Some("token.refused".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "events gathered on the token path are written with the batch");
    let k = store.find_key("k1").await.unwrap().unwrap();
    assert_eq!(k.last_used_at, Some(50), "an older mark never moves it back");
    assert_eq!(k.previous_use, None);

    // Uses of an old secret count only while the key has one (a grace is running).
    let old = |count, at, ip: &str| LastUse {
        previous: Some(PreviousUse { count, at, ip: Some(ip.into()) }),
        ..used(at)
    };
    store.record_usage(&uses(vec![old(2, 60, "10.0.0.2")])).await.unwrap();
    store.fold_usage(Fold::Now { at: 1_060 }).await.unwrap();
    assert_eq!(store.find_key("k1").await.unwrap().unwrap().previous_use, None, "no grace");
    let mut k = store.find_key("k1").await.unwrap().unwrap();
    if let Credential::Secret { previous, .. } = &mut k.credential {
        *previous =
            Some(PreviousSecret { hash: "sha256:old".into(), lookup: None, expires_at: 1_000 });
    }
    store.update_key(&k, &audit("k1", "key.rotate")).await.unwrap();
    // Two instances' flushes in one fold, then a third in the next.
    store.record_usage(&uses(vec![old(2, 60, "10.0.0.2")])).await.unwrap();
    store.record_usage(&uses(vec![old(1, 52, "10.0.0.4")])).await.unwrap();
    store.fold_usage(Fold::Now { at: 1_070 }).await.unwrap();
    store.record_usage(&uses(vec![old(2, 55, "10.0.0.3")])).await.unwrap();
    store.fold_usage(Fold::Now { at: 1_080 }).await.unwrap();
    let k = store.find_key("k1").await.unwrap().unwrap();
    assert_eq!(
        k.previous_use,
        Some(PreviousUse { count: 5, at: 60, ip: Some("10.0.0.2".into()) }),
        "counts add up, and the latest use wins, with its address"
    );
}

/// Instances flush while others fold: every flush counts once, whichever fold
/// takes it, and each key's last use is the latest of all.
async fn folds_under_concurrent_flushes_count_each_flush_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let keys = ["c1", "c2", "c3", "c4", "c5"];
    for id in keys {
        store.insert_key(&key(id, "ws_a", id, 10), &audit(id, "key.create")).await.unwrap();
    }
    let hour = 1_893_456_000;
    let flusher = |instance: i64| {
        let store = store.clone();
        async move {
            for n in 0..25 {
                let at = hour + instance * 100 + n;
                let batch = UsageBatch {
                    hours: keys
                        .iter()
                        .map(|id| UsageRow {
                            key_id: id.to_string(),
                            workspace_id: "ws_a".into(),
                            start: hour,
                            tally: Tally::of(Outcome::Issued),
                        })
                        .collect(),
                    last_uses: keys
                        .iter()
                        .map(|id| LastUse { key_id: id.to_string(), at, ip: None, previous: None })
                        .collect(),
                    ..Default::default()
                };
                store.record_usage(&batch).await.unwrap();
            }
        }
    };
    let folder = |first: i64| {
        let store = store.clone();
        async move {
            for n in 0..10 {
                let at = first + n;
                let fold = if n % 2 == 0 { Fold::Now { at } } else { Fold::Due { at, since: at } };
                store.fold_usage(fold).await.unwrap();
            }
        }
    };
    futures::future::join(
        futures::future::join_all((0..4).map(flusher)),
        futures::future::join(folder(0), folder(100)),
    )
    .await;
    store.fold_usage(Fold::Now { at: 1_000 }).await.unwrap();
    let query = UsageQuery {
        granularity: Granularity::Hour,
        key_ids: vec![],
        workspace_id: Some("ws_a".into()),
        owner: None,
        from: hour,
        to: hour + 3_600,
    };
    let rows = store.usage(&query, UsageGroup::KeyAndBucket).await.unwrap();
    let issued: Vec<(&str, i64)> =
        rows.iter().map(|r| (r.key_id.as_str(), r.tally.issued)).collect();
    assert_eq!(issued, keys.map(|id| (id, 100)), "4 instances x 25 flushes, each once");
    for id in keys {
        let found = store.find_key(id).await.unwrap().unwrap();
        assert_eq!(found.last_used_at, Some(hour + 324), "the latest use of all: {id}");
    }
}

/// A fold that stopped after adding up the log (the process died before every use
/// of an old secret reached its key) leaves them pending; the next fold adds them.
/// And a background fold does not wait for one under way elsewhere: it skips.
async fn a_fold_finishes_what_an_interrupted_one_left_and_skips_one_under_way(backend: Backend) {
    let (db, store) = open(backend).await;
    store.insert_key(&key("k1", "ws_a", "One", 10), &audit("k1", "key.create")).await.unwrap();
    let mut k = store.find_key("k1").await.unwrap().unwrap();
    if let Credential::Secret { previous, .. } = &mut k.credential {
        *previous =
            Some(PreviousSecret { hash: "sha256:old".into(), lookup: None, expires_at: 1_000 });
    }
    store.update_key(&k, &audit("k1", "key.rotate")).await.unwrap();
    db.execute(
        "INSERT INTO usage_previous_uses (key_id, previous_count, previous_at, previous_ip) \
         VALUES ('k1', 3, 77, '10.0.0.7')",
    )
    .await;
    assert_eq!(store.find_key("k1").await.unwrap().unwrap().previous_use, None);
    assert!(store.fold_usage(Fold::Now { at: 100 }).await.unwrap());
    assert_eq!(
        store.find_key("k1").await.unwrap().unwrap().previous_use,
        Some(PreviousUse { count: 3, at: 77, ip: Some("10.0.0.7".into()) })
    );
    if backend == Backend::Postgres {
        let lock = crate::helpers::TableLock::take(&db, "usage_folds").await;
        let due = Fold::Due { at: 1_000, since: 900 };
        let skipped =
            tokio::time::timeout(std::time::Duration::from_secs(5), store.fold_usage(due));
        assert!(!skipped.await.expect("no wait").unwrap(), "another fold is under way: skipped");
        lock.release().await;
        assert!(store.fold_usage(due).await.unwrap(), "due once the other is done");
    }
}

/// A key's last use is the later of its row's (written by releases before the
/// usage log) and the folds', in the record, the filters and the order alike; the
/// last uses of deleted keys go with the next purge.
async fn a_keys_last_use_is_the_later_of_its_rows_and_the_folds(backend: Backend) {
    let (db, store) = open(backend).await;
    for (id, created) in [("old", 10), ("new", 20), ("idle", 30)] {
        store.insert_key(&key(id, "ws_a", id, created), &audit(id, "key.create")).await.unwrap();
    }
    // An older release wrote "old" and "new" last uses into their rows.
    db.execute(
        "UPDATE api_keys SET last_used_at = 500, last_used_ip = '10.0.0.5' \
         WHERE id IN ('old', 'new')",
    )
    .await;
    let used = |id: &str, at, ip: &str| LastUse {
        key_id: id.into(),
        at,
        ip: Some(ip.into()),
        previous: None,
    };
    let batch = UsageBatch {
        last_uses: vec![used("old", 300, "10.0.0.3"), used("new", 700, "10.0.0.7")],
        ..Default::default()
    };
    store.record_usage(&batch).await.unwrap();
    store.fold_usage(Fold::Now { at: 1_000 }).await.unwrap();
    let last = |id: &'static str| {
        let store = store.clone();
        async move {
            let k = store.find_key(id).await.unwrap().unwrap();
            (k.last_used_at, k.last_used_ip)
        }
    };
    assert_eq!(last("old").await, (Some(500), Some("10.0.0.5".into())), "the row's is later");
    assert_eq!(last("new").await, (Some(700), Some("10.0.0.7".into())), "the fold's is later");
    assert_eq!(last("idle").await, (None, None));
    let ids = |filter: KeyFilter| {
        let store = store.clone();
        async move {
            let keys = store.list_keys(&KeyFilter { limit: 10, ..filter }).await.unwrap();
            keys.into_iter().map(|k| k.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(KeyFilter { never_used: true, ..Default::default() }).await, ["idle"]);
    let unused = KeyFilter { unused_since: Some(600), ..Default::default() };
    assert_eq!(ids(unused).await, ["old", "idle"], "old last used at 500, idle never");
    let sort = store::KeySort { by: store::KeyOrder::LastUsed, descending: true };
    assert_eq!(ids(KeyFilter { sort, ..Default::default() }).await, ["new", "old", "idle"]);
    store.delete_key("new", &audit("new", "key.delete")).await.unwrap();
    store.purge_usage(0, 0).await.unwrap();
    store.insert_key(&key("new", "ws_a", "new", 40), &audit("new", "key.create")).await.unwrap();
    assert_eq!(last("new").await, (None, None), "a deleted key's last use went with it");
}

async fn only_one_signing_key_is_current(backend: Backend) {
    let (_db, store) = open(backend).await;
    let record = |kid: &str| SigningKeyRecord {
        kid: kid.into(),
        alg: keymint::vocab::Algorithm::Es256,
        state: keymint::store::SigningKeyState::Current,
        public_jwk: "{}".into(),
        sealed_private: vec![1, 2, 3],
        master_key_id: "m".into(),
        created_at: 1,
        activated_at: Some(1),
        retired_at: None,
    };
    store.insert_signing_key(&record("a"), &audit("a", "signing_key.create")).await.unwrap();
    let second = store.insert_signing_key(&record("b"), &audit("b", "signing_key.create")).await;
    assert!(matches!(second, Err(StoreError::Conflict(_))));
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].sealed_private, vec![1, 2, 3]);
}

fn signing_key(kid: &str, state: SigningKeyState) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg: keymint::vocab::Algorithm::Es256,
        state,
        public_jwk: "{}".into(),
        sealed_private: vec![1, 2, 3],
        master_key_id: "m".into(),
        created_at: 1,
        activated_at: (state == SigningKeyState::Current).then_some(1),
        retired_at: None,
    }
}

async fn workspaces_are_found_listed_and_renamed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let b = WorkspaceRecord { id: "ws_b".into(), name: "b".into(), created_at: 2 };
    store.insert_workspace(&b, &audit("ws_b", "workspace.create")).await.unwrap();
    assert_eq!(store.get_workspace("ws_b").await.unwrap(), b);
    assert!(matches!(store.get_workspace("ws_z").await, Err(StoreError::NotFound)));
    assert_eq!(store.find_workspace_by_name("b").await.unwrap(), Some(b.clone()));
    assert_eq!(store.find_workspace_by_name("z").await.unwrap(), None);
    let names: Vec<String> =
        store.list_workspaces().await.unwrap().into_iter().map(|w| w.name).collect();
    assert_eq!(names, ["a", "b"], "oldest first");
    store.rename_workspace("ws_b", "bee", &audit("ws_b", "workspace.rename")).await.unwrap();
    assert_eq!(store.get_workspace("ws_b").await.unwrap().name, "bee");
    let taken = store.rename_workspace("ws_b", "a", &audit("ws_b", "workspace.rename")).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let missing = store.rename_workspace("ws_z", "z", &audit("ws_z", "workspace.rename")).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
    assert!(matches!(
        store.delete_workspace("ws_z", true, &audit("ws_z", "workspace.delete")).await,
        Err(StoreError::NotFound)
    ));
}

async fn the_audit_log_filters_and_pages_newest_first(backend: Backend) {
    let (_db, store) = open(backend).await;
    for i in 0..4 {
        let id = format!("k{i}");
        store.insert_key(&key(&id, "ws_a", &id, i), &audit(&id, "key.create")).await.unwrap();
    }
    let all = store.list_audit(&AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.len(), 5, "the workspace and four keys");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let before = Some((all[1].at_us, all[1].id));
    let page =
        store.list_audit(&AuditFilter { before, limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [all[2].id, all[3].id]);
    let by = |f: AuditFilter| {
        let store = store.clone();
        async move { store.list_audit(&AuditFilter { limit: 100, ..f }).await.unwrap().len() }
    };
    assert_eq!(by(AuditFilter { actor: Some("tester".into()), ..Default::default() }).await, 5);
    assert_eq!(by(AuditFilter { actor: Some("other".into()), ..Default::default() }).await, 0);
    assert_eq!(
        by(AuditFilter { action: Some("key.create".into()), ..Default::default() }).await,
        4
    );
    assert_eq!(
        by(AuditFilter { workspace_id: Some("ws_a".into()), ..Default::default() }).await,
        5
    );
    assert_eq!(
        by(AuditFilter { workspace_id: Some("ws_z".into()), ..Default::default() }).await,
        0
    );
    // An event written late (a batch of the token path) is listed when it happened.
    let late = AuditRecord { at_us: 999, ..audit("k9", "token.refused") };
    store.record_usage(&UsageBatch { events: vec![late], ..Default::default() }).await.unwrap();
    let all = store.list_audit(&AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(all.last().unwrap().action, "token.refused", "oldest, though written last");
    let page = store
        .list_audit(&AuditFilter { before: Some((1_000, 0)), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page.len(), 1, "the cursor pages by time too");
    assert_eq!(by(AuditFilter { from: Some(1_000), ..Default::default() }).await, all.len() - 1);
    assert_eq!(by(AuditFilter { to: Some(1_000), ..Default::default() }).await, 1);
    let from_here = AuditFilter { actor_ip: Some("192.0.2.1".into()), ..Default::default() };
    assert_eq!(by(from_here).await, all.len());
    let elsewhere = AuditFilter { actor_ip: Some("198.51.100.9".into()), ..Default::default() };
    assert_eq!(by(elsewhere).await, 0);
}

async fn signing_key_transitions_tell_the_loser_of_a_race(backend: Backend) {
    let (_db, store) = open(backend).await;
    let event = |kid: &str| audit(kid, "signing_key.rotate");
    store
        .insert_signing_key(&signing_key("a", SigningKeyState::Current), &event("a"))
        .await
        .unwrap();
    store.insert_signing_key(&signing_key("b", SigningKeyState::Next), &event("b")).await.unwrap();
    let second_next =
        store.insert_signing_key(&signing_key("c", SigningKeyState::Next), &event("c")).await;
    assert!(matches!(second_next, Err(StoreError::Conflict(_))), "one next key at a time");

    assert!(store.rotate_signing_keys("a", "b", 5, &event("b")).await.unwrap());
    assert!(!store.rotate_signing_keys("a", "b", 6, &event("b")).await.unwrap(), "lost the race");
    let states = |keys: Vec<SigningKeyRecord>| {
        keys.into_iter().map(|k| (k.kid, k.state)).collect::<Vec<_>>()
    };
    assert_eq!(
        states(store.list_signing_keys().await.unwrap()),
        [("a".into(), SigningKeyState::Retired), ("b".into(), SigningKeyState::Current)]
    );
    let retired = store.list_signing_keys().await.unwrap().remove(0);
    assert_eq!(retired.retired_at, Some(5));

    let replacement = signing_key("d", SigningKeyState::Current);
    assert!(!store.replace_current_signing_key("a", &replacement, &event("d")).await.unwrap());
    assert!(store.replace_current_signing_key("b", &replacement, &event("d")).await.unwrap());
    assert!(store.delete_signing_key("a", &event("a")).await.unwrap());
    assert!(!store.delete_signing_key("a", &event("a")).await.unwrap(), "already gone");
    assert_eq!(
        states(store.list_signing_keys().await.unwrap()),
        [("d".into(), SigningKeyState::Current)]
    );

    let mut resealed = store.list_signing_keys().await.unwrap();
    resealed[0].sealed_private = vec![9, 9];
    resealed[0].master_key_id = "m2".into();
    store.reseal_signing_keys(&resealed, &event("d")).await.unwrap();
    let stored = store.list_signing_keys().await.unwrap().remove(0);
    assert_eq!((stored.sealed_private, stored.master_key_id), (vec![9, 9], "m2".into()));
}

async fn the_change_feed_lists_prunes_and_announces(backend: Backend) {
    let (_db, store) = open(backend).await;
    let before = store.latest_change().await.unwrap();
    store.insert_key(&key("k1", "ws_a", "One", 10), &audit("k1", "key.create")).await.unwrap();
    let after = store.latest_change().await.unwrap();
    assert!(after > before);
    let changes = store.changes_since(before, 10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].kind, changes[0].target.as_str()), (Some(Target::Key), "k1"));
    assert!(store.changes_since(after, 10).await.unwrap().is_empty());
    // Token-path events change nothing other instances must see.
    let events = vec![audit("k1", "token.refused")];
    store.record_usage(&UsageBatch { events, ..Default::default() }).await.unwrap();
    assert_eq!(store.latest_change().await.unwrap(), after);
    store.prune_changes(i64::MAX).await.unwrap();
    assert!(store.changes_since(0, 10).await.unwrap().is_empty());

    // A committed change is announced to a listener (PostgreSQL NOTIFY); without
    // notifications, the wait simply times out.
    let short = std::time::Duration::from_millis(1);
    assert!(!store.wait_for_change(short).await.unwrap(), "nothing yet; now listening");
    store.insert_key(&key("k2", "ws_a", "Two", 11), &audit("k2", "key.create")).await.unwrap();
    let wait = match backend {
        Backend::Postgres => std::time::Duration::from_secs(10),
        Backend::Sqlite => std::time::Duration::from_millis(100),
    };
    assert_eq!(store.wait_for_change(wait).await.unwrap(), backend == Backend::Postgres);
}

async fn revoked_tokens_are_remembered_until_they_expire(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.revoke_token("jti-1", "k1", 100, 50).await.unwrap();
    store.revoke_token("jti-1", "k1", 100, 50).await.unwrap();
    assert!(store.is_token_revoked("jti-1").await.unwrap());
    assert!(!store.is_token_revoked("jti-2").await.unwrap());
    // A later revocation forgets those that expired before its `now`.
    store.revoke_token("jti-2", "k1", 300, 200).await.unwrap();
    assert!(!store.is_token_revoked("jti-1").await.unwrap());
    assert!(store.is_token_revoked("jti-2").await.unwrap());
    // Read back whole for memory, unexpired only, and announced on the feed.
    store.revoke_token("jti-3", "k1", 250, 200).await.unwrap();
    let held = store.revoked_tokens(200, 10).await.unwrap();
    assert_eq!(held, [("jti-3".to_string(), 250), ("jti-2".to_string(), 300)]);
    assert_eq!(store.revoked_tokens(260, 10).await.unwrap(), [("jti-2".to_string(), 300)]);
    assert_eq!(store.revoked_tokens(200, 1).await.unwrap().len(), 1, "at most the limit");
    let changes = store.changes_since(0, 100).await.unwrap();
    let announced: Vec<&str> = changes
        .iter()
        .filter(|c| c.kind == Some(keymint::vocab::Target::Token))
        .map(|c| c.target.as_str())
        .collect();
    assert_eq!(announced, ["jti-1", "jti-1", "jti-2", "jti-3"]);
}

async fn ping_writes_and_close_ends_the_connections(backend: Backend) {
    let (_db, store) = open(backend).await;
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(store.backend(), name);
    store.ping().await.unwrap();
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
}

async fn console_sessions_are_found_touched_pruned_and_ended(backend: Backend) {
    let (_db, store) = open(backend).await;
    let changes_before = store.latest_change().await.unwrap();
    let session = |hash: &str, created_at: i64, seen_at: i64| SessionRecord {
        id_hash: hash.into(),
        holder: SessionHolder::Key { key_id: "k1".into(), secret_tag: "tag12345".into() },
        created_at,
        seen_at,
    };
    let old = session("h-old", 100, 100);
    store.insert_session(&old, &audit("k1", "session.sign_in"), 0, 0).await.unwrap();
    assert_eq!(store.find_session("h-old").await.unwrap(), Some(old));
    store.touch_session("h-old", 150).await.unwrap();
    assert_eq!(store.find_session("h-old").await.unwrap().unwrap().seen_at, 150);
    // A new sign-in prunes sessions idle since before 200 (h-old) but keeps h-live.
    let live = session("h-live", 190, 250);
    store.insert_session(&live, &audit("k1", "session.sign_in"), 0, 0).await.unwrap();
    store
        .insert_session(&session("h-new", 300, 300), &audit("k1", "session.sign_in"), 200, 0)
        .await
        .unwrap();
    assert_eq!(store.find_session("h-old").await.unwrap(), None, "idle: pruned");
    assert!(store.find_session("h-live").await.unwrap().is_some());
    store
        .insert_session(&session("h-3", 400, 400), &audit("k1", "session.sign_in"), 0, 195)
        .await
        .unwrap();
    assert_eq!(store.find_session("h-live").await.unwrap(), None, "too old: pruned");
    // Sign-in events are audited but announce no change to other instances.
    assert_eq!(store.latest_change().await.unwrap(), changes_before);
    let events = store.list_audit(&AuditFilter { limit: 10, ..AuditFilter::default() }).await;
    assert_eq!(
        events.unwrap().iter().filter(|e| e.action == "session.sign_in").count(),
        4,
        "every sign-in is audited"
    );
    assert!(store.delete_session("h-new", Some(&audit("k1", "session.sign_out"))).await.unwrap());
    assert!(!store.delete_session("h-new", None).await.unwrap(), "already ended");
    assert_eq!(store.find_session("h-new").await.unwrap(), None);
}

async fn a_held_secret_is_taken_once_and_ends_with_its_session(backend: Backend) {
    let (_db, store) = open(backend).await;
    let session = SessionRecord {
        id_hash: "h".into(),
        holder: SessionHolder::Key { key_id: "k1".into(), secret_tag: "t".into() },
        created_at: 1,
        seen_at: 1,
    };
    store.insert_session(&session, &audit("k1", "session.sign_in"), 0, 0).await.unwrap();
    assert_eq!(store.take_reveal("h").await.unwrap(), None);
    store.put_reveal("h", "k1", b"sealed-one", 2).await.unwrap();
    store.put_reveal("h", "k2", b"sealed-two", 3).await.unwrap();
    assert_eq!(store.take_reveal("h").await.unwrap(), Some(("k2".into(), b"sealed-two".to_vec())));
    assert_eq!(store.take_reveal("h").await.unwrap(), None, "taken once");
    store.put_reveal("h", "k1", b"sealed", 4).await.unwrap();
    store.delete_session("h", None).await.unwrap();
    assert_eq!(store.take_reveal("h").await.unwrap(), None, "gone with the session");
}

async fn hygiene_filters_find_risky_keys(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut risky = key("k1", "ws_a", "risky", 10);
    risky.scopes = vec![];
    risky.allowed_cidrs = vec![];
    let mut open_range = key("k2", "ws_a", "open", 20);
    open_range.allowed_cidrs = vec!["10.0.0.0/8".into(), "::/0".into()];
    open_range.expires_at = Some(5_000);
    open_range.last_used_at = Some(4_000);
    let mut tidy = key("k3", "ws_a", "tidy", 30);
    tidy.expires_at = Some(5_000);
    tidy.last_used_at = Some(900);
    for k in [&risky, &open_range, &tidy] {
        store.insert_key(k, &audit(&k.id, "key.create")).await.unwrap();
    }
    let ids = |f: KeyFilter| {
        let store = store.clone();
        async move {
            let keys = store.list_keys(&KeyFilter { limit: 10, ..f }).await.unwrap();
            keys.into_iter().map(|k| k.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(KeyFilter { never_expires: true, ..Default::default() }).await, ["k1"]);
    assert_eq!(ids(KeyFilter { never_used: true, ..Default::default() }).await, ["k1"]);
    assert_eq!(ids(KeyFilter { no_scope: true, ..Default::default() }).await, ["k1"]);
    assert_eq!(ids(KeyFilter { any_address: true, ..Default::default() }).await, ["k1", "k2"]);
    let stale = KeyFilter { unused_since: Some(1_000), ..Default::default() };
    assert_eq!(ids(stale).await, ["k1", "k3"], "created or last used before 1000");
}

async fn workspace_settings_are_stored_apart_and_audited(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (policy, catalog) = (WorkspaceSetting::KeyPolicy, WorkspaceSetting::ScopeCatalog);
    for setting in [policy, catalog] {
        assert_eq!(store.workspace_setting("ws_a", setting).await.unwrap(), "{}", "none set yet");
    }
    let value = r#"{"max_lifetime_days":30}"#;
    let audited = audit("ws_a", "workspace.key_policy");
    store.set_workspace_setting("ws_a", policy, value, &audited).await.unwrap();
    assert_eq!(store.workspace_setting("ws_a", policy).await.unwrap(), value);
    assert_eq!(store.workspace_setting("ws_a", catalog).await.unwrap(), "{}", "each its own");
    let listed = r#"{"resources":[{"name":"agents"}]}"#;
    let audited = audit("ws_a", "workspace.scope_catalog");
    store.set_workspace_setting("ws_a", catalog, listed, &audited).await.unwrap();
    assert_eq!(store.workspace_setting("ws_a", catalog).await.unwrap(), listed);
    assert_eq!(store.workspace_setting("ws_a", policy).await.unwrap(), value);
    let audited = audit("ws_z", "workspace.key_policy");
    let missing = store.set_workspace_setting("ws_z", policy, "{}", &audited).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
    assert!(matches!(store.workspace_setting("ws_z", policy).await, Err(StoreError::NotFound)));
    let events = store
        .list_audit(&AuditFilter {
            action: Some("workspace.key_policy".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "only the change that happened is audited");
}

on_both_backends!(
    imported_secrets_are_found_by_their_lookup_hash,
    jwt_ids_are_used_once_until_purged,
    failures_count_in_windows_that_start_over,
    only_a_creating_open_sets_up_a_database,
    workspace_settings_are_stored_apart_and_audited,
    hygiene_filters_find_risky_keys,
    console_sessions_are_found_touched_pruned_and_ended,
    a_held_secret_is_taken_once_and_ends_with_its_session,
    keys_round_trip_and_names_are_unique_per_workspace,
    updates_check_the_version_they_read,
    listing_filters_and_pages_in_a_stable_order,
    delete_removes_the_row_and_keeps_the_audit_event,
    workspaces_refuse_deletion_while_they_hold_keys,
    usage_counters_add_up_and_last_use_moves_forward,
    folds_under_concurrent_flushes_count_each_flush_once,
    a_fold_finishes_what_an_interrupted_one_left_and_skips_one_under_way,
    a_keys_last_use_is_the_later_of_its_rows_and_the_folds,
    only_one_signing_key_is_current,
    the_database_refuses_states_the_code_does_not_know,
    workspaces_are_found_listed_and_renamed,
    the_audit_log_filters_and_pages_newest_first,
    signing_key_transitions_tell_the_loser_of_a_race,
    the_change_feed_lists_prunes_and_announces,
    revoked_tokens_are_remembered_until_they_expire,
    ping_writes_and_close_ends_the_connections,
);

async fn the_database_refuses_states_the_code_does_not_know(backend: Backend) {
    let (db, store) = open(backend).await;
    store.insert_key(&key("k1", "ws_a", "one", 1), &audit("k1", "key.create")).await.unwrap();
    let statements = [
        "UPDATE api_keys SET status = 'expired' WHERE id = 'k1'",
        "INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private, master_key_id, \
         created_at) VALUES ('k', 'ES256', 'old', '{}', '', 'm', 0)",
    ];
    for sql in statements {
        use sqlx::Connection;
        let refused = match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.map(|_| ())
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.map(|_| ())
            }
        };
        assert!(refused.is_err(), "{sql}");
    }
    assert_eq!(store.find_key("k1").await.unwrap().unwrap().status, KeyStatus::Active);
}
