//! The simulator as a deterministic judge. A chat request whose `response_format` is a
//! `json_schema` with a `verdict` property (what llmspec's `expect.judge` asks for) is answered
//! with a verdict object instead of a document filled from the schema: `fail` when the last
//! user message holds the word [`FAIL_MARKER`], `pass` otherwise. A test picks the verdict
//! through the question it sends or the rubric it writes.

use serde_json::{Value, json};

/// The word that makes the simulated judge rule against an answer.
pub const FAIL_MARKER: &str = "WRONG";

/// A schema that asks for a verdict.
pub(crate) fn asks_for_verdict(schema: &Value) -> bool {
    schema.get("properties").and_then(|p| p.get("verdict")).is_some()
}

/// The verdict object for a judge request whose last user message is `user_text`.
pub(crate) fn verdict(user_text: &str) -> Value {
    if user_text.contains(FAIL_MARKER) {
        json!({
            "verdict": "fail",
            "score": 0.0,
            "reasoning": format!("The simulated judge found the marker {FAIL_MARKER} and rules against the answer."),
        })
    } else {
        json!({
            "verdict": "pass",
            "score": 1.0,
            "reasoning": format!("The simulated judge found no marker {FAIL_MARKER} and rules for the answer."),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SimConfig, spawn};
    use serde_json::{Value, json};

    async fn ask(base: &str, question: &str, schema: Value) -> Value {
        let body = json!({
            "model": "sim-model",
            "messages": [{"role": "system", "content": "Judge."}, {"role": "user", "content": question}],
            "temperature": 0, "seed": 1, "max_tokens": 256,
            "response_format": {"type": "json_schema", "json_schema": {"name": "v", "strict": true, "schema": schema}},
        });
        let client = crate::tests::client_builder().build().expect("client");
        let request = client.post(format!("{base}/v1/chat/completions")).header("content-type", "application/json");
        let response = request.body(body.to_string()).send().await.expect("answer");
        assert_eq!(response.status(), 200);
        let answer: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
        let content = answer["choices"][0]["message"]["content"].as_str().expect("content").to_string();
        serde_json::from_str(&content).expect("the content is JSON")
    }

    #[tokio::test]
    async fn a_verdict_schema_gets_a_verdict_chosen_by_the_marker() {
        let sim = spawn(SimConfig { port: 0, ..SimConfig::default() }).await.expect("simulator binds");
        let verdict = json!({"type": "object", "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]},
            "score": {"type": "number"}, "reasoning": {"type": "string"}}});
        let pass = ask(&sim.base_url(), "Rubric: coherent. Answer: Paris.", verdict.clone()).await;
        assert_eq!((&pass["verdict"], &pass["score"]), (&json!("pass"), &json!(1.0)));
        assert!(pass["reasoning"].as_str().is_some_and(|r| !r.is_empty()));
        let fail = ask(&sim.base_url(), "Answer: WRONG.", verdict).await;
        assert_eq!((&fail["verdict"], &fail["score"]), (&json!("fail"), &json!(0.0)));
        // Any other schema is still filled from the schema.
        let other =
            ask(&sim.base_url(), "WRONG", json!({"type": "object", "properties": {"answer": {"type": "string"}}}))
                .await;
        assert!(other.get("verdict").is_none() && other.get("answer").is_some(), "{other}");
    }
}
