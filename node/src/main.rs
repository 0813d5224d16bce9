//! `rampart`: the Rampart firewall node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use rampart_node::{cli, config, config_check, demo, lab, run};
use rampart_ops::model::MemberChange;

/// A node id a member may have: 1-64 (docs/ops.md §5). `cluster remove`
/// takes any, so that a member an earlier version let in can leave.
fn node_id(s: &str) -> Result<u16, String> {
    let max = rampart_dataplane::sync::MAX_NODE_ID;
    match s.parse::<u16>() {
        Ok(id) if (1..=max).contains(&id) => Ok(id),
        _ => Err(format!("node ids are 1-{max}")),
    }
}

/// Rampart: a clustered, active/active, stateful firewall.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log line format: human or json.
    #[arg(
        long,
        global = true,
        default_value = "human",
        env = "RAMPART_LOG_FORMAT"
    )]
    log_format: rampart_ops::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a built-in packet trace through the stateful engine and print
    /// what it decided, `show conn` and `show asp drop`.
    Demo,
    /// Run the node: bridge its data interfaces through the engine until
    /// SIGINT or SIGTERM, then report what it counted (with `--log-format
    /// json`, as one JSON document on stdout).
    Run {
        /// The node configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Build the asymmetric two-node topology in network namespaces, run
    /// real traffic through two node processes, report, tear down (root).
    /// With `--nodes N`: N nodes, each flow out through one and back
    /// through another drawn at random.
    Lab {
        /// Print the summary as JSON (nothing else on stdout).
        #[arg(long)]
        json: bool,
        /// Build a mesh of N nodes (2 to 6), each on its own path between
        /// client and server, instead of the two-node lab.
        #[arg(long, value_name = "N")]
        nodes: Option<usize>,
        /// Set `[cluster] copies = K` on every node (1 to N).
        #[arg(long, value_name = "K", requires = "nodes")]
        copies: Option<usize>,
        /// The seed of the flows' paths (default: a fresh one, printed).
        #[arg(long, requires = "nodes")]
        seed: Option<u64>,
        /// Flows per traffic kind.
        #[arg(long, value_name = "F", requires = "nodes", default_value_t = lab::mesh::DEFAULT_FLOWS)]
        flows: usize,
        /// Namespace name prefix (default `rp-m<pid>`).
        #[arg(long, requires = "nodes")]
        prefix: Option<String>,
        /// Keep the lab running (`up`) or remove a kept one (`down`);
        /// without it, run the demo traffic and tear down.
        #[command(subcommand)]
        keep: Option<LabCommand>,
    },
    /// The cluster's certificates: a cluster CA and node certificates for
    /// the mutual TLS of the cluster links.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Work with ASA configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    #[command(flatten)]
    Ops(cli::OpsCommand),
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build the lab and start its two nodes, and leave them running (in
    /// namespaces `rp-lab-*`, files in /run/rampart-lab).
    Up {
        /// Namespace name prefix.
        #[arg(long, default_value = lab::UP_PREFIX)]
        prefix: String,
        /// Where the lab's files and state go.
        #[arg(long, default_value = lab::UP_DIR)]
        dir: PathBuf,
    },
    /// Stop the nodes of a lab left running by `lab up` and remove it.
    Down {
        /// The directory `lab up` used.
        #[arg(long, default_value = lab::UP_DIR)]
        dir: PathBuf,
    },
    /// Run failover chaos scenarios (a node killed or frozen, the sync link
    /// lossy or cut, restarts, the Raft leader killed mid-write) with real
    /// node processes and traffic; print one table; exit 1 if any fails.
    Chaos {
        /// Run only this scenario (kill-a, freeze-a, lossy-link, cut-link,
        /// wiped-restart, raft-leader, bypass-mixed, restart-loop).
        #[arg(long)]
        scenario: Option<String>,
        /// Print the report as JSON (nothing else on stdout).
        #[arg(long)]
        json: bool,
        /// `full` (the default: 200 streams, 200 new connections/s, 60 s of
        /// loss) or `ci` (the chaos suite's smaller numbers).
        #[arg(long, default_value = "full", value_parser = ["full", "ci"])]
        size: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Create a cluster CA in DIR (`ca.pem`, and `ca.key` readable by the
    /// owner only). Refuses to overwrite an existing CA.
    Init {
        /// Where the CA lives (keep `ca.key` off the nodes if you can).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a node certificate signed by the CA in DIR: it names the node
    /// (`NAME` and `node-<ID>.rampart`) and serves as client and server.
    Cert {
        /// The CA directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node id (as in the node's `[node] id`), 1-64.
        #[arg(long, value_parser = node_id)]
        node: u16,
        /// The node name (as in `[node] name`).
        #[arg(long)]
        name: String,
        /// Where to write `node-<ID>.pem` and `node-<ID>.key` (default: DIR).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Add node ID to the cluster's policy log (as a learner, then a
    /// voter once it has caught up), through any member's admin API.
    Join {
        #[command(flatten)]
        target: cli::Target,
        /// The node id, 1-64.
        #[arg(long, value_parser = node_id)]
        id: u16,
        /// Its name (default: as in the member's `[cluster] peers`).
        #[arg(long)]
        name: Option<String>,
        /// Its cluster address `ip:port` (default: from `[cluster] peers`).
        #[arg(long)]
        address: Option<String>,
    },
    /// Create the operator's policy-signing key pair in DIR
    /// (`policy-signer.key`, owner-only: keep it off the nodes; and
    /// `policy-signer.pub`, for every node's `[cluster] policy_signer`).
    PolicyKey {
        /// Where to write the key pair.
        #[arg(long)]
        out: PathBuf,
    },
    /// Remove node ID from the cluster: it stops receiving state and policy.
    Remove {
        #[command(flatten)]
        target: cli::Target,
        /// The node id.
        #[arg(long)]
        id: u16,
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
    /// Sign a configuration with the operator's key for the version it will
    /// be committed as (1 for a bootstrap policy file); print the signed
    /// text (`rampart configure --sign-key` signs for the next version).
    Sign {
        /// The private key (`rampart cluster policy-key`).
        #[arg(long)]
        key: PathBuf,
        /// The policy version the signature is for.
        #[arg(long)]
        version: u64,
        /// The configuration file (ASA commands).
        file: PathBuf,
    },
}

/// Errors reach the user as one plain message with its causes (`{:#}`),
/// never as a debug dump with a backtrace.
fn main() -> ExitCode {
    let parsed = cli::parse::<Cli>();
    rampart_ops::logging::init(parsed.log_format);
    // The daemon's own failure goes to its log; a command's to the user.
    let daemon = matches!(parsed.command, Command::Run { .. });
    match dispatch(parsed.command, parsed.log_format) {
        Ok(code) => code,
        Err(e) if daemon => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
        // An error may quote what answered on the admin port (a status
        // line, a decoder's complaint): no escape sequence reaches the
        // terminal (docs/ops.md §5).
        Err(e) => {
            eprintln!(
                "rampart: {}",
                rampart_ops::echo::terminal_text(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

fn dispatch(
    command: Command,
    log_format: rampart_ops::logging::LogFormat,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Ops(c) => cli::run(c, Cli::command),
        Command::Demo => {
            print!("{}", demo::run()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Lab {
            json,
            nodes,
            copies,
            seed,
            flows,
            prefix,
            keep,
        } => {
            if nodes.is_some() && keep.is_some() {
                anyhow::bail!(
                    "--nodes runs the mesh lab; it does not go with `lab up`, `down` or `chaos`"
                );
            }
            let out = match (keep, nodes) {
                (None, Some(nodes)) => lab::mesh::run(
                    &lab::mesh::MeshOptions {
                        nodes,
                        copies,
                        seed,
                        flows,
                        prefix,
                    },
                    json,
                )?,
                (None, None) => lab::run(json)?,
                (Some(LabCommand::Up { prefix, dir }), _) => lab::up(&prefix, &dir)?,
                (Some(LabCommand::Down { dir }), _) => lab::down(&dir)?,
                (
                    Some(LabCommand::Chaos {
                        scenario,
                        json,
                        size,
                    }),
                    _,
                ) => {
                    let size = if size == "ci" {
                        lab::chaos::Size::Ci
                    } else {
                        lab::chaos::Size::Full
                    };
                    let (out, passed) = lab::chaos::run(scenario.as_deref(), json, size)?;
                    print!("{out}");
                    return Ok(if passed {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
            };
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster {
            command:
                ClusterCommand::Join {
                    target,
                    id,
                    name,
                    address,
                },
        } => cli::membership(&target, &MemberChange::Join { id, name, address }),
        Command::Cluster {
            command: ClusterCommand::Remove { target, id },
        } => cli::membership(&target, &MemberChange::Remove { id }),
        Command::Cluster {
            command: ClusterCommand::PolicyKey { out },
        } => {
            let (key, public) = rampart_node::policy_sig::generate(&out)?;
            println!(
                "policy signing key: {} (keep it off the nodes)
public key: {} (set \
                 [cluster] policy_signer to it on every node)",
                key.display(),
                public.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Sign { key, version, file },
        } => {
            let text = rampart_node::config::read_policy(&file)?;
            print!("{}", rampart_node::policy_sig::sign(&text, version, &key)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster {
            command: ClusterCommand::Init { dir },
        } => match rampart_cluster::pki::init_ca(&dir) {
            Ok(path) => {
                println!("cluster CA created: {}", path.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("rampart cluster init: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Cluster {
            command:
                ClusterCommand::Cert {
                    dir,
                    node,
                    name,
                    out,
                },
        } => {
            if node == 0 {
                eprintln!("rampart cluster cert: node ids start at 1");
                return Ok(ExitCode::FAILURE);
            }
            let out = out.unwrap_or_else(|| dir.clone());
            match rampart_cluster::pki::issue_node_cert(&dir, node, &name, &out) {
                Ok(i) => {
                    println!(
                        "certificate for node {node} ({name}): {}\nkey: {}",
                        i.cert.display(),
                        i.key.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("rampart cluster cert: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Run { config } => {
            run::run(&config, log_format)?;
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
            let text = rampart_node::config::read_policy(&file)?;
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
