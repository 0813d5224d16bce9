//! The operator's commands, as on the ASA: `rampart show conn …`,
//! `rampart clear conn …`, `rampart show local-host …`, `rampart show
//! service-policy|cluster|running-config|counters|fragment|access-list|
//! time-range`, `rampart clear
//! access-list [NAME] counters`, `rampart packet-tracer input IF …`,
//! `rampart configure FILE`, over a node's admin
//! API (`--admin ADDR`, or `--config node.toml` for its `[ops]` address and
//! token file). Unambiguous abbreviations are accepted as the ASA accepts
//! them (`sh conn`, `cle conn addr 198.18.0.1`, `sh run`); an ambiguous one
//! is refused with the candidates. `--json` prints the API's answer.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use rampart_ops::client::{Client, ClientError, Endpoint};
use rampart_ops::echo::{terminal_json, terminal_text};
use rampart_ops::model::MemberChange;
use rampart_ops::show_conn::{render_conn_list_as, render_count};
use rampart_ops::{
    asp_drop, capture, clear_conn, packet_tracer, service_policy, show_acl, show_cluster,
    show_fragment, show_local_host,
};

use crate::config::NodeConfig;

/// Which node, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The node's admin API: its address (`[ops] admin`) or its socket's
    /// path (`unix:PATH`, or an absolute path: `[ops] admin_socket`).
    #[arg(
        long,
        global = true,
        env = "RAMPART_ADMIN",
        value_name = "ADDR|unix:PATH"
    )]
    admin: Option<Endpoint>,
    /// The node's configuration, for its admin socket or address and its
    /// token files.
    #[arg(long, global = true, value_name = "NODE_TOML")]
    config: Option<PathBuf>,
    /// The token file: the admin token (changes need it, and it reads
    /// too) or the read token (reads, when the node asks for one).
    /// Default: the node configuration's admin token for changes, its
    /// read token (if it sets one) for reads; the token may also come
    /// from RAMPART_ADMIN_TOKEN.
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the admin API's JSON answer instead of the ASA text.
    #[arg(long, global = true)]
    json: bool,
}

/// The ops subcommands of `rampart`.
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Show the node's state as the ASA does.
    // `sh` is `show`, as on the ASA, though `shun` begins with it too.
    #[command(alias = "sh")]
    Show {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        what: ShowWhat,
    },
    /// Clear state on the node: `clear conn [address A] [port P]`,
    /// `clear access-list [NAME] counters`.
    Clear {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        what: ClearWhat,
    },
    /// What the node would do with one packet, phase by phase (`packet-tracer
    /// input IF {tcp|udp|sctp} SRC SPORT DST DPORT | icmp SRC TYPE CODE
    /// [IDENT] DST | rawip SRC PROTO DST [detailed] [xml]`); changes nothing.
    PacketTracer {
        #[command(flatten)]
        target: Target,
        /// `input IF [vlan-id N] …` (keywords abbreviated as on the ASA).
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `capture NAME [type raw-data|asp-drop [REASON]] [interface IF]
    /// [buffer B] [packet-length B] [circular-buffer] [match …|access-list
    /// ACL]`, or `capture NAME stop`: a packet capture on this node only
    /// (the admin token; docs/ops.md §1).
    Capture {
        #[command(flatten)]
        target: Target,
        /// The command after `capture`.
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `shun SRC [DST SPORT DPORT [PROTOCOL]] [vlan ID | interface NAME]`:
    /// drop every packet from SRC, on every node of the cluster, until
    /// `no shun`; with a connection, remove it too (the admin token;
    /// docs/asa-behaviour.md §2.12).
    Shun {
        #[command(flatten)]
        target: Target,
        /// The command after `shun`.
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `no capture NAME`: remove a capture and its frames; `no shun SRC
    /// [vlan ID | interface NAME]`: end a shun.
    No {
        #[command(flatten)]
        target: Target,
        /// `capture NAME` or `shun SRC …`.
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `copy /pcap capture:NAME`: write a capture to FILE as a pcap file.
    CopyCapture {
        #[command(flatten)]
        target: Target,
        /// The capture.
        name: String,
        /// The pcap file to write.
        file: PathBuf,
    },
    /// Apply a whole configuration (ASA commands) to the node; a refused
    /// one prints its errors with line and column and changes nothing.
    Configure {
        #[command(flatten)]
        target: Target,
        /// Sign the configuration with this operator key (`rampart cluster
        /// policy-key`) for the version after the running one, as nodes
        /// with `[cluster] policy_signer` require.
        #[arg(long)]
        sign_key: Option<PathBuf>,
        /// The configuration file.
        file: PathBuf,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What `show` shows.
#[derive(Debug, Subcommand)]
pub enum ShowWhat {
    /// `show conn [all] [count] [state S[,S…]] [protocol P] [address
    /// A[-B] [netmask M]] [port P[-Q]] [interface IF] [long | detail]`.
    Conn {
        /// The ASA's filters and formats (abbreviations accepted).
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `show local-host [IP] [all] [brief] [detail] [connection
    /// {tcp|udp|embryonic} N[-M]]`: each host of the connection table, by
    /// interface, with its flow counts, class limits and connections.
    LocalHost {
        /// An address, then keywords (abbreviations accepted).
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Connection settings of each class with its current conns, drops and hits.
    ServicePolicy,
    /// This node, its peers, sync lag, Raft and policy version.
    Cluster,
    /// The configuration in force, with its version.
    RunningConfig,
    /// Frame drops by reason (`show asp drop`).
    Counters,
    /// `show asp drop`, as on the ASA: the same as `show counters`.
    Asp {
        /// `drop` (abbreviations accepted).
        #[arg(value_name = "WHAT")]
        what: String,
    },
    /// `show fragment [IF]`: each interface's fragment reassembly limits
    /// and counters.
    Fragment {
        /// One interface, by nameif.
        #[arg(value_name = "NAMEIF")]
        nameif: Option<String>,
    },
    /// `show access-list [NAME]`: every entry of the access-lists in force
    /// with its hit count on this node.
    AccessList {
        /// One access-list, by name.
        #[arg(value_name = "NAME")]
        name: Option<String>,
    },
    /// `show time-range`: each time-range of the policy in force, active
    /// or inactive on this node now.
    TimeRange,
    /// `show capture [NAME [detail] [dump] [count N]]`: this node's
    /// captures, or one capture's frames (the admin token).
    Capture {
        /// `NAME`, then `detail`, `dump`, `count N`.
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `show shun [statistics]`: the shuns in force on this node, or each
    /// interface's and each shun's drops with its age.
    Shun {
        /// `statistics` (abbreviations accepted), or nothing.
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
}

/// What `clear` clears.
#[derive(Debug, Subcommand)]
pub enum ClearWhat {
    /// `clear conn [address A] [port P]`: remove connections (no RST is sent).
    Conn {
        /// `address A`, `port P` (abbreviations accepted).
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `clear access-list [NAME] counters`: zero the hit counts of one
    /// access-list, or of every one, on this node.
    AccessList {
        /// `[NAME] counters` (`counters` abbreviations accepted).
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
    /// `clear capture NAME`: empty a capture's buffer.
    Capture {
        /// The capture.
        name: String,
    },
    /// `clear shun`: end every shun, cluster-wide; `clear shun
    /// statistics`: zero this node's shun counts.
    Shun {
        /// `statistics`, or nothing.
        #[arg(value_name = "WORDS")]
        words: Vec<String>,
    },
}

// === abbreviations ===

/// How a word resolves among candidate names.
#[derive(Debug, PartialEq, Eq)]
enum Resolved<'a> {
    One(&'a str),
    Ambiguous(Vec<&'a str>),
    None,
}

fn resolve<'a>(word: &str, names: &[&'a str]) -> Resolved<'a> {
    if let Some(n) = names.iter().find(|n| **n == word) {
        return Resolved::One(n);
    }
    let hits: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !word.is_empty() && n.starts_with(word))
        .collect();
    match hits.len() {
        0 => Resolved::None,
        1 => Resolved::One(hits[0]),
        _ => Resolved::Ambiguous(hits),
    }
}

fn ambiguous(context: &[String], word: &str, hits: &[&str]) -> String {
    let (last, rest) = hits.split_last().expect("two or more");
    let typed = context
        .iter()
        .map(String::as_str)
        .chain([word])
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "% Ambiguous command: \"{typed}\" could be {} or {last}",
        rest.join(", ")
    )
}

/// Expand abbreviated subcommand names in `args` (the first is the
/// program) by walking `cmd`'s tree: a word that is a unique prefix of one
/// subcommand becomes its name; an ambiguous one is an error naming the
/// candidates; anything else is left for clap to judge.
pub fn expand(args: Vec<OsString>, cmd: &clap::Command) -> Result<Vec<OsString>, String> {
    let mut root = cmd.clone();
    root.build();
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    out.extend(it.next());
    let mut path: Vec<&clap::Command> = vec![&root];
    let mut typed: Vec<String> = Vec::new();
    while let Some(arg) = it.next() {
        let Some(word) = arg.to_str().map(str::to_string) else {
            out.push(arg);
            out.extend(it);
            break;
        };
        let cur = *path.last().expect("root");
        if word == "--" {
            out.push(arg);
            out.extend(it);
            break;
        }
        if let Some(flag) = word.strip_prefix('-') {
            out.push(arg);
            // A flag that takes a value consumes the next word.
            let takes = |a: &clap::Arg| a.get_action().takes_values();
            let found = path.iter().rev().find_map(|c| {
                c.get_arguments().find(|a| match flag.strip_prefix('-') {
                    Some(long) => !long.contains('=') && a.get_long() == Some(long),
                    None => flag.len() == 1 && a.get_short() == flag.chars().next(),
                })
            });
            if found.is_some_and(takes) {
                out.extend(it.next());
            }
            continue;
        }
        if !cur.has_subcommands() {
            out.push(arg);
            out.extend(it);
            break;
        }
        let names: Vec<&str> = cur
            .get_subcommands()
            .flat_map(|s| std::iter::once(s.get_name()).chain(s.get_all_aliases()))
            .collect();
        match resolve(&word, &names) {
            Resolved::One(name) => {
                let sub = cur
                    .get_subcommands()
                    .find(|s| s.get_name() == name || s.get_all_aliases().any(|a| a == name))
                    .expect("resolved among these");
                out.push(sub.get_name().into());
                typed.push(word);
                path.push(sub);
            }
            Resolved::Ambiguous(hits) => return Err(ambiguous(&typed, &word, &hits)),
            Resolved::None => {
                out.push(arg);
                out.extend(it);
                break;
            }
        }
    }
    Ok(out)
}

/// Parse the process arguments with abbreviations expanded.
pub fn parse<C: clap::Parser>() -> C {
    let args: Vec<OsString> = std::env::args_os().collect();
    match expand(args, &C::command()) {
        Ok(args) => C::parse_from(args),
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    }
}

// === show conn / clear conn words ===

mod conn_words;
mod local_host_words;
pub use conn_words::{ConnWords, conn_words};
pub use local_host_words::{LocalHostWords, local_host_words};

/// The list `clear access-list [NAME] counters` names (`None`: every
/// list): its last word is `counters` (abbreviations accepted, as on the
/// ASA), the one before it, if any, the list's name.
pub fn acl_clear_words(words: &[String]) -> Result<Option<String>, String> {
    let usage = "% Incomplete command: clear access-list [NAME] counters";
    let (last, name) = match words {
        [last] => (last, None),
        [name, last] => (last, Some(name.clone())),
        _ => return Err(usage.into()),
    };
    match resolve(last, &["counters"]) {
        Resolved::One(_) => Ok(name),
        _ => Err(format!(
            "% Invalid input: \"{last}\" (clear access-list [NAME] counters)"
        )),
    }
}

// === running the commands ===

/// Where a command goes: the admin address, and the token files for a
/// change and for a read.
#[derive(Debug, PartialEq, Eq)]
struct Where {
    addr: Endpoint,
    change_file: Option<PathBuf>,
    read_file: Option<PathBuf>,
}

/// The admin API is `--admin` (or RAMPART_ADMIN), else the node file's
/// admin socket when it is there and this user may connect to it (root
/// and the node's user: no other local user can crowd them out there,
/// docs/ops.md §1), else its `[ops] admin` address; the token files are `--token-file`, else the node file's
/// (the admin token file for changes, the read token file for reads;
/// either token authorizes a read, docs/ops.md §3) — whether or not the
/// address came from the node file too.
fn resolve_target(t: &Target) -> anyhow::Result<Where> {
    let node = t
        .config
        .as_ref()
        .map(|p| NodeConfig::load(p).map(|c| (p, c)))
        .transpose()?;
    let addr = match (&t.admin, &node) {
        (Some(a), _) => a.clone(),
        (None, Some((path, cfg))) => {
            let socket = cfg.admin_socket_path(path).map(|(p, _)| p);
            match (socket, cfg.ops.as_ref().and_then(|o| o.admin)) {
                (Some(s), _) if may_connect(&s) => Endpoint::Unix(s),
                (_, Some(a)) => Endpoint::Tcp(a),
                // Tried all the same: its error says why.
                (Some(s), None) => Endpoint::Unix(s),
                (None, None) => bail!("{}: no [ops] admin address", path.display()),
            }
        }
        (None, None) => {
            bail!("which node? give --admin ADDR or --config node.toml (or set RAMPART_ADMIN)")
        }
    };
    Ok(Where {
        addr,
        change_file: t
            .token_file
            .clone()
            .or_else(|| node.as_ref().map(|(p, c)| c.token_path(p))),
        read_file: t
            .token_file
            .clone()
            .or_else(|| node.as_ref().and_then(|(p, c)| c.read_token_path(p))),
    })
}

/// Whether `path` is a socket this user may connect to (unix(7): connecting
/// needs write permission on the socket file).
fn may_connect(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::FileTypeExt as _;
    let is_socket = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket());
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the call's length.
    is_socket && unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0
}

fn client(t: &Target, changes: bool) -> anyhow::Result<Client> {
    let Where {
        addr,
        change_file,
        read_file,
    } = resolve_target(t)?;
    let file = if std::env::var("RAMPART_ADMIN_TOKEN").is_ok() {
        None
    } else if changes {
        let Some(p) = change_file else {
            bail!(
                "this changes state and needs the node's admin token: give --token-file or --config"
            );
        };
        Some(p)
    } else {
        read_file
    };
    let token = match (&file, std::env::var("RAMPART_ADMIN_TOKEN")) {
        (Some(p), _) => Some(crate::token_file::read(p)?),
        (None, Ok(t)) => Some(t.trim().to_string()),
        (None, Err(_)) => None,
    };
    let client = Client::new(addr, token).retrying_busy(BUSY_PATIENCE);
    // The node made its token file: a socket of the file's owner may have
    // the token (the client refuses any other but root's and this user's,
    // and refuses the overflow uid even as the file's owner: an owner not
    // mapped into this user namespace shows as it, as every unmapped
    // squatter does, docs/ops.md §1).
    Ok(match file.map(|p| std::fs::metadata(p).map(|m| m.uid())) {
        Some(Ok(uid)) => client.trusting_uid(uid),
        _ => client,
    })
}

/// Print an answer of the admin port, as JSON or as `text` renders it.
/// Whatever answered there wrote its strings (a squatter on the port while
/// the node restarts, too), so escape sequences in them are shown escaped,
/// never sent to the terminal (docs/ops.md §5).
fn print<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce(&T) -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{}", terminal_json(&s)),
            Err(e) => eprintln!("rampart: cannot encode the answer: {e}"),
        }
    } else {
        print!("{}", terminal_text(&text(value)));
    }
}

fn refused(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Refused { status: 401, error } => {
            anyhow::anyhow!("refused by the node: {}", error.error)
        }
        other => anyhow::Error::new(other),
    }
}

/// How long a command the node's admin listener had no room for is tried
/// again before it exits with [`EXIT_BUSY`] (nothing is done on a busy
/// answer, so a change is safe to send again).
const BUSY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The exit status of a change the cluster could not make (no quorum, no
/// leader): the cluster's state, not the request's (which exits 1).
pub const EXIT_CLUSTER: u8 = 2;

/// The exit status when the node's admin listener had no room for the
/// request (every slot in use, or too many answers unread): nothing was
/// done, and the same command may succeed shortly.
pub const EXIT_BUSY: u8 = 3;

/// The exit status of a `configure` the cluster committed but the node it
/// was sent to does not run (it keeps the policy it ran): other nodes may
/// run it (docs/ARCHITECTURE.md §7).
pub const EXIT_NOT_RUN_HERE: u8 = 4;

/// A busy listener is not a failure of the command: said so, with its own
/// exit status ([`EXIT_BUSY`]), wherever in the command it happened.
fn busy_to_exit(r: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match r {
        Err(e) => match e.downcast_ref::<ClientError>() {
            Some(busy @ ClientError::Busy { .. }) => {
                eprintln!("rampart: {busy}");
                Ok(ExitCode::from(EXIT_BUSY))
            }
            _ => Err(e),
        },
        ok => ok,
    }
}

/// `rampart cluster join|remove` on the node `target` names.
pub fn membership(target: &Target, change: &MemberChange) -> anyhow::Result<ExitCode> {
    busy_to_exit(change_membership(target, change))
}

fn change_membership(target: &Target, change: &MemberChange) -> anyhow::Result<ExitCode> {
    let api = client(target, true)?;
    match api.membership(change) {
        Ok(r) => {
            print(target.json, &r, |r| {
                let voters: Vec<String> = r.voters.iter().map(u16::to_string).collect();
                format!("{}; voters now {}\n", r.message, voters.join(", "))
            });
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused { status: 503, error }) => {
            eprintln!("rampart: {}", error.error);
            Ok(ExitCode::from(EXIT_CLUSTER))
        }
        Err(e) => Err(refused(e)),
    }
}

/// Send one `shun`, `no shun` or `clear shun` command.
fn shun_command(target: &Target, line: &str) -> anyhow::Result<()> {
    let api = client(target, true)?;
    let r = api.shun_command(line).map_err(refused)?;
    print(target.json, &r, |r| {
        let mut out = format!("{}\n", r.message);
        if r.removed > 0 {
            out.push_str(&format!(
                "{} connection(s) removed on this node\n",
                r.removed
            ));
        }
        out
    });
    Ok(())
}

/// Whether `show shun`'s words ask for the statistics.
fn shun_statistics(words: &[String]) -> anyhow::Result<bool> {
    match words {
        [] => Ok(false),
        [w] if !w.is_empty() && "statistics".starts_with(w.as_str()) => Ok(true),
        _ => anyhow::bail!(
            "% Invalid input: \"{}\" (show shun [statistics])",
            words.join(" ").escape_debug()
        ),
    }
}

/// Send one `capture` command; the ASA answers nothing.
fn capture_command(target: &Target, line: &str) -> anyhow::Result<()> {
    let api = client(target, true)?;
    let r = api.capture_command(line).map_err(refused)?;
    print(target.json, &r, |_| String::new());
    Ok(())
}

/// `show capture`'s words: none (the list), or `NAME [detail] [dump]
/// [count N]` (keywords abbreviated as on the ASA).
fn capture_words(words: &[String]) -> Result<Option<capture::CaptureQuery>, String> {
    let Some((name, rest)) = words.split_first() else {
        return Ok(None);
    };
    let mut q = capture::CaptureQuery {
        name: name.clone(),
        ..Default::default()
    };
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match resolve(w, &["detail", "dump", "count"]) {
            Resolved::One("detail") => q.detail = true,
            Resolved::One("dump") => q.dump = true,
            Resolved::One(_) => {
                let n = it.next().ok_or("% Incomplete command: count N")?;
                q.count =
                    Some(n.parse().map_err(|_| {
                        format!("% Invalid input: \"{}\" (count N)", n.escape_debug())
                    })?);
            }
            Resolved::Ambiguous(hits) => return Err(ambiguous(&[], w, &hits)),
            Resolved::None => {
                return Err(format!(
                    "% Invalid input: \"{}\" (show capture NAME [detail] [dump] [count N])",
                    w.escape_debug()
                ));
            }
        }
    }
    Ok(Some(q))
}

/// Run an ops subcommand; `command` gives the whole CLI (for completions).
pub fn run(c: OpsCommand, command: fn() -> clap::Command) -> anyhow::Result<ExitCode> {
    busy_to_exit(run_command(c, command))
}

fn run_command(c: OpsCommand, command: fn() -> clap::Command) -> anyhow::Result<ExitCode> {
    match c {
        OpsCommand::Completions { shell } => {
            let mut cmd = command();
            clap_complete::generate(shell, &mut cmd, "rampart", &mut std::io::stdout());
        }
        OpsCommand::Show { target, what } => {
            let api = client(&target, false)?;
            let json = target.json;
            match what {
                ShowWhat::Conn { words } => {
                    let w = conn_words(&words, false).map_err(anyhow::Error::msg)?;
                    let list = api.conns(&w.filter, w.count).map_err(refused)?;
                    if w.count {
                        print(json, &list, render_count);
                    } else {
                        print(json, &list, |l| render_conn_list_as(l, w.format));
                    }
                }
                ShowWhat::LocalHost { words } => {
                    let w = local_host_words(&words).map_err(anyhow::Error::msg)?;
                    print(json, &api.local_hosts(&w.hosts).map_err(refused)?, |l| {
                        show_local_host::render_local_hosts(l, w.detail)
                    });
                }
                ShowWhat::ServicePolicy => print(
                    json,
                    &api.service_policy().map_err(refused)?,
                    service_policy::render_service_policy,
                ),
                ShowWhat::Cluster => print(
                    json,
                    &api.cluster().map_err(refused)?,
                    show_cluster::render_cluster,
                ),
                ShowWhat::RunningConfig => {
                    print(json, &api.running_config().map_err(refused)?, |r| {
                        // A node that did not run the cluster's last
                        // committed policy (yet, or at all) says so.
                        let committed = match r.committed_version {
                            Some(c) if c != r.version => {
                                format!(" (the cluster's last committed: {c})")
                            }
                            _ => String::new(),
                        };
                        format!(": Saved\n: version {}{committed}\n:\n{}", r.version, r.text)
                    })
                }
                ShowWhat::Asp { what } if !what.is_empty() && "drop".starts_with(&what) => print(
                    json,
                    &api.counters().map_err(refused)?,
                    asp_drop::render_counters,
                ),
                ShowWhat::Asp { what } => {
                    anyhow::bail!("show asp: `{}` is not `drop`", what.escape_debug())
                }
                ShowWhat::Fragment { nameif } => {
                    let mut f = api.fragments().map_err(refused)?;
                    if let Some(n) = nameif {
                        f = show_fragment::only(f, &n).map_err(anyhow::Error::msg)?;
                    }
                    print(json, &f, show_fragment::render_fragments);
                }
                ShowWhat::Counters => print(
                    json,
                    &api.counters().map_err(refused)?,
                    asp_drop::render_counters,
                ),
                ShowWhat::AccessList { name } => print(
                    json,
                    &api.access_lists(name.as_deref()).map_err(refused)?,
                    show_acl::render_access_lists,
                ),
                ShowWhat::TimeRange => print(
                    json,
                    &api.time_ranges().map_err(refused)?,
                    rampart_ops::show_time_range::render_time_ranges,
                ),
                ShowWhat::Shun { words } => {
                    let stats = shun_statistics(&words)?;
                    let l = api.shuns().map_err(refused)?;
                    if stats {
                        print(json, &l, rampart_ops::shun::render_statistics);
                    } else {
                        print(json, &l, rampart_ops::shun::render_list);
                    }
                }
                ShowWhat::Capture { words } => {
                    // Captures show packet contents: the admin token.
                    let api = client(&target, true)?;
                    match capture_words(&words).map_err(anyhow::Error::msg)? {
                        None => print(json, &api.captures().map_err(refused)?, |l| l.text.clone()),
                        Some(q) => print(
                            json,
                            &api.capture(&q).map_err(refused)?,
                            capture::render_view_text,
                        ),
                    }
                }
            }
        }
        OpsCommand::Capture { target, words } => {
            capture_command(&target, &format!("capture {}", words.join(" ")))?;
        }
        OpsCommand::No { target, words } if words.first().is_some_and(|w| w == "shun") => {
            shun_command(&target, &format!("no {}", words.join(" ")))?;
        }
        OpsCommand::No { target, words } => {
            capture_command(&target, &format!("no {}", words.join(" ")))?;
        }
        OpsCommand::Shun { target, words } => {
            shun_command(&target, &format!("shun {}", words.join(" ")))?;
        }
        OpsCommand::Clear {
            target,
            what: ClearWhat::Shun { words },
        } => {
            shun_command(&target, &format!("clear shun {}", words.join(" ")))?;
        }
        OpsCommand::Clear {
            target,
            what: ClearWhat::Capture { name },
        } => {
            capture_command(&target, &format!("clear capture {name}"))?;
        }
        OpsCommand::CopyCapture { target, name, file } => {
            let api = client(&target, true)?;
            let bytes = api.capture_pcap(&name).map_err(refused)?;
            std::fs::write(&file, &bytes)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))?;
            if !target.json {
                println!("{} bytes copied to {}", bytes.len(), file.display());
            }
        }
        OpsCommand::PacketTracer { target, words } => {
            let w = packet_tracer::parse_words(&words).map_err(anyhow::Error::msg)?;
            let api = client(&target, false)?;
            let t = api.packet_tracer(&w.query).map_err(refused)?;
            print(target.json, &t, |t| {
                if w.xml {
                    packet_tracer::render_xml(t, w.detailed)
                } else {
                    packet_tracer::render_text(t, w.detailed)
                }
            });
        }
        OpsCommand::Clear {
            target,
            what: ClearWhat::AccessList { words },
        } => {
            let name = acl_clear_words(&words).map_err(anyhow::Error::msg)?;
            let api = client(&target, true)?;
            let r = api.clear_access_lists(name.as_deref()).map_err(refused)?;
            // The ASA answers nothing.
            print(target.json, &r, |_| String::new());
        }
        OpsCommand::Clear {
            target,
            what: ClearWhat::Conn { words },
        } => {
            let w = conn_words(&words, true).map_err(anyhow::Error::msg)?;
            let api = client(&target, true)?;
            let r = api.clear_conns(&w.filter).map_err(refused)?;
            print(target.json, &r, clear_conn::render_clear);
        }
        OpsCommand::Configure {
            target,
            sign_key,
            file,
        } => {
            let mut text = crate::config::read_policy(&file)?;
            let api = client(&target, true)?;
            if let Some(key) = sign_key {
                // The version the write will be committed as: the log's
                // next, not this node's running version plus one (a node
                // that refused or has not yet applied the last committed
                // policy runs an older one). A node of an earlier release
                // reports no committed version.
                let rc = api.running_config().map_err(refused)?;
                let next = rc.committed_version.unwrap_or(rc.version) + 1;
                text = crate::policy_sig::sign(&text, next, &key)?;
            }
            match api.configure(&text) {
                Ok(r) if r.refused_here.is_some() => {
                    if target.json {
                        println!("{}", terminal_json(&serde_json::to_string_pretty(&r)?));
                    }
                    eprintln!(
                        "{}: committed as version {}, but not in force on this node: {}",
                        file.display(),
                        r.version,
                        terminal_text(r.refused_here.as_deref().unwrap_or_default())
                    );
                    return Ok(ExitCode::from(EXIT_NOT_RUN_HERE));
                }
                Ok(r) => print(target.json, &r, |r| {
                    let mut out = String::new();
                    for l in &r.ignored_lines {
                        out.push_str(&format!(
                            "{}:{}: warning: {}\n",
                            file.display(),
                            l.line,
                            l.message
                        ));
                    }
                    if let Some(p) = &r.pending {
                        out.push_str(&format!("warning: version {}: {p}\n", r.version));
                    }
                    out.push_str(&format!("Configuration applied: version {}\n", r.version));
                    out
                }),
                Err(ClientError::Refused { status: 422, error }) => {
                    if target.json {
                        println!("{}", serde_json::to_string_pretty(&error)?);
                    }
                    for p in &error.problems {
                        if p.line == 0 {
                            eprintln!("{}: error: {}", file.display(), p.message);
                        } else {
                            eprintln!(
                                "{}:{}:{}: error: {}",
                                file.display(),
                                p.line,
                                p.column,
                                p.message
                            );
                        }
                    }
                    eprintln!("{}: configuration refused; nothing changed", file.display());
                    return Ok(ExitCode::FAILURE);
                }
                Err(ClientError::Refused { status: 503, error }) => {
                    // A write that may still take effect is not said to
                    // be "not applied" (docs/ops.md §3).
                    // (By the flag, or the text of a node of an earlier version.)
                    let said = if error.pending || error.error.contains("may still take effect") {
                        "not confirmed"
                    } else {
                        "not applied"
                    };
                    eprintln!("{}: {said}: {}", file.display(), error.error);
                    return Ok(ExitCode::from(EXIT_CLUSTER));
                }
                // Signed for a version another write took: nothing changed.
                Err(ClientError::Refused { status: 409, error }) => {
                    eprintln!("{}: not applied: {}", file.display(), error.error);
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(refused(e)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser};

    /// A stand-in for the binary's top level with the same shape as far
    /// as abbreviations go (the real one is tested through the binary).
    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        command: TopCommand,
    }

    #[derive(Debug, Subcommand)]
    enum TopCommand {
        Run {
            #[arg(long)]
            config: PathBuf,
        },
        Config,
        Cluster,
        #[command(flatten)]
        Ops(OpsCommand),
    }

    fn ex(line: &str) -> Result<String, String> {
        let args: Vec<OsString> = std::iter::once("rampart")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect();
        expand(args, &Top::command()).map(|v| {
            v[1..]
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    #[test]
    fn unambiguous_abbreviations_expand() {
        assert_eq!(ex("sh conn").unwrap(), "show conn");
        assert_eq!(ex("sh run").unwrap(), "show running-config");
        assert_eq!(ex("sh ser").unwrap(), "show service-policy");
        assert_eq!(ex("sh clu").unwrap(), "show cluster");
        assert_eq!(ex("sh cou").unwrap(), "show counters");
        assert_eq!(ex("sh frag inside").unwrap(), "show fragment inside");
        assert_eq!(ex("sh acc OUT").unwrap(), "show access-list OUT");
        assert_eq!(ex("sh ti").unwrap(), "show time-range");
        assert_eq!(ex("sh shun stat").unwrap(), "show shun stat");
        assert_eq!(ex("shu 198.18.0.1").unwrap(), "shun 198.18.0.1");
        assert_eq!(ex("cle acc OUT cou").unwrap(), "clear access-list OUT cou");
        assert_eq!(
            ex("pac in inside tcp 198.18.0.1 1 198.18.1.1 www").unwrap(),
            "packet-tracer in inside tcp 198.18.0.1 1 198.18.1.1 www"
        );
        assert_eq!(
            ex("cle conn addr 198.18.0.1").unwrap(),
            "clear conn addr 198.18.0.1"
        );
        assert_eq!(ex("configure f.cfg").unwrap(), "configure f.cfg");
        assert_eq!(ex("config").unwrap(), "config");
        assert_eq!(ex("comp bash").unwrap(), "completions bash");
        // Flags and their values are skipped, wherever they are.
        assert_eq!(
            ex("sh --admin 127.0.0.1:1 conn det").unwrap(),
            "show --admin 127.0.0.1:1 conn det"
        );
        assert_eq!(ex("ru --config sh").unwrap(), "run --config sh");
        assert_eq!(ex("sh --json run").unwrap(), "show --json running-config");
    }

    #[test]
    fn ambiguous_abbreviations_are_refused_with_candidates() {
        assert_eq!(
            ex("sh c").unwrap_err(),
            "% Ambiguous command: \"sh c\" could be conn, cluster, counters or capture"
        );
        assert_eq!(
            ex("conf x").unwrap_err(),
            "% Ambiguous command: \"conf\" could be config or configure"
        );
        assert!(
            ex("c")
                .unwrap_err()
                .starts_with("% Ambiguous command: \"c\"")
        );
        // Unknown words are left for clap to refuse.
        assert_eq!(ex("frobnicate").unwrap(), "frobnicate");
    }

    /// `clear access-list [NAME] counters`: `counters` last, abbreviated
    /// or not, the list's name before it (even one named `counters`).
    #[test]
    fn clear_access_list_words_parse_as_on_the_asa() {
        let words =
            |w: &str| acl_clear_words(&w.split_whitespace().map(String::from).collect::<Vec<_>>());
        assert_eq!(words("counters"), Ok(None));
        assert_eq!(words("c"), Ok(None));
        assert_eq!(words("OUT_IN cou"), Ok(Some("OUT_IN".into())));
        assert_eq!(words("counters counters"), Ok(Some("counters".into())));
        assert!(words("").unwrap_err().contains("Incomplete"));
        assert!(
            words("OUT_IN")
                .unwrap_err()
                .contains("Invalid input: \"OUT_IN\"")
        );
        assert!(
            words("OUT_IN counters now")
                .unwrap_err()
                .contains("Incomplete")
        );
    }

    /// With `--admin` (or RAMPART_ADMIN) and `--config` both given, the
    /// token files still come from the node file. Before, the node file
    /// was ignored and a change asked for `--config`, which was given.
    #[test]
    fn the_node_file_names_the_token_files_even_when_the_address_is_given() {
        let dir = std::env::temp_dir().join(format!("rampart-cli-target-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("node.toml");
        let node = |ops: &str| {
            format!(
                "[node]\nid = 1\nname = \"fw-a\"\ndata_dir = \".\"\n\n\
                 [[interface]]\nname = \"a-in\"\nnameif = \"inside\"\nsecurity_level = 100\n\n\
                 [[interface]]\nname = \"a-out\"\nnameif = \"outside\"\nsecurity_level = 0\n\n{ops}"
            )
        };
        std::fs::write(
            &toml,
            node("[ops]\nadmin = \"127.0.0.1:9461\"\ntoken_file = \"admin.tok\"\nread_token_file = \"read.tok\"\n"),
        )
        .unwrap();
        let given: Endpoint = "127.0.0.1:19461".parse().unwrap();
        let target = |admin: Option<Endpoint>, token_file: Option<PathBuf>| Target {
            admin,
            config: Some(toml.clone()),
            token_file,
            json: false,
        };
        let w = resolve_target(&target(Some(given.clone()), None)).unwrap();
        assert_eq!(
            w,
            Where {
                addr: given.clone(),
                change_file: Some(dir.join("admin.tok")),
                read_file: Some(dir.join("read.tok")),
            }
        );
        // No socket at <data_dir>/admin.sock: the address.
        let w = resolve_target(&target(None, None)).unwrap();
        assert_eq!(w.addr, "127.0.0.1:9461".parse().unwrap());
        // The node's socket there: the socket, which no other local user
        // can crowd (docs/ops.md §1).
        let sock = std::os::unix::net::UnixListener::bind(dir.join("admin.sock")).unwrap();
        let w = resolve_target(&target(None, None)).unwrap();
        assert_eq!(w.addr, Endpoint::Unix(dir.join("admin.sock")));
        drop(sock);
        std::fs::remove_file(dir.join("admin.sock")).unwrap();
        // Something else there: the address.
        std::fs::write(dir.join("admin.sock"), b"").unwrap();
        let w = resolve_target(&target(None, None)).unwrap();
        assert_eq!(w.addr, "127.0.0.1:9461".parse().unwrap());
        std::fs::remove_file(dir.join("admin.sock")).unwrap();
        // --token-file wins for both.
        let w = resolve_target(&target(Some(given.clone()), Some("/x".into()))).unwrap();
        assert_eq!(
            (w.change_file, w.read_file),
            (Some("/x".into()), Some("/x".into()))
        );
        // A node file without an admin address needs --admin.
        std::fs::write(&toml, node("")).unwrap();
        let e = resolve_target(&target(None, None)).unwrap_err().to_string();
        assert!(e.ends_with("no [ops] admin address"), "{e}");
        let w = resolve_target(&target(Some(given), None)).unwrap();
        assert_eq!(w.change_file, Some(dir.join("admin.token")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A listener out of room gets its own message and exit status, not
    /// the cluster's (2) or a bare failure (1).
    #[test]
    fn a_busy_listener_exits_with_its_own_status() {
        let busy = ClientError::Busy {
            addr: "127.0.0.1:9461".parse().unwrap(),
            message: "every connection slot is taken".into(),
        };
        assert_eq!(
            busy.to_string(),
            "admin API at 127.0.0.1:9461 is busy: every connection slot is taken"
        );
        let code = busy_to_exit(Err(anyhow::Error::new(busy))).unwrap();
        assert_eq!(code, ExitCode::from(EXIT_BUSY));
        let other = ClientError::Protocol {
            addr: "127.0.0.1:9461".parse().unwrap(),
            what: "x".into(),
        };
        assert!(busy_to_exit(Err(anyhow::Error::new(other))).is_err());
        assert_eq!(
            busy_to_exit(Ok(ExitCode::SUCCESS)).unwrap(),
            ExitCode::SUCCESS
        );
    }
}
