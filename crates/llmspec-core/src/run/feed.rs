//! What each request of a load test sends: the same request every time, the next row of its
//! dataset, or the next turn of a worker's conversation. Everything that can be rendered is
//! rendered once, when the test starts (captures are known by then): a request then only
//! picks a prepared request, and a conversation's turn only splices the history into a
//! prepared body.

use super::http::{Outgoing, ReadOptions};
use crate::redact::Redactor;
use crate::spec::dataset::{Row, TURNS};
use crate::spec::draw::TURN;
use crate::spec::interp::render;
use crate::spec::plan::{Body, DatasetPlan, Exchange};
use serde_json::Value;
use std::collections::HashMap;

/// Bytes of a streamed answer's raw text kept for transcripts when no check reads the body:
/// a load run keeps only what a report shows.
const KEPT_RAW_IN_LOAD: usize = 4096;

/// A request ready to send.
pub(crate) struct Prepared {
    pub outgoing: Outgoing,
    /// The JSON body sent, as a value, when a check reads it (tool-call schemas).
    pub sent: Option<Value>,
}

pub(crate) enum Feed {
    /// Every request sends this.
    Same(Prepared),
    /// Request `i` sends `requests[order[i % order.len()]]`.
    Rows { requests: Vec<Prepared>, order: Vec<u32> },
    /// Each worker takes the next conversation, in `order`, and sends its turns.
    Conversations { conversations: Vec<Conversation>, order: Vec<u32> },
}

/// One row of a multi-turn dataset, rendered.
pub(crate) struct Conversation {
    /// The URL and headers of every turn; the body is made per turn.
    outgoing: Outgoing,
    /// Each turn's body, before the conversation so far is put in its `messages`.
    turns: Vec<Value>,
    /// Whether a check reads the body sent.
    keep_sent: bool,
}

impl Feed {
    /// Renders the test's request for the run: once, or once per row (and turn) of its
    /// dataset, with the captures made so far.
    pub fn prepare(
        exchange: &Exchange,
        dataset: Option<&DatasetPlan>,
        captures: &HashMap<String, Value>,
        redactor: &Redactor,
        read: &ReadOptions,
    ) -> Result<Feed, String> {
        // Only tool-call checks read the request sent (`ExpectPlan::evaluate`): without them,
        // no copy of each body is kept as a value.
        let keep_sent = exchange.expect.tool_call.is_some();
        let prepare = |vars: &HashMap<String, Value>| -> Result<Prepared, String> {
            let mut outgoing = super::prepare(exchange, vars, redactor, read)?;
            if exchange.expect.body.is_none() {
                outgoing.read.keep_raw = KEPT_RAW_IN_LOAD;
            }
            let sent = if keep_sent || dataset.is_none() { super::sent_json(&outgoing) } else { None };
            Ok(Prepared { outgoing, sent })
        };
        let Some(dataset) = dataset else { return Ok(Feed::Same(prepare(captures)?)) };
        let mut vars = HashMap::new();
        let mut requests = Vec::with_capacity(dataset.rows.rows.len());
        let mut conversations = vec![];
        for row in &dataset.rows.rows {
            with_row(&mut vars, captures, row);
            let at = |e: String| format!("row at line {} of {}: {e}", row.line, dataset.rows.file);
            if !dataset.conversations {
                requests.push(prepare(&vars).map_err(at)?);
                continue;
            }
            let turns = row.get(TURNS).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            // The URL and headers cannot use the turn (checked at load time); the first one
            // stands in for it while they are rendered.
            vars.insert(TURN.into(), turns.first().cloned().unwrap_or(Value::Null));
            let Prepared { outgoing, .. } = prepare(&vars).map_err(at)?;
            let Body::Json(template) = &exchange.request.body else {
                return Err(at("a conversation needs a `json` body".into()));
            };
            let mut bodies = Vec::with_capacity(turns.len());
            for turn in turns {
                vars.insert(TURN.into(), turn.clone());
                bodies.push(render(template, &vars).map_err(at)?);
            }
            conversations.push(Conversation { outgoing, turns: bodies, keep_sent });
        }
        Ok(if dataset.conversations {
            Feed::Conversations { conversations, order: dataset.order.clone() }
        } else {
            Feed::Rows { requests, order: dataset.order.clone() }
        })
    }

    /// What request `index` sends; `None` for conversations, which go turn by turn.
    pub fn request(&self, index: u64) -> Option<&Prepared> {
        match self {
            Feed::Same(p) => Some(p),
            Feed::Rows { requests, order } => requests.get(*order.get(pick(index, order.len()))? as usize),
            Feed::Conversations { .. } => None,
        }
    }

    /// Conversation number `n`, cycling through the rows in their order.
    pub fn conversation(&self, n: u64) -> Option<&Conversation> {
        match self {
            Feed::Conversations { conversations, order } => {
                conversations.get(*order.get(pick(n, order.len()))? as usize)
            }
            _ => None,
        }
    }
}

fn pick(index: u64, len: usize) -> usize {
    (index % len.max(1) as u64) as usize
}

/// `vars` holds the captures and this row's fields (a field wins over a capture of its name).
fn with_row(vars: &mut HashMap<String, Value>, captures: &HashMap<String, Value>, row: &Row) {
    vars.clone_from(captures);
    for (name, value) in &row.fields {
        vars.insert(name.clone(), value.clone());
    }
}

impl Conversation {
    pub fn turns(&self) -> usize {
        self.turns.len()
    }

    /// Turn `k`'s request, with `history` (the earlier turns' user messages and answers) put
    /// before the last message of its `messages`, and that last message, for the history.
    pub fn request(&self, k: usize, history: &[Value]) -> (Prepared, Value) {
        let mut body = self.turns.get(k).cloned().unwrap_or(Value::Null);
        let mut user = Value::Null;
        if let Some(Value::Array(messages)) = body.get_mut("messages") {
            user = messages.pop().unwrap_or(Value::Null);
            messages.extend(history.iter().cloned());
            messages.push(user.clone());
        }
        let mut outgoing = self.outgoing.clone();
        // A JSON value always serializes.
        outgoing.body = serde_json::to_vec(&body).ok().map(bytes::Bytes::from);
        let sent = self.keep_sent.then_some(body);
        (Prepared { outgoing, sent }, user)
    }
}

/// The assistant message to carry into the next turn: the answer's first choice, without
/// what a server adds for the client alone (reasoning, logprobs).
pub fn answer(json: Option<&Value>) -> Option<Value> {
    let message = json?.pointer("/choices/0/message")?;
    let content = message.get("content").filter(|c| c.is_string())?;
    Some(serde_json::json!({"role": "assistant", "content": content}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation(turns: Vec<Value>) -> Conversation {
        let outgoing = Outgoing {
            method: reqwest::Method::POST,
            url: "http://127.0.0.1:9/v1/chat/completions".into(),
            headers: vec![],
            body: None,
            timeout: std::time::Duration::from_secs(1),
            read: ReadOptions::default(),
        };
        Conversation { outgoing, turns, keep_sent: true }
    }

    #[test]
    fn each_turn_carries_the_conversation_before_its_own_message() {
        let turn = |t: &str| json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": t}]});
        let c = conversation(vec![turn("hi"), turn("more")]);
        let (first, user) = c.request(0, &[]);
        assert_eq!(user, json!({"role": "user", "content": "hi"}));
        let history = vec![user, answer(Some(&json!({"choices": [{"message": {"role": "assistant", "content": "Hello.", "reasoning_content": "x"}}]}))).unwrap()];
        let (second, _) = c.request(1, &history);
        let sent: Value = serde_json::from_slice(second.outgoing.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            sent["messages"],
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "more"},
            ])
        );
        assert_eq!(second.sent.as_ref(), Some(&sent));
        assert_eq!(first.sent.unwrap()["messages"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn only_a_text_answer_continues_a_conversation() {
        assert_eq!(answer(None), None);
        assert_eq!(answer(Some(&json!({"error": "x"}))), None);
        assert_eq!(answer(Some(&json!({"choices": [{"message": {"content": null, "tool_calls": []}}]}))), None);
    }

    #[test]
    fn rows_are_drawn_in_order_and_cycled() {
        let prepared = |n: u8| Prepared {
            outgoing: Outgoing { body: Some(bytes::Bytes::from(vec![n])), ..conversation(vec![]).outgoing },
            sent: None,
        };
        let feed = Feed::Rows { requests: vec![prepared(0), prepared(1), prepared(2)], order: vec![2, 0, 1] };
        let drawn: Vec<u8> = (0..7).map(|i| feed.request(i).unwrap().outgoing.body.as_ref().unwrap()[0]).collect();
        assert_eq!(drawn, [2, 0, 1, 2, 0, 1, 2]);
        assert!(feed.conversation(0).is_none());
    }
}
