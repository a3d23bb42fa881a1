//! Files carried inside the program (llmspec's packs), read as if they were on disk under their
//! names: `pack:vllm-medium` is a directory, `pack:vllm-medium/01-basics.yaml` a file in it, and
//! a data or schema file a spec names beside itself is looked up the same way.

use super::files::{self, FileKind, Unreadable};
use std::path::{Path, PathBuf};

/// One file carried inside the program.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// The name reports show, e.g. `pack:vllm-medium/01-basics.yaml`.
    pub name: &'static str,
    pub text: &'static str,
}

/// The files carried inside the program; none by default (a library caller that has none).
/// A name found here wins over a file of the same name on disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Embedded(pub &'static [EmbeddedFile]);

impl Embedded {
    /// The text of the embedded file named `path`.
    pub fn file(&self, path: &Path) -> Option<&'static str> {
        self.0.iter().find(|f| Path::new(f.name) == path).map(|f| f.text)
    }

    /// Whether `path` names an embedded directory (a pack, or a folder in one).
    pub fn is_dir(&self, path: &Path) -> bool {
        self.0.iter().any(|f| Path::new(f.name) != path && Path::new(f.name).starts_with(path))
    }

    /// The spec files (*.yaml, *.yml) under the embedded directory `dir`, in name order.
    pub fn spec_files_under(&self, dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = self
            .0
            .iter()
            .map(|f| PathBuf::from(f.name))
            .filter(|p| p.starts_with(dir) && p != dir && files::is_spec_file_name(p))
            .collect();
        found.sort();
        found
    }

    /// The top-level directories (the packs), in name order, e.g. `pack:conformance`.
    pub fn roots(&self) -> Vec<String> {
        let mut roots: Vec<String> =
            self.0.iter().filter_map(|f| f.name.split('/').next()).map(str::to_string).collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// Whether `path` is written like an embedded name (the same `scheme:` as the packs'), so
    /// that a misspelt pack is told as such rather than as a missing file.
    pub fn looks_embedded(&self, path: &Path) -> bool {
        let scheme = |s: &str| s.split_once(':').map(|(scheme, _)| scheme.to_string());
        let Some(wanted) = path.to_str().and_then(scheme) else { return false };
        self.0.iter().any(|f| scheme(f.name).as_deref() == Some(wanted.as_str()))
    }

    /// The text of `path`: the embedded file of that name, or else the file on disk.
    pub fn read_text_of(&self, path: &Path, kind: &FileKind) -> Result<String, Unreadable> {
        match self.file(path) {
            Some(text) => Ok(text.to_string()),
            None => files::read_text_of(path, kind),
        }
    }

    /// Whether `path` is an embedded file or exists on disk.
    pub fn exists(&self, path: &Path) -> bool {
        self.file(path).is_some() || path.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FILES: &[EmbeddedFile] = &[
        EmbeddedFile { name: "pack:b/02.yaml", text: "suite: b2\n" },
        EmbeddedFile { name: "pack:b/01.yml", text: "suite: b1\n" },
        EmbeddedFile { name: "pack:b/rows.csv", text: "a\n1\n" },
        EmbeddedFile { name: "pack:a/sub/x.yaml", text: "suite: x\n" },
    ];

    #[test]
    fn directories_list_their_spec_files_in_name_order_and_leave_data_files_out() {
        let e = Embedded(FILES);
        assert_eq!(e.spec_files_under(Path::new("pack:b")), [PathBuf::from("pack:b/01.yml"), "pack:b/02.yaml".into()]);
        assert_eq!(e.spec_files_under(Path::new("pack:a")), [PathBuf::from("pack:a/sub/x.yaml")]);
        assert!(e.is_dir(Path::new("pack:a/sub")) && !e.is_dir(Path::new("pack:b/01.yml")));
        assert_eq!(e.roots(), ["pack:a", "pack:b"]);
    }

    #[test]
    fn a_file_beside_a_spec_is_read_from_the_embedded_set() {
        let e = Embedded(FILES);
        let dir = Path::new("pack:b/02.yaml").parent().unwrap_or(Path::new("."));
        assert_eq!(e.read_text_of(&dir.join("rows.csv"), &files::SPEC_FILE).unwrap(), "a\n1\n");
        assert!(e.exists(&dir.join("rows.csv")) && !e.exists(&dir.join("none.csv")));
        assert!(e.looks_embedded(Path::new("pack:nope")) && !e.looks_embedded(Path::new("specs/x.yaml")));
    }

    static PACK: &[EmbeddedFile] = &[
        EmbeddedFile {
            name: "pack:p/01.yaml",
            text: "suite: p\ntests:\n  - name: capital of ${country}\n    data: capitals.csv\n    request: { GET: \"http://127.0.0.1:9/\" }\n    expect:\n      schema:\n        - file: schemas/answer.json\n",
        },
        EmbeddedFile { name: "pack:p/capitals.csv", text: "country,capital\nFrance,Paris\nPeru,Lima\n" },
        EmbeddedFile { name: "pack:p/schemas/answer.json", text: "{\"type\": \"object\"}\n" },
    ];

    /// A pack's data and schema files are read from the embedded set, and its files are named
    /// `pack:...` in every message.
    #[test]
    fn an_embedded_spec_reads_the_files_beside_it() {
        let no_env = |_: &str| None;
        let opts = crate::spec::LoadOptions {
            vars: &[],
            secrets: &[],
            base_url: None,
            timeout: None,
            tls: &Default::default(),
            env: &no_env,
            embedded: Embedded(PACK),
        };
        let plan = crate::spec::load(&[PathBuf::from("pack:p")], &opts).unwrap();
        let names: Vec<&str> = plan.suites[0].tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["capital of France [row 1]", "capital of Peru [row 2]"]);
        assert_eq!(plan.suites[0].source.path, "pack:p/01.yaml");
        let e = crate::spec::load(&[PathBuf::from("pack:q")], &opts).unwrap_err();
        assert!(
            e.diagnostics[0].message.starts_with("no such pack; the packs are pack:p"),
            "{}",
            e.diagnostics[0].message
        );
    }
}
