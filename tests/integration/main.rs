//! End-to-end tests: the real `llmspec` binary against the built-in simulator.
//! One test binary (faster to link), grouped by theme.

mod support;

mod cli;
mod failures;
mod hostile;
mod junit;
mod load;
mod read_fuzz;
mod schema;
mod seed_pack;
mod soak;
mod spec_errors;
mod streaming;
mod tls;
mod transport;
