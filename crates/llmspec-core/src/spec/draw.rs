//! How a load test draws its requests from a dataset (`load.dataset`). Each request takes the
//! next row, whose fields fill the request's `${name}` references; rows holding `turns` are
//! conversations, each sent turn by turn by one worker. Checked when the spec is loaded: every
//! row has the fields the request uses, conversations have turns and a `messages` list to
//! continue, and the order rows are drawn in is fixed here, from the seed.

use super::dataset::{Rows, TURNS};
use super::de::Spanned;
use super::diag::Diagnostic;
use super::limits;
use super::model::{LoadDataset, Order};
use super::plan::{Body, DatasetPlan, TestPlan};
use super::yaml::{Loc, Node, Value};
use crate::vocab::random::SplitMix;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The variable holding the text of the current turn of a conversation.
pub const TURN: &str = "turn";

/// What a test's request can take from each row of its dataset.
pub fn fields(rows: &Rows) -> BTreeSet<String> {
    let mut names = rows.names.clone();
    if rows.has_turns() {
        names.insert(TURN.into());
    }
    names
}

/// The node naming a test's `load.dataset` file: it is read before the test's references are
/// resolved, since the rows' fields are references in its request.
pub fn file_node(test: &Node) -> Option<&Node> {
    let dataset = test.get("load")?.get("dataset")?;
    match &dataset.value {
        Value::Map(_) => dataset.get("file"),
        _ => Some(dataset),
    }
}

/// Checks `rows` against the test's request and gives its load the order to draw them in.
pub fn attach(
    test: &mut TestPlan,
    spec: Spanned<LoadDataset>,
    rows: Arc<Rows>,
    problems: &mut Vec<(Loc, String)>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let loc = spec.loc;
    let conversations = rows.has_turns();
    let available = fields(&rows);
    let used: Vec<String> =
        test.references().into_iter().filter(|n| available.contains(n) && !(conversations && n == TURN)).collect();
    let mut bad_rows = vec![];
    for row in &rows.rows {
        for name in &used {
            if row.get(name).is_none() {
                bad_rows.push((
                    row.line,
                    format!("this row has no field `{name}`, which the request of `{}` uses", test.name),
                ));
            }
        }
        if conversations && let Err(why) = turns_of(row.get(TURNS)) {
            bad_rows.push((row.line, why));
        }
        if bad_rows.len() >= limits::MAX_PROBLEMS {
            break;
        }
    }
    diagnostics.extend(rows.problems_at(bad_rows));
    let Some(exchange) = &test.exchange else { return };
    if conversations {
        if rows.names.contains(TURN) {
            let message = format!(
                "the rows of {} have a field `{TURN}`, the name of the current turn of a conversation: rename the field",
                rows.file
            );
            problems.push((loc, message));
        }
        if test.load.as_ref().is_some_and(|l| l.rate.is_some()) {
            let message = "rows with `turns` are conversations, each run by one worker turn after turn: use `concurrency` without `rate`";
            problems.push((loc, message.into()));
        }
        let continues = match &exchange.request.body {
            Body::Json(body) => body.get("messages").and_then(|m| m.as_array()).is_some_and(|m| !m.is_empty()),
            _ => false,
        };
        if !continues {
            let message = "a conversation continues the request's `json.messages`: write it as a list that ends with the user's turn, e.g. `messages: [{ role: user, content: \"${turn}\" }]`";
            problems.push((loc, message.into()));
        }
        let request = &exchange.request;
        let outside_body = std::iter::once(request.url.as_str()).chain(request.headers.iter().map(|(_, v)| v.as_str()));
        if outside_body.into_iter().any(|t| t.contains("${turn")) {
            problems
                .push((loc, format!("`${{{TURN}}}` belongs in the request's `json` body, where the turns are sent")));
        }
    }
    let mut order: Vec<u32> = (0..rows.rows.len() as u32).collect();
    if spec.value.order == Order::Shuffled {
        // Fisher-Yates, from a seeded generator: the same order on every run and machine.
        let mut random = SplitMix(spec.value.seed.unwrap_or(1));
        for i in (1..order.len()).rev() {
            let j = random.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    if let Some(load) = &mut test.load {
        load.dataset = Some(Arc::new(DatasetPlan { rows, order, conversations }));
    }
}

/// A row's turns: a list of 1 to [`limits::MAX_TURNS`] texts.
fn turns_of(value: Option<&serde_json::Value>) -> Result<(), String> {
    let Some(serde_json::Value::Array(turns)) = value else {
        return Err(format!(
            "this row has no `{TURNS}` list: when a row of a dataset has turns, every row is a conversation"
        ));
    };
    if turns.is_empty() {
        return Err(format!("`{TURNS}` lists no turn"));
    }
    if turns.len() > limits::MAX_TURNS {
        return Err(format!("`{TURNS}` lists {} turns; a conversation has at most {}", turns.len(), limits::MAX_TURNS));
    }
    if let Some(other) = turns.iter().find(|t| !t.is_string()) {
        return Err(format!("each turn is the text of a user message, not `{other}`"));
    }
    Ok(())
}
