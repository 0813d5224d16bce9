//! The node configuration (`node.toml`): who this node is, its data
//! interfaces, where it keeps state, how it reaches its peers and where it
//! serves operations. Errors name the file, the key and the reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rampart_cluster::bounded_read::{ReadError, into_text, read_bounded_string};
use rampart_cluster::private_files::{TrustError, read_trusted};
use rampart_cluster::raft::MAX_POLICY_BYTES;
use rampart_dataplane::sync::MAX_NODE_ID;
use rampart_dataplane::{IfaceId, InterfaceConfig};
use rampart_ops::echo::{echo, echo_message};
use serde::Deserialize;
use thiserror::Error;

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const MAX_IFNAME_BYTES: usize = 15;

/// Longest node or peer name: it names files in the data directory, log
/// lines and certificates (docs/ops.md §5).
const MAX_NODE_NAME_BYTES: usize = 64;

/// Longest `nameif`: the ASA takes names "up to 48 characters" (Cisco ASA
/// Series Command Reference, `nameif`).
const MAX_NAMEIF_BYTES: usize = 48;

/// Worker threads a node may run (the machine decides the useful number).
const MAX_WORKERS: usize = 64;

/// A node configuration file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node.
    pub node: Node,
    /// Data interfaces: exactly two, bridged (inside and outside).
    #[serde(rename = "interface")]
    pub interfaces: Vec<Interface>,
    /// Cluster transport.
    pub cluster: Option<Cluster>,
    /// Operations endpoints.
    pub ops: Option<Ops>,
    /// Packet I/O of the workers (defaults when absent).
    #[serde(default)]
    pub dataplane: Dataplane,
}

/// Most microseconds `[dataplane] busy_poll_us` may ask for (a longer
/// spin after the last frame only burns the core).
pub const MAX_BUSY_POLL_US: u64 = 10_000;

/// `[dataplane]`: how the workers move frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataplane {
    /// `"ring"` (default): a per-frame `TPACKET_V2` receive ring and a
    /// transmit ring; `"block-ring"`: `TPACKET_V3` receive and transmit rings
    /// (up to 1 ms per crossing on a quiet link); both with
    /// `recvmmsg`/`sendmmsg` where the kernel refuses a ring; `"mmsg"`:
    /// `recvmmsg`/`sendmmsg` only (docs/io.md).
    #[serde(default)]
    pub io: IoBackend,
    /// After the last frame moved, keep polling the sockets without
    /// sleeping, yielding the core between looks, for this long (µs; 0 =
    /// sleep at once; default 200), 0 to [`MAX_BUSY_POLL_US`].
    #[serde(
        default = "default_busy_poll_us",
        deserialize_with = "busy_poll_in_range"
    )]
    pub busy_poll_us: u64,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            io: IoBackend::default(),
            busy_poll_us: default_busy_poll_us(),
        }
    }
}

/// 200 µs, yielding the core between looks (docs/io.md §3 has the
/// measurement).
fn default_busy_poll_us() -> u64 {
    u64::try_from(rampart_afpacket::bridge::DEFAULT_BUSY_POLL.as_micros()).unwrap_or(0)
}

/// Refused while parsing, so the error names the line and column.
fn busy_poll_in_range<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if v > MAX_BUSY_POLL_US {
        return Err(serde::de::Error::custom(format!(
            "busy_poll_us = {v} is above {MAX_BUSY_POLL_US} (10 ms)"
        )));
    }
    Ok(v)
}

/// `[dataplane] io`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoBackend {
    /// A per-frame receive ring (fallback: `recvmmsg`/`sendmmsg`).
    #[default]
    Ring,
    /// Block rings (fallback: `recvmmsg`/`sendmmsg`).
    #[serde(rename = "block-ring")]
    BlockRing,
    /// `recvmmsg`/`sendmmsg`.
    Mmsg,
}

impl IoBackend {
    /// The name in the node file.
    pub const fn label(self) -> &'static str {
        match self {
            IoBackend::Ring => "ring",
            IoBackend::BlockRing => "block-ring",
            IoBackend::Mmsg => "mmsg",
        }
    }
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Cluster-unique id, 1–64 ([`MAX_NODE_ID`]; never reused).
    pub id: u16,
    /// Name, also the name in its cluster certificate.
    pub name: String,
    /// Where the node keeps its state (Raft log, certificates).
    pub data_dir: PathBuf,
    /// ASA configuration applied when the node bootstraps a cluster.
    pub policy: Option<PathBuf>,
    /// Packet worker threads (default 1).
    #[serde(default = "one")]
    pub workers: usize,
    /// Pass GSO super-packets and partial checksums through whole
    /// (`PACKET_VNET_HDR`), so segmentation offloads may stay on (default
    /// true). Off, the links need `tso`, `gso` and `gro` off.
    #[serde(default = "yes")]
    pub offload: bool,
    /// Connections each worker's table holds ([`MIN_MAX_CONNS`] to
    /// [`MAX_MAX_CONNS`]; default 1,000,000). At capacity a new
    /// connection evicts one the table may give up, or is refused
    /// (`conn-table-full`, docs/asa-behaviour.md). Memory grows with use,
    /// about 160 bytes per connection held (about 220 in a cluster).
    #[serde(default = "default_max_conns")]
    pub max_conns: usize,
}

fn one() -> usize {
    1
}

/// The fewest connections a worker's table may be sized for.
pub const MIN_MAX_CONNS: usize = 1_000;
/// The most: about 11 GB per worker when full, in a cluster.
pub const MAX_MAX_CONNS: usize = 50_000_000;

fn default_max_conns() -> usize {
    rampart_dataplane::engine::DEFAULT_MAX_CONNS
}

fn yes() -> bool {
    true
}

/// `[[interface]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The OS interface (e.g. `eth1`).
    pub name: String,
    /// The ASA `nameif`.
    pub nameif: String,
    /// The ASA `security-level`, 0–100.
    pub security_level: u8,
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Address the QUIC endpoint listens on.
    pub listen: SocketAddr,
    /// The other nodes.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// The cluster CA certificate (`rampart cluster init`); relative paths
    /// are relative to this file. Default `<data_dir>/ca.pem`.
    pub ca: Option<PathBuf>,
    /// This node's certificate (`rampart cluster cert`). Default
    /// `<data_dir>/node-<id>.pem`.
    pub cert: Option<PathBuf>,
    /// Its private key. Default `<data_dir>/node-<id>.key`.
    pub key: Option<PathBuf>,
    /// How long a packet without state waits for a peer's event (ms).
    #[serde(default = "default_hold_ms")]
    pub hold_ms: u64,
    /// Most packets held at once for peers' state, over all flows (beyond:
    /// judged at once against this node's state, and counted).
    #[serde(default = "default_hold_max_packets")]
    pub hold_max_packets: usize,
    /// Most packets held for one flow (a burst of one flow's packets while
    /// its state is in flight).
    #[serde(default = "default_hold_max_per_flow")]
    pub hold_max_per_flow: usize,
    /// How long a flow's opening packet waits for the peers' ack (ms; 0
    /// sends it at once, and the reply's node holds it and pulls).
    #[serde(default = "default_defer_ms")]
    pub defer_ms: u64,
    /// How long a flow's changes wait, merged, while its only other
    /// copies are backups off its path (ms; 0 sends every change at once;
    /// docs/sync.md §13). A flow with a peer on its path sends at once.
    #[serde(default = "default_backup_delay_ms")]
    pub backup_delay_ms: u64,
    /// Nodes that hold each flow's state actively, its owner included:
    /// while fewer do, its changes also go to the next nodes ranked for it
    /// (docs/sync.md §13). Every node of a cluster must say the same.
    #[serde(default = "default_copies")]
    pub copies: usize,
    /// A node that reaches no peer in this time starts alone (ms).
    #[serde(default = "default_join_ms")]
    pub join_timeout_ms: u64,
    /// A peer silent this long is down (ms; QUIC idle timeout).
    #[serde(default = "default_idle_ms")]
    pub idle_timeout_ms: u64,
    /// This node starts the cluster's policy log from its policy file
    /// (once, when its Raft store is empty). Exactly one node of a new
    /// cluster says so; the others are added with `rampart cluster join`.
    #[serde(default)]
    pub bootstrap: bool,
    /// A node whose store holds no committed policy and that does not
    /// bootstrap (new or wiped, before its join) forwards nothing until
    /// the cluster's policy reaches it, as an ASA unit passes no traffic
    /// before it joins. True forwards on this node's policy file (or the
    /// built-in security levels) meanwhile: for a cluster run without
    /// Raft, where every node's file is its policy (docs/ops.md).
    #[serde(default)]
    pub forward_before_join: bool,
    /// The operator's policy-signing public key (`rampart cluster
    /// policy-key`); relative paths are relative to this file. When set, the
    /// node runs only committed policies signed by it for their version, so
    /// a member's stolen key cannot rewrite the policy (SECURITY.md). Every
    /// node of the cluster must name the same key.
    #[serde(default)]
    pub policy_signer: Option<PathBuf>,
}

fn default_hold_ms() -> u64 {
    200
}
fn default_hold_max_packets() -> usize {
    rampart_dataplane::engine::sync::SyncConfig::default().hold_max_packets
}
fn default_hold_max_per_flow() -> usize {
    rampart_dataplane::engine::sync::SyncConfig::default().hold_max_per_flow
}
fn default_defer_ms() -> u64 {
    0
}
fn default_backup_delay_ms() -> u64 {
    5
}
fn default_copies() -> usize {
    2
}
fn default_join_ms() -> u64 {
    3000
}
fn default_idle_ms() -> u64 {
    3000
}

/// TLS file paths, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// CA certificate.
    pub ca: PathBuf,
    /// Node certificate.
    pub cert: PathBuf,
    /// Node key.
    pub key: PathBuf,
}

impl NodeConfig {
    /// The data directory, relative paths taken from the configuration
    /// file's directory.
    pub fn data_path(&self, config_path: &Path) -> PathBuf {
        config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.node.data_dir)
    }

    /// The admin token file: `[ops] token_file` relative to the
    /// configuration file's directory, else `<data_dir>/admin.token`.
    pub fn token_path(&self, config_path: &Path) -> PathBuf {
        let base = config_path.parent().unwrap_or(Path::new("."));
        self.ops
            .as_ref()
            .and_then(|o| o.token_file.as_ref())
            .map_or_else(
                || self.data_path(config_path).join("admin.token"),
                |p| base.join(p),
            )
    }

    /// The admin API's Unix socket: `[ops] admin_socket` relative to the
    /// configuration file's directory, else `<data_dir>/admin.sock` when
    /// `[ops] admin` is set; with whether it was configured (`true`) or is
    /// the default.
    pub fn admin_socket_path(&self, config_path: &Path) -> Option<(PathBuf, bool)> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        let o = self.ops.as_ref()?;
        match (&o.admin_socket, o.admin) {
            (Some(p), _) => Some((base.join(p), true)),
            (None, Some(_)) => Some((self.data_path(config_path).join("admin.sock"), false)),
            (None, None) => None,
        }
    }

    /// Whether the node serves the admin API (on its address, its socket
    /// or both).
    pub fn serves_admin(&self) -> bool {
        self.ops
            .as_ref()
            .is_some_and(|o| o.admin.is_some() || o.admin_socket.is_some())
    }

    /// The read token file (`[ops] read_token_file`, relative to the
    /// configuration file's directory), if one is configured.
    pub fn read_token_path(&self, config_path: &Path) -> Option<PathBuf> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        self.ops
            .as_ref()
            .and_then(|o| o.read_token_file.as_ref())
            .map(|p| base.join(p))
    }

    /// Where the operator's policy-signing public key is, if one is set.
    pub fn policy_signer_path(&self, config_path: &Path) -> Option<PathBuf> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        let c = self.cluster.as_ref()?;
        c.policy_signer.as_ref().map(|p| base.join(p))
    }

    /// The cluster TLS files: explicit paths relative to the configuration
    /// file's directory, defaults in the data directory.
    pub fn tls_paths(&self, config_path: &Path) -> Option<TlsPaths> {
        let c = self.cluster.as_ref()?;
        let base = config_path.parent().unwrap_or(Path::new("."));
        let data = self.data_path(config_path);
        let id = self.node.id;
        let pick = |p: &Option<PathBuf>, default: String| {
            p.as_ref()
                .map_or_else(|| data.join(default), |p| base.join(p))
        };
        Some(TlsPaths {
            ca: pick(&c.ca, "ca.pem".into()),
            cert: pick(&c.cert, format!("node-{id}.pem")),
            key: pick(&c.key, format!("node-{id}.key")),
        })
    }
}

/// A `[[cluster.peers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's node id, 1–64 ([`MAX_NODE_ID`]).
    pub id: u16,
    /// The peer's name (checked against its certificate).
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
}

/// `[ops]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    /// Prometheus `/metrics`, `/healthz`, `/readyz`.
    pub metrics: Option<SocketAddr>,
    /// The admin API (a loopback address: it is for the node's own CLI).
    pub admin: Option<SocketAddr>,
    /// The admin API on a Unix socket too, mode 0600, for root and the
    /// node's own user: a socket no other local user can reach, so none
    /// can crowd the operators out (docs/ops.md §1). Relative to this
    /// file. Default, when `admin` is set: `<data_dir>/admin.sock`. Set
    /// alone, the admin API is served on the socket only.
    pub admin_socket: Option<PathBuf>,
    /// The file holding the token that admin changes need (the node
    /// creates it with a random token, readable by its owner only, if it
    /// does not exist; the CLI reads it). Relative paths are relative to
    /// this file. Default `<data_dir>/admin.token`.
    pub token_file: Option<PathBuf>,
    /// The file holding the token that every read of the admin API needs
    /// (the admin token authorizes reads too). Unset (the default): reads
    /// are open to whoever reaches the loopback listener. Created like
    /// `token_file` if it does not exist; relative to this file.
    pub read_token_file: Option<PathBuf>,
    /// Host names (or addresses) the admin API answers to in the `Host`
    /// header besides its own address, `localhost`, `127.0.0.1` and
    /// `[::1]` (docs/ops.md §3). Default none.
    #[serde(default)]
    pub admin_hosts: Vec<String>,
    /// When set, the metrics listener checks `Host` too, accepting these
    /// names besides the built-in ones; unset (the default), it answers
    /// any `Host`, as Prometheus scrapes by whatever name it likes.
    pub metrics_hosts: Option<Vec<String>>,
    /// Log connection events as ASA syslog lines (default on).
    #[serde(default = "yes")]
    pub conn_log: bool,
    /// Most ASA syslog lines per second; the rest are counted and reported.
    #[serde(default = "default_syslog_per_sec")]
    pub syslog_max_per_sec: u32,
    /// A syslog server to send the lines to (RFC 5424 over UDP).
    pub syslog: Option<SocketAddr>,
}

fn default_syslog_per_sec() -> u32 {
    1000
}

/// A name of the plain set (docs/ops.md §5): 1 to `max` bytes of ASCII
/// letters, digits, `.`, `_` and `-`. Names reach file names, log lines,
/// `show` output and certificates; the set keeps out NUL, control
/// characters, escape sequences, spaces and `/`.
fn plain_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A data interface name: Linux takes up to 15 bytes other than `/`,
/// `:` and whitespace, and not `.` or `..`; Rampart takes the plain set
/// within that.
fn linux_interface_name(name: &str) -> bool {
    plain_name(name, MAX_IFNAME_BYTES) && name != "." && name != ".."
}

fn not_a_name(name: &str, max: usize) -> String {
    format!(
        "'{}' is not a name Rampart takes (1-{max} of A-Z a-z 0-9 . _ -)",
        echo(name)
    )
}

fn not_a_cluster_name(name: &str) -> String {
    format!(
        "'{}' is not a cluster node name: one DNS label of 1-63 A-Z a-z 0-9 -, not \
         starting or ending with -, and not 'rampart' (it is in the node's certificate)",
        echo(name)
    )
}

/// Longest DNS name (RFC 1035 §2.3.4: 255 octets on the wire, 253 as text).
const MAX_HOST_NAME_BYTES: usize = 253;

/// An `admin_hosts` / `metrics_hosts` entry: a DNS name, or an IP address
/// (an IPv6 one bare or bracketed) as a `Host` header would carry it.
fn valid_host_entry(h: &str) -> bool {
    let bracketed = h.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    if h.parse::<std::net::IpAddr>().is_ok()
        || bracketed.is_some_and(|v| v.parse::<std::net::Ipv6Addr>().is_ok())
    {
        return true;
    }
    !h.is_empty()
        && h.len() <= MAX_HOST_NAME_BYTES
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// A configuration that cannot be used; the file's fault.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Not valid TOML, or a key that is unknown, missing or of the wrong type.
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// The TOML library's message (it names line, column and key).
        reason: String,
    },
    /// A value out of range or inconsistent with another.
    #[error("{file}: key `{key}`: {reason}")]
    Value {
        /// The file.
        file: String,
        /// The key, as a path (`interface[1].security_level`).
        key: String,
        /// Why.
        reason: String,
    },
}

/// The largest node file read: a real one is a few KiB.
pub const MAX_NODE_FILE_BYTES: usize = 1 << 20;

/// Read a policy file (ASA commands), as `rampart run`, `configure` and
/// `config check|sign` take it: a regular file of at most the size a
/// policy may have in the cluster ([`MAX_POLICY_BYTES`]).
pub fn read_policy(path: &Path) -> Result<String, ReadError> {
    read_bounded_string(path, MAX_POLICY_BYTES, "policy")
}

/// Read the policy file `rampart run` starts with, as [`read_policy`],
/// refused if another user may change it or its directory (docs/ops.md
/// §4): the node would enforce what they wrote. The CLI's `configure` and
/// `config check|sign` read with [`read_policy`]: the operator names the
/// file and sees what is sent.
pub fn read_trusted_policy(path: &Path) -> Result<String, TrustError> {
    let bytes = read_trusted(path, MAX_POLICY_BYTES, "policy")?;
    Ok(into_text(bytes, path, "policy")?)
}

/// Why node id `id` (0, or above [`MAX_NODE_ID`]) is refused.
fn id_out_of_range(id: u16) -> String {
    format!(
        "{id} is outside 1-{MAX_NODE_ID}: a flow's holders are a set of one bit per \
         node id, so ids 64 apart would be one node to it (docs/ops.md section 5)"
    )
}

impl NodeConfig {
    /// Read and check a node configuration file (a regular file of at most
    /// [`MAX_NODE_FILE_BYTES`]), refused if another user may change it or
    /// its directory (docs/ops.md §4): it names the data directory, the
    /// keys, the policy and the tokens' files.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let read = read_trusted(path, MAX_NODE_FILE_BYTES, "node file")
            .and_then(|b| Ok(into_text(b, path, "node file")?));
        let text = read.map_err(|e| {
            // An error about the file itself names it first; one about a
            // directory above names that directory.
            let whole = e.to_string();
            let reason = whole
                .strip_prefix(&format!("{file}: "))
                .map_or_else(|| whole.clone(), str::to_string);
            ConfigError::Read {
                file: file.clone(),
                reason,
            }
        })?;
        Self::parse(&file, &text)
    }

    /// Parse and check configuration text (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let cfg: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            // The TOML library quotes the offending line whole.
            reason: echo_message(e.to_string().trim_end()),
        })?;
        cfg.check(file)?;
        Ok(cfg)
    }

    fn check(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |key: String, reason: String| {
            Err(ConfigError::Value {
                file: file.to_string(),
                key,
                reason,
            })
        };
        if self.node.id == 0 {
            return bad("node.id".into(), "node ids start at 1".into());
        }
        if self.node.id > MAX_NODE_ID {
            return bad("node.id".into(), id_out_of_range(self.node.id));
        }
        if !plain_name(&self.node.name, MAX_NODE_NAME_BYTES) {
            return bad(
                "node.name".into(),
                not_a_name(&self.node.name, MAX_NODE_NAME_BYTES),
            );
        }
        // In a cluster the name is also in the node's certificate.
        if self.cluster.is_some() && !rampart_cluster::pki::valid_node_name(&self.node.name) {
            return bad("node.name".into(), not_a_cluster_name(&self.node.name));
        }
        if self.node.workers == 0 || self.node.workers > MAX_WORKERS {
            return bad("node.workers".into(), format!("must be 1-{MAX_WORKERS}"));
        }
        if !(MIN_MAX_CONNS..=MAX_MAX_CONNS).contains(&self.node.max_conns) {
            return bad(
                "node.max_conns".into(),
                format!("must be {MIN_MAX_CONNS}-{MAX_MAX_CONNS} (connections per worker)"),
            );
        }
        if self.interfaces.len() != 2 {
            return bad(
                "interface".into(),
                format!(
                    "a transparent bridge has exactly two data interfaces, found {}",
                    self.interfaces.len()
                ),
            );
        }
        for (i, iface) in self.interfaces.iter().enumerate() {
            if !linux_interface_name(&iface.name) {
                return bad(
                    format!("interface[{i}].name"),
                    format!(
                        "'{}' is not a Linux interface name Rampart takes \
                         (1-{MAX_IFNAME_BYTES} of A-Z a-z 0-9 . _ -, not . or ..)",
                        echo(&iface.name)
                    ),
                );
            }
            if iface.security_level > 100 {
                return bad(
                    format!("interface[{i}].security_level"),
                    format!("{} is outside 0-100", iface.security_level),
                );
            }
            if !plain_name(&iface.nameif, MAX_NAMEIF_BYTES) {
                return bad(
                    format!("interface[{i}].nameif"),
                    not_a_name(&iface.nameif, MAX_NAMEIF_BYTES),
                );
            }
        }
        // Names only: an interface and its altname differ here, and are
        // refused by index when the sockets are opened (worker.rs).
        if self.interfaces[0].name == self.interfaces[1].name {
            return bad(
                "interface[1].name".into(),
                "both data interfaces are the same interface".into(),
            );
        }
        if self.interfaces[0].nameif == self.interfaces[1].nameif {
            return bad(
                "interface[1].nameif".into(),
                format!(
                    "nameif '{}' is used twice",
                    echo(&self.interfaces[1].nameif)
                ),
            );
        }
        if let Some(a) = self.ops.as_ref().and_then(|o| o.admin)
            && !a.ip().is_loopback()
        {
            return bad(
                "ops.admin".into(),
                format!("{a} is not a loopback address (the admin API is for this host only)"),
            );
        }
        if let Some(o) = &self.ops {
            let lists = [
                ("ops.admin_hosts", Some(&o.admin_hosts)),
                ("ops.metrics_hosts", o.metrics_hosts.as_ref()),
            ];
            for (key, list) in lists {
                for (i, h) in list.into_iter().flatten().enumerate() {
                    if !valid_host_entry(h) {
                        return bad(
                            format!("{key}[{i}]"),
                            "not a host name (letters, digits, '.', '-', at most 253) \
                             or an IP address"
                                .into(),
                        );
                    }
                }
            }
        }
        if let Some(c) = &self.cluster {
            if !(1..=10_000).contains(&c.hold_ms) {
                return bad("cluster.hold_ms".into(), "must be 1-10000".into());
            }
            if !(1..=1_000_000).contains(&c.hold_max_packets) {
                return bad(
                    "cluster.hold_max_packets".into(),
                    "must be 1-1000000".into(),
                );
            }
            if !(1..=c.hold_max_packets).contains(&c.hold_max_per_flow) {
                return bad(
                    "cluster.hold_max_per_flow".into(),
                    "must be at least 1 and at most hold_max_packets".into(),
                );
            }
            if c.defer_ms > 1000 {
                return bad("cluster.defer_ms".into(), "must be 0-1000".into());
            }
            if c.backup_delay_ms > 1000 {
                return bad("cluster.backup_delay_ms".into(), "must be 0-1000".into());
            }
            if !(1..=rampart_dataplane::placement::MAX_COPIES).contains(&c.copies) {
                return bad(
                    "cluster.copies".into(),
                    format!("must be 1-{}", rampart_dataplane::placement::MAX_COPIES),
                );
            }
            if !(100..=600_000).contains(&c.join_timeout_ms) {
                return bad(
                    "cluster.join_timeout_ms".into(),
                    "must be 100-600000".into(),
                );
            }
            if !(300..=60_000).contains(&c.idle_timeout_ms) {
                return bad("cluster.idle_timeout_ms".into(), "must be 300-60000".into());
            }
            for (i, p) in c.peers.iter().enumerate() {
                if !rampart_cluster::pki::valid_node_name(&p.name) {
                    return bad(
                        format!("cluster.peers[{i}].name"),
                        not_a_cluster_name(&p.name),
                    );
                }
                if p.id == 0 || p.id > MAX_NODE_ID {
                    return bad(format!("cluster.peers[{i}].id"), id_out_of_range(p.id));
                }
                if p.id == self.node.id {
                    return bad(
                        format!("cluster.peers[{i}].id"),
                        "a peer cannot have this node's id".into(),
                    );
                }
                if c.peers[..i].iter().any(|q| q.id == p.id) {
                    return bad(
                        format!("cluster.peers[{i}].id"),
                        format!("peer id {} is listed twice", p.id),
                    );
                }
            }
        }
        Ok(())
    }

    /// What the configuration says, for `rampart config check-node`.
    pub fn summary(&self, path: &Path) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}: node configuration is valid\n", path.display());
        let n = &self.node;
        let _ = writeln!(
            out,
            "  node:       {} (id {}), {} worker(s) of {} connections each, offload {}, data in {}",
            n.name,
            n.id,
            n.workers,
            n.max_conns,
            if n.offload { "on" } else { "off" },
            n.data_dir.display()
        );
        let _ = writeln!(
            out,
            "  dataplane:  io {}, busy poll {} us",
            self.dataplane.io.label(),
            self.dataplane.busy_poll_us
        );
        if let Some(p) = &n.policy {
            let _ = writeln!(out, "  policy:     {}", p.display());
        }
        for (os, e) in self.interfaces.iter().zip(self.engine_interfaces()) {
            let _ = writeln!(
                out,
                "  interface:  {} nameif {} security-level {}",
                os.name, e.nameif, e.security_level
            );
        }
        if let Some(c) = &self.cluster {
            let _ = writeln!(out, "  cluster:    listen {}", c.listen);
            for p in &c.peers {
                let _ = writeln!(
                    out,
                    "  peer:       {} (id {}) at {}",
                    p.name, p.id, p.address
                );
            }
        }
        if let Some(o) = &self.ops {
            let show =
                |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
            let admin = match (o.admin, &o.admin_socket) {
                (a, None) => show(a),
                (None, Some(p)) => format!("unix:{}", p.display()),
                (Some(a), Some(p)) => format!("{a} and unix:{}", p.display()),
            };
            let _ = writeln!(
                out,
                "  ops:        metrics {}, admin {admin}",
                show(o.metrics),
            );
        }
        out
    }

    /// The engine's view of the data interfaces: each bridged to the other.
    pub fn engine_interfaces(&self) -> Vec<InterfaceConfig> {
        self.interfaces
            .iter()
            .enumerate()
            .map(|(i, x)| InterfaceConfig {
                nameif: x.nameif.clone(),
                security_level: x.security_level,
                peer: IfaceId(u8::from(i == 0)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[node]
id = 1
name = "fw-a"
data_dir = "/var/lib/rampart"
policy = "policy.cfg"
workers = 2

[[interface]]
name = "eth1"
nameif = "inside"
security_level = 100

[[interface]]
name = "eth2"
nameif = "outside"
security_level = 0

[cluster]
listen = "198.19.255.1:7400"
peers = [{ id = 2, name = "fw-b", address = "198.19.255.2:7400" }]

[ops]
metrics = "127.0.0.1:9460"
admin = "127.0.0.1:9461"
"#;

    #[test]
    fn a_full_config_loads() {
        let c = NodeConfig::parse("node.toml", FULL).unwrap();
        assert_eq!(
            (c.node.id, c.node.name.as_str(), c.node.workers),
            (1, "fw-a", 2)
        );
        assert_eq!(c.cluster.as_ref().unwrap().peers[0].name, "fw-b");
        let e = c.engine_interfaces();
        assert_eq!(
            (e[0].nameif.as_str(), e[0].security_level, e[0].peer),
            ("inside", 100, IfaceId(1))
        );
        assert_eq!(e[1].peer, IfaceId(0));
    }

    /// Every `[section] key` that the alert rules, the README or the docs
    /// tell an operator to set is a key of the node file: a runbook that
    /// named a key the file refuses (`[node] capacity`) made a node that
    /// followed it refuse to start.
    #[test]
    fn keys_the_docs_and_alerts_name_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![
            root.join("README.md"),
            root.join("ops/alerts/rampart.rules.yml"),
        ];
        for e in std::fs::read_dir(root.join("docs")).unwrap() {
            files.push(e.unwrap().path());
        }
        let word = |c: char| c.is_ascii_lowercase() || c == '_';
        let mut named = std::collections::BTreeSet::new();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "md" || e == "yml"))
        {
            let text = std::fs::read_to_string(f).unwrap();
            for (at, _) in text.match_indices('[') {
                let rest = &text[at + 1..];
                let section: String = rest.chars().take_while(|&c| word(c)).collect();
                let Some(after) = rest[section.len()..].strip_prefix("] ") else {
                    continue;
                };
                let key: String = after.chars().take_while(|&c| word(c)).collect();
                if ["node", "dataplane", "cluster", "ops"].contains(&section.as_str())
                    && !key.is_empty()
                {
                    named.insert((section, key, f.display().to_string()));
                }
            }
        }
        assert!(named.len() > 10, "too few keys found: {named:?}");
        for (section, key, file) in &named {
            // The key with a value of the wrong type: a key the file knows
            // fails on its type, one it does not know as unknown.
            let header = format!("[{section}]\n");
            let base = if FULL.contains(&header) {
                FULL.to_string()
            } else {
                format!("{FULL}\n{header}")
            };
            let text = base.replacen(&header, &format!("{header}{key} = {{ x = 1 }}\n"), 1);
            let e = err(&text);
            assert!(
                !e.contains("unknown field"),
                "{file} names `[{section}] {key}`, which a node file refuses: {e}"
            );
        }
    }

    fn err(text: &str) -> String {
        NodeConfig::parse("node.toml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        assert_eq!(
            err(&FULL.replace("security_level = 0", "security_level = 101")),
            "node.toml: key `interface[1].security_level`: 101 is outside 0-100"
        );
        assert_eq!(
            err(&FULL.replace("nameif = \"outside\"", "nameif = \"inside\"")),
            "node.toml: key `interface[1].nameif`: nameif 'inside' is used twice"
        );
        assert_eq!(
            err(&FULL.replace("id = 1\n", "id = 0\n")),
            "node.toml: key `node.id`: node ids start at 1"
        );
        assert_eq!(
            err(&FULL.replace("{ id = 2,", "{ id = 1,")),
            "node.toml: key `cluster.peers[0].id`: a peer cannot have this node's id"
        );
        // Ids share a bit of a flow's holder set 64 apart: 1-64 only.
        assert_eq!(
            err(&FULL.replace("id = 1\n", "id = 65\n")),
            "node.toml: key `node.id`: 65 is outside 1-64: a flow's holders are a set of \
             one bit per node id, so ids 64 apart would be one node to it (docs/ops.md \
             section 5)"
        );
        assert!(
            err(&FULL.replace("{ id = 2,", "{ id = 66,"))
                .starts_with("node.toml: key `cluster.peers[0].id`: 66 is outside 1-64"),
        );
        assert!(
            err(&FULL.replace("{ id = 2,", "{ id = 0,"))
                .starts_with("node.toml: key `cluster.peers[0].id`: 0 is outside 1-64"),
        );
        let top = FULL
            .replace("id = 1\n", "id = 64\n")
            .replace("{ id = 2,", "{ id = 63,");
        assert_eq!(NodeConfig::parse("node.toml", &top).unwrap().node.id, 64);
        // The table's size: 1,000,000 per worker unless said; bounded.
        assert_eq!(
            NodeConfig::parse("node.toml", FULL).unwrap().node.max_conns,
            1_000_000
        );
        let sized = FULL.replace("workers = 2", "workers = 2\nmax_conns = 4000000");
        assert_eq!(
            NodeConfig::parse("node.toml", &sized)
                .unwrap()
                .node
                .max_conns,
            4_000_000
        );
        for n in ["0", "999", "50000001"] {
            let e = err(&FULL.replace("workers = 2", &format!("workers = 2\nmax_conns = {n}")));
            assert!(
                e.starts_with(
                    "node.toml: key `node.max_conns`: must be 1000-50000000 (connections per worker)"
                ),
                "{n}: {e}"
            );
        }
        let unknown = err(&FULL.replace("workers = 2", "workerz = 2"));
        assert!(
            unknown.starts_with("node.toml: TOML parse error at line")
                && unknown.contains("workerz"),
            "{unknown}"
        );
        let missing = err(&FULL.replace("name = \"fw-a\"\n", ""));
        assert!(missing.contains("missing field `name`"), "{missing}");
    }

    /// The admin socket: `<data_dir>/admin.sock` by default when the admin
    /// API has an address; a configured path alone serves the API on the
    /// socket only (docs/ops.md §1).
    #[test]
    fn the_admin_socket_has_a_default_and_may_stand_alone() {
        let at = Path::new("/etc/rampart/node.toml");
        let c = NodeConfig::parse("node.toml", FULL).unwrap();
        assert_eq!(
            c.admin_socket_path(at),
            Some((PathBuf::from("/var/lib/rampart/admin.sock"), false))
        );
        assert!(c.serves_admin());
        let alone = FULL.replace(
            "admin = \"127.0.0.1:9461\"",
            "admin_socket = \"run/admin.sock\"",
        );
        let c = NodeConfig::parse("node.toml", &alone).unwrap();
        assert_eq!(
            c.admin_socket_path(at),
            Some((PathBuf::from("/etc/rampart/run/admin.sock"), true))
        );
        assert!(c.serves_admin());
        let none = FULL.replace("admin = \"127.0.0.1:9461\"", "");
        let c = NodeConfig::parse("node.toml", &none).unwrap();
        assert_eq!(c.admin_socket_path(at), None);
        assert!(!c.serves_admin());
    }

    #[test]
    fn ops_admin_is_loopback_and_the_token_file_has_a_default() {
        assert_eq!(
            err(&FULL.replace("admin = \"127.0.0.1:9461\"", "admin = \"198.18.0.1:9461\"")),
            "node.toml: key `ops.admin`: 198.18.0.1:9461 is not a loopback address (the admin API is for this host only)"
        );
        let c = NodeConfig::parse("node.toml", FULL).unwrap();
        let o = c.ops.as_ref().unwrap();
        assert!(o.conn_log);
        assert_eq!(o.syslog_max_per_sec, 1000);
        assert_eq!(o.syslog, None);
        assert_eq!(
            c.token_path(Path::new("/etc/rampart/node.toml")),
            Path::new("/var/lib/rampart/admin.token")
        );
        let c = NodeConfig::parse(
            "node.toml",
            &FULL.replace(
                "[ops]\n",
                "[ops]\ntoken_file = \"secret/token\"\nsyslog = \"127.0.0.1:514\"\n",
            ),
        )
        .unwrap();
        assert_eq!(
            c.token_path(Path::new("/etc/rampart/node.toml")),
            Path::new("/etc/rampart/secret/token")
        );
        assert_eq!(
            c.ops.unwrap().syslog,
            Some("127.0.0.1:514".parse().unwrap())
        );
    }

    #[test]
    fn interface_names_are_a_plain_set_within_the_linux_bound() {
        let with_name = |n: &str| FULL.replace("name = \"eth1\"", &format!("name = \"{n}\""));
        for good in ["eth0.100", "veth_a-1", "enp0s31f6", "abcdefghijklmno"] {
            let c = NodeConfig::parse("node.toml", &with_name(good)).unwrap();
            assert_eq!(c.interfaces[0].name, good);
        }
        // TOML escapes reach the value: NUL and ESC arrive as characters.
        for (bad, shown) in [
            (r"a\u0000b", r"a\u{0}b"),
            (r"eth\u001b[2J", r"eth\u{1b}[2J"),
            ("eth 1", "eth 1"),
            ("eth/1", "eth/1"),
            ("eth:1", "eth:1"),
            (r"eth1\t", r"eth1\t"),
            ("abcdefghijklmnop", "abcdefghijklmnop"),
            (".", "."),
            ("..", ".."),
            ("", ""),
        ] {
            assert_eq!(
                err(&with_name(bad)),
                format!(
                    "node.toml: key `interface[0].name`: '{shown}' is not a Linux interface name \
                     Rampart takes (1-15 of A-Z a-z 0-9 . _ -, not . or ..)"
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn node_peer_and_nameif_names_are_a_plain_set_of_at_most_64() {
        let ok = NodeConfig::parse(
            "node.toml",
            &FULL.replace("name = \"fw-a\"", "name = \"fw-a-site1\""),
        )
        .unwrap();
        assert_eq!(ok.node.name, "fw-a-site1");
        // In a cluster the name is in the node's certificate: one DNS label
        // (pki::valid_node_name), so dots and underscores are refused.
        let cluster_msg = |n: &str| {
            format!(
                "'{n}' is not a cluster node name: one DNS label of 1-63 A-Z a-z 0-9 -, not \
                 starting or ending with -, and not 'rampart' (it is in the node's certificate)"
            )
        };
        assert_eq!(
            err(&FULL.replace("name = \"fw-a\"", "name = \"fw-a.site_1\"")),
            format!("node.toml: key `node.name`: {}", cluster_msg("fw-a.site_1"))
        );
        assert_eq!(
            err(&FULL.replace("name = \"fw-a\"", "name = \"node-2.rampart\"")),
            format!(
                "node.toml: key `node.name`: {}",
                cluster_msg("node-2.rampart")
            )
        );
        let name = |n: &str| FULL.replace("name = \"fw-a\"", &format!("name = \"{n}\""));
        assert_eq!(
            err(&name(r"fw\u0000a")),
            "node.toml: key `node.name`: 'fw\\u{0}a' is not a name Rampart takes \
             (1-64 of A-Z a-z 0-9 . _ -)"
        );
        let long = "a".repeat(65);
        assert!(err(&name(&long)).starts_with("node.toml: key `node.name`: 'aaaa"));
        let peer = FULL.replace("name = \"fw-b\"", r#"name = "fw-b\u001b]0;pwned\u0007""#);
        assert_eq!(
            err(&peer),
            format!(
                "node.toml: key `cluster.peers[0].name`: {}",
                cluster_msg("fw-b\\u{1b}]0;pwned\\u{7}")
            )
        );
        let nameif = FULL.replace("nameif = \"inside\"", "nameif = \"in side\"");
        assert_eq!(
            err(&nameif),
            "node.toml: key `interface[0].nameif`: 'in side' is not a name Rampart takes \
             (1-48 of A-Z a-z 0-9 . _ -)"
        );
    }

    #[test]
    fn errors_show_user_text_escaped_and_bounded() {
        // A 10 MB node name: the error shows its start and its length.
        let huge = "x".repeat(10 << 20);
        let e = err(&FULL.replace("name = \"fw-a\"", &format!("name = \"{huge}\"")));
        assert_eq!(
            e,
            format!(
                "node.toml: key `node.name`: '{}... (10485760 bytes in all)' is not a name \
                 Rampart takes (1-64 of A-Z a-z 0-9 . _ -)",
                "x".repeat(64)
            )
        );
        // A TOML syntax error quotes its line: raw control characters
        // and a megabyte line come back escaped and cut.
        let raw = FULL.replace("name = \"fw-a\"", "name = \"fw\u{1b}[2Ja\"");
        let e = err(&raw);
        assert!(e.starts_with("node.toml: TOML parse error at line"), "{e}");
        assert!(!e.contains('\u{1b}') && e.contains(r"\u{1b}[2J"), "{e}");
        let wide = FULL.replace("workers = 2", &format!("workers = 2{huge}"));
        let e = err(&wide);
        assert!(e.len() < 4096, "{} bytes", e.len());
        assert!(e.contains("... (10485"), "{e}");
    }

    #[test]
    fn read_token_and_host_names_are_optional_ops_keys() {
        let c = NodeConfig::parse("node.toml", FULL).unwrap();
        let o = c.ops.as_ref().unwrap();
        assert_eq!(o.read_token_file, None);
        assert!(o.admin_hosts.is_empty());
        assert_eq!(o.metrics_hosts, None);
        assert_eq!(c.read_token_path(Path::new("/etc/rampart/node.toml")), None);
        let with = |keys: &str| FULL.replace("[ops]\n", &format!("[ops]\n{keys}\n"));
        let c = NodeConfig::parse(
            "node.toml",
            &with(
                "read_token_file = \"read.token\"\nadmin_hosts = [\"fw-a.mgmt\"]\n\
                 metrics_hosts = [\"fw-a\", \"198.51.100.7\", \"[2001:db8::7]\"]",
            ),
        )
        .unwrap();
        assert_eq!(
            c.read_token_path(Path::new("/etc/rampart/node.toml")),
            Some(PathBuf::from("/etc/rampart/read.token"))
        );
        let o = c.ops.as_ref().unwrap();
        assert_eq!(o.admin_hosts, ["fw-a.mgmt"]);
        assert_eq!(o.metrics_hosts.as_ref().unwrap().len(), 3);
        assert_eq!(
            err(&with("admin_hosts = [\"ok\", \"evil.example:80\"]")),
            "node.toml: key `ops.admin_hosts[1]`: not a host name (letters, digits, '.', '-', at most 253) or an IP address"
        );
        assert!(err(&with("metrics_hosts = [\"\"]")).contains("`ops.metrics_hosts[0]`"));
    }

    #[test]
    fn hold_limits_are_keys_with_the_engine_defaults_and_bounds() {
        let c = NodeConfig::parse("node.toml", FULL).unwrap();
        let cl = c.cluster.as_ref().unwrap();
        assert_eq!((cl.hold_max_packets, cl.hold_max_per_flow), (8192, 64));
        let with = |keys: &str| FULL.replace("[cluster]\n", &format!("[cluster]\n{keys}\n"));
        let c = NodeConfig::parse(
            "node.toml",
            &with("hold_max_packets = 100\nhold_max_per_flow = 100"),
        )
        .unwrap();
        let cl = c.cluster.as_ref().unwrap();
        assert_eq!((cl.hold_max_packets, cl.hold_max_per_flow), (100, 100));
        assert_eq!(
            err(&with("hold_max_packets = 0")),
            "node.toml: key `cluster.hold_max_packets`: must be 1-1000000"
        );
        assert_eq!(
            err(&with("hold_max_packets = 10\nhold_max_per_flow = 11")),
            "node.toml: key `cluster.hold_max_per_flow`: must be at least 1 and at most hold_max_packets"
        );
    }

    #[test]
    fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/node-a.toml");
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.node.name, "fw-a");
        assert!(c.node.offload);
        // The README shows the example whole; keep the two the same.
        let example = std::fs::read_to_string(&path).unwrap();
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
                .unwrap();
        assert!(
            readme.contains(&format!("```toml\n{example}```")),
            "README.md must show examples/node-a.toml as it is"
        );
    }

    #[test]
    fn the_dataplane_table_picks_the_io_back_end_and_busy_poll_bound() {
        let c = NodeConfig::parse("node.toml", FULL).unwrap();
        assert_eq!(c.dataplane, Dataplane::default());
        assert_eq!(c.dataplane.io, IoBackend::Ring);
        assert_eq!(c.dataplane.busy_poll_us, 200);
        let with = |t: &str| format!("{FULL}\n[dataplane]\n{t}\n");
        let m = NodeConfig::parse("node.toml", &with("io = \"mmsg\"\nbusy_poll_us = 50")).unwrap();
        assert_eq!(
            (m.dataplane.io, m.dataplane.busy_poll_us),
            (IoBackend::Mmsg, 50)
        );
        for (name, want) in [
            ("ring", IoBackend::Ring),
            ("block-ring", IoBackend::BlockRing),
        ] {
            let m = NodeConfig::parse("node.toml", &with(&format!("io = \"{name}\""))).unwrap();
            assert_eq!(m.dataplane.io, want);
            assert_eq!(want.label(), name);
        }
        // The V3 ring's former spelling is not taken silently.
        let e = err(&with("io = \"block_ring\""));
        assert!(e.contains("line") && e.contains("column"), "{e}");
        assert!(e.contains("block-ring"), "the refusal lists the names: {e}");
        // Refusals name the line and column, and the reason.
        let e = err(&with("io = \"xdp\""));
        assert!(e.contains("line") && e.contains("column"), "{e}");
        assert!(e.contains("unknown variant `xdp`"), "{e}");
        let e = err(&with("busy_poll_us = 10001"));
        assert!(e.contains("line") && e.contains("column"), "{e}");
        assert!(e.contains("above 10000"), "{e}");
        assert!(err(&with("busy_poll_ms = 1")).contains("unknown field"));
        NodeConfig::parse("node.toml", &with("busy_poll_us = 10000")).unwrap();
    }

    #[test]
    fn a_bridge_needs_two_distinct_interfaces() {
        let one = FULL.split("[[interface]]").collect::<Vec<_>>();
        let text = format!(
            "{}[[interface]]{}{}",
            one[0],
            one[1],
            &one[2][one[2].find("[cluster]").unwrap()..]
        );
        assert_eq!(
            err(&text),
            "node.toml: key `interface`: a transparent bridge has exactly two data interfaces, found 1"
        );
        assert_eq!(
            err(&FULL.replace("name = \"eth2\"", "name = \"eth1\"")),
            "node.toml: key `interface[1].name`: both data interfaces are the same interface"
        );
    }

    /// A node file or a policy another user may change is refused at
    /// load, naming the file and the fix; a node file that is not UTF-8
    /// is refused at the line and column where it stops being text.
    #[test]
    fn node_files_and_policies_others_may_change_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("rampart-config-trust-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("node.toml");
        std::fs::write(&file, FULL).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(
            NodeConfig::load(&file).unwrap_err().to_string(),
            format!(
                "{0}: this node file has mode 0666, so group or others may change it; refusing \
                 to trust it (take their write access away: chmod go-w {0})",
                file.display()
            )
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        NodeConfig::load(&file).unwrap();
        std::fs::write(&file, b"[node]\nid = 1\nname = \"fw\xff\"\n").unwrap();
        assert_eq!(
            NodeConfig::load(&file).unwrap_err().to_string(),
            format!(
                "{}: a node file is UTF-8 text, and this file is not (line 3, column 11)",
                file.display()
            )
        );
        let policy = dir.join("policy.cfg");
        std::fs::write(&policy, "! a policy\n").unwrap();
        assert_eq!(read_trusted_policy(&policy).unwrap(), "! a policy\n");
        std::os::unix::fs::lchown(&policy, Some(65533), None).unwrap();
        assert!(matches!(
            read_trusted_policy(&policy),
            Err(TrustError::Owner { uid: 65533, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A node file or policy that is a device or too large is refused at
    /// once, naming the file and the limit (`policy = "/dev/zero"` once
    /// filled the memory at start).
    #[test]
    fn node_files_and_policies_are_bounded_regular_files() {
        let e = NodeConfig::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a character device, not a regular file; a node file is read only \
             from a regular file"
        );
        let e = read_policy(Path::new("/dev/zero")).unwrap_err();
        assert!(
            e.to_string()
                .contains("a policy is read only from a regular file"),
            "{e}"
        );
        let dir =
            std::env::temp_dir().join(format!("rampart-config-bounds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("node.toml");
        std::fs::write(&big, "#".repeat(MAX_NODE_FILE_BYTES + 1)).unwrap();
        assert_eq!(
            NodeConfig::load(&big).unwrap_err().to_string(),
            format!(
                "{}: over 1048576 bytes, the most a node file may be",
                big.display()
            )
        );
        std::fs::write(&big, "!".repeat(MAX_POLICY_BYTES + 1)).unwrap();
        assert_eq!(
            read_policy(&big).unwrap_err().to_string(),
            format!(
                "{}: over 1048576 bytes, the most a policy may be",
                big.display()
            )
        );
        std::fs::write(&big, "! a policy\n").unwrap();
        assert_eq!(read_policy(&big).unwrap(), "! a policy\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
