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
    quiet_on_a_closed_pipe();
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

/// `switchboard query … | head -1`: once the reader has gone, stop quietly as other
/// Unix tools do (exit 141, as if by SIGPIPE) instead of panicking about a broken pipe.
/// (Rust ignores SIGPIPE, so a write to a closed pipe is an error `println!` panics on.)
fn quiet_on_a_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}
