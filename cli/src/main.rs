//! `ironlb`: validate a config, show who announces what, run the lab.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod config_cmd;
// The lab's module keeps its own conventions (it is maintained with the lab scripts);
// its items are crate-visible whatever their spelling.
#[allow(unreachable_pub)]
mod lab;
mod status;

#[derive(Parser)]
#[command(
    name = "ironlb",
    version,
    about = "IronLB: bare-metal LoadBalancer for Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with IronLB configuration documents.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Run the lab: a real control plane and a simulated LAN on this machine.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Show who announces what: per LoadBalancer Service, or one node's view (--node).
    Status(status::StatusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config(cmd) => config_cmd::run(cmd),
        Command::Lab(cmd) => lab::run(cmd),
        Command::Status(args) => status::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("ironlb: {err:#}");
            ExitCode::from(1)
        }
    }
}
