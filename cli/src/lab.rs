//! `ironlb lab ...` (placeholder until the lab issue lands).
use clap::Subcommand;

/// Subcommands of `ironlb lab`.
#[derive(Subcommand)]
pub enum LabCommand {}

/// Runs a lab subcommand; returns the process exit code.
pub fn run(cmd: LabCommand) -> anyhow::Result<u8> {
    match cmd {}
}
