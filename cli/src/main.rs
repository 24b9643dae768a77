//! `ironlb`: validate a config, migrate from MetalLB, show who announces what, run
//! the lab. Installed as `kubectl-ironlb`, it is the kubectl plugin `kubectl ironlb`.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

mod config_cmd;
mod migrate;
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
    /// Turn a MetalLB dump (legacy ConfigMap, or its metallb.io objects) into IronLB's ConfigMap.
    Migrate(migrate::MigrateArgs),
    /// Run the lab: a real Kubernetes cluster (IronLB installed from its image) on a LAN of
    /// network namespaces on this machine.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Show who announces what: per LoadBalancer Service, or one node's view (--node).
    Status(status::StatusArgs),
}

/// How help and errors name the program: `kubectl ironlb` when run as the kubectl
/// plugin (kubectl runs `kubectl-ironlb`), `ironlb` otherwise.
fn bin_name() -> &'static str {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let file = std::path::Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file.starts_with("kubectl-ironlb") {
        "kubectl ironlb"
    } else {
        "ironlb"
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().bin_name(bin_name()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match cli.command {
        Command::Config(cmd) => config_cmd::run(cmd),
        Command::Migrate(args) => migrate::run(args),
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
