//! `rampart`: the Rampart firewall node.

mod demo;

use clap::{Parser, Subcommand};

/// Rampart: a clustered, active/active, stateful firewall.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a built-in packet trace through the stateful engine and print
    /// what it decided, `show conn` and `show asp drop`.
    Demo,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo => {
            print!("{}", demo::run()?);
            Ok(())
        }
    }
}
