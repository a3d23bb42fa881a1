//! Rows of data, read when a spec is loaded: for data-driven tests (`data:`, one test per row)
//! and for load tests that draw their requests from a dataset (`load.dataset`).
//!
//! The format follows the file's extension: JSON Lines (`.jsonl`, `.ndjson`), one object per
//! line; CSV (`.csv`), a header row naming the columns; YAML or JSON (`.yaml`, `.yml`,
//! `.json`), a list of mappings. Files are bounded like spec files (size, rows), and every
//! malformed row is reported with its file and line, next to every other problem of the spec.

use super::diag::{Diagnostic, Source};
use super::embedded::Embedded;
use super::files::{FileKind, Unreadable};
use super::limits;
use super::yaml::{self, Loc, Node, Value as YamlValue};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const DATA_FILE: FileKind = FileKind {
    noun: "a data file",
    text: "UTF-8 text",
    not_binary: "a data file",
    max_bytes: limits::MAX_DATA_FILE_BYTES,
};

/// The field of a multi-turn row that lists its user turns.
pub const TURNS: &str = "turns";

/// One row of a data file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Where the row starts in its file (1-based).
    pub line: usize,
    /// Fields whose names can be written as `${name}`; the others are left out.
    pub fields: Vec<(String, Value)>,
}

impl Row {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[derive(Debug)]
pub struct Rows {
    /// The file as messages name it: joined to the spec file's folder, as given.
    pub file: String,
    /// Where the file was read from, to read it again for messages.
    pub embedded: Embedded,
    pub rows: Vec<Row>,
    /// Every field name found in any row.
    pub names: BTreeSet<String>,
}

impl Rows {
    /// Whether rows hold conversations (a `turns` list) rather than one request each.
    pub fn has_turns(&self) -> bool {
        self.names.contains(TURNS)
    }

    /// Problems in this file, each at a row's line. The file's text is read again, once, only
    /// when there are problems to show.
    pub fn problems_at(&self, found: Vec<(usize, String)>) -> Vec<Diagnostic> {
        if found.is_empty() {
            return vec![];
        }
        let text = self.embedded.read_text_of(Path::new(&self.file), &DATA_FILE).unwrap_or_default();
        let source = Arc::new(Source { path: self.file.clone(), text });
        found.into_iter().map(|(line, message)| Diagnostic::new(&source, Loc { line, col: 1 }, message)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
    Yaml,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            "csv" => Ok(Format::Csv),
            "yaml" | "yml" | "json" => Ok(Format::Yaml),
            _ => Err(format!(
                "`{}`: the format of a data file follows its extension: .jsonl (JSON Lines), .csv (with a header row), .yaml, .yml or .json (a list of mappings)",
                path.display()
            )),
        }
    }
}

/// Why a data file gives no rows.
#[derive(Debug)]
pub enum ReadError {
    /// About the file as a whole (missing, too big, unknown format): reported where the spec
    /// names it.
    File(String),
    /// Malformed rows: reported in the data file, each at its line.
    Rows(Vec<Diagnostic>),
}

/// Data files read while loading one spec file: each is read once, however many tests or
/// instances name it, and a broken one is reported once.
pub struct DataFiles {
    dir: PathBuf,
    embedded: Embedded,
    read: HashMap<PathBuf, Option<Arc<Rows>>>,
}

impl DataFiles {
    pub fn new(dir: &Path, embedded: Embedded) -> DataFiles {
        DataFiles { dir: dir.to_path_buf(), embedded, read: HashMap::new() }
    }

    /// The rows of the file a spec names at `loc`; its problems go to `problems` (in the
    /// spec) or to `diagnostics` (in the data file).
    pub fn get(
        &mut self,
        name: &str,
        loc: Loc,
        problems: &mut Vec<(Loc, String)>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Arc<Rows>> {
        let path = self.dir.join(name);
        if let Some(known) = self.read.get(&path) {
            return known.clone();
        }
        let rows = match read(&path, self.embedded) {
            Ok(rows) => Some(Arc::new(rows)),
            Err(ReadError::File(message)) => {
                problems.push((loc, message));
                None
            }
            Err(ReadError::Rows(mut found)) => {
                diagnostics.append(&mut found);
                None
            }
        };
        self.read.insert(path, rows.clone());
        rows
    }
}

/// Reads the rows of a data file.
pub fn read(path: &Path, embedded: Embedded) -> Result<Rows, ReadError> {
    let file = path.display().to_string();
    let format = Format::of(path).map_err(ReadError::File)?;
    if !embedded.exists(path) {
        return Err(ReadError::File(format!("no such data file: {file}")));
    }
    let text = match embedded.read_text_of(path, &DATA_FILE) {
        Ok(text) => text,
        Err(Unreadable { message, at: None }) => return Err(ReadError::File(format!("data file {file}: {message}"))),
        Err(Unreadable { message, at: Some((loc, text)) }) => {
            let source = Arc::new(Source { path: file, text });
            return Err(ReadError::Rows(vec![Diagnostic::new(&source, loc, message)]));
        }
    };
    // Spreadsheets save CSV with a byte-order mark.
    let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let parsed = match format {
        Format::JsonLines => json_lines(body),
        Format::Csv => csv(body),
        Format::Yaml => yaml_rows(body),
    };
    match parsed {
        Ok(rows) if rows.is_empty() => Err(ReadError::File(format!("data file {file} holds no rows"))),
        Ok(rows) => {
            let names = rows.iter().flat_map(|r| r.fields.iter().map(|(n, _)| n.clone())).collect();
            Ok(Rows { file, embedded, rows, names })
        }
        Err(mut problems) => {
            let more = problems.len().saturating_sub(limits::MAX_PROBLEMS);
            problems.truncate(limits::MAX_PROBLEMS);
            let source = Arc::new(Source { path: file, text });
            let mut found: Vec<Diagnostic> =
                problems.into_iter().map(|(loc, m)| Diagnostic::new(&source, loc, m)).collect();
            if more > 0 {
                found
                    .push(Diagnostic::whole_file(&source, format!("and {more} more problems in this file, not shown")));
            }
            Err(ReadError::Rows(found))
        }
    }
}

type Problems = Vec<(Loc, String)>;

/// Rows past the limit are one problem, at the first row too many.
fn too_many(line: usize) -> (Loc, String) {
    (Loc { line, col: 1 }, format!("a data file holds at most {} rows; this one has more", limits::MAX_DATA_ROWS))
}

/// Fields a `${name}` reference can reach; others (`"user prompt"`) are left out.
fn usable(fields: impl IntoIterator<Item = (String, Value)>) -> Vec<(String, Value)> {
    fields.into_iter().filter(|(name, _)| super::interp::is_name(name)).collect()
}

fn json_lines(text: &str) -> Result<Vec<Row>, Problems> {
    let mut rows = vec![];
    let mut problems = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_start();
        if trimmed.trim_end().is_empty() {
            continue;
        }
        if rows.len() == limits::MAX_DATA_ROWS {
            problems.push(too_many(line));
            break;
        }
        let indent = raw.chars().count() - trimmed.chars().count();
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(map)) => rows.push(Row { line, fields: usable(map) }),
            Ok(other) => problems.push((
                Loc { line, col: indent + 1 },
                format!("a row of a JSON Lines file is a JSON object (`{{...}}`), not {}", json_kind(&other)),
            )),
            Err(e) => {
                // serde_json ends its message with the position, which the diagnostic shows.
                let message = e.to_string();
                let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
                problems
                    .push((Loc { line, col: indent + e.column().max(1) }, format!("this row is not JSON: {message}")));
            }
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn yaml_rows(text: &str) -> Result<Vec<Row>, Problems> {
    let root = yaml::parse(text).map_err(|e| vec![(e.loc, e.message)])?;
    let Node { value: YamlValue::Seq(items), .. } = root else {
        let message = format!("a YAML or JSON data file is a list of mappings, one per row, not {}", root.kind());
        return Err(vec![(root.loc, message)]);
    };
    let mut rows = vec![];
    let mut problems = vec![];
    for item in items {
        if rows.len() == limits::MAX_DATA_ROWS {
            problems.push(too_many(item.loc.line));
            break;
        }
        match &item.value {
            YamlValue::Map(entries) => rows.push(Row {
                line: item.loc.line,
                fields: usable(entries.iter().map(|(k, v)| (k.scalar_text(), v.to_json()))),
            }),
            _ => problems.push((item.loc, format!("a row is a mapping of field names to values, not {}", item.kind()))),
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

fn csv(text: &str) -> Result<Vec<Row>, Problems> {
    let records = csv_records(text).map_err(|p| vec![p])?;
    let mut records = records.into_iter();
    let Some(header) = records.next() else { return Ok(vec![]) };
    let names: Vec<String> = header.cells.iter().map(|c| c.text.trim().to_string()).collect();
    let mut problems = vec![];
    let mut seen = BTreeSet::new();
    for name in &names {
        if name.is_empty() {
            problems.push((Loc { line: header.line, col: 1 }, "a column of the header row has no name".to_string()));
        } else if !seen.insert(name) {
            problems.push((Loc { line: header.line, col: 1 }, format!("the header row names `{name}` twice")));
        }
    }
    let mut rows = vec![];
    for record in records {
        if rows.len() == limits::MAX_DATA_ROWS {
            problems.push(too_many(record.line));
            break;
        }
        if record.cells.len() != names.len() {
            problems.push((
                Loc { line: record.line, col: 1 },
                format!(
                    "this row has {} field{}; the header row names {}",
                    record.cells.len(),
                    if record.cells.len() == 1 { "" } else { "s" },
                    names.len()
                ),
            ));
            continue;
        }
        let fields = names.iter().cloned().zip(record.cells.into_iter().map(Cell::into_value));
        rows.push(Row { line: record.line, fields: usable(fields) });
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

#[derive(Debug, PartialEq)]
struct Cell {
    text: String,
    quoted: bool,
}

impl Cell {
    /// A quoted cell is text. An unquoted one is read as YAML reads an unquoted value (as
    /// `--var` is): `64` is a number, `true` a boolean; an empty one is the empty text.
    fn into_value(self) -> Value {
        if self.quoted || self.text.is_empty() {
            return Value::String(self.text);
        }
        match yaml::resolve_plain(&self.text) {
            // `.inf` and `.nan` have no JSON form: they stay text.
            YamlValue::Float(f) if !f.is_finite() => Value::String(self.text),
            other => Node::new(other, Loc::default()).to_json(),
        }
    }
}

#[derive(Debug, PartialEq)]
struct Record {
    line: usize,
    cells: Vec<Cell>,
}

/// The records of a CSV text (RFC 4180), each with the line it starts on. Quoted fields may
/// hold commas, line breaks and quotes written twice (`""`). Empty lines are skipped.
fn csv_records(text: &str) -> Result<Vec<Record>, (Loc, String)> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        /// A quote inside a quoted field: its end, or the first of two.
        QuoteInQuoted,
    }
    let mut records = vec![];
    let mut cells: Vec<Cell> = vec![];
    let mut field = String::new();
    let mut state = State::FieldStart;
    let (mut line, mut col) = (1usize, 0usize);
    let mut record_line = 1;
    let mut quote_at = Loc::default();
    let mut chars = text.chars().peekable();
    let end_field = |cells: &mut Vec<Cell>, field: &mut String, quoted: bool| {
        cells.push(Cell { text: std::mem::take(field), quoted });
    };
    while let Some(c) = chars.next() {
        col += 1;
        // A line break is `\n` or `\r\n`; outside quotes it ends the record.
        let newline = c == '\n' || (c == '\r' && chars.peek() == Some(&'\n'));
        if c == '\r' && newline {
            continue;
        }
        match state {
            State::Quoted => {
                if c == '"' {
                    state = State::QuoteInQuoted;
                } else {
                    field.push(c);
                }
            }
            State::FieldStart | State::Unquoted | State::QuoteInQuoted => {
                let quoted = state == State::QuoteInQuoted;
                match c {
                    '"' if state == State::FieldStart => {
                        state = State::Quoted;
                        quote_at = Loc { line, col };
                    }
                    '"' if quoted => {
                        field.push('"');
                        state = State::Quoted;
                    }
                    ',' => {
                        end_field(&mut cells, &mut field, quoted);
                        state = State::FieldStart;
                    }
                    '\n' => {
                        end_field(&mut cells, &mut field, quoted);
                        let blank = cells.len() == 1 && cells[0].text.is_empty() && !cells[0].quoted;
                        let cells = std::mem::take(&mut cells);
                        if !blank {
                            records.push(Record { line: record_line, cells });
                        }
                        state = State::FieldStart;
                    }
                    _ if quoted => {
                        return Err((
                            Loc { line, col },
                            "text after the closing quote of a field: a quote inside a quoted field is written twice (\"\")"
                                .into(),
                        ));
                    }
                    _ => {
                        field.push(c);
                        state = State::Unquoted;
                    }
                }
            }
        }
        if c == '\n' {
            line += 1;
            col = 0;
            if state == State::FieldStart && cells.is_empty() {
                record_line = line;
            }
        }
    }
    match state {
        State::Quoted => return Err((quote_at, "this quoted field is never closed".into())),
        State::FieldStart if cells.is_empty() => {}
        _ => {
            let quoted = state == State::QuoteInQuoted;
            end_field(&mut cells, &mut field, quoted);
            records.push(Record { line: record_line, cells });
        }
    }
    Ok(records)
}

/// A row's fields as YAML nodes, for `${name}` at load time.
pub fn to_node(value: &Value) -> Node {
    let loc = Loc::default();
    let v = match value {
        Value::Null => YamlValue::Null,
        Value::Bool(b) => YamlValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => YamlValue::Int(i),
            None => YamlValue::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => YamlValue::Str { text: s.clone(), plain: false },
        Value::Array(items) => YamlValue::Seq(items.iter().map(to_node).collect()),
        Value::Object(map) => {
            YamlValue::Map(map.iter().map(|(k, v)| (Node::str(k.clone(), loc), to_node(v))).collect())
        }
    };
    Node::new(v, loc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(row: &Row) -> Value {
        Value::Object(row.fields.iter().cloned().collect())
    }

    #[test]
    fn json_lines_give_one_row_per_object_and_say_where_a_row_is_broken() {
        let rows = json_lines("{\"id\": \"a\", \"n\": 1}\n\n  {\"id\": \"b\", \"user prompt\": 2}\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, fields(&rows[0])), (1, json!({"id": "a", "n": 1})));
        // A name no reference can reach is left out.
        assert_eq!((rows[1].line, fields(&rows[1])), (3, json!({"id": "b"})));
        let e = json_lines("{\"a\": 1}\n{\"a\": 2,}\n[1]\n").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].0.line, 2);
        assert!(e[0].1.starts_with("this row is not JSON: trailing comma"), "{e:?}");
        assert!(!e[0].1.contains("at line"), "{e:?}");
        assert_eq!(
            e[1],
            (Loc { line: 3, col: 1 }, "a row of a JSON Lines file is a JSON object (`{...}`), not a list".into())
        );
    }

    #[test]
    fn csv_follows_rfc_4180() {
        let text = "id,prompt,n\r\na,\"Hello, \"\"world\"\"\",1\r\n\r\nb,\"two\nlines\",\"2\"\nc,,0.5";
        let rows = csv(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].line, fields(&rows[0])), (2, json!({"id": "a", "prompt": "Hello, \"world\"", "n": 1})));
        // A quoted cell stays text; a row starts on the line of its first field.
        assert_eq!((rows[1].line, fields(&rows[1])), (4, json!({"id": "b", "prompt": "two\nlines", "n": "2"})));
        assert_eq!((rows[2].line, fields(&rows[2])), (6, json!({"id": "c", "prompt": "", "n": 0.5})));
    }

    #[test]
    fn broken_csv_rows_are_reported_at_their_line() {
        let e = csv("a,b\n1,2\n3\n4,5,6\n").unwrap_err();
        assert_eq!(e.iter().map(|(l, _)| l.line).collect::<Vec<_>>(), vec![3, 4]);
        assert!(e[0].1.contains("this row has 1 field; the header row names 2"), "{e:?}");
        let e = csv("a,b\n1,\"open\n2,3\n").unwrap_err();
        assert_eq!(e, vec![(Loc { line: 2, col: 3 }, "this quoted field is never closed".into())]);
        let e = csv("a,b\n\"x\"y,2\n").unwrap_err();
        assert_eq!(e[0].0, Loc { line: 2, col: 4 });
        let e = csv("a,a\n1,2\n").unwrap_err();
        assert!(e[0].1.contains("names `a` twice"), "{e:?}");
    }

    #[test]
    fn yaml_rows_are_a_list_of_mappings() {
        let rows = yaml_rows("- { id: a, n: 1 }\n- id: b\n  turns: [hi, more]\n").unwrap();
        assert_eq!((rows[1].line, fields(&rows[1])), (2, json!({"id": "b", "turns": ["hi", "more"]})));
        let e = yaml_rows("- { id: a }\n- just text\n").unwrap_err();
        assert_eq!(e[0].0.line, 2);
        assert!(yaml_rows("id: a\n").unwrap_err()[0].1.contains("a list of mappings"));
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(Format::of(Path::new("a/p.JSONL")), Ok(Format::JsonLines));
        assert_eq!(Format::of(Path::new("p.json")), Ok(Format::Yaml));
        assert!(Format::of(Path::new("p.txt")).unwrap_err().contains(".jsonl (JSON Lines), .csv"));
    }

    #[test]
    fn whole_file_problems_are_found_before_any_row_is_read() {
        let dir = std::env::temp_dir().join(format!("llmspec-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let message = |path: &Path| match read(path, Embedded::default()) {
            Err(ReadError::File(m)) => m,
            other => panic!("{other:?}"),
        };
        let big = dir.join("big.jsonl");
        std::fs::File::create(&big).unwrap().set_len(limits::MAX_DATA_FILE_BYTES + 1).unwrap();
        assert!(message(&big).contains("more than the 64 MiB a data file may have"), "{}", message(&big));
        assert!(message(&dir.join("none.csv")).starts_with("no such data file: "));
        let empty = dir.join("empty.csv");
        std::fs::write(&empty, "a,b\n").unwrap();
        assert!(message(&empty).ends_with("holds no rows"));
        let latin = dir.join("latin.csv");
        std::fs::write(&latin, b"a\ncaf\xe9\n").unwrap();
        match read(&latin, Embedded::default()) {
            Err(ReadError::Rows(d)) => {
                assert_eq!((d[0].loc.line, d[0].loc.col), (2, 4));
                assert!(d[0].message.contains("a data file is UTF-8 text"), "{}", d[0].message);
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn too_many_rows_stop_at_the_first_row_past_the_limit() {
        let text = "{\"a\":1}\n".repeat(limits::MAX_DATA_ROWS + 5);
        let e = json_lines(&text).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0.line, limits::MAX_DATA_ROWS + 1);
    }
}
