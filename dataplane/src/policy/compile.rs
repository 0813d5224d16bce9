//! From a parsed configuration to an immutable [`Policy`]: ACLs compiled to
//! first-match classifiers, class-maps to matchers, policy-maps to ordered
//! class lists per interface, connection settings resolved to values.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::ast::{self, ClassMatch, Config, PortSpec, ServiceScope};
use super::classifier::{
    AddrSpan, Atom, Classifier, ClassifierBuilder, MAX_RANGE_CHECKS, MAX_SUBTABLES, PortSpan, Probe,
};
use super::listing::{AceRef, AclListing};
use super::mss::MssClamp;
use super::tcp_map::TcpNormalizer;
use crate::flow::proto;
use crate::iface::InterfaceConfig;
use crate::verdict::{DropReason, IfaceId};

/// Bound on what one policy may expand to: its atoms (object-group cross
/// products grow fast; the ASA has the same "object-group expansion" limit
/// in spirit), and the prefixes, port blocks and services expanding its
/// objects and groups produces (each group once, each entry's share of
/// them once more), so that compile work is bounded too.
pub const MAX_POLICY_ATOMS: usize = 2_000_000;

/// Why a configuration cannot become a policy for this node (config-caused).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    /// An `access-group`, `service-policy` or `fragment` line names an
    /// interface this node lacks.
    #[error("interface '{0}' is not one of this node's interfaces")]
    UnknownInterface(String),
    /// A name that does not resolve (the parser checks references; this is a
    /// second line of defence for hand-built configs).
    #[error("{kind} '{name}' is not defined")]
    Undefined {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// Object-group expansion beyond [`MAX_POLICY_ATOMS`], passed at `place`.
    #[error(
        "{place}: the policy expands to more than {MAX_POLICY_ATOMS} match entries and group members (object-group cross products)"
    )]
    TooLarge {
        /// The entry whose expansion passed the bound.
        place: Place,
    },
    /// An access-list whose atoms have more distinct shapes than
    /// [`MAX_SUBTABLES`]: every lookup that misses would probe them all.
    #[error(
        "access-list '{acl}' line {entry}: the access-list needs more than {MAX_SUBTABLES} classifier subtables (distinct combinations of prefix lengths and port block sizes); each one is probed by every packet that matches no entry"
    )]
    TooManySubtables {
        /// The access-list.
        acl: String,
        /// The entry (from 1, remarks counted) that passed the bound.
        entry: usize,
    },
    /// An access-list whose ranges sharing masked keys would make a lookup
    /// that misses check more than [`MAX_RANGE_CHECKS`] of them.
    #[error(
        "access-list '{acl}' line {entry}: the access-list needs more than {MAX_RANGE_CHECKS} range checks per lookup (address or port ranges that share a covering prefix with the entry's other fields alike); each one is checked by every packet that matches no entry"
    )]
    TooManyRangeChecks {
        /// The access-list.
        acl: String,
        /// The entry (from 1, remarks counted) that passed the bound.
        entry: usize,
    },
    /// `security-level` outside 0–100 in an interface block.
    #[error("interface '{0}': security-level must be 0-100")]
    SecurityLevel(String),
    /// `management-only` on an interface this node bridges: the ASA passes
    /// no through traffic on a management interface, and every interface
    /// of a node is a bridge member (docs/asa-behaviour.md §2.7).
    #[error(
        "interface '{0}' is management-only, but this node bridges it: a management-only interface passes no through traffic, and the node's interfaces are bridge-group members"
    )]
    ManagementOnly(String),
    /// Object-groups nested deeper than [`MAX_GROUP_DEPTH`].
    #[error("object-group '{name}' nests groups more than {MAX_GROUP_DEPTH} deep")]
    TooDeep {
        /// The group at which the limit was passed.
        name: String,
    },
}

/// The construct a bound of the whole policy was passed at: the bounds
/// are on sums over the policy, and the entry that took the sum over is
/// where the operator looks (the parser's `EntryPlaces` gives its line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Entry `entry` (from 1, remarks counted, as `line N` numbers them)
    /// of access-list `acl`.
    AclEntry {
        /// The access-list's name.
        acl: String,
        /// The entry's number.
        entry: usize,
    },
    /// Class-map `0` (its `match port`).
    ClassMap(String),
    /// Not yet placed: only inside the compiler, which places every
    /// bound it reports before returning it.
    Unplaced,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::AclEntry { acl, entry } => write!(f, "access-list '{acl}' line {entry}"),
            Place::ClassMap(name) => write!(f, "class-map '{name}'"),
            Place::Unplaced => f.write_str("the policy"),
        }
    }
}

impl CompileError {
    /// The compiler's budget is spent in helpers that do not know which
    /// entry they expand for; the entry's loop places the error.
    fn placed(self, place: impl FnOnce() -> Place) -> CompileError {
        match self {
            CompileError::TooLarge {
                place: Place::Unplaced,
            } => CompileError::TooLarge { place: place() },
            e => e,
        }
    }
}

const OVER_BUDGET: CompileError = CompileError::TooLarge {
    place: Place::Unplaced,
};

/// Deepest nesting of object-groups (`group-object` inside
/// `group-object` …) a policy may use: far beyond any real hierarchy, and
/// a bound on the compiler's recursion.
pub const MAX_GROUP_DEPTH: usize = 100;

/// Connection options a class gives its connections (docs/asa-behaviour.md
/// §2.2), resolved: limits of 0 mean unlimited; `None` timeouts use the
/// engine's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnOptions {
    /// `conn-max` for the whole class.
    pub conn_max: u32,
    /// `embryonic-conn-max` for the whole class.
    pub embryonic_conn_max: u32,
    /// `per-client-max` per source address.
    pub per_client_max: u32,
    /// `per-client-embryonic-max` per source address.
    pub per_client_embryonic_max: u32,
    /// `random-sequence-number` (ASA default: enabled).
    pub random_sequence_number: bool,
    /// `timeout embryonic`.
    pub timeout_embryonic: Option<Duration>,
    /// `timeout half-closed`.
    pub timeout_half_closed: Option<Duration>,
    /// `timeout idle`.
    pub timeout_idle: Option<Duration>,
    /// `timeout idle … reset`.
    pub idle_reset: bool,
    /// `timeout dcd [RETRY [MAX]]`: probe an established TCP connection's
    /// ends when it reaches its idle timeout, and keep it while both
    /// answer (docs/asa-behaviour.md §2.2).
    pub dcd: Option<ast::Dcd>,
    /// `advanced-options tcp-state-bypass`.
    pub tcp_state_bypass: bool,
    /// `advanced-options MAP`: the TCP normalizer's settings (the ASA's
    /// defaults without a map, docs/asa-behaviour.md §6.1).
    pub tcp_normalizer: TcpNormalizer,
}

impl Default for ConnOptions {
    fn default() -> Self {
        ConnOptions {
            conn_max: 0,
            embryonic_conn_max: 0,
            per_client_max: 0,
            per_client_embryonic_max: 0,
            random_sequence_number: true,
            timeout_embryonic: None,
            timeout_half_closed: None,
            timeout_idle: None,
            idle_reset: false,
            dcd: None,
            tcp_state_bypass: false,
            tcp_normalizer: TcpNormalizer::DEFAULT,
        }
    }
}

impl ConnOptions {
    fn from_settings(s: &ast::ConnectionSettings, map: Option<&ast::TcpMap>) -> Self {
        let d = ConnOptions::default();
        ConnOptions {
            conn_max: s.conn_max.unwrap_or(d.conn_max),
            embryonic_conn_max: s.embryonic_conn_max.unwrap_or(d.embryonic_conn_max),
            per_client_max: s.per_client_max.unwrap_or(d.per_client_max),
            per_client_embryonic_max: s
                .per_client_embryonic_max
                .unwrap_or(d.per_client_embryonic_max),
            random_sequence_number: s.random_sequence_number.unwrap_or(d.random_sequence_number),
            timeout_embryonic: s.timeout_embryonic,
            timeout_half_closed: s.timeout_half_closed,
            timeout_idle: s.timeout_idle,
            idle_reset: s.idle_reset,
            dcd: s.dcd,
            tcp_state_bypass: s.tcp_state_bypass,
            tcp_normalizer: map.map_or(TcpNormalizer::DEFAULT, TcpNormalizer::from_map),
        }
    }
}

/// How the access rules judge a packet that would open a connection
/// ([`Policy::permits_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessDecision {
    /// Whether it may.
    pub permit: bool,
    /// The elements whose entries matched it, each counted as a hit: on
    /// the way in (the interface's or the global access-group's) and on
    /// the way out (the egress interface's `out` access-group).
    pub hits: [Option<AceRef>; 2],
    /// The list (an index into the policy's access-lists, and how it is
    /// bound) whose entry or implicit deny refused it; `None` when it may
    /// pass, or when the security levels refuse it.
    denied_by: Option<(usize, AclBinding)>,
}

impl AccessDecision {
    /// How the list that refused it is bound, if a list did.
    pub fn denied_by(&self) -> Option<AclBinding> {
        self.denied_by.map(|(_, b)| b)
    }
}

/// The access-list that refused a packet, as a logged deny names it.
pub type DeniedBy = (AclBinding, Arc<str>);

/// How an access-list judges what crosses the node: `access-group ACL
/// {in|out} interface IF` or `access-group ACL global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AclBinding {
    /// What enters its interface.
    In,
    /// What leaves its interface.
    Out,
    /// What enters any interface, after the interface's own.
    Global,
}

/// A compiled access list.
#[derive(Debug, Clone)]
pub struct CompiledAcl {
    /// Its name.
    pub name: String,
    classifier: Classifier,
    /// Permit (true) or deny per rule, in rule order.
    permit: Vec<bool>,
    /// Per rule: `log disable`, the entry logs nothing.
    unlogged: Vec<bool>,
    /// Active entries (numbered as [`Place::AclEntry`] numbers them) that
    /// match no packet: an empty object-group, or an `interface` address.
    matches_nothing: Vec<usize>,
    /// Per rule, its entry's number as [`Place::AclEntry`] numbers it
    /// (remarks counted): what `packet-tracer` names (`explain.rs`).
    entries: Vec<usize>,
    /// The place of its first element among the policy's ([`AceRef`]).
    first_element: usize,
}

impl CompiledAcl {
    /// Its active entries that match no packet (`rampart config check`
    /// warns of them: a deny that denies nothing lets through what it
    /// names).
    pub fn entries_matching_nothing(&self) -> &[usize] {
        &self.matches_nothing
    }

    /// First match: `Some(true)` permit, `Some(false)` deny, `None` no match.
    pub fn decide(&self, probe: &Probe) -> Option<bool> {
        self.decide_rule(probe).map(|(_, permit)| permit)
    }

    /// First match with the entry that matched: its rule index (remarks
    /// skipped) and whether it permits.
    pub fn decide_rule(&self, probe: &Probe) -> Option<(u32, bool)> {
        self.classifier
            .first_match(probe)
            .map(|rule| (rule, self.permit[rule as usize]))
    }

    /// First match with the element that matched (of the entry that
    /// matched, the first of its expanded entries that does, among the
    /// policy's: [`AceRef`]) and whether its entry permits.
    fn decide_element(&self, probe: &Probe) -> Option<(Option<AceRef>, bool)> {
        self.classifier
            .first_match_element(probe)
            .map(|(rule, element)| (self.element(element), self.permit[rule as usize]))
    }

    /// Whether the entry that decides `probe` is a deny with `log
    /// disable`: the packet it denies is logged nowhere ("Disable all
    /// logging", Cisco ASA Series CLI Configuration Guide, "Configuring
    /// Logging for Access Lists"; docs/asa-behaviour.md §4).
    pub fn denies_unlogged(&self, probe: &Probe) -> bool {
        self.classifier.first_match(probe).is_some_and(|rule| {
            let rule = rule as usize;
            !self.permit[rule] && self.unlogged[rule]
        })
    }

    /// Its element `element` among the policy's.
    fn element(&self, element: u32) -> Option<AceRef> {
        AceRef::new(self.first_element + element as usize)
    }

    /// The classifier's subtable count (lookup cost).
    pub fn subtables(&self) -> usize {
        self.classifier.subtables()
    }

    /// The classifier's range checks on a miss (lookup cost).
    pub fn range_checks(&self) -> usize {
        self.classifier.range_checks()
    }
}

#[derive(Debug, Clone)]
enum ClassMatcher {
    Any,
    Acl(usize),
    Ports(Classifier),
}

/// A class as applied by a policy-map: its matcher and options.
#[derive(Debug, Clone)]
pub struct CompiledClass {
    /// `policy-map/class` (e.g. `global_policy/tcp_bypass`), for counters and `show service-policy`.
    pub name: String,
    /// Where its policy-map is applied: one policy-map applied in two
    /// scopes is two classes of each name, each counting its own
    /// connections against its own limits (docs/asa-behaviour.md §2.3).
    pub scope: ServiceScope,
    matcher: ClassMatcher,
    /// The options its connections get.
    pub options: ConnOptions,
    /// It sets connection limits, timeouts or randomization (one feature
    /// of the ASA's; TCP state bypass is another).
    limits: bool,
}

/// A class of a policy-map with `inspect` actions: the application
/// inspection feature, of which Rampart enforces ICMP's.
#[derive(Debug, Clone)]
struct InspectClass {
    matcher: ClassMatcher,
    /// `inspect icmp`.
    icmp: bool,
    /// `inspect icmp error`.
    icmp_error: bool,
}

/// Which ICMP inspections apply to a packet (docs/asa-behaviour.md §2.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpInspection {
    /// `inspect icmp`: echo is stateful (a request opens a connection its
    /// replies pass on; errors about it pass too).
    pub echo: bool,
    /// `inspect icmp error`: errors about any connection pass on its state.
    pub error: bool,
}

/// Per-interface view of the policy.
#[derive(Debug, Clone, Default)]
struct IfacePolicy {
    security_level: u8,
    /// `shutdown` in its interface block: it passes nothing.
    shutdown: bool,
    /// Its EtherType access-group denies IPv4, IPv6 and ARP (an explicit
    /// `deny any`, docs/asa-behaviour.md §2.7): no frame enters by it.
    ethertype_deny: bool,
    /// That `deny any` entry, whose hits are the frames it drops.
    ethertype_entry: Option<AceRef>,
    /// `access-group ACL in interface IF`.
    access_group: Option<usize>,
    /// `access-group ACL out interface IF`.
    access_group_out: Option<usize>,
    /// Classes (indices into `classes`) of the interface's service-policy, in order.
    service_classes: Vec<usize>,
    /// Its classes with inspections (indices into `inspects`), in order.
    service_inspects: Vec<usize>,
    /// Its `fragment` limits.
    fragment: FragmentLimits,
}

/// The limits of virtual reassembly of IP fragments arriving on one
/// interface: the ASA's `fragment size|chain|timeout` (docs/asa-behaviour.md
/// §2.8), defaults 200 fragments, 24 per datagram, 5 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentLimits {
    /// `fragment size`: fragments waiting for reassembly at once on the
    /// interface (the ASA's "packets ... in the IP reassembly database").
    pub size: u32,
    /// `fragment chain`: fragments one datagram may have; 1 passes none.
    pub chain: u32,
    /// `fragment timeout`: how long a datagram's fragments may take to
    /// arrive, from its first.
    pub timeout: Duration,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits::from_settings(&ast::FragmentSettings::default())
    }
}

impl FragmentLimits {
    /// The limits of one interface's `fragment` values ([`ast::FragmentConfig::of`]),
    /// the ASA's default where none is set.
    pub fn from_settings(s: &ast::FragmentSettings) -> Self {
        FragmentLimits {
            size: s.size.unwrap_or(ast::FRAGMENT_SIZE_DEFAULT),
            chain: s.chain.unwrap_or(ast::FRAGMENT_CHAIN_DEFAULT),
            timeout: Duration::from_secs(u64::from(
                s.timeout.unwrap_or(ast::FRAGMENT_TIMEOUT_DEFAULT_SECS),
            )),
        }
    }
}

/// An immutable compiled policy, ready to be swapped into an engine.
#[derive(Debug, Clone)]
pub struct Policy {
    interfaces: Vec<IfacePolicy>,
    acls: Vec<CompiledAcl>,
    /// Each of `acls`' names, shared: a logged deny carries the name of
    /// the list that refused it (syslog 106023) without a copy.
    acl_names: Vec<Arc<str>>,
    /// Every access-list as `show access-list` lists it: the extended
    /// ones first, in the order of `acls` (list `i` is `acls[i]`), then
    /// the EtherType ones.
    listings: Vec<AclListing>,
    classes: Vec<CompiledClass>,
    global: Vec<usize>,
    inspects: Vec<InspectClass>,
    global_inspects: Vec<usize>,
    /// `same-security-traffic permit inter-interface`.
    same_security: bool,
    /// `access-group ACL global` (an index into `acls`).
    global_acl: Option<usize>,
    /// The global `timeout` values.
    timeouts: ast::GlobalTimeouts,
    /// `sysopt connection tcpmss` (docs/asa-behaviour.md §6.3).
    mss: MssClamp,
    /// The configuration it was compiled from, where the node keeps it
    /// (`packet-tracer` prints its lines; `explain.rs`).
    source: Option<std::sync::Arc<Config>>,
    /// Its objects and object-groups, where an entry names one: `show
    /// access-list` lists such an entry's elements from them
    /// ([`expander`](Self::expander)).
    groups: Option<std::sync::Arc<Config>>,
    /// The time-ranges it was compiled as active (docs/asa-behaviour.md
    /// §2.10): entries naming another are left out of its classifiers.
    active_ranges: Arc<BTreeSet<String>>,
    /// Whether an active entry names a time-range: only then does the
    /// time of day change what it should be.
    timed: bool,
}

/// The class decision for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassDecision {
    /// Index into [`Policy::classes`]: the class whose limits, timeouts and
    /// randomization the connection gets, else the class that makes it
    /// bypass, else `None` (defaults apply).
    pub class: Option<usize>,
    /// The class that makes the connection bypass, when it is not `class`
    /// (its `show service-policy` hits count the connection too).
    pub bypass_class: Option<usize>,
    /// The options the connection gets.
    pub options: ConnOptions,
    /// The access-list entries that put the connection in `class` and in
    /// `bypass_class`, for a class that matches by `match access-list`
    /// (their hit counts count the connection, docs/asa-behaviour.md §2.9).
    pub entries: [Option<AceRef>; 2],
}

impl Policy {
    /// The policy of a node with no configuration: security levels only,
    /// default connection options.
    pub fn security_levels_only(interfaces: &[InterfaceConfig]) -> Policy {
        Policy {
            interfaces: interfaces
                .iter()
                .map(|i| IfacePolicy {
                    security_level: i.security_level,
                    ..IfacePolicy::default()
                })
                .collect(),
            acls: Vec::new(),
            acl_names: Vec::new(),
            listings: Vec::new(),
            classes: Vec::new(),
            global: Vec::new(),
            inspects: Vec::new(),
            global_inspects: Vec::new(),
            same_security: false,
            global_acl: None,
            timeouts: ast::GlobalTimeouts::default(),
            mss: MssClamp::default(),
            source: None,
            groups: None,
            active_ranges: Arc::default(),
            timed: false,
        }
    }

    /// The time-ranges it was compiled as active.
    pub fn active_time_ranges(&self) -> &BTreeSet<String> {
        &self.active_ranges
    }

    /// Whether an entry of it (not `inactive`) names a time-range: the
    /// node compiles it again when the set of active ranges changes.
    pub fn is_timed(&self) -> bool {
        self.timed
    }

    /// The MSS clamp of SYNs and SYN-ACKs (`sysopt connection tcpmss`,
    /// docs/asa-behaviour.md §6.3).
    pub fn mss_clamp(&self) -> MssClamp {
        self.mss
    }

    /// The global `timeout` values: the defaults of connections whose
    /// class sets none (docs/asa-behaviour.md §2.2).
    pub fn global_timeouts(&self) -> &ast::GlobalTimeouts {
        &self.timeouts
    }

    /// All classes in use, in compile order.
    pub fn classes(&self) -> &[CompiledClass] {
        &self.classes
    }

    /// All compiled ACLs.
    pub fn acls(&self) -> &[CompiledAcl] {
        &self.acls
    }

    /// Every access-list as `show access-list` lists it, extended ones
    /// first (in the order of [`acls`](Self::acls)), then EtherType ones,
    /// their entries numbered in that order ([`AceRef`]).
    pub fn listings(&self) -> &[AclListing] {
        &self.listings
    }

    /// The `deny any` entry of the EtherType access-group of `ingress`
    /// that drops every frame arriving there ([`ingress_drop`](Self::ingress_drop)'s
    /// `l2_acl`), if it has one.
    pub fn ethertype_entry(&self, ingress: IfaceId) -> Option<AceRef> {
        self.interfaces
            .get(usize::from(ingress.0))
            .and_then(|i| i.ethertype_entry)
    }

    /// The name of the access list bound to `iface` by `access-group …
    /// in`, if any (syslog 106023 names it).
    pub fn access_group(&self, iface: IfaceId) -> Option<&str> {
        let i = self.interfaces.get(usize::from(iface.0))?;
        i.access_group.map(|a| self.acls[a].name.as_str())
    }

    /// The name of the access list bound to `iface` by `access-group …
    /// out`, if any.
    pub fn access_group_out(&self, iface: IfaceId) -> Option<&str> {
        let i = self.interfaces.get(usize::from(iface.0))?;
        i.access_group_out.map(|a| self.acls[a].name.as_str())
    }

    /// The name of the access list bound by `access-group ACL global`, if
    /// any.
    pub fn global_access_group(&self) -> Option<&str> {
        self.global_acl.map(|a| self.acls[a].name.as_str())
    }

    /// The classes (indices into [`classes`](Self::classes)) of the global
    /// service-policy, in order.
    pub fn global_classes(&self) -> &[usize] {
        &self.global
    }

    /// The classes of the service-policy bound to `iface`, in order.
    pub fn interface_classes(&self, iface: IfaceId) -> &[usize] {
        self.interfaces
            .get(usize::from(iface.0))
            .map_or(&[], |i| i.service_classes.as_slice())
    }

    /// The fragment reassembly limits of `iface` (the defaults for an
    /// interface the policy does not know).
    pub fn fragment_limits(&self, iface: IfaceId) -> FragmentLimits {
        self.interfaces
            .get(usize::from(iface.0))
            .map_or_else(FragmentLimits::default, |i| i.fragment)
    }

    /// Whether the configuration shuts interface `iface` down
    /// (`shutdown` in its block): it passes no frame, in or out.
    pub fn is_shut(&self, iface: IfaceId) -> bool {
        self.interfaces
            .get(usize::from(iface.0))
            .is_some_and(|i| i.shutdown)
    }

    /// What every frame arriving on `ingress` for `egress` meets before it
    /// is judged, if anything: a shut interface, its own or the one it
    /// would leave by (`interface-down`), or an EtherType access-group on
    /// `ingress` that denies all frames (`l2_acl`, docs/asa-behaviour.md
    /// §2.7).
    pub fn ingress_drop(&self, ingress: IfaceId, egress: IfaceId) -> Option<DropReason> {
        if self.is_shut(ingress) || self.is_shut(egress) {
            return Some(DropReason::InterfaceDown);
        }
        self.interfaces
            .get(usize::from(ingress.0))
            .is_some_and(|i| i.ethertype_deny)
            .then_some(DropReason::EthertypeDeny)
    }

    /// May a new connection open from `ingress` toward `egress`? Between
    /// interfaces of equal security levels only with `same-security-traffic
    /// permit inter-interface`, whatever the access-groups say (ASA default).
    /// Then the way in (docs/asa-behaviour.md §2.3): the ingress
    /// interface's access-group, then the global one for what it does not
    /// match, then the implicit deny; with neither list, only from a higher
    /// security level to a lower one, or between equal levels. What the way
    /// in lets through then meets the egress interface's `out`
    /// access-group, if it has one (implicit deny at its end).
    pub fn permits(&self, ingress: IfaceId, egress: IfaceId, probe: &Probe) -> bool {
        self.permits_by(ingress, egress, probe).permit
    }

    /// [`permits`](Self::permits), with the entries that decided.
    pub fn permits_by(&self, ingress: IfaceId, egress: IfaceId, probe: &Probe) -> AccessDecision {
        let refused = AccessDecision {
            permit: false,
            hits: [None; 2],
            denied_by: None,
        };
        let (Some(i), Some(e)) = (
            self.interfaces.get(usize::from(ingress.0)),
            self.interfaces.get(usize::from(egress.0)),
        ) else {
            return refused;
        };
        if i.security_level == e.security_level && !self.same_security {
            return refused;
        }
        // The way in: the interface's list, then the global one.
        let mut last_list = None;
        let mut inbound = None;
        let lists = [
            i.access_group.map(|a| (a, AclBinding::In)),
            self.global_acl.map(|a| (a, AclBinding::Global)),
        ];
        for list in lists.into_iter().flatten() {
            last_list = Some(list);
            if let Some((element, permit)) = self.acls[list.0].decide_element(probe) {
                inbound = Some((list, element, permit));
                break;
            }
        }
        let in_hit = inbound.and_then(|(_, element, _)| element);
        match (inbound, last_list) {
            (Some((list, element, false)), _) => {
                return AccessDecision {
                    permit: false,
                    hits: [element, None],
                    denied_by: Some(list),
                };
            }
            // No entry matched: the implicit deny of the last list.
            (None, Some(list)) => {
                return AccessDecision {
                    denied_by: Some(list),
                    ..refused
                };
            }
            (None, None) if i.security_level < e.security_level => return refused,
            _ => {}
        }
        // The way out.
        let Some(out) = e.access_group_out else {
            return AccessDecision {
                permit: true,
                hits: [in_hit, None],
                denied_by: None,
            };
        };
        match self.acls[out].decide_element(probe) {
            Some((element, true)) => AccessDecision {
                permit: true,
                hits: [in_hit, element],
                denied_by: None,
            },
            Some((element, false)) => AccessDecision {
                permit: false,
                hits: [in_hit, element],
                denied_by: Some((out, AclBinding::Out)),
            },
            None => AccessDecision {
                permit: false,
                hits: [in_hit, None],
                denied_by: Some((out, AclBinding::Out)),
            },
        }
    }

    /// Whether a packet from `ingress` toward `egress` that
    /// [`permits`](Self::permits) refuses is logged (syslog 106023 and
    /// the like): not when the entry that denied it has `log disable`
    /// (docs/asa-behaviour.md §4). The implicit deny at a list's end and a
    /// refusal by the security levels are logged.
    pub fn deny_logged(&self, ingress: IfaceId, egress: IfaceId, probe: &Probe) -> bool {
        self.decision_logged(&self.permits_by(ingress, egress, probe), probe)
    }

    /// The list that refused a packet by decision `d`, with how it is
    /// bound; `None` when the security levels did, or nothing refused it.
    pub fn denied_list(&self, d: &AccessDecision) -> Option<DeniedBy> {
        let (acl, binding) = d.denied_by?;
        Some((binding, self.acl_names.get(acl)?.clone()))
    }

    /// [`deny_logged`](Self::deny_logged) of the decision `d` the policy
    /// made for `probe`.
    pub fn decision_logged(&self, d: &AccessDecision, probe: &Probe) -> bool {
        !d.denied_by
            .is_some_and(|(acl, _)| self.acls[acl].denies_unlogged(probe))
    }

    fn matches(&self, matcher: &ClassMatcher, probe: &Probe) -> bool {
        self.match_entry(matcher, probe).is_some()
    }

    /// Whether `matcher` matches `probe` (`Some`), and by which entry of
    /// its access-list when it matches by one.
    fn match_entry(&self, matcher: &ClassMatcher, probe: &Probe) -> Option<Option<AceRef>> {
        match matcher {
            ClassMatcher::Any => Some(None),
            // docs/asa-behaviour.md §2.1: a permit hit is in the class; a deny
            // hit or no hit is not.
            ClassMatcher::Acl(acl) => match self.acls[*acl].decide_element(probe) {
                Some((element, true)) => Some(element),
                _ => None,
            },
            ClassMatcher::Ports(c) => c.first_match(probe).map(|_| None),
        }
    }

    /// The ICMP inspections of a packet (docs/asa-behaviour.md §2.5): those
    /// of the first class with any `inspect` that matches it, trying the
    /// ingress interface's policy, then the egress interface's, then the
    /// global policy (all inspections are one feature on the ASA).
    pub fn icmp_inspection(
        &self,
        ingress: IfaceId,
        egress: IfaceId,
        probe: &Probe,
    ) -> IcmpInspection {
        let iface = |id: IfaceId| {
            self.interfaces
                .get(usize::from(id.0))
                .map_or(&[][..], |p| p.service_inspects.as_slice())
        };
        [iface(ingress), iface(egress), &self.global_inspects]
            .into_iter()
            .flatten()
            .map(|&i| &self.inspects[i])
            .find(|c| self.matches(&c.matcher, probe))
            .map_or(IcmpInspection::default(), |c| IcmpInspection {
                echo: c.icmp,
                error: c.icmp_error,
            })
    }

    /// The connection settings of a new connection (docs/asa-behaviour.md
    /// §2.3), feature by feature: for each feature, the first matching class
    /// that sets it, trying the ingress interface's policy, then the egress
    /// interface's (interface policies are bidirectional), then the global
    /// policy (ingress on every interface). The ASA counts connection
    /// limits, timeouts and randomization as one feature and TCP state
    /// bypass as another, so a bypass class does not hide a later class's
    /// limits, nor a limits class a later bypass class.
    pub fn classify(&self, ingress: IfaceId, egress: IfaceId, probe: &Probe) -> ClassDecision {
        let iface = |id: IfaceId| {
            self.interfaces
                .get(usize::from(id.0))
                .map(|p| p.service_classes.as_slice())
        };
        let lists = [
            iface(ingress).unwrap_or(&[]),
            iface(egress).unwrap_or(&[]),
            &self.global,
        ];
        let (mut limits, mut bypass) = (None, None);
        // The entries of their access-lists that matched.
        let (mut limits_entry, mut bypass_entry) = (None, None);
        'lists: for list in lists {
            for &c in list {
                let class = &self.classes[c];
                let wants_limits = limits.is_none() && class.limits;
                let wants_bypass = bypass.is_none() && class.options.tcp_state_bypass;
                if !(wants_limits || wants_bypass) {
                    continue;
                }
                let Some(entry) = self.match_entry(&class.matcher, probe) else {
                    continue;
                };
                if wants_limits {
                    (limits, limits_entry) = (Some(c), entry);
                }
                if wants_bypass {
                    (bypass, bypass_entry) = (Some(c), entry);
                }
                if limits.is_some() && bypass.is_some() {
                    break 'lists;
                }
            }
        }
        let mut options = limits.map_or_else(ConnOptions::default, |c| self.classes[c].options);
        options.tcp_state_bypass = bypass.is_some();
        let class = limits.or(bypass);
        let bypass_class = bypass.filter(|&b| Some(b) != class);
        let class_entry = if limits.is_some() {
            limits_entry
        } else {
            bypass_entry
        };
        ClassDecision {
            class,
            bypass_class,
            options,
            entries: [class_entry, bypass_class.and(bypass_entry)],
        }
    }
}

/// Which port of a packet a default inspection's port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortSide {
    Destination,
    Source,
}

/// The ports of the ASA's default inspections, which `match
/// default-inspection-traffic` matches: the "default ports used in the
/// default class map" of the table "Supported Application Inspection
/// Engines" (Cisco ASA Series Firewall CLI Configuration Guide, "Getting
/// Started with Application Layer Protocol Inspection", "Default
/// Inspections and NAT Limitations"); docs/asa-behaviour.md §2.3 lists
/// them. Inspections the table gives no port (IM "varies by client", IP
/// options, IPv6, WAAS) add none; ICMP's are all ICMP (below).
const DEFAULT_INSPECTION_PORTS: &[(u8, u16, PortSide)] = &[
    (proto::TCP, 21, PortSide::Destination),   // ftp
    (proto::TCP, 25, PortSide::Destination),   // esmtp (SMTP and ESMTP)
    (proto::TCP, 80, PortSide::Destination),   // http
    (proto::TCP, 135, PortSide::Destination),  // dcerpc
    (proto::TCP, 389, PortSide::Destination),  // ils (LDAP)
    (proto::TCP, 514, PortSide::Destination),  // rsh
    (proto::TCP, 554, PortSide::Destination),  // rtsp
    (proto::TCP, 1521, PortSide::Destination), // sqlnet
    (proto::TCP, 1720, PortSide::Destination), // h323 h225
    (proto::TCP, 1723, PortSide::Destination), // pptp
    (proto::TCP, 2000, PortSide::Destination), // skinny (SCCP)
    (proto::TCP, 2748, PortSide::Destination), // ctiqbe
    (proto::TCP, 5060, PortSide::Destination), // sip
    (proto::TCP, 5443, PortSide::Destination), // mmp
    (proto::UDP, 53, PortSide::Destination),   // dns
    (proto::UDP, 69, PortSide::Destination),   // tftp
    // sunrpc: UDP only; "The default rule includes UDP port 111", TCP/111
    // needs a class of its own.
    (proto::UDP, 111, PortSide::Destination),
    // netbios: the table gives 137 and 138 as source ports.
    (proto::UDP, 137, PortSide::Source),
    (proto::UDP, 138, PortSide::Source),
    (proto::UDP, 161, PortSide::Destination), // snmp
    (proto::UDP, 162, PortSide::Destination), // snmp (traps)
    (proto::UDP, 177, PortSide::Destination), // xdmcp
    (proto::UDP, 500, PortSide::Destination), // ipsec-pass-thru
    // radius-accounting: the table gives port 1646 alone; RADIUS
    // accounting is UDP (RFC 2866 §3).
    (proto::UDP, 1646, PortSide::Destination),
    (proto::UDP, 1718, PortSide::Destination), // h323 ras
    (proto::UDP, 1719, PortSide::Destination), // h323 ras
    (proto::UDP, 2123, PortSide::Destination), // gtp
    (proto::UDP, 2427, PortSide::Destination), // mgcp
    (proto::UDP, 2727, PortSide::Destination), // mgcp
    (proto::UDP, 3386, PortSide::Destination), // gtp
    (proto::UDP, 5060, PortSide::Destination), // sip
];

/// A configuration that only turns sequence randomization off for every
/// connection (`class-default` of the global policy), as an ASA operator
/// would with `set connection random-sequence-number disable`. Tests whose
/// model endpoints do not follow a randomizing middlebox use it.
pub fn randomization_off() -> Config {
    let mut cfg = Config::default();
    disable_randomization(&mut cfg);
    cfg
}

/// Add `class class-default / set connection random-sequence-number disable`
/// to the global policy of `cfg` (creating `global_policy` if it has none).
pub fn disable_randomization(cfg: &mut Config) {
    push_global_default(
        cfg,
        ast::ConnectionSettings {
            random_sequence_number: Some(false),
            ..Default::default()
        },
        Vec::new(),
    );
}

/// Add `class class-default / inspect icmp / inspect icmp error` to the
/// global policy of `cfg` (creating `global_policy` if it has none): ICMP
/// echo and errors stateful, as most ASA configurations have them.
pub fn inspect_icmp(cfg: &mut Config) {
    push_global_default(
        cfg,
        ast::ConnectionSettings::default(),
        vec!["icmp".into(), "icmp error".into()],
    );
}

/// Append a `class-default` with these settings to the global policy.
fn push_global_default(
    cfg: &mut Config,
    connection: ast::ConnectionSettings,
    inspects: Vec<String>,
) {
    let global = cfg
        .service_policies
        .iter()
        .find(|s| s.scope == ServiceScope::Global)
        .map(|s| s.policy_map.clone());
    let name = global
        .clone()
        .unwrap_or_else(|| "global_policy".to_string());
    if global.is_none() {
        cfg.policy_maps.push(ast::PolicyMap {
            name: name.clone(),
            classes: Vec::new(),
        });
        cfg.service_policies.push(ast::ServicePolicy {
            policy_map: name.clone(),
            scope: ServiceScope::Global,
        });
    }
    let pm = cfg
        .policy_maps
        .iter_mut()
        .find(|p| p.name == name)
        .expect("global policy-map exists");
    pm.classes.push(ast::PolicyClass {
        class: "class-default".into(),
        connection,
        inspects,
        tcp_map: None,
    });
}

/// Compile `config` for a node whose data interfaces are `interfaces`,
/// with no time-range active: an entry naming one matches nothing. What
/// checks a configuration uses it; a node that runs one compiles it with
/// [`compile_at`] and the ranges active at the time.
pub fn compile(config: &Config, interfaces: &[InterfaceConfig]) -> Result<Policy, CompileError> {
    compile_at(config, interfaces, &BTreeSet::new())
}

/// Compile `config` for a node whose data interfaces are `interfaces`,
/// with the time-ranges named in `active` active (the node's clock says
/// which, `rampart_asa::time::active_ranges`): an entry naming another
/// is left out of the classifier, so the next entry decides
/// (docs/asa-behaviour.md §2.10). Whether it compiles does not depend on
/// `active`.
pub fn compile_at(
    config: &Config,
    interfaces: &[InterfaceConfig],
    active: &BTreeSet<String>,
) -> Result<Policy, CompileError> {
    let mut c = Compiler::new(config);
    let iface_index = |name: &str| {
        interfaces
            .iter()
            .position(|i| i.nameif == name)
            .ok_or_else(|| CompileError::UnknownInterface(name.to_string()))
    };
    let mut ifaces: Vec<IfacePolicy> = interfaces
        .iter()
        .map(|i| IfacePolicy {
            security_level: i.security_level,
            ..IfacePolicy::default()
        })
        .collect();
    // Interface blocks in the config may set the security level of a
    // node interface (matched by nameif).
    for block in &config.interfaces {
        // A management interface is none of the node's bridged ones
        // (unless it names one, which cannot be honoured).
        if block.management_only {
            if let Some(name) = &block.nameif
                && interfaces.iter().any(|i| i.nameif == *name)
            {
                return Err(CompileError::ManagementOnly(name.clone()));
            }
            continue;
        }
        if let (Some(name), Some(level)) = (&block.nameif, block.security_level) {
            if level > 100 {
                return Err(CompileError::SecurityLevel(name.clone()));
            }
            ifaces[iface_index(name)?].security_level = level;
        }
        // A shut interface passes nothing (an unnamed one is no node
        // interface: it passes nothing anyway).
        if let (Some(name), true) = (&block.nameif, block.shutdown) {
            ifaces[iface_index(name)?].shutdown = true;
        }
    }

    // `fragment` limits (docs/asa-behaviour.md §2.8): the interface's own
    // lines, else the lines without an interface, else the ASA's defaults.
    for (iface, node) in ifaces.iter_mut().zip(interfaces) {
        iface.fragment = FragmentLimits::from_settings(&config.fragment.of(&node.nameif));
    }
    // A line naming an interface the node lacks is refused, as an
    // access-group's is; a management interface's (none of the node's,
    // like its `security-level`) concerns nothing.
    for name in config.fragment.interfaces.keys() {
        let management = config
            .interfaces
            .iter()
            .any(|b| b.management_only && b.nameif.as_deref() == Some(name));
        if !management {
            iface_index(name)?;
        }
    }

    let mut acls = Vec::new();
    let mut listings = Vec::new();
    let mut first = 0;
    for acl in &config.access_lists {
        let (mut compiled, elements) = c.acl(acl, active)?;
        compiled.first_element = first;
        acls.push(compiled);
        let l = AclListing::extended(acl, &elements, first, active);
        first += l.element_count();
        listings.push(l);
    }
    for list in &config.ethertype_lists {
        let l = AclListing::ethertype(list, first);
        first += l.element_count();
        listings.push(l);
    }
    let acl_index = |name: &str| {
        acls.iter()
            .position(|a: &CompiledAcl| a.name == name)
            .ok_or_else(|| CompileError::Undefined {
                kind: "access-list",
                name: name.to_string(),
            })
    };
    for g in &config.access_groups {
        let i = iface_index(&g.interface)?;
        ifaces[i].access_group = Some(acl_index(&g.acl)?);
    }
    for g in &config.access_groups_out {
        let i = iface_index(&g.interface)?;
        ifaces[i].access_group_out = Some(acl_index(&g.acl)?);
    }
    let global_acl = config
        .global_access_group
        .as_deref()
        .map(acl_index)
        .transpose()?;
    for g in &config.ethertype_groups {
        let i = iface_index(&g.interface)?;
        let (at, list) = config
            .ethertype_lists
            .iter()
            .enumerate()
            .find(|(_, l)| l.name == g.acl)
            .ok_or_else(|| CompileError::Undefined {
                kind: "access-list",
                name: g.acl.clone(),
            })?;
        ifaces[i].ethertype_deny = list.denies_ip();
        // The entry that denies them: the list's first `any` (§2.7).
        ifaces[i].ethertype_entry = list
            .denies_ip()
            .then(|| {
                list.lines
                    .iter()
                    .filter_map(|l| match l {
                        ast::EthertypeLine::Ace(a) => Some(a),
                        ast::EthertypeLine::Remark(_) => None,
                    })
                    .position(|a| a.ethertype == ast::Ethertype::Any)
            })
            .flatten()
            .and_then(|rule| AceRef::new(listings[acls.len() + at].first + rule));
    }

    let mut classes = Vec::new();
    let mut global = Vec::new();
    let mut inspects = Vec::new();
    let mut global_inspects = Vec::new();
    for sp in &config.service_policies {
        let pm = config
            .policy_maps
            .iter()
            .find(|p| p.name == sp.policy_map)
            .ok_or_else(|| CompileError::Undefined {
                kind: "policy-map",
                name: sp.policy_map.clone(),
            })?;
        let mut list = Vec::new();
        let mut inspect_list = Vec::new();
        for pc in &pm.classes {
            // Only classes with connection options, a tcp-map or
            // inspections take part in the features Rampart enforces.
            if pc.connection == ast::ConnectionSettings::default()
                && pc.tcp_map.is_none()
                && pc.inspects.is_empty()
            {
                continue;
            }
            let matcher = if pc.class == "class-default" {
                ClassMatcher::Any
            } else {
                let cm = config
                    .class_maps
                    .iter()
                    .find(|m| m.name == pc.class)
                    .ok_or_else(|| CompileError::Undefined {
                        kind: "class-map",
                        name: pc.class.clone(),
                    })?;
                match &cm.matcher {
                    None => continue, // a class-map without match matches nothing
                    Some(ClassMatch::Any) => ClassMatcher::Any,
                    Some(ClassMatch::AccessList(name)) => ClassMatcher::Acl(acl_index(name)?),
                    Some(ClassMatch::Port(p, m)) => {
                        let mut b = ClassifierBuilder::new();
                        let atoms = c
                            .service_atoms(&port_protocols(*p), None, Some(&PortSpec::Match(*m)))
                            .and_then(|services| {
                                let any = [AddrSpan::ANY];
                                c.expand(&services, &any, &any)
                            })
                            .map_err(|e| e.placed(|| Place::ClassMap(cm.name.clone())))?;
                        b.push_rule(atoms);
                        ClassMatcher::Ports(b.build())
                    }
                    Some(ClassMatch::DefaultInspectionTraffic) => {
                        let mut b = ClassifierBuilder::new();
                        let ports = DEFAULT_INSPECTION_PORTS.iter().map(|&(p, port, side)| {
                            let (sport, dport) = match side {
                                PortSide::Destination => (PortSpan::ANY, PortSpan::exact(port)),
                                PortSide::Source => (PortSpan::exact(port), PortSpan::ANY),
                            };
                            Atom {
                                v6: None,
                                proto: Some(p),
                                src: AddrSpan::ANY,
                                dst: AddrSpan::ANY,
                                sport,
                                dport,
                            }
                        });
                        // The ICMP inspections' traffic is all ICMP.
                        let icmp = [proto::ICMP, proto::ICMPV6].map(|p| Atom {
                            v6: None,
                            proto: Some(p),
                            src: AddrSpan::ANY,
                            dst: AddrSpan::ANY,
                            sport: PortSpan::ANY,
                            dport: PortSpan::ANY,
                        });
                        let atoms = ports.chain(icmp);
                        b.push_rule(atoms);
                        ClassMatcher::Ports(b.build())
                    }
                }
            };
            // Every inspection, enforced or not, is one feature: a class
            // with `inspect ftp` takes the feature for what it matches.
            if !pc.inspects.is_empty() {
                let has = |what: &str| pc.inspects.iter().any(|i| i == what);
                inspects.push(InspectClass {
                    matcher: matcher.clone(),
                    icmp: has("icmp"),
                    icmp_error: has("icmp error"),
                });
                inspect_list.push(inspects.len() - 1);
            }
            if pc.connection == ast::ConnectionSettings::default() && pc.tcp_map.is_none() {
                continue;
            }
            // A tcp-map goes with the limits, timeouts and randomization:
            // the class that sets one sets all for its connections (the
            // ASA counts TCP normalization as a feature of its own,
            // docs/asa-behaviour.md §2.3; a difference from the ASA, §6.1).
            // Beside tcp-state-bypass a map has no effect, and must not
            // make the class hide a later class's limits.
            let map_applies = pc.tcp_map.is_some() && !pc.connection.tcp_state_bypass;
            let limits = map_applies
                || ast::ConnectionSettings {
                    tcp_state_bypass: false,
                    ..pc.connection
                } != ast::ConnectionSettings::default();
            // The parser resolved the name (a map it does not know is
            // refused with the configuration).
            let map = pc
                .tcp_map
                .as_ref()
                .filter(|_| map_applies)
                .and_then(|n| config.tcp_maps.iter().find(|m| m.name == *n));
            classes.push(CompiledClass {
                name: format!("{}/{}", pm.name, pc.class),
                scope: sp.scope.clone(),
                matcher,
                options: ConnOptions::from_settings(&pc.connection, map),
                limits,
            });
            list.push(classes.len() - 1);
        }
        match &sp.scope {
            ServiceScope::Global => {
                global = list;
                global_inspects = inspect_list;
            }
            ServiceScope::Interface(name) => {
                let i = iface_index(name)?;
                ifaces[i].service_classes = list;
                ifaces[i].service_inspects = inspect_list;
            }
        }
    }
    let acl_names = acls.iter().map(|a| Arc::from(a.name.as_str())).collect();
    Ok(Policy {
        acl_names,
        interfaces: ifaces,
        acls,
        listings,
        classes,
        global,
        inspects,
        global_inspects,
        same_security: config.same_security_inter_interface,
        global_acl,
        timeouts: config.timeouts,
        mss: MssClamp::of(&config.tcpmss),
        source: None,
        groups: elements::groups_of(config),
        active_ranges: Arc::new(
            config
                .time_ranges
                .iter()
                .filter(|r| active.contains(&r.name))
                .map(|r| r.name.clone())
                .collect(),
        ),
        timed: config.access_lists.iter().any(|a| {
            a.lines
                .iter()
                .any(|l| matches!(l, ast::AclLine::Ace(e) if !e.inactive && e.time_range.is_some()))
        }),
    })
}

mod elements;
mod expand;
pub mod explain;

pub use elements::Expander;
use expand::{Compiler, port_protocols};

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod fragment_tests;
#[cfg(test)]
mod icmp_tests;
#[cfg(test)]
pub(crate) mod tests;
