//! Paths as CI platforms want them in reports: relative to the repository root, whatever the
//! directory llmspec was started from. GitLab links a test's `file` and finds an attachment
//! only by a path from the project root; GitHub places an annotation only on a path from the
//! workspace. A path typed as `./specs/x.yaml`, as an absolute path, or from inside `specs/`
//! would otherwise reach them as typed.

use std::path::{Component, Path, PathBuf};

/// Where reports' paths are made relative to.
#[derive(Debug, Clone)]
pub struct Locator {
    cwd: PathBuf,
    /// The CI job's checkout ($CI_PROJECT_DIR, $GITHUB_WORKSPACE), used when no `.git` is found.
    ci_roots: Vec<PathBuf>,
}

impl Locator {
    pub fn new(cwd: PathBuf, ci_roots: Vec<PathBuf>) -> Locator {
        let cwd = lexical(&cwd);
        let ci_roots = ci_roots.iter().filter(|r| r.is_absolute()).map(|r| lexical(r)).collect();
        Locator { cwd, ci_roots }
    }

    /// The current directory and the CI platforms' checkout variables.
    pub fn from_env() -> Locator {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let ci_roots = ["CI_PROJECT_DIR", "GITHUB_WORKSPACE"]
            .iter()
            .filter_map(|v| std::env::var_os(v))
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .collect();
        Locator::new(cwd, ci_roots)
    }

    /// A spec file's path for a report. Embedded packs (`pack:vllm-medium/01-basics.yaml`) have
    /// no place in the repository and keep their name.
    pub fn spec(&self, path: &str) -> String {
        if path.starts_with("pack:") {
            return path.to_string();
        }
        self.relative(Path::new(path))
    }

    /// Any file's path from the repository root: the nearest folder above it holding `.git`
    /// (a directory, or a file in a worktree); else the CI checkout it lies in; else the
    /// current directory. A path under none of them is kept whole.
    pub fn relative(&self, path: &Path) -> String {
        let absolute = lexical(&if path.is_absolute() { path.to_path_buf() } else { self.cwd.join(path) });
        let from_git = absolute.ancestors().skip(1).find(|dir| dir.join(".git").exists());
        let root = from_git
            .or_else(|| self.ci_roots.iter().map(PathBuf::as_path).find(|r| absolute.starts_with(r)))
            .or_else(|| absolute.starts_with(&self.cwd).then_some(self.cwd.as_path()));
        match root.and_then(|r| absolute.strip_prefix(r).ok()) {
            Some(rel) if !rel.as_os_str().is_empty() => slashes(rel),
            _ => slashes(&absolute),
        }
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system (a report may name a file that is
/// gone, and symbolic links should keep the name the user gave).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn slashes(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository in a temporary folder: `root/.git`, `root/specs/a.yaml`.
    fn repository(name: &str, git: bool) -> PathBuf {
        let root = std::env::temp_dir().join(format!("llmspec-locator-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(root.join("specs/sub"));
        if git {
            let _ = std::fs::create_dir_all(root.join(".git"));
        }
        let _ = std::fs::write(root.join("specs/a.yaml"), "suite: a\n");
        root
    }

    #[test]
    fn a_spec_path_is_relative_to_the_repository_root_from_anywhere() {
        let root = repository("git", true);
        let abs = root.join("specs/a.yaml");
        for (cwd, typed) in [
            (root.clone(), "./specs/a.yaml".to_string()),
            (root.clone(), "specs/a.yaml".to_string()),
            (root.join("specs"), "a.yaml".to_string()),
            (root.join("specs/sub"), "../a.yaml".to_string()),
            (std::env::temp_dir(), abs.display().to_string()),
        ] {
            let locator = Locator::new(cwd.clone(), vec![]);
            assert_eq!(locator.spec(&typed), "specs/a.yaml", "typed {typed} from {}", cwd.display());
        }
    }

    #[test]
    fn without_git_the_ci_checkout_then_the_current_directory_is_the_root() {
        let root = repository("nogit", false);
        let in_ci = Locator::new(root.join("specs"), vec![root.clone()]);
        assert_eq!(in_ci.spec("a.yaml"), "specs/a.yaml");
        let outside_ci = Locator::new(root.join("specs"), vec![PathBuf::from("/elsewhere")]);
        assert_eq!(outside_ci.spec("./a.yaml"), "a.yaml");
        // A CI variable that is not an absolute path is not a root.
        assert_eq!(Locator::new(root.clone(), vec![PathBuf::from("relative")]).spec("specs/a.yaml"), "specs/a.yaml");
    }

    #[test]
    fn embedded_packs_keep_their_names() {
        let locator = Locator::new(PathBuf::from("/"), vec![]);
        assert_eq!(locator.spec("pack:vllm-medium/01-basics.yaml"), "pack:vllm-medium/01-basics.yaml");
    }
}
