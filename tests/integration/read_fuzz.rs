//! Property tests of the stream reader: the SSE parser and the reassembly of chunks, on
//! generated hostile input. They run inside `cargo test` with a bounded number of cases;
//! `LLMSPEC_FUZZ_CASES=100000 cargo test --test integration read_fuzz` runs longer. The
//! functions they check (`sse::check_chunking`, `reassemble::check_reassembly`,
//! `chunk::check_same_reading` and the
//! `fuzz_one` byte entries) are the ones a coverage-guided fuzzer calls too (fuzz/).

use llmspec_core::run::reassemble::check_reassembly;
use llmspec_core::run::sse::{SseLimits, check_chunking};
use proptest::prelude::*;
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("LLMSPEC_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(5000)
}

/// Pieces that make SSE interesting: field names, every line ending, comments, multi-byte and
/// invalid UTF-8, [DONE].
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"data:".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b":".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just(b"{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}".to_vec()),
        Just("é€😀".as_bytes().to_vec()),
        Just(vec![0xff]),
        Just(vec![0xe2, 0x82]),
        prop::collection::vec(any::<u8>(), 0..8),
        prop::collection::vec(prop::sample::select(b"ab :".to_vec()), 0..12),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..60).prop_map(|pieces| pieces.concat())
}

fn limits() -> impl Strategy<Value = SseLimits> {
    prop_oneof![
        (1usize..80, 1usize..80).prop_map(|(l, e)| SseLimits { max_line_bytes: l, max_event_bytes: e }),
        Just(SseLimits { max_line_bytes: 1 << 20, max_event_bytes: 1 << 20 }),
    ]
}

/// JSON shaped like streamed chunks, with wrong types and odd indexes where a server could put
/// them.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..4).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_map(Value::from),
        prop::collection::vec(prop::sample::select(vec!['a', 'b', 'é', '😀', '"', '{']), 0..10)
            .prop_map(|chars| Value::String(chars.into_iter().collect())),
        Just(Value::String("text_completion".into())),
    ];
    let keys = prop::sample::select(vec![
        "choices",
        "index",
        "delta",
        "content",
        "reasoning_content",
        "reasoning",
        "text",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "id",
        "type",
        "role",
        "finish_reason",
        "usage",
        "object",
        "system_fingerprint",
        "model",
        "error",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sse_gives_the_same_events_however_the_body_is_chunked(
        limits in limits(),
        body in body(),
        splits in prop::collection::vec(any::<usize>(), 0..24),
    ) {
        if let Err(why) = check_chunking(limits, &body, &splits) {
            return Err(TestCaseError::fail(why));
        }
    }

    #[test]
    fn sse_byte_entry_never_panics(data in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(why) = llmspec_core::run::sse::fuzz_one(&data) {
            return Err(TestCaseError::fail(why));
        }
    }

    #[test]
    fn the_fast_reading_of_a_chunk_says_what_the_lenient_one_says(chunk in json()) {
        if let Err(why) = llmspec_core::run::chunk::check_same_reading(&chunk.to_string()) {
            return Err(TestCaseError::fail(why));
        }
    }

    #[test]
    fn reassembly_of_any_json_chunks_never_panics_and_keeps_its_budget(
        chunks in prop::collection::vec(json(), 0..12),
        budget in prop_oneof![0usize..40, Just(1usize << 20)],
    ) {
        if let Err(why) = check_reassembly(&chunks, budget) {
            return Err(TestCaseError::fail(why));
        }
    }
}
