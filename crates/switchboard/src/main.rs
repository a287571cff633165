//! `switchboard`: the contact center server and its configuration-as-code CLI.

mod cli;
mod client;
mod commands;
mod target;

use std::process::ExitCode;

use clap::Parser;

/// The server allocates and frees many small, short-lived values across threads (events,
/// frames, JSON); glibc's allocator had about a tenth of the server's samples under chat
/// load (perf), and with mimalloc the chat load bench ran about a tenth faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
