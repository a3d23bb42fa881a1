//! Bounds on what one spec file may cost to load.
//!
//! A spec file comes from a person we trust to send requests, but a broken or hostile file must
//! still end in a clear error, never in a crash, a hang or an exhausted machine. Every bound
//! here is far above what a real suite needs (the largest spec under `specs/` is a few hundred
//! lines) and low enough that loading stays within a few hundred MB of memory.

/// Largest spec (or schema) file read. Long prompts written inline are the biggest legitimate
/// content; 8 MiB holds thousands of them, and the tree built from a file is a small multiple
/// of its size, so memory stays bounded before any other limit applies.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Most nested collections on any path of the tree, aliases and `${...}` included. Loading
/// recurses over the tree (building, decoding, interpolation, checks, JSON conversion); 128
/// levels keeps every stage far from the end of a 2 MiB thread stack, and is the depth that
/// serde_json itself accepts.
pub const MAX_NESTING: usize = 128;

/// Most nodes (scalars and collections) in a file's tree after aliases and `${...}` are
/// expanded. Aliases copy what they name, so a few hundred bytes of YAML can otherwise stand
/// for billions of nodes ("billion laughs").
pub const MAX_NODES: usize = 250_000;

/// Most bytes of scalar text in a file's tree after aliases and `${...}` are expanded: twice
/// the largest file, so a file may reuse its own text but not multiply it.
pub const MAX_TEXT_BYTES: usize = 2 * MAX_FILE_BYTES as usize;

/// Nesting of `${...:-default}` inside defaults, e.g. `${env.A:-${env.B:-x}}`.
pub const MAX_DEFAULT_NESTING: usize = 16;

/// Problems reported for one file; the rest are counted in one last message.
pub const MAX_PROBLEMS: usize = 100;

/// Longest duration accepted anywhere (timeouts, soaks, intervals): 30 days. Durations are part
/// of the vocabulary, which checks this bound where it parses them.
pub use crate::vocab::units::MAX_DURATION;

/// Highest request rate of a load (`rate:`), per second: past this the client, not the
/// server, is measured.
pub const MAX_RATE_PER_SECOND: f64 = 100_000.0;

/// Most requests in flight at once (`concurrency:`): each is a task with its own connection.
/// What one machine can hold is checked before a load starts (open files, ephemeral ports:
/// `run::sockets`); a connection pool scans its waiters, so no pool serves more than
/// `run::lanes::WORKERS_PER_POOL` of them.
pub const MAX_CONCURRENCY: u64 = 1_000_000;

/// Most requests of one test (`repeat:`, `load.requests`): a billion keeps a loop bound a
/// person could mean and stops the ones nobody can wait for.
pub const MAX_REQUESTS: u64 = 1_000_000_000;

/// Most time windows of a soak (`duration` / `window`). Each window keeps its own histograms
/// (about 1.25 MB), so 120 windows cost some 150 MB: a one-hour soak can still be cut into
/// 30-second windows.
pub const MAX_WINDOWS: u64 = 120;

/// Most instances one test may expand into (`matrix` combinations times `data` rows). Each is
/// a test of its own, decoded and checked like a written one; ten thousand cases already make
/// a JUnit report that no CI page shows whole.
pub const MAX_INSTANCES: usize = 10_000;

/// Most nodes in all the copies that `matrix` and `data` make of a file's tests: the copies
/// are built before `${...}` is resolved, so they are bounded on their own, at four times a
/// file's nodes (some 100 MB of tree at worst).
pub const MAX_INSTANCE_NODES: usize = 4 * MAX_NODES;

/// Largest data file (`data:`, `load.dataset`). Prompt datasets are bigger than specs; the
/// rows are held in memory as JSON for the whole run, which costs two to three times the file.
pub const MAX_DATA_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Most rows read from one data file. A load test's rows are rendered into requests once,
/// when it starts: 100,000 prompts is well past what load tools sample from a dataset.
pub const MAX_DATA_ROWS: usize = 100_000;

/// Most turns in one conversation of a multi-turn dataset. Every turn sends the whole
/// conversation so far, so what is sent grows with the square of the turns.
pub const MAX_TURNS: usize = 256;

/// Most steps of a capacity search (`load.sweep`). Doubling from 1 reaches the highest
/// concurrency in 14 steps; 64 leaves room for fine linear steps, and each step keeps its own
/// aggregate (about 1.25 MB of histograms) for the report.
pub const MAX_SWEEP_STEPS: usize = 64;
