//! Exit codes, so that CI can tell a red test from a broken spec or an unreachable server.

/// Every test that ran passed (skipped tests do not count against it).
pub const PASSED: u8 = 0;
/// At least one expectation did not hold, and every test reached a verdict.
pub const TEST_FAILED: u8 = 1;
/// A spec or the command line is wrong; nothing was sent.
pub const SPEC_ERROR: u8 = 2;
/// At least one test reached no verdict: connection refused, timeout, broken stream.
/// It wins over [`TEST_FAILED`], because the failures next to it may have the same cause.
pub const RUNTIME_ERROR: u8 = 3;
/// llmspec itself could not do its job, e.g. the JUnit file could not be written.
pub const INTERNAL_ERROR: u8 = 4;
/// The run was interrupted (Ctrl-C, SIGINT); the reports were written with what had run.
pub const INTERRUPTED: u8 = 130;
/// The run was terminated (SIGTERM, what CI runners send on cancel or timeout); the reports were
/// written with what had run.
pub const TERMINATED: u8 = 143;
