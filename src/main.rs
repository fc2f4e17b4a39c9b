//! The `kiln` binary: with no arguments it opens the workbench window; subcommands give the
//! same engine headless, for labs, scripts and CI.

mod cli;
mod data;
mod deploy;
mod format;
mod gui;
mod mlflow;
mod models;
mod monitor;
mod project;
mod serve;
mod signals;
mod train;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run(std::env::args_os()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("kiln: {message}");
            ExitCode::FAILURE
        }
    }
}
