//! `llmspec packs`, `llmspec run pack:NAME` and `llmspec init`, each run away from the
//! repository: what a deployment repository gets without a checkout of llmspec.

use crate::support::{TempDir, assert_valid_junit, llmspec, llmspec_in};
use std::path::Path;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn spec_files_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

#[test]
fn packs_lists_each_pack_with_its_files_and_tests() {
    let out = llmspec(&["packs", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let packs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let packs = packs.as_array().unwrap();
    assert_eq!(packs.len(), 2);
    for pack in packs {
        let name = pack["name"].as_str().unwrap();
        assert_eq!(pack["run_as"], format!("pack:{name}"));
        let on_disk = spec_files_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs").join(name));
        let listed: Vec<&str> = pack["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
        assert_eq!(listed, on_disk);
        // The same count as validating the folder of the checkout.
        let validated = llmspec(&["validate", &format!("specs/{name}")]);
        let tests = pack["tests"].as_u64().unwrap();
        assert!(validated.stdout.ends_with(&format!(", {tests} tests\n")), "{tests} vs {}", validated.stdout);
        assert!(!pack["description"].as_str().unwrap().is_empty());
    }
    let text = llmspec(&["packs"]);
    assert!(text.stdout.contains("pack:vllm-medium") && text.stdout.contains("pack:conformance"), "{}", text.stdout);
    assert_eq!(llmspec(&["packs", "--names"]).stdout, "vllm-medium\nconformance\n");
}

#[test]
fn an_embedded_pack_runs_without_a_checkout_and_reports_name_its_files() {
    let dir = TempDir::new();
    let validated = llmspec_in(&dir.0, &["validate", "pack:vllm-medium", "pack:conformance"], &[]);
    assert_eq!(validated.code, 0, "{}", validated.stderr);
    let out = llmspec_in(&dir.0, &["run", "--sim", "pack:vllm-medium", "--tag", "quick", "--junit", "r.xml"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS 01 health check"), "{}", out.stdout);
    let junit = std::fs::read_to_string(dir.path("r.xml")).unwrap();
    assert!(junit.contains(r#"file="pack:vllm-medium/01-basics.yaml""#), "{junit}");
    assert!(!junit.contains("specs/"), "{junit}");
    assert_valid_junit(&dir.path("r.xml"));
}

#[test]
fn a_misspelt_pack_is_told_with_the_packs_there_are() {
    let dir = TempDir::new();
    let out = llmspec_in(&dir.0, &["validate", "pack:vllm-mediun"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no such pack; the packs are pack:conformance, pack:vllm-medium"), "{}", out.stderr);
    let init = llmspec_in(&dir.0, &["init", "--pack", "nope"], &[]);
    assert_eq!(init.code, 2);
    assert!(init.stderr.contains("no pack `nope`; the packs are vllm-medium, conformance"), "{}", init.stderr);
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "nothing written");
}

/// An empty repository gets the pack, its schema, the README and both CI files; the pack
/// validates and passes against the simulator.
#[test]
fn init_writes_a_starter_that_validates_and_runs() {
    let dir = TempDir::new();
    let out = llmspec_in(&dir.0, &["init"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let specs = dir.path("llmspec/vllm-medium");
    let written = spec_files_of(&specs);
    assert_eq!(written, spec_files_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/vllm-medium")));
    for name in &written {
        let text = std::fs::read_to_string(specs.join(name)).unwrap();
        let (first, rest) = text.split_once('\n').unwrap();
        assert_eq!(first, "# yaml-language-server: $schema=../llmspec.schema.json", "{name}");
        let original = repo_file(&format!("specs/vllm-medium/{name}"));
        assert_eq!(rest, original.split_once('\n').unwrap().1, "{name}: only the modeline changes");
        assert!(out.stdout.contains(&format!("llmspec/vllm-medium/{name}")), "{}", out.stdout);
    }
    let schema = std::fs::read_to_string(dir.path("llmspec/llmspec.schema.json")).unwrap();
    assert_eq!(schema, llmspec(&["schema"]).stdout);
    // The CI files are the published recipes (docs/ci/), which scripts/check-ci-files validates.
    assert_eq!(std::fs::read_to_string(dir.path("llmspec/gitlab-ci.yml")).unwrap(), repo_file("docs/ci/gitlab-ci.yml"));
    assert_eq!(
        std::fs::read_to_string(dir.path(".github/workflows/llmspec.yml")).unwrap(),
        repo_file("docs/ci/github-workflow.yml")
    );
    let root = std::fs::read_to_string(dir.path(".gitlab-ci.yml")).unwrap();
    assert!(root.contains("include:\n  - local: llmspec/gitlab-ci.yml\n"), "{root}");
    let readme = std::fs::read_to_string(dir.path("llmspec/README.md")).unwrap();
    for part in ["llmspec run llmspec/vllm-medium", "## Add a test", "## Where the results appear", "| 3 |"] {
        assert!(readme.contains(part), "{part}");
    }
    assert!(out.stdout.contains("next steps:"), "{}", out.stdout);

    let validated = llmspec_in(&dir.0, &["validate", "llmspec/vllm-medium"], &[]);
    assert_eq!(validated.code, 0, "{}", validated.stderr);
    let run = llmspec_in(&dir.0, &["run", "--sim", "llmspec/vllm-medium", "--tag", "quick"], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("PASSED:"), "{}", run.stdout);
}

#[test]
fn init_of_another_pack_points_the_ci_files_at_it() {
    let dir = TempDir::new();
    let out = llmspec_in(&dir.0, &["init", "repo", "--pack", "conformance"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(spec_files_of(&dir.path("repo/llmspec/conformance")).len(), 11);
    for ci in ["repo/llmspec/gitlab-ci.yml", "repo/.github/workflows/llmspec.yml"] {
        let text = std::fs::read_to_string(dir.path(ci)).unwrap();
        assert!(text.contains("LLMSPEC_SPECS: llmspec/conformance\n"), "{ci}");
        assert!(!text.contains("llmspec/vllm-medium"), "{ci}");
    }
}

/// A deployment repository's own .gitlab-ci.yml is left byte for byte; the job goes to its own
/// file and init prints the include to add.
#[test]
fn init_keeps_an_existing_gitlab_ci_and_says_what_to_add() {
    let dir = TempDir::new();
    let theirs = "stages: [build, test]\nbuild:\n  stage: build\n  script: [make]\n";
    dir.write(".gitlab-ci.yml", theirs);
    let out = llmspec_in(&dir.0, &["init", "."], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(dir.path(".gitlab-ci.yml")).unwrap(), theirs);
    assert!(dir.path("llmspec/gitlab-ci.yml").is_file());
    assert!(out.stdout.contains("exists and was left unchanged"), "{}", out.stdout);
    assert!(out.stdout.contains("    include:\n      - local: llmspec/gitlab-ci.yml\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("\n  ./.gitlab-ci.yml\n"), "not listed as written: {}", out.stdout);
}

/// A second init, or one into a repository holding any file init writes, writes nothing at all
/// and names the files in the way.
#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let dir = TempDir::new();
    assert_eq!(llmspec_in(&dir.0, &["init"], &[]).code, 0);
    let edited = "# yaml-language-server: $schema=../llmspec.schema.json\nsuite: ours\ntests: []\n";
    dir.write("llmspec/vllm-medium/01-basics.yaml", edited);
    std::fs::remove_file(dir.path("llmspec/README.md")).unwrap();
    let out = llmspec_in(&dir.0, &["init"], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("nothing was written, because these files exist"), "{}", out.stderr);
    assert!(out.stderr.contains("./llmspec/vllm-medium/01-basics.yaml"), "{}", out.stderr);
    assert!(out.stderr.contains("./.github/workflows/llmspec.yml"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(dir.path("llmspec/vllm-medium/01-basics.yaml")).unwrap(), edited);
    assert!(!dir.path("llmspec/README.md").exists(), "not written either");
}
