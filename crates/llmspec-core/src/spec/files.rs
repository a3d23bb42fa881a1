//! Finding spec files and reading them, refusing what is not a spec before it costs anything:
//! pipes and devices (reading them may never end), files past the size limit, binary files.

use super::embedded::Embedded;
use super::limits::MAX_FILE_BYTES;
use super::yaml::Loc;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a path gives no spec text: a message, and where in the file when there is a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub message: String,
    /// The position of the problem, with the file's text as far as it can be shown.
    pub at: Option<(Loc, String)>,
}

impl Unreadable {
    fn new(message: String) -> Unreadable {
        Unreadable { message, at: None }
    }
}

/// A problem with a path given or found, before any file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct PathProblem {
    pub path: PathBuf,
    pub message: String,
}

/// The files named by `paths`; directories are walked for *.yaml and *.yml, in name order.
/// Embedded names (`pack:vllm-medium`) are resolved before the disk.
pub fn spec_files(paths: &[PathBuf], embedded: Embedded, problems: &mut Vec<PathProblem>) -> Vec<PathBuf> {
    let mut files = vec![];
    for path in paths {
        let problem = |message: String| PathProblem { path: path.clone(), message };
        if embedded.file(path).is_some() {
            files.push(path.clone());
            continue;
        }
        if embedded.is_dir(path) {
            files.extend(embedded.spec_files_under(path));
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = files.len();
                let mut walk = Walk { files: &mut files, problems, ancestors: vec![], visited: HashSet::new() };
                walk.dir(path);
                files[before..].sort();
                if files.len() == before {
                    problems.push(problem("this directory holds no *.yaml or *.yml file".into()));
                }
            }
            Ok(_) => files.push(path.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && embedded.looks_embedded(path) => {
                let known = embedded.roots().join(", ");
                problems.push(problem(format!("no such pack; the packs are {known} (`llmspec packs` describes them)")));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.symlink_metadata().is_err() => {
                problems.push(problem("no such file or directory".into()));
            }
            // Reading it says why (a dangling link, a loop of links, no permission).
            Err(_) => files.push(path.clone()),
        }
    }
    let mut seen = HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files
}

struct Walk<'a> {
    files: &'a mut Vec<PathBuf>,
    problems: &'a mut Vec<PathProblem>,
    /// The directories being walked, resolved: a link back to one of them is a loop.
    ancestors: Vec<PathBuf>,
    /// Every directory walked, resolved: one reached twice through links is walked once.
    visited: HashSet<PathBuf>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path) {
        let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if let Some(i) = self.ancestors.iter().position(|a| *a == resolved) {
            let message = format!(
                "this symbolic link leads back to {}, a directory it is in: the loop is not followed",
                self.ancestors[i].display()
            );
            self.problems.push(PathProblem { path: dir.to_path_buf(), message });
            return;
        }
        if !self.visited.insert(resolved.clone()) {
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                let message = format!("cannot read this directory: {e}");
                self.problems.push(PathProblem { path: dir.to_path_buf(), message });
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        self.ancestors.push(resolved);
        for path in paths {
            if path.is_dir() {
                self.dir(&path);
            } else if is_spec_file_name(&path) {
                self.files.push(path);
            }
        }
        self.ancestors.pop();
    }
}

/// Whether a file found in a directory is taken for a spec: *.yaml and *.yml.
pub fn is_spec_file_name(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// What kind of file is read, for its bound and for the words of a refusal.
pub struct FileKind {
    /// `a spec file`, `a data file`.
    pub noun: &'static str,
    /// What its text is: `UTF-8 YAML`.
    pub text: &'static str,
    /// What a binary file is not: `a YAML spec`.
    pub not_binary: &'static str,
    pub max_bytes: u64,
}

/// Spec files, and the schema files they name.
pub const SPEC_FILE: FileKind =
    FileKind { noun: "a spec file", text: "UTF-8 YAML", not_binary: "a YAML spec", max_bytes: MAX_FILE_BYTES };

/// The text of a file of `kind`: a regular file of at most `kind.max_bytes`, UTF-8, without
/// NUL bytes.
pub fn read_text_of(path: &Path, kind: &FileKind) -> Result<String, Unreadable> {
    let max = kind.max_bytes;
    let meta = std::fs::metadata(path).map_err(|e| Unreadable::new(format!("cannot read this file: {e}")))?;
    if !meta.is_file() {
        return Err(Unreadable::new(not_a_file(&meta, kind.noun)));
    }
    let too_big = |size: u64| {
        Unreadable::new(format!(
            "this file is {} bytes, more than the {} MiB {} may have",
            if size > max { size.to_string() } else { format!("over {max}") },
            max >> 20,
            kind.noun
        ))
    };
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| Unreadable::new(format!("cannot read this file: {e}")))?;
    let mut bytes = vec![];
    // The size can change after it was read (or be unknown, as in /proc): read one byte past
    // the limit to know.
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| Unreadable::new(format!("cannot read this file: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(too_big(0));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let message = format!(
                "this file is not UTF-8 text (byte 0x{:02x} here): {} is {}",
                bytes.get(at).copied().unwrap_or(0),
                kind.noun,
                kind.text
            );
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let loc = loc_of(&String::from_utf8_lossy(&bytes[..at]));
            return Err(Unreadable { message, at: Some((loc, text)) });
        }
    };
    if let Some(at) = text.find('\0') {
        let message = format!("this file holds a NUL byte here: it is binary, not {}", kind.not_binary);
        let loc = loc_of(&text[..at]);
        return Err(Unreadable { message, at: Some((loc, text.replace('\0', "\u{2400}"))) });
    }
    Ok(text)
}

/// The position just after `before`.
fn loc_of(before: &str) -> Loc {
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Loc { line, col }
}

#[cfg(unix)]
fn not_a_file(meta: &std::fs::Metadata, noun: &str) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    format!("this is {what}, not {noun}: only regular files are read (reading this one might never end)")
}

#[cfg(not(unix))]
fn not_a_file(_: &std::fs::Metadata, noun: &str) -> String {
    format!("this is not a regular file, not {noun}: only regular files are read")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("llmspec-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn binary_and_non_utf8_files_say_where() {
        let dir = temp("binary");
        let nul = dir.join("nul.yaml");
        std::fs::write(&nul, b"suite: s\ntests: [\0]\n").unwrap();
        let e = read_text_of(&nul, &SPEC_FILE).unwrap_err();
        assert!(e.message.contains("NUL byte"), "{e:?}");
        assert_eq!(e.at.map(|(l, _)| l), Some(Loc { line: 2, col: 9 }));
        let latin = dir.join("latin.yaml");
        std::fs::write(&latin, b"suite: caf\xe9\n").unwrap();
        let e = read_text_of(&latin, &SPEC_FILE).unwrap_err();
        assert!(e.message.contains("not UTF-8 text (byte 0xe9 here)"), "{e:?}");
        assert_eq!(e.at.map(|(l, _)| l), Some(Loc { line: 1, col: 11 }));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_past_the_limit_are_refused_unread() {
        let dir = temp("big");
        let big = dir.join("big.yaml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_text_of(&big, &SPEC_FILE).unwrap_err();
        assert!(e.message.contains("more than the 8 MiB a spec file may have"), "{e:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_refused_at_once() {
        let e = read_text_of(Path::new("/dev/zero"), &SPEC_FILE).unwrap_err();
        assert!(e.message.contains("a device, not a spec file"), "{e:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_reported_once() {
        let dir = temp("loop");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.yaml"), "suite: a\n").unwrap();
        std::os::unix::fs::symlink("..", dir.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("sub", dir.join("again")).unwrap();
        let mut problems = vec![];
        let files = spec_files(std::slice::from_ref(&dir), Embedded::default(), &mut problems);
        assert_eq!(files, vec![dir.join("again/a.yaml")], "{problems:?}");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("leads back to"), "{problems:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
