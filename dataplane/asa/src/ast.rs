//! The ASA configuration as parsed: the subset of commands Rampart enforces,
//! in a normalised form that renders back as `show running-config` does
//! (`docs/asa-behaviour.md` §2). Order matters where the ASA's does (ACL
//! lines, classes inside a policy-map); everything else is kept in the
//! order first defined.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

mod names;
mod time;
pub use names::*;
pub use time::*;

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `names` and the `name` lines (docs/asa-behaviour.md §2.1).
    pub names: Names,
    /// `interface HW` blocks.
    pub interfaces: Vec<Interface>,
    /// `object network NAME` and `object service NAME`.
    pub objects: Vec<Object>,
    /// `object-group {network|service|protocol} NAME`.
    pub object_groups: Vec<ObjectGroup>,
    /// `access-list NAME …`, lines in order.
    pub access_lists: Vec<AccessList>,
    /// `access-group ACL in interface IF`.
    pub access_groups: Vec<AccessGroup>,
    /// `access-group ACL out interface IF`: judges what leaves the
    /// interface, after the ingress side's rules (docs/asa-behaviour.md
    /// §2.3).
    pub access_groups_out: Vec<AccessGroup>,
    /// `access-group ACL global`: judges what enters any interface, after
    /// the interface's own access-group (docs/asa-behaviour.md §2.3).
    pub global_access_group: Option<String>,
    /// `access-list NAME ethertype …`, lines in order.
    pub ethertype_lists: Vec<EthertypeList>,
    /// `access-group ACL in interface IF` binding an EtherType access-list:
    /// an interface takes one of these beside its extended one.
    pub ethertype_groups: Vec<AccessGroup>,
    /// `class-map NAME`.
    pub class_maps: Vec<ClassMap>,
    /// `policy-map NAME`.
    pub policy_maps: Vec<PolicyMap>,
    /// `service-policy NAME {global|interface IF}`.
    pub service_policies: Vec<ServicePolicy>,
    /// `same-security-traffic permit inter-interface`: interfaces of equal
    /// security levels may talk (the ASA refuses it otherwise, whatever the
    /// access-group says).
    pub same_security_inter_interface: bool,
    /// The global `timeout` values Rampart applies.
    pub timeouts: GlobalTimeouts,
    /// `fragment size|chain|timeout N [IF]`: the limits of reassembly of
    /// IP fragments.
    pub fragment: FragmentConfig,
    /// `sysopt connection tcpmss [minimum] N`: the MSS clamp of SYNs
    /// (docs/asa-behaviour.md §6.3).
    pub tcpmss: TcpMss,
    /// `time-range NAME` blocks, in the order first defined.
    pub time_ranges: Vec<TimeRange>,
    /// `tcp-map NAME` blocks, in the order first defined
    /// (docs/asa-behaviour.md §6.1).
    pub tcp_maps: Vec<TcpMap>,
    /// `clock timezone` and `clock summer-time`: the local time the
    /// time-ranges are evaluated in (docs/asa-behaviour.md §2.10).
    pub clock: Clock,
}

/// `sysopt connection tcpmss N` and `sysopt connection tcpmss minimum N`
/// (docs/asa-behaviour.md §6.3). `None` is the ASA's default (1380 and 0);
/// a value equal to its default is kept as `None`, since `show
/// running-config` prints no line for it (only `show running-config all`
/// does). 0 turns a bound off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpMss {
    /// `sysopt connection tcpmss N`: the largest MSS a SYN may announce, 0
    /// or 48-65535.
    pub maximum: Option<u16>,
    /// `sysopt connection tcpmss minimum N`: the smallest, 0 or 48-65535.
    pub minimum: Option<u16>,
}

/// The ASA's `sysopt connection tcpmss` when none is configured ("The
/// default value is 1380 bytes", Cisco ASA Series Command Reference,
/// `sysopt connection tcpmss`).
pub const TCPMSS_DEFAULT: u16 = 1380;
/// The ASA's `sysopt connection tcpmss minimum` when none is configured:
/// off ("By default, the minimum TCP MSS is not enabled", Cisco ASA Series
/// General Operations CLI Configuration Guide, "About the TCP MSS").
pub const TCPMSS_MINIMUM_DEFAULT: u16 = 0;

impl TcpMss {
    /// The maximum in effect: the configured one, else the ASA's default.
    pub fn maximum_or_default(&self) -> u16 {
        self.maximum.unwrap_or(TCPMSS_DEFAULT)
    }

    /// The minimum in effect: the configured one, else off (0).
    pub fn minimum_or_default(&self) -> u16 {
        self.minimum.unwrap_or(TCPMSS_MINIMUM_DEFAULT)
    }
}

/// `fragment size|chain|timeout N [IF]` (docs/asa-behaviour.md §2.8): the
/// lines without an interface set every interface's limits; a line naming
/// an interface sets that interface's, and wins over the line without,
/// whichever came first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FragmentConfig {
    /// The lines without an interface. A value equal to the ASA's default
    /// is kept as `None` (`show running-config` prints no line for it).
    pub global: FragmentSettings,
    /// The lines naming an interface, by its nameif; an interface whose
    /// every value was removed (`no fragment … IF`) has no entry.
    pub interfaces: BTreeMap<String, FragmentSettings>,
}

/// One scope's `fragment` values; `None` is not set here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragmentSettings {
    /// `fragment size N`: fragments waiting for reassembly at once, 1–30000.
    pub size: Option<u32>,
    /// `fragment chain N`: fragments one datagram may have, 1–8200 (1
    /// passes no fragmented datagram).
    pub chain: Option<u32>,
    /// `fragment timeout N`: seconds a datagram's fragments may take to
    /// arrive, from its first, 1–30.
    pub timeout: Option<u32>,
}

/// The ASA's `fragment size` when none is configured.
pub const FRAGMENT_SIZE_DEFAULT: u32 = 200;
/// The ASA's `fragment chain` when none is configured.
pub const FRAGMENT_CHAIN_DEFAULT: u32 = 24;
/// The ASA's `fragment timeout` when none is configured, in seconds.
pub const FRAGMENT_TIMEOUT_DEFAULT_SECS: u32 = 5;

impl FragmentSettings {
    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == FragmentSettings::default()
    }
}

impl FragmentConfig {
    /// The values interface `nameif` gets: its own line's, else the line
    /// without an interface, else `None` (the ASA's default).
    pub fn of(&self, nameif: &str) -> FragmentSettings {
        let own = self.interfaces.get(nameif).copied().unwrap_or_default();
        FragmentSettings {
            size: own.size.or(self.global.size),
            chain: own.chain.or(self.global.chain),
            timeout: own.timeout.or(self.global.timeout),
        }
    }
}

/// `timeout conn|half-closed|udp|icmp H:MM:SS`: the idle timeouts of
/// connections whose class sets none (a class's `set connection timeout`
/// wins). `None` keeps the ASA's default; zero means never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobalTimeouts {
    /// `timeout conn`: an established TCP connection idle (default 1:00:00).
    pub conn: Option<Duration>,
    /// `timeout half-closed`: a TCP connection one side closed (0:10:00).
    pub half_closed: Option<Duration>,
    /// `timeout udp`: a UDP flow idle (0:02:00).
    pub udp: Option<Duration>,
    /// `timeout icmp`: an ICMP echo flow idle (0:00:02).
    pub icmp: Option<Duration>,
}

/// `interface HW` with `nameif`, `security-level` and `shutdown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The hardware name (`GigabitEthernet0/0`, or any name the node config uses).
    pub hardware: String,
    /// `nameif NAME`.
    pub nameif: Option<String>,
    /// `security-level N` (0–100).
    pub security_level: Option<u8>,
    /// `shutdown`: the interface passes nothing (`no shutdown` clears it).
    pub shutdown: bool,
    /// `management-only`: the interface takes traffic to the box only,
    /// never through it (docs/asa-behaviour.md §2.7).
    pub management_only: bool,
}

/// `object network NAME` / `object service NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// A network object: one address spec.
    Network {
        /// Object name.
        name: String,
        /// `host A`, `subnet A M`, `subnet A/L` (IPv6) or `range A B`.
        value: NetworkValue,
    },
    /// A service object.
    Service {
        /// Object name.
        name: String,
        /// `service PROTO [source PORT] [destination PORT]`.
        value: ServiceValue,
    },
}

/// The body of a network object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetworkValue {
    /// `host A`.
    Host(IpAddr),
    /// `subnet A M` (IPv4 with mask).
    V4Subnet(Ipv4Addr, Ipv4Addr),
    /// `subnet A/L` (IPv6 prefix).
    V6Subnet(Ipv6Addr, u8),
    /// `range A B`, inclusive.
    Range(IpAddr, IpAddr),
}

/// The body of a service object or `service-object` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceValue {
    /// Protocol.
    pub protocol: Protocol,
    /// `source OP PORT`.
    pub source: Option<PortMatch>,
    /// `destination OP PORT`.
    pub destination: Option<PortMatch>,
    /// `icmp|icmp6 TYPE [CODE]`: the ICMP type (and code) of an `icmp` or
    /// `icmp6` service; `None` is every message.
    pub icmp: Option<IcmpMatch>,
}

/// `object-group KIND NAME` and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectGroup {
    /// `object-group network NAME`.
    Network {
        /// Group name.
        name: String,
        /// `network-object …` and `group-object NAME` lines.
        members: Vec<NetworkMember>,
    },
    /// `object-group service NAME [tcp|udp|tcp-udp]`.
    Service {
        /// Group name.
        name: String,
        /// With a protocol: a port group (`port-object` lines); without: `service-object` lines.
        protocol: Option<PortProtocol>,
        /// Members.
        members: Vec<ServiceMember>,
    },
    /// `object-group protocol NAME`.
    Protocol {
        /// Group name.
        name: String,
        /// `protocol-object P` and `group-object NAME` lines.
        members: Vec<ProtocolMember>,
    },
    /// `object-group icmp-type NAME`: ICMP (IPv4) types, for the
    /// `icmp_argument` of an `icmp` entry.
    IcmpType {
        /// Group name.
        name: String,
        /// `icmp-object TYPE` and `group-object NAME` lines.
        members: Vec<IcmpTypeMember>,
    },
}

/// A line of an ICMP type group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IcmpTypeMember {
    /// `icmp-object TYPE`: an ICMP type, every code of it.
    Type(u8),
    /// `group-object NAME`.
    Group(String),
}

/// A line of a network group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetworkMember {
    /// `network-object host A` / `network-object A M` / `network-object A/L`.
    Address(NetworkValue),
    /// `network-object object NAME`.
    Object(String),
    /// `group-object NAME`.
    Group(String),
}

/// The protocol of a port-only service group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortProtocol {
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `tcp-udp`.
    TcpUdp,
}

/// A line of a service group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceMember {
    /// `port-object OP PORT` (groups with a protocol).
    Port(PortMatch),
    /// `service-object PROTO [source …] [destination …]`.
    Service(ServiceValue),
    /// `service-object object NAME`.
    Object(String),
    /// `group-object NAME`.
    Group(String),
}

/// A line of a protocol group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProtocolMember {
    /// `protocol-object P`.
    Protocol(Protocol),
    /// `group-object NAME`.
    Group(String),
}

/// An IP protocol in an ACE: `ip` (any) or one protocol number, rendered by
/// its ASA keyword (`tcp`, `udp`, `icmp`, `icmp6`, …) where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `ip`: any protocol.
    Ip,
    /// One protocol, by number.
    Number(u8),
}

/// A port comparison (`eq`, `neq`, `lt`, `gt`, `range`), ports as numbers;
/// rendered with the ASA's well-known names (`www`, `https`, `domain`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortMatch {
    /// `eq P`.
    Eq(u16),
    /// `neq P`.
    Neq(u16),
    /// `lt P`.
    Lt(u16),
    /// `gt P`.
    Gt(u16),
    /// `range A B`, inclusive.
    Range(u16, u16),
}

/// An ICMP or ICMPv6 type, and optionally one of its codes: `TYPE
/// [CODE]`, the type by number (rendered by the ASA's name of its family
/// where there is one, `crate::icmp`). Without a code every code matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    /// The ICMP type, 0–255.
    pub icmp_type: u8,
    /// The ICMP code, 0–255; `None` is every code.
    pub code: Option<u8>,
}

/// Where an ACE's ICMP type condition comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IcmpSpec {
    /// An inline `TYPE [CODE]`.
    Match(IcmpMatch),
    /// `object-group NAME`: an `object-group icmp-type` (after `icmp`).
    Group(String),
}

/// Where an ACE's port condition comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// An inline comparison.
    Match(PortMatch),
    /// `object-group NAME` (a service group with a protocol).
    Group(String),
}

/// An ACE address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrSpec {
    /// `any` (IPv4 and IPv6).
    Any,
    /// `any4`.
    Any4,
    /// `any6`.
    Any6,
    /// `host A`.
    Host(IpAddr),
    /// `A M` (IPv4 network and mask).
    V4Net(Ipv4Addr, Ipv4Addr),
    /// `A/L` (IPv6 prefix).
    V6Net(Ipv6Addr, u8),
    /// `object NAME` (network object).
    Object(String),
    /// `object-group NAME` (network group).
    Group(String),
    /// `interface IF`: the interface's own address (never matches transit traffic).
    Interface(String),
}

/// The protocol position of an ACE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProtoSpec {
    /// A protocol keyword or number.
    Protocol(Protocol),
    /// `object NAME` (service object: protocol and ports from the object).
    Object(String),
    /// `object-group NAME` (protocol or service group).
    Group(String),
}

/// `permit` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `permit`.
    Permit,
    /// `deny`.
    Deny,
}

/// One access control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ace {
    /// Permit or deny.
    pub action: Action,
    /// Protocol, service object or group.
    pub protocol: ProtoSpec,
    /// Source address.
    pub source: AddrSpec,
    /// Source port condition.
    pub source_port: Option<PortSpec>,
    /// Destination address.
    pub destination: AddrSpec,
    /// Destination port condition.
    pub destination_port: Option<PortSpec>,
    /// The ICMP type condition of an `icmp` or `icmp6` entry (the ASA's
    /// `icmp_argument`, after the destination).
    pub icmp: Option<IcmpSpec>,
    /// The `log` option: which messages the entry's matches produce.
    pub log: AceLog,
    /// `time-range NAME`: the entry matches only while that time-range
    /// is active (docs/asa-behaviour.md §2.10).
    pub time_range: Option<String>,
    /// `inactive`: kept in the config, never matches.
    pub inactive: bool,
}

/// An ACE's `log` option (Cisco ASA Series Command Reference,
/// `access-list extended`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AceLog {
    /// No `log`, or `log default`: a packet the entry denies is logged as
    /// syslog 106023.
    #[default]
    Default,
    /// `log [LEVEL] [interval SECS]`: the ASA logs the entry's hits as
    /// 106100 instead (Rampart keeps only that it logs, and logs 106023).
    On,
    /// `log disable`: the entry logs nothing, not even 106023.
    Disable,
}

/// A line of an access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclLine {
    /// `access-list NAME remark TEXT`.
    Remark(String),
    /// `access-list NAME extended …`.
    Ace(Ace),
}

/// `access-list NAME`: its lines in order (first match wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessList {
    /// ACL name.
    pub name: String,
    /// Lines in order.
    pub lines: Vec<AclLine>,
}

/// `access-list NAME ethertype …`: an EtherType access-list, its lines in
/// order (first match wins). A transparent firewall's filter of non-IP
/// frames; its explicit `deny any` denies IP and ARP too
/// (docs/asa-behaviour.md §2.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthertypeList {
    /// ACL name.
    pub name: String,
    /// Lines in order.
    pub lines: Vec<EthertypeLine>,
}

/// A line of an EtherType access-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthertypeLine {
    /// `access-list NAME remark TEXT`.
    Remark(String),
    /// `access-list NAME ethertype {permit|deny} TYPE`.
    Ace(EthertypeAce),
}

/// `{permit|deny} TYPE` of an EtherType access-list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EthertypeAce {
    /// Permit or deny.
    pub action: Action,
    /// The frames it matches.
    pub ethertype: Ethertype,
}

/// What an EtherType entry matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ethertype {
    /// `any`: every frame, IPv4, IPv6 and ARP included.
    Any,
    /// A keyword naming non-IP frames: `bpdu`, `ipx`, `isis`, `eii-ipx`,
    /// `mpls-unicast`, `mpls-multicast`.
    Keyword(String),
    /// `dsap VALUE`: 802.2 LLC frames of a DSAP (a hex byte or `bpdu`,
    /// `ipx`, `isis`, `raw-ipx`), as written.
    Dsap(String),
    /// A 16-bit EtherType, 0x0600 and above, other than IPv4's, ARP's
    /// and IPv6's.
    Number(u16),
}

impl EthertypeList {
    /// Whether the list denies IPv4, IPv6 and ARP frames: its first entry
    /// that matches them (only `any` does) is a deny. An explicit
    /// `deny any` does; the implicit deny at the end does not ("if you
    /// explicitly deny all traffic with an EtherType ACE, then IP and ARP
    /// traffic is denied", Cisco ASA Series CLI Configuration Guide,
    /// "Adding an EtherType Access List").
    pub fn denies_ip(&self) -> bool {
        self.lines
            .iter()
            .find_map(|l| match l {
                EthertypeLine::Ace(a) if a.ethertype == Ethertype::Any => Some(a.action),
                _ => None,
            })
            .is_some_and(|a| a == Action::Deny)
    }
}

/// `access-group ACL {in|out} interface IF` (which of the two is the
/// list it is kept in: [`Config::access_groups`] or
/// [`Config::access_groups_out`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGroup {
    /// ACL name.
    pub acl: String,
    /// The interface's nameif.
    pub interface: String,
}

/// `class-map NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMap {
    /// Class name (≤ 40 characters; `class-default` is reserved).
    pub name: String,
    /// `description TEXT`.
    pub description: Option<String>,
    /// The one `match` line (one match per class-map, `docs/asa-behaviour.md` §2.1).
    pub matcher: Option<ClassMatch>,
}

/// A class-map's `match` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassMatch {
    /// `match access-list ACL`: permit hit → in class; deny hit or no hit → not.
    AccessList(String),
    /// `match port {tcp|udp} {eq P | range A B}`.
    Port(PortProtocol, PortMatch),
    /// `match any`.
    Any,
    /// `match default-inspection-traffic` (the default config's inspection
    /// class): the default ports of the ASA's inspections.
    DefaultInspectionTraffic,
}

/// `policy-map NAME` and its classes in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMap {
    /// Policy name.
    pub name: String,
    /// ` class NAME` blocks, in order (first match wins per feature).
    pub classes: Vec<PolicyClass>,
}

/// One ` class NAME` block of a policy-map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyClass {
    /// The class-map's name (or `class-default`).
    pub class: String,
    /// `set connection …` settings given in this class.
    pub connection: ConnectionSettings,
    /// `inspect NAME …` lines, kept and rendered; application inspection is
    /// not implemented, which `config check` reports.
    pub inspects: Vec<String>,
    /// `set connection advanced-options NAME`: the class's `tcp-map`
    /// (docs/asa-behaviour.md §6.1); beside `tcp-state-bypass` if both
    /// are given.
    pub tcp_map: Option<String>,
}

/// `set connection` settings of a class; `None` means not configured (the
/// default applies, `docs/asa-behaviour.md` §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionSettings {
    /// `conn-max N` (0 = unlimited).
    pub conn_max: Option<u32>,
    /// `embryonic-conn-max N`.
    pub embryonic_conn_max: Option<u32>,
    /// `per-client-max N`.
    pub per_client_max: Option<u32>,
    /// `per-client-embryonic-max N`.
    pub per_client_embryonic_max: Option<u32>,
    /// `random-sequence-number {enable|disable}`.
    pub random_sequence_number: Option<bool>,
    /// `timeout embryonic H:MM:SS` (zero = never).
    pub timeout_embryonic: Option<Duration>,
    /// `timeout half-closed H:MM:SS`.
    pub timeout_half_closed: Option<Duration>,
    /// `timeout idle H:MM:SS`.
    pub timeout_idle: Option<Duration>,
    /// `timeout idle … reset`: send RSTs to both ends on idle expiry.
    pub idle_reset: bool,
    /// `timeout dcd [RETRY [MAX]]`: dead connection detection
    /// (docs/asa-behaviour.md §2.2).
    pub dcd: Option<Dcd>,
    /// `advanced-options tcp-state-bypass`.
    pub tcp_state_bypass: bool,
}

/// `set connection timeout dcd [RETRY [MAX]]`: probe both ends of a TCP
/// connection that reached its idle timeout before freeing it
/// (docs/asa-behaviour.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dcd {
    /// How long to wait after each unanswered probe (0:0:1 – 24:0:0,
    /// default 0:0:15).
    pub retry_interval: Duration,
    /// Unanswered probes before the connection is declared dead (1 – 255,
    /// default 5).
    pub max_retries: u8,
}

impl Dcd {
    /// The ASA's defaults: retry every 15 seconds, five times.
    pub const DEFAULT: Dcd = Dcd {
        retry_interval: Duration::from_secs(15),
        max_retries: 5,
    };
}

/// Where a policy-map applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceScope {
    /// `global`: ingress on every interface.
    Global,
    /// `interface IF` (nameif).
    Interface(String),
}

/// `service-policy NAME {global|interface IF}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePolicy {
    /// Policy-map name.
    pub policy_map: String,
    /// Scope.
    pub scope: ServiceScope,
}

/// `tcp-map NAME`: TCP normalizer settings a class applies with `set
/// connection advanced-options NAME` (docs/asa-behaviour.md §6.1). Each
/// field holds the ASA's default when its line is absent or negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpMap {
    /// Its name.
    pub name: String,
    /// `checksum-verification` (Rampart verifies checksums always).
    pub checksum_verification: bool,
    /// `exceed-mss drop` (default allow).
    pub exceed_mss_drop: bool,
    /// `queue-limit N [timeout S]`: kept and rendered; Rampart queues no
    /// out-of-order segment, so it has no effect.
    pub queue_limit: Option<QueueLimit>,
    /// `reserved-bits allow|clear|drop` (default allow).
    pub reserved_bits: TcpOptionAction,
    /// `syn-data drop` (default allow).
    pub syn_data_drop: bool,
    /// `synack-data allow` (default drop).
    pub synack_data_allow: bool,
    /// `tcp-options selective-ack clear` (default allow).
    pub selective_ack_clear: bool,
    /// `tcp-options timestamp clear` (default allow).
    pub timestamp_clear: bool,
    /// `tcp-options window-scale clear` (default allow).
    pub window_scale_clear: bool,
    /// `tcp-options range L U ACTION` lines in the order given: for each
    /// option kind the last line covering it decides; kinds no line
    /// covers are cleared.
    pub ranges: Vec<TcpOptionRange>,
    /// `no ttl-evasion-protection` (default on).
    pub ttl_evasion_protection_off: bool,
    /// `urgent-flag allow` (default clear).
    pub urgent_flag_allow: bool,
}

impl TcpMap {
    /// A map of the given name with every setting at its default.
    pub fn new(name: &str) -> Self {
        TcpMap {
            name: name.to_string(),
            checksum_verification: false,
            exceed_mss_drop: false,
            queue_limit: None,
            reserved_bits: TcpOptionAction::Allow,
            syn_data_drop: false,
            synack_data_allow: false,
            selective_ack_clear: false,
            timestamp_clear: false,
            window_scale_clear: false,
            ranges: Vec::new(),
            ttl_evasion_protection_off: false,
            urgent_flag_allow: false,
        }
    }
}

/// What the normalizer does with a TCP option (or the reserved bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOptionAction {
    /// Pass it untouched.
    Allow,
    /// Overwrite it (with NOPs; reserved bits with zeros) and pass the segment.
    Clear,
    /// Drop the segment.
    Drop,
}

/// `tcp-options range LOWER UPPER ACTION`: kinds 6, 7 or 9–255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptionRange {
    /// Lowest kind covered.
    pub lower: u8,
    /// Highest kind covered.
    pub upper: u8,
    /// What is done with them.
    pub action: TcpOptionAction,
}

/// `queue-limit N [timeout S]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimit {
    /// Out-of-order packets queued, 1–250.
    pub packets: u8,
    /// `timeout S`, 1–20 seconds (None: the ASA's 4).
    pub timeout_secs: Option<u8>,
}
