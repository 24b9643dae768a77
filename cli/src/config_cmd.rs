//! `ironlb config ...` (placeholder until the config issue lands).
use clap::Subcommand;

/// Subcommands of `ironlb config`.
#[derive(Subcommand)]
pub enum ConfigCommand {}

/// Runs a config subcommand; returns the process exit code.
pub fn run(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {}
}
