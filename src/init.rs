//! `llmspec init`: a starter for a deployment repository. A pack's specs (their schema modeline
//! pointing at a schema file written beside them), a README for the team, and the GitLab and
//! GitHub jobs, which are the CI recipes of docs/ci/ with the pack's path.
//!
//! Nothing that exists is ever overwritten: when any file init owns is already there, nothing
//! is written. `.gitlab-ci.yml` is the one file a deployment repository most likely has already;
//! the job goes to llmspec/gitlab-ci.yml, and `.gitlab-ci.yml` is created (including it) only
//! when absent; otherwise the user is shown what to add.

use crate::packs::{self, Pack};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CI recipes, as published in docs/ci/: one source for the docs and for init.
pub const GITLAB_JOB: &str = include_str!("../docs/ci/gitlab-ci.yml");
pub const GITHUB_WORKFLOW: &str = include_str!("../docs/ci/github-workflow.yml");
const TEAM_README: &str = include_str!("init/README.md");

/// Where the recipes find the specs: replaced by the written pack's folder.
const SPECS_IN_RECIPES: &str = "llmspec/vllm-medium";
/// The folder init writes into, inside the repository.
const FOLDER: &str = "llmspec";
const SCHEMA_FILE: &str = "llmspec.schema.json";
const MODELINE: &str = "# yaml-language-server: $schema=";
const GITLAB_ROOT: &str = ".gitlab-ci.yml";
const GITLAB_JOB_FILE: &str = "llmspec/gitlab-ci.yml";
const GITHUB_FILE: &str = ".github/workflows/llmspec.yml";

/// The lines that run the llmspec job from a `.gitlab-ci.yml`.
pub const GITLAB_INCLUDE: &str = "include:\n  - local: llmspec/gitlab-ci.yml\n";

/// What was done, for the user.
pub struct Written {
    pub files: Vec<PathBuf>,
    /// `.gitlab-ci.yml` existed and was left as it was.
    pub kept_gitlab_root: bool,
}

/// Why nothing was written.
pub enum Refused {
    UnknownPack(String),
    /// These files exist; init writes nothing rather than overwrite them.
    Exists(Vec<PathBuf>),
    Io(String),
}

/// The files init writes for `pack`, relative to the target folder, with their text;
/// `.gitlab-ci.yml` apart (it is written only when absent).
pub fn plan(pack: &Pack) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = packs::files(pack.name)
        .into_iter()
        .map(|(name, text)| {
            let path = Path::new(FOLDER).join(pack.name).join(name);
            (path, with_local_schema(text, name))
        })
        .collect();
    files.push((Path::new(FOLDER).join(SCHEMA_FILE), format!("{}\n", llmspec_core::schema::generate())));
    files.push((Path::new(FOLDER).join("README.md"), TEAM_README.replace("{pack}", pack.name)));
    files.push((PathBuf::from(GITLAB_JOB_FILE), recipe_for(GITLAB_JOB, pack.name)));
    files.push((PathBuf::from(GITHUB_FILE), recipe_for(GITHUB_WORKFLOW, pack.name)));
    files
}

/// A CI recipe running `pack`'s folder instead of the default pack's.
pub fn recipe_for(recipe: &str, pack: &str) -> String {
    recipe.replacen(SPECS_IN_RECIPES, &format!("{FOLDER}/{pack}"), 1)
}

/// The spec's first line points editors at the schema written in llmspec/: from
/// llmspec/<pack>/<name>, that is one folder up per folder of `name`, plus one.
fn with_local_schema(text: &str, name: &str) -> String {
    let Some(rest) = text.strip_prefix(MODELINE) else { return text.to_string() };
    let up = "../".repeat(name.matches('/').count() + 1);
    let after_line = rest.find('\n').map_or("", |i| &rest[i..]);
    format!("{MODELINE}{up}{SCHEMA_FILE}{after_line}")
}

pub fn init(dir: &Path, pack_name: &str) -> Result<Written, Refused> {
    let pack = packs::find(pack_name).ok_or_else(|| Refused::UnknownPack(pack_name.to_string()))?;
    let planned = plan(pack);
    let existing: Vec<PathBuf> =
        planned.iter().map(|(p, _)| p.clone()).filter(|p| dir.join(p).symlink_metadata().is_ok()).collect();
    if !existing.is_empty() {
        return Err(Refused::Exists(existing));
    }
    let mut written = Written { files: vec![], kept_gitlab_root: false };
    for (path, text) in &planned {
        write_new(&dir.join(path), text)?;
        written.files.push(path.clone());
    }
    let root = dir.join(GITLAB_ROOT);
    if root.symlink_metadata().is_ok() {
        written.kept_gitlab_root = true;
    } else {
        let text =
            format!("# The pipeline. The llmspec job (from `llmspec init`) is in {GITLAB_JOB_FILE}.\n{GITLAB_INCLUDE}");
        write_new(&root, &text)?;
        written.files.push(PathBuf::from(GITLAB_ROOT));
    }
    Ok(written)
}

/// Creates `path`, failing if it exists (a file appearing since the check is not overwritten).
fn write_new(path: &Path, text: &str) -> Result<(), Refused> {
    let fail = |e: std::io::Error| Refused::Io(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

/// What init prints: the files written, what to add to an existing `.gitlab-ci.yml`, the next steps.
pub fn describe(dir: &Path, pack: &str, written: &Written) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("wrote:\n");
    for f in &written.files {
        let _ = writeln!(out, "  {}", dir.join(f).display());
    }
    if written.kept_gitlab_root {
        let root = dir.join(GITLAB_ROOT);
        let _ = writeln!(out, "\n{} exists and was left unchanged.", root.display());
        let included = std::fs::read_to_string(&root).is_ok_and(|t| t.contains(GITLAB_JOB_FILE));
        if included {
            let _ = writeln!(out, "It already includes {GITLAB_JOB_FILE}.");
        } else {
            let _ = writeln!(
                out,
                "To run the llmspec job, add to it (or, if it has an `include:` list, add the second line to that list):\n\n{}",
                GITLAB_INCLUDE.lines().map(|l| format!("    {l}\n")).collect::<String>()
            );
        }
    }
    let specs = dir.join(FOLDER).join(pack);
    let _ = write!(
        out,
        "\nnext steps:
  1. try the specs without a server:  llmspec run --sim {specs} --tag quick
     and against yours:               VLLM_API_BASE=http://your-server:8000 llmspec run {specs} --tag quick
  2. GitLab: Settings > CI/CD > Variables: VLLM_API_BASE, and VLLM_API_KEY (Masked) if the server has a key
     GitHub: Settings > Secrets and variables > Actions: variable VLLM_API_BASE, secret VLLM_API_KEY
  3. commit {folder}/ and the CI files; {readme} tells the team how to run, add tests and read reports
",
        specs = specs.display(),
        folder = dir.join(FOLDER).display(),
        readme = dir.join(FOLDER).join("README.md").display(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modeline_points_at_the_written_schema() {
        let text = "# yaml-language-server: $schema=../../schemas/llmspec.schema.json\nsuite: s\n";
        assert_eq!(
            with_local_schema(text, "01.yaml"),
            "# yaml-language-server: $schema=../llmspec.schema.json\nsuite: s\n"
        );
        assert!(
            with_local_schema(text, "sub/01.yaml")
                .starts_with("# yaml-language-server: $schema=../../llmspec.schema.json\n")
        );
    }

    /// The recipes name the default pack's folder exactly once: that is all init changes.
    #[test]
    fn the_recipes_name_the_specs_once() {
        for recipe in [GITLAB_JOB, GITHUB_WORKFLOW] {
            assert_eq!(recipe.matches(SPECS_IN_RECIPES).count(), 1);
            let other = recipe_for(recipe, "conformance");
            assert_eq!(other.matches("llmspec/conformance").count(), 1);
            assert!(!other.contains(SPECS_IN_RECIPES));
        }
        assert_eq!(recipe_for(GITLAB_JOB, packs::DEFAULT), GITLAB_JOB);
    }
}
