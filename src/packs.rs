//! The spec packs carried inside the binary, so that `llmspec run pack:vllm-medium` needs no
//! checkout. Every file under specs/ is embedded; a test fails when the list below and the
//! folder differ.

use llmspec_core::spec::{Embedded, EmbeddedFile};

/// How an embedded pack is named on the command line and in reports: `pack:vllm-medium`.
pub const PREFIX: &str = "pack:";

/// The pack `init` writes and the CI recipes run when none is named.
pub const DEFAULT: &str = "vllm-medium";

/// One pack: its name and what it is for, in a line.
pub struct Pack {
    pub name: &'static str,
    pub description: &'static str,
}

pub const PACKS: &[Pack] = &[
    Pack {
        name: "vllm-medium",
        description: "the seed test plan of a vLLM service: health, chat, reasoning, tools, long context, streaming, load, soak, errors, crash recovery",
    },
    Pack {
        name: "conformance",
        description: "OpenAI-API conformance checklist C01-C77 for vLLM and llama.cpp (the llamacpp and vllm tags select a server's own cases)",
    },
];

/// `embed!["pack" / "file", ...]`: each file under specs/, named as reports show it.
macro_rules! embed {
    ($($pack:literal / $file:literal),* $(,)?) => {
        &[$(EmbeddedFile {
            name: concat!("pack:", $pack, "/", $file),
            text: include_str!(concat!("../specs/", $pack, "/", $file)),
        }),*]
    };
}

static FILES: &[EmbeddedFile] = embed![
    "conformance" / "01-discovery-auth.yaml",
    "conformance" / "02-chat.yaml",
    "conformance" / "03-completions.yaml",
    "conformance" / "04-sampling.yaml",
    "conformance" / "05-logprobs.yaml",
    "conformance" / "06-streaming.yaml",
    "conformance" / "07-structured-output.yaml",
    "conformance" / "08-tool-calling.yaml",
    "conformance" / "09-reasoning.yaml",
    "conformance" / "10-errors-robustness-load.yaml",
    "conformance" / "11-operations.yaml",
    "vllm-medium" / "01-basics.yaml",
    "vllm-medium" / "05-reasoning.yaml",
    "vllm-medium" / "06-tool-calling.yaml",
    "vllm-medium" / "07-long-context.yaml",
    "vllm-medium" / "08-streaming.yaml",
    "vllm-medium" / "10-performance.yaml",
    "vllm-medium" / "12-stability.yaml",
    "vllm-medium" / "13-errors.yaml",
    "vllm-medium" / "15-crash-recovery.yaml",
];

/// What the spec loader reads `pack:` names from.
pub const EMBEDDED: Embedded = Embedded(FILES);

pub fn find(name: &str) -> Option<&'static Pack> {
    PACKS.iter().find(|p| p.name == name)
}

/// A pack's files, in name order, with their paths inside the pack (`01-basics.yaml`).
pub fn files(pack: &str) -> Vec<(&'static str, &'static str)> {
    let mut found: Vec<(&'static str, &'static str)> = FILES
        .iter()
        .filter_map(|f| {
            let rest = f.name.strip_prefix(PREFIX)?.strip_prefix(pack)?.strip_prefix('/')?;
            Some((rest, f.text))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn on_disk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                on_disk(&path, root, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_str().unwrap().to_string());
            }
        }
    }

    /// Every file under specs/ is embedded, and nothing else: a file added to or removed from a
    /// pack without updating FILES fails here.
    #[test]
    fn the_embedded_files_are_exactly_those_under_specs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let mut disk = BTreeSet::new();
        on_disk(&root, &root, &mut disk);
        let embedded: BTreeSet<String> =
            FILES.iter().map(|f| f.name.strip_prefix(PREFIX).unwrap().to_string()).collect();
        assert_eq!(embedded, disk, "specs/ and the embedded FILES differ: list every file of specs/ in FILES");
        let packs: BTreeSet<&str> = disk.iter().map(|f| f.split('/').next().unwrap()).collect();
        assert_eq!(packs, PACKS.iter().map(|p| p.name).collect::<BTreeSet<_>>(), "every folder of specs/ is described");
    }

    #[test]
    fn every_pack_file_starts_with_the_schema_modeline() {
        for f in FILES.iter().filter(|f| f.name.ends_with(".yaml") || f.name.ends_with(".yml")) {
            assert!(f.text.starts_with("# yaml-language-server: $schema="), "{}", f.name);
        }
        assert!(find(DEFAULT).is_some());
        assert_eq!(files("vllm-medium")[0].0, "01-basics.yaml");
        assert!(files("vllm").is_empty(), "a pack name is matched whole");
    }
}
