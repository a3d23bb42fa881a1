//! docs/cookbook.md runs as written: each recipe's files go into a folder of its own, its
//! commands run there against the simulator, and each must end with the exit code and print
//! the lines the page states. The markers the page uses are described in its first lines.

use crate::support::{Output, Sim, TempDir, normalize};
use std::path::Path;

const COOKBOOK: &str = include_str!("../../docs/cookbook.md");

/// Fewer recipes than this and the cookbook no longer covers the everyday checks.
const MIN_RECIPES: usize = 15;

#[derive(Debug, Default)]
struct Recipe {
    title: String,
    /// 1-based line of the recipe's heading in the page.
    line: usize,
    /// (file name, text), written beside each other before the commands run.
    files: Vec<(String, String)>,
    commands: Vec<Command>,
    /// Lines the last command must print.
    output: Vec<String>,
}

#[derive(Debug)]
struct Command {
    words: Vec<String>,
    exit: i32,
    line: usize,
}

enum Marker {
    File(String),
    Run(i32),
    Output,
}

fn marker(line: &str) -> Result<Option<Marker>, String> {
    let Some(inner) = line.trim().strip_prefix("<!--").and_then(|l| l.strip_suffix("-->")) else {
        return Ok(None);
    };
    let inner = inner.trim();
    if let Some(name) = inner.strip_prefix("file:") {
        let name = name.trim();
        if name.is_empty() || name.contains('/') || name.contains("..") {
            return Err(format!("`{line}`: a file marker names one file of the recipe's folder"));
        }
        return Ok(Some(Marker::File(name.to_string())));
    }
    if let Some(code) = inner.strip_prefix("run:") {
        let code = code.trim().strip_prefix("exit").map(str::trim).and_then(|c| c.parse().ok());
        return code.map(|c| Some(Marker::Run(c))).ok_or_else(|| format!("`{line}`: write `<!-- run: exit N -->`"));
    }
    if inner == "output" {
        return Ok(Some(Marker::Output));
    }
    Ok(None)
}

/// Reads the recipes of a page, refusing what would leave part of it untested: a YAML block
/// that is no recipe's file, a marker that is not right before a block, a recipe without a
/// command, a command that would not run against the simulator.
fn parse(markdown: &str) -> Result<Vec<Recipe>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut sections: Vec<Recipe> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(title) = line.strip_prefix("## ") {
            sections.push(Recipe { title: title.trim().to_string(), line: i + 1, ..Recipe::default() });
            i += 1;
            continue;
        }
        let Some(fence) = line.strip_prefix("```") else {
            if let Some(found) = marker(line)? {
                let (mark, at) = (found, i + 1);
                let block_start = i + 1;
                let opening = lines.get(block_start).copied().unwrap_or_default();
                if !opening.starts_with("```") {
                    return Err(format!("line {at}: a marker must be right before a fenced block"));
                }
                let (body, end) = block(&lines, block_start)?;
                let recipe = sections.last_mut().ok_or_else(|| format!("line {at}: a marker before any recipe"))?;
                match mark {
                    Marker::File(name) => {
                        if recipe.files.iter().any(|(n, _)| *n == name) {
                            return Err(format!("line {at}: `{name}` is written twice in `{}`", recipe.title));
                        }
                        recipe.files.push((name, body.join("\n") + "\n"));
                    }
                    Marker::Run(exit) => {
                        let before = recipe.commands.len();
                        for (k, text) in body.iter().enumerate() {
                            if text.starts_with("llmspec ") {
                                let words: Vec<String> = text.split_whitespace().skip(1).map(String::from).collect();
                                let line = block_start + 2 + k;
                                let url = words.iter().position(|w| w == "--base-url").and_then(|p| words.get(p + 1));
                                if words.first().map(String::as_str) == Some("run") && url.is_none() {
                                    return Err(format!("line {line}: `llmspec run` in a recipe needs --base-url"));
                                }
                                recipe.commands.push(Command { words, exit, line });
                            }
                        }
                        if recipe.commands.len() == before {
                            return Err(format!("line {at}: a run block holds no `llmspec ...` line"));
                        }
                    }
                    Marker::Output => {
                        if recipe.commands.is_empty() {
                            return Err(format!("line {at}: an output block comes after the commands"));
                        }
                        recipe.output = body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.to_string()).collect();
                    }
                }
                i = end + 1;
                continue;
            }
            i += 1;
            continue;
        };
        if fence.trim() == "yaml" {
            return Err(format!("line {}: a YAML block that no recipe runs: give it a `<!-- file: NAME -->`", i + 1));
        }
        let (_, end) = block(&lines, i)?;
        i = end + 1;
    }
    for recipe in &sections {
        if !recipe.files.is_empty() && recipe.commands.is_empty() {
            return Err(format!("`{}` (line {}) has files but no run block", recipe.title, recipe.line));
        }
    }
    Ok(sections.into_iter().filter(|r| !r.commands.is_empty()).collect())
}

/// The lines of the fenced block opening at `start`, and the line that closes it.
fn block<'a>(lines: &[&'a str], start: usize) -> Result<(Vec<&'a str>, usize), String> {
    let close = (start + 1..lines.len())
        .find(|&k| lines[k].trim_end() == "```")
        .ok_or_else(|| format!("line {}: a fenced block that is never closed", start + 1))?;
    Ok((lines[start + 1..close].to_vec(), close))
}

/// Runs the binary in `dir` with an empty environment, so that no variable of the machine
/// changes what a recipe does.
fn llmspec_in(dir: &Path, words: &[String]) -> Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(words)
        .current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs one recipe against the simulator at `url`; says what went otherwise than the page says.
fn run_recipe(recipe: &Recipe, url: &str) -> Result<(), String> {
    let dir = TempDir::new();
    for (name, text) in &recipe.files {
        dir.write(name, text);
    }
    let mut last = None;
    for command in &recipe.commands {
        let mut words = command.words.clone();
        if let Some(p) = words.iter().position(|w| w == "--base-url") {
            words[p + 1] = url.to_string();
        }
        let out = llmspec_in(&dir.0, &words);
        if out.code != command.exit {
            return Err(format!(
                "`{}` (line {}): `llmspec {}` ended with {}, the page says {}\n{}{}",
                recipe.title,
                command.line,
                command.words.join(" "),
                out.code,
                command.exit,
                out.stdout,
                out.stderr
            ));
        }
        last = Some(out);
    }
    let printed = normalize(&last.map(|o| o.stdout).unwrap_or_default(), Some(&dir.0));
    for expected in &recipe.output {
        let expected = normalize(expected.trim_end(), None);
        if !printed.contains(&expected) {
            return Err(format!("`{}`: the page shows\n{expected}\nbut the run printed\n{printed}", recipe.title));
        }
    }
    Ok(())
}

#[test]
fn the_cookbook_has_enough_recipes_and_every_yaml_block_is_run() {
    let recipes = parse(COOKBOOK).unwrap_or_else(|e| panic!("docs/cookbook.md: {e}"));
    assert!(recipes.len() >= MIN_RECIPES, "{} recipes, fewer than {MIN_RECIPES}", recipes.len());
    for recipe in &recipes {
        assert!(recipe.files.iter().any(|(n, _)| n.ends_with(".yaml")), "`{}` has no spec", recipe.title);
    }
}

#[test]
fn every_recipe_of_the_cookbook_runs_as_it_says() {
    let recipes = parse(COOKBOOK).unwrap_or_else(|e| panic!("docs/cookbook.md: {e}"));
    let sim = Sim::start();
    let broken: Vec<String> = recipes.iter().filter_map(|r| run_recipe(r, &sim.url()).err()).collect();
    assert!(broken.is_empty(), "{} of {} recipes broken:\n\n{}", broken.len(), recipes.len(), broken.join("\n\n"));
}

/// A page of one recipe, with its spec, its command's stated exit code and an output block.
fn page(spec: &str, exit: i32, output: &str) -> String {
    format!(
        "# t\n\n## r\n\n<!-- file: t.yaml -->\n```yaml\n{spec}```\n\n<!-- run: exit {exit} -->\n```sh\nllmspec run t.yaml --base-url http://localhost:8000\n```\n\n<!-- output -->\n```text\n{output}\n```\n"
    )
}

/// The check can fail: a recipe whose exit code or output differs from the page is reported.
#[test]
fn a_recipe_that_does_not_do_what_the_page_says_is_reported() {
    let sim = Sim::start();
    let spec = "suite: s\ntests:\n  - name: models\n    request: { GET: /v1/models }\n    expect: { status: 200 }\n";
    let good = parse(&page(spec, 0, "  PASS models (3ms)")).unwrap();
    assert_eq!(good.len(), 1);
    assert_eq!(run_recipe(&good[0], &sim.url()), Ok(()));

    let wrong_status = parse(&page(&spec.replace("200", "201"), 0, "  PASS models")).unwrap();
    let err = run_recipe(&wrong_status[0], &sim.url()).unwrap_err();
    assert!(err.contains("ended with 1, the page says 0"), "{err}");

    let wrong_output = parse(&page(spec, 0, "  SKIP models")).unwrap();
    let err = run_recipe(&wrong_output[0], &sim.url()).unwrap_err();
    assert!(err.contains("the page shows\n  SKIP models"), "{err}");
}

#[test]
fn blocks_that_would_go_untested_are_refused() {
    let cases = [
        ("## r\n\n```yaml\nsuite: s\n```\n", "line 3: a YAML block that no recipe runs"),
        ("## r\n\n<!-- file: t.yaml -->\n\n```yaml\nsuite: s\n```\n", "line 3: a marker must be right before"),
        ("<!-- file: t.yaml -->\n```yaml\nsuite: s\n```\n", "line 1: a marker before any recipe"),
        ("## r\n<!-- file: t.yaml -->\n```yaml\nsuite: s\n```\n", "`r` (line 1) has files but no run block"),
        ("## r\n<!-- run: exit 0 -->\n```sh\nllmspec run t.yaml\n```\n", "line 4: `llmspec run` in a recipe needs"),
        ("## r\n<!-- run: exit 0 -->\n```sh\nls\n```\n", "line 2: a run block holds no `llmspec ...` line"),
        ("## r\n<!-- file: ../t.yaml -->\n```yaml\n```\n", "a file marker names one file"),
        ("## r\n<!-- run: 0 -->\n```sh\n```\n", "write `<!-- run: exit N -->`"),
        ("## r\n<!-- file: t.yaml -->\n```yaml\nsuite: s\n", "line 3: a fenced block that is never closed"),
    ];
    for (markdown, error) in cases {
        let err = parse(markdown).unwrap_err();
        assert!(err.contains(error), "{markdown:?}: {err}");
    }
    // YAML inside another block (a shell example, a heading inside code) is not a recipe's.
    let recipes = parse("## r\n\n```sh\n## not a heading\n```yaml\n```\n").unwrap();
    assert!(recipes.is_empty());
}
