//! End-to-end tests: the real `llmspec` binary against the built-in simulator.
//! One test binary (faster to link), grouped by theme.

mod support;

mod architecture;
mod byte_level;
mod cli;
mod conformance_pack;
mod connections;
mod cookbook;
mod data_driven;
mod exec_groups;
mod expressions;
mod failures;
mod hostile;
mod init;
mod json_format;
mod judge;
mod junit;
mod load;
mod output;
mod read_fuzz;
mod schema;
mod secrets;
mod seed_pack;
mod shards;
mod soak;
mod spec_errors;
mod spec_fuzz;
mod spec_language;
mod spec_limits;
mod streaming;
mod sweep;
mod tls;
mod transport;
