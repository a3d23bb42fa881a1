//! The llmspec binary: the command line, with the simulator bundled.

mod cli;
mod init;
mod packs;
mod shard;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(cli::main_with_args(std::env::args_os()))
}
