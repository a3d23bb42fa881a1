use super::*;
use serde_json::json;

fn shard(path: &str, plan: &str, shard: Option<(u32, u32)>) -> ShardResults {
    let doc = json!({
        "run": {"plan": plan, "shard": shard.map(|(k, n)| json!({"index": k, "total": n}))},
        "summary": {"duration_s": 1.0, "stopped_early": null},
        "suites": [],
    });
    match ShardResults::from_json(path.into(), doc) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_complete_set_of_shards_has_no_problem() {
    let shards = [shard("a", "p", Some((2, 2))), shard("b", "p", Some((1, 2)))];
    assert_eq!(problems("p", &shards), Vec::<String>::new());
}

#[test]
fn missing_doubled_foreign_and_unsharded_results_are_named() {
    let missing = problems("p", &[shard("a", "p", Some((1, 3))), shard("b", "p", Some((3, 3)))]);
    assert_eq!(missing, vec!["shard 2/3 is missing: its part of every load is not counted".to_string()]);
    let doubled =
        problems("p", &[shard("a", "p", Some((1, 2))), shard("b", "p", Some((1, 2))), shard("c", "p", Some((2, 2)))]);
    assert!(doubled.iter().any(|p| p.contains("shard 1/2 is given 2 times (a, b)")), "{doubled:?}");
    let foreign = problems("p", &[shard("a", "p", Some((1, 2))), shard("b", "q", Some((2, 2)))]);
    assert!(foreign.iter().any(|p| p.starts_with("b ran other specs")), "{foreign:?}");
    let mixed = problems("p", &[shard("a", "p", Some((1, 2))), shard("b", "p", None)]);
    assert!(mixed.iter().any(|p| p.contains("not made with --shard")), "{mixed:?}");
    let cuts = problems("p", &[shard("a", "p", Some((1, 2))), shard("b", "p", Some((2, 3)))]);
    assert!(cuts.iter().any(|p| p.contains("different numbers")), "{cuts:?}");
    assert_eq!(problems("p", &[shard("alone", "p", None)]), Vec::<String>::new(), "one unsharded run re-renders");
}

#[test]
fn results_without_run_facts_are_refused() {
    let old = ShardResults::from_json("old.json".into(), json!({"summary": {}, "suites": []}));
    assert!(old.is_err_and(|e| e.contains("no `run` facts")));
}
