//! `rampart`: the Rampart firewall node.

mod config;
mod config_check;
mod demo;
mod lab;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
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
    /// Run the node: bridge its data interfaces through the engine until
    /// SIGINT or SIGTERM.
    Run {
        /// The node configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Build the asymmetric two-node topology in network namespaces, run
    /// real traffic through two node processes, report, tear down (root).
    Lab {
        /// Print the summary as JSON (nothing else on stdout).
        #[arg(long)]
        json: bool,
    },
    /// Work with ASA configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration offline (as `nginx -t`): errors with file,
    /// line and column and exit status 1, or a summary and exit status 0.
    Check {
        /// The configuration file (ASA commands).
        file: PathBuf,
    },
    /// Validate a node configuration (node.toml): errors name the file,
    /// key and reason (exit status 1), or a summary (exit status 0).
    CheckNode {
        /// The node configuration file (TOML).
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Demo => {
            print!("{}", demo::run()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Lab { json } => {
            print!("{}", lab::run(json)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config } => {
            run::run(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::CheckNode { file },
        } => match config::NodeConfig::load(&file) {
            Ok(c) => {
                print!("{}", c.summary(&file));
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let report = config_check::check(&file, &text);
            if report.ok {
                print!("{}", report.text);
                Ok(ExitCode::SUCCESS)
            } else {
                eprint!("{}", report.text);
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
