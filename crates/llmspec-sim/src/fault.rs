//! The deliberate misbehaviours a test can ask for, by `--fault` or per request.

pub const HEADER_FAULT: &str = "x-sim-fault";

/// A deliberate misbehaviour, chosen with `x-sim-fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connection is cut after a few chunks: the client sees a broken body.
    ResetMidStream,
    /// After a few chunks nothing more is sent; the connection is closed after 60 s.
    Stall,
    /// A normal stream without the final `data: [DONE]`.
    NoDone,
    /// After a few chunks, a vLLM error event then `[DONE]`; the status stays 200.
    ErrorEvent,
    /// One `data:` line with invalid JSON in the middle of the stream.
    MalformedChunk,
    /// A 500 with a vLLM error body, before the request is even validated.
    Status500,
    /// The connection is closed without any response.
    Drop,
    /// A valid 200 answer of about 10 MB.
    HugeBody,
    /// Bytes that are not UTF-8 inside the answer text: in the JSON body, or in one extra
    /// chunk of a stream (the rest of the stream is intact).
    InvalidUtf8,
    /// A few chunks, then valid chunks as fast as the client reads them, until it goes away.
    /// Without streaming, a JSON body whose text never ends.
    Endless,
    /// One `data:` line of about 5 MB (a valid chunk) in the middle of a stream; without
    /// streaming, an answer of about 5 MB on one line.
    HugeLine,
    /// Status and headers only after `x-sim-latency`, or after 60 s when none is set; the
    /// answer then comes as usual.
    SlowHeaders,
    /// A 200 with an HTML page, as a proxy or a web server in front of the model sends.
    NonJson200,
    /// A 200 with an empty body.
    Empty200,
}

impl Fault {
    pub const ALL: [(&'static str, Fault); 14] = [
        ("reset-mid-stream", Fault::ResetMidStream),
        ("stall", Fault::Stall),
        ("no-done", Fault::NoDone),
        ("error-event", Fault::ErrorEvent),
        ("malformed-chunk", Fault::MalformedChunk),
        ("status-500", Fault::Status500),
        ("drop", Fault::Drop),
        ("huge-body", Fault::HugeBody),
        ("invalid-utf8", Fault::InvalidUtf8),
        ("endless", Fault::Endless),
        ("huge-line", Fault::HugeLine),
        ("slow-headers", Fault::SlowHeaders),
        ("non-json-200", Fault::NonJson200),
        ("empty-200", Fault::Empty200),
    ];

    pub(crate) fn parse(name: &str) -> Option<Fault> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// For the `--fault` flag: the fault, or the list of valid names.
    pub fn from_name(name: &str) -> Result<Fault, String> {
        Self::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown fault `{name}`; valid faults: {}", names.join(", "))
        })
    }
}
