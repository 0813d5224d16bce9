//! Expanding an access-list entry into classifier atoms: objects and
//! object-groups resolved to address prefixes, port blocks and services,
//! then crossed. Everything it produces is charged to one budget,
//! [`MAX_POLICY_ATOMS`]: the atoms, and the prefixes, blocks and services
//! built on the way, so that neither a cross product nor the work of
//! expanding a group for an entry that ends up with no atoms (`interface
//! X` on the other side) is free. Objects and groups are looked up by name
//! in maps, and each group is expanded once per compile.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;
use std::rc::Rc;

use super::{CompileError, CompiledAcl, MAX_GROUP_DEPTH, MAX_POLICY_ATOMS, OVER_BUDGET, Place};
use crate::flow::proto;
use crate::policy::ast::{
    self, AclLine, AddrSpec, Config, IcmpMatch, IcmpSpec, IcmpTypeMember, NetworkMember,
    NetworkValue, Object, ObjectGroup, PortMatch, PortProtocol, PortSpec, ProtoSpec, Protocol,
    ProtocolMember, ServiceMember, ServiceValue,
};
use crate::policy::classifier::{
    AddrPrefix, AddrSpan, Atom, ClassifierBuilder, MAX_RANGE_CHECKS, MAX_SUBTABLES, PortSpan,
};
use crate::policy::listing::EntryElements;
use crate::policy::parse::{group_name, object_name};

/// A protocol and port blocks: one "service" an ACE can match. An ICMP
/// type is the source "port" and its code the destination "port"
/// ([`Probe::of_packet`](crate::policy::classifier::Probe::of_packet)),
/// and a service that names one keeps to its family (`v6`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Service {
    proto: Option<u8>,
    v6: Option<bool>,
    sports: Rc<[PortSpan]>,
    dports: Rc<[PortSpan]>,
}

impl Service {
    /// ICMP (`proto` 1) or ICMPv6 (58) of one type, and of one code or
    /// any: `icmp` keeps to IPv4 packets and `icmp6` to IPv6, whose
    /// messages alone carry a type the rules read.
    fn icmp(proto: u8, m: IcmpMatch) -> Service {
        Service {
            proto: Some(proto),
            v6: Some(proto == proto::ICMPV6),
            sports: Rc::new([PortSpan::exact(u16::from(m.icmp_type))]),
            dports: Rc::new([m
                .code
                .map_or(PortSpan::ANY, |c| PortSpan::exact(u16::from(c)))]),
        }
    }
}

/// What an active entry crosses: its services (protocol and port blocks,
/// or ICMP type and code) and its source and destination addresses, each
/// object replaced by its value and each group (nested ones flattened) by
/// its members, repeats dropped. Its atoms, the entry's elements, are
/// their cross product ([`Factors::atoms`]), in an order the compiler and
/// `show access-list` share: a listing finds an element's text by its
/// place ([`super::Policy::expander`]).
#[derive(Debug, Clone)]
pub(super) struct Factors {
    services: Vec<Service>,
    src: Rc<[AddrSpan]>,
    dst: Rc<[AddrSpan]>,
}

impl Factors {
    /// The elements: every atom of the cross product that a packet can
    /// match ([`Atom::possible`]: an IPv4 source and an IPv6 destination
    /// cross to nothing), services outermost, then source ports,
    /// destination ports, sources, destinations. Lazily: a listing takes
    /// as many as it shows.
    pub(super) fn atoms(&self) -> impl Iterator<Item = Atom> + '_ {
        self.services.iter().flat_map(move |s| {
            s.sports.iter().flat_map(move |&sp| {
                s.dports.iter().flat_map(move |&dp| {
                    self.src.iter().flat_map(move |&sa| {
                        self.dst.iter().filter_map(move |&da| {
                            let a = Atom {
                                v6: s.v6,
                                proto: s.proto,
                                src: sa,
                                dst: da,
                                sport: sp,
                                dport: dp,
                            };
                            a.possible().then_some(a)
                        })
                    })
                })
            })
        })
    }
}

/// What a protocol or service group expands to: the protocols of its
/// `protocol-object`s (which take the entry's ports) and the services of
/// its `service-object`s.
#[derive(Debug, Default)]
struct GroupServices {
    protos: Vec<Option<u8>>,
    services: Vec<Service>,
}

/// The compiler's state over one policy: the name indexes, each group's
/// expansion once computed, and the budget spent.
pub(super) struct Compiler<'a> {
    objects: HashMap<&'a str, &'a Object>,
    groups: HashMap<&'a str, &'a ObjectGroup>,
    networks: HashMap<&'a str, Rc<[AddrSpan]>>,
    ports: HashMap<&'a str, Rc<[PortSpan]>>,
    services: HashMap<&'a str, Rc<GroupServices>>,
    icmp_types: HashMap<&'a str, Rc<[u8]>>,
    /// Budget spent so far, against [`MAX_POLICY_ATOMS`].
    spent: usize,
    /// How many group expansions were computed (each group at most once).
    pub(super) groups_expanded: usize,
}

fn too_deep(depth: usize, name: &str) -> Result<(), CompileError> {
    if depth >= MAX_GROUP_DEPTH {
        return Err(CompileError::TooDeep {
            name: name.chars().take(64).collect(),
        });
    }
    Ok(())
}

/// `items` without repeats, in first-seen order: a group reached twice
/// through nested groups expands once, so diamonds of `group-object`s do
/// not multiply.
fn dedup<T: Clone + Eq + Hash>(items: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|x| seen.insert(x.clone()))
        .collect()
}

pub(super) fn port_protocols(p: PortProtocol) -> Vec<Option<u8>> {
    match p {
        PortProtocol::Tcp => vec![Some(proto::TCP)],
        PortProtocol::Udp => vec![Some(proto::UDP)],
        PortProtocol::TcpUdp => vec![Some(proto::TCP), Some(proto::UDP)],
    }
}

/// The port spans of a port match: one, or two for `neq` (the ports
/// below and above it), none for a match no port meets (`lt 0`).
fn port_spans(m: &PortMatch) -> Vec<PortSpan> {
    let below = |p: u16| p.checked_sub(1).and_then(|hi| PortSpan::range(0, hi));
    let above = |p: u16| {
        p.checked_add(1)
            .and_then(|lo| PortSpan::range(lo, u16::MAX))
    };
    match *m {
        PortMatch::Eq(p) => vec![PortSpan::exact(p)],
        PortMatch::Neq(p) => below(p).into_iter().chain(above(p)).collect(),
        PortMatch::Lt(p) => below(p).into_iter().collect(),
        PortMatch::Gt(p) => above(p).into_iter().collect(),
        PortMatch::Range(a, b) => PortSpan::range(a, b).into_iter().collect(),
    }
}

fn mask_len(mask: std::net::Ipv4Addr) -> u8 {
    u32::from(mask).leading_ones() as u8
}

fn network_value(v: &NetworkValue) -> Vec<AddrSpan> {
    let prefix = |ip, len| vec![AddrSpan::of(AddrPrefix::new(ip, len))];
    match *v {
        NetworkValue::Host(ip) => prefix(ip, if ip.is_ipv4() { 32 } else { 128 }),
        NetworkValue::V4Subnet(a, m) => prefix(IpAddr::V4(a), mask_len(m)),
        NetworkValue::V6Subnet(a, l) => prefix(IpAddr::V6(a), l),
        NetworkValue::Range(a, b) => AddrSpan::range(a, b).into_iter().collect(),
    }
}

impl<'a> Compiler<'a> {
    /// A compiler for `config`, its objects and groups indexed by name (the
    /// first definition of a name, as a linear search would find it).
    pub(super) fn new(config: &'a Config) -> Self {
        let mut objects = HashMap::with_capacity(config.objects.len());
        for o in &config.objects {
            objects.entry(object_name(o)).or_insert(o);
        }
        let mut groups = HashMap::with_capacity(config.object_groups.len());
        for g in &config.object_groups {
            groups.entry(group_name(g)).or_insert(g);
        }
        Compiler {
            objects,
            groups,
            networks: HashMap::new(),
            ports: HashMap::new(),
            services: HashMap::new(),
            icmp_types: HashMap::new(),
            spent: 0,
            groups_expanded: 0,
        }
    }

    /// Spend `n` (`None`: more than `usize` holds) of the budget.
    fn charge(&mut self, n: Option<usize>) -> Result<(), CompileError> {
        self.spent = n
            .and_then(|n| self.spent.checked_add(n))
            .filter(|&s| s <= MAX_POLICY_ATOMS)
            .ok_or(OVER_BUDGET)?;
        Ok(())
    }

    /// An access-list compiled, with the elements of each entry for `show
    /// access-list` (its atoms, numbered as the classifier numbers them;
    /// an inactive one has none: it is not expanded).
    ///
    /// An entry whose `time-range` is not in `active` is left out of the
    /// classifier, as an `inactive` one is, but expanded and charged all
    /// the same, and the list's bounds are checked for the worst set of
    /// active ranges: whether a policy compiles must not depend on the
    /// time of day, or a re-install at a transition could fail, and no set
    /// of active ranges may give the classifier that runs more than the
    /// bounds allow (docs/asa-behaviour.md §2.10). The most subtables come
    /// with every range active; the most range checks with the ranged atoms
    /// of every timed entry in and their plain atoms out (a plain atom ends
    /// the list of ranged ones after it on its key). Its elements keep their numbers
    /// (the classifier reserves them), and so their counts, for when the
    /// range is active again.
    pub(super) fn acl(
        &mut self,
        acl: &ast::AccessList,
        active: &BTreeSet<String>,
    ) -> Result<(CompiledAcl, Vec<EntryElements>), CompileError> {
        let mut b = ClassifierBuilder::new();
        let timed = |ace: &ast::Ace| !ace.inactive && ace.time_range.is_some();
        let timed_out = |ace: &ast::Ace| {
            timed(ace) && ace.time_range.as_ref().is_some_and(|t| !active.contains(t))
        };
        // For the bounds, whatever `active` is, when some entry has a
        // time-range: every entry's atoms (the most subtables), and the
        // timed entries' ranged atoms only (the longest lists).
        let any_timed = acl
            .lines
            .iter()
            .any(|l| matches!(l, AclLine::Ace(a) if timed(a)));
        let mut full = any_timed.then(ClassifierBuilder::new);
        let mut worst = any_timed.then(ClassifierBuilder::new);
        let mut elements = Vec::new();
        let mut permit = Vec::new();
        let mut unlogged = Vec::new();
        let mut matches_nothing = Vec::new();
        let mut entries = Vec::new();
        for (i, line) in acl.lines.iter().enumerate() {
            let AclLine::Ace(ace) = line else { continue };
            entries.push(i + 1);
            permit.push(ace.action == ast::Action::Permit);
            unlogged.push(ace.log == ast::AceLog::Disable);
            let place = || Place::AclEntry {
                acl: acl.name.clone(),
                entry: i + 1,
            };
            if ace.inactive {
                // Charged as every entry is (an active one at least its
                // blocks): the budget bounds the rules a classifier numbers.
                self.charge(Some(1)).map_err(|e| e.placed(place))?;
                b.push_rule([]);
                for f in [&mut full, &mut worst].into_iter().flatten() {
                    f.push_rule([]);
                }
                elements.push(EntryElements::default());
                continue;
            }
            let atoms = self.ace(ace).map_err(|e| e.placed(place))?;
            if atoms.is_empty() {
                matches_nothing.push(i + 1);
            }
            // Each element of an entry over objects or groups is known by
            // its content, which a new policy may keep while the group
            // changes; an entry without any expands from its text alone,
            // so the element's place in it is enough (and costs nothing).
            let keys = if crate::policy::listing::expands(ace) {
                atoms.iter().map(element_key).collect()
            } else {
                (0..atoms.len() as u64).collect()
            };
            elements.push(EntryElements { keys });
            if let Some(f) = &mut full {
                f.push_rule(atoms.iter().copied());
            }
            if let Some(w) = &mut worst {
                let ranged_only = timed(ace);
                w.push_rule(
                    atoms
                        .iter()
                        .copied()
                        .filter(|a| !ranged_only || a.is_ranged()),
                );
            }
            if timed_out(ace) {
                b.push_rule_matching_nothing(atoms.len());
            } else {
                b.push_rule(atoms);
            }
            let (most_tables, most_checks) =
                (full.as_ref().unwrap_or(&b), worst.as_ref().unwrap_or(&b));
            if most_tables.subtables() > MAX_SUBTABLES {
                return Err(CompileError::TooManySubtables {
                    acl: acl.name.clone(),
                    entry: i + 1,
                });
            }
            if most_checks.range_checks() > MAX_RANGE_CHECKS {
                return Err(CompileError::TooManyRangeChecks {
                    acl: acl.name.clone(),
                    entry: i + 1,
                });
            }
        }
        let compiled = CompiledAcl {
            name: acl.name.clone(),
            classifier: b.build(),
            permit,
            unlogged,
            matches_nothing,
            entries,
            // The policy places it among its lists.
            first_element: 0,
        };
        Ok((compiled, elements))
    }

    /// The atoms of one active entry.
    fn ace(&mut self, ace: &ast::Ace) -> Result<Vec<Atom>, CompileError> {
        let f = self.factors(ace)?;
        // Charged before anything is allocated for it: each factor can be
        // 2^16 or more (a port group of 65,536 blocks, a network group of
        // 65,536 prefixes), so the product can pass `usize::MAX`, an
        // overflow being a policy too large.
        for s in &f.services {
            let n = [s.dports.len(), f.src.len(), f.dst.len()]
                .into_iter()
                .try_fold(s.sports.len(), usize::checked_mul);
            self.charge(n)?;
        }
        Ok(f.atoms().collect())
    }

    /// What one active entry crosses, its groups expanded, charged to the
    /// budget (the product is charged by [`ace`](Self::ace)).
    pub(super) fn factors(&mut self, ace: &ast::Ace) -> Result<Factors, CompileError> {
        // Each prefix carries its family (`any4`, `any6` too): the
        // classifier keeps an atom to the family its prefixes name.
        let src = self.addresses(&ace.source)?;
        let dst = self.addresses(&ace.destination)?;
        let services = match (&ace.protocol, &ace.icmp) {
            // The parser keeps a type only after icmp and icmp6.
            (ProtoSpec::Protocol(Protocol::Number(n @ (1 | 58))), Some(IcmpSpec::Match(m))) => {
                vec![Service::icmp(*n, *m)]
            }
            // An `icmp-type` group: each of its types, every code.
            (ProtoSpec::Protocol(Protocol::Number(n @ (1 | 58))), Some(IcmpSpec::Group(g))) => self
                .icmp_group(g, 0)?
                .iter()
                .map(|&icmp_type| {
                    Service::icmp(
                        *n,
                        IcmpMatch {
                            icmp_type,
                            code: None,
                        },
                    )
                })
                .collect(),
            (_, Some(_)) => {
                return Err(CompileError::Undefined {
                    kind: "icmp or icmp6 protocol for an ICMP type",
                    name: format!("{:?}", ace.protocol),
                });
            }
            (ProtoSpec::Protocol(p), None) => self.service_atoms(
                &[protocol(*p)],
                ace.source_port.as_ref(),
                ace.destination_port.as_ref(),
            )?,
            (ProtoSpec::Object(name), None) => match self.object(name)? {
                Object::Service { value, .. } => vec![service_value(value)],
                Object::Network { .. } => {
                    return Err(CompileError::Undefined {
                        kind: "service object",
                        name: name.clone(),
                    });
                }
            },
            (ProtoSpec::Group(name), None) => self.group_services(
                name,
                ace.source_port.as_ref(),
                ace.destination_port.as_ref(),
            )?,
        };
        // What this entry takes from its groups is work even when the
        // cross product is empty.
        let blocks: usize = services
            .iter()
            .map(|s| s.sports.len() + s.dports.len())
            .sum();
        self.charge(Some(src.len() + dst.len() + blocks))?;
        Ok(Factors { services, src, dst })
    }

    /// Cross product of services and addresses into atoms, within the budget.
    pub(super) fn expand(
        &mut self,
        services: &[Service],
        src: &[AddrSpan],
        dst: &[AddrSpan],
    ) -> Result<Vec<Atom>, CompileError> {
        let mut out = Vec::new();
        for s in services {
            // Each factor can be 2^16 or more (a port group of 65,536
            // blocks, a network group of 65,536 prefixes), so the product
            // can pass `usize::MAX`: an overflow is a policy too large,
            // counted before anything is allocated for it.
            let n = [s.dports.len(), src.len(), dst.len()]
                .into_iter()
                .try_fold(s.sports.len(), usize::checked_mul);
            self.charge(n)?;
            for &sp in s.sports.iter() {
                for &dp in s.dports.iter() {
                    for &sa in src {
                        for &da in dst {
                            out.push(Atom {
                                v6: s.v6,
                                proto: s.proto,
                                src: sa,
                                dst: da,
                                sport: sp,
                                dport: dp,
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn object(&self, name: &str) -> Result<&'a Object, CompileError> {
        self.objects
            .get(name)
            .copied()
            .ok_or_else(|| CompileError::Undefined {
                kind: "object",
                name: name.to_string(),
            })
    }

    fn group(&self, name: &str) -> Result<&'a ObjectGroup, CompileError> {
        self.groups
            .get(name)
            .copied()
            .ok_or_else(|| CompileError::Undefined {
                kind: "object-group",
                name: name.to_string(),
            })
    }

    /// Address prefixes of an ACE address, each of its own family.
    fn addresses(&mut self, spec: &AddrSpec) -> Result<Rc<[AddrSpan]>, CompileError> {
        Ok(match spec {
            AddrSpec::Any => Rc::new([AddrSpan::ANY]),
            AddrSpec::Any4 => Rc::new([AddrSpan::of(AddrPrefix::ANY4)]),
            AddrSpec::Any6 => Rc::new([AddrSpan::of(AddrPrefix::ANY6)]),
            AddrSpec::Host(ip) => network_value(&NetworkValue::Host(*ip)).into(),
            AddrSpec::V4Net(a, m) => network_value(&NetworkValue::V4Subnet(*a, *m)).into(),
            AddrSpec::V6Net(a, l) => network_value(&NetworkValue::V6Subnet(*a, *l)).into(),
            AddrSpec::Object(name) => self.network_object(name)?.into(),
            AddrSpec::Group(name) => self.group_addresses(name, 0)?,
            // A transparent firewall's interfaces have no addresses that
            // transit traffic could be sent to.
            AddrSpec::Interface(_) => Rc::new([]),
        })
    }

    fn network_object(&self, name: &str) -> Result<Vec<AddrSpan>, CompileError> {
        match self.object(name)? {
            Object::Network { value, .. } => Ok(network_value(value)),
            Object::Service { .. } => Err(CompileError::Undefined {
                kind: "network object",
                name: name.to_string(),
            }),
        }
    }

    /// A group's values: each member's `part`, charged before it is
    /// copied (a member costs at least 1), duplicates dropped; counted as
    /// one group expanded (the caller keeps it for the compile).
    fn expand_members<M, T: Copy + Eq + Hash>(
        &mut self,
        members: &'a [M],
        mut part: impl FnMut(&mut Self, &'a M) -> Result<Rc<[T]>, CompileError>,
    ) -> Result<Rc<[T]>, CompileError> {
        let mut out = Vec::new();
        for m in members {
            let p = part(self, m)?;
            self.charge(Some(p.len().max(1)))?;
            out.extend_from_slice(&p);
        }
        self.groups_expanded += 1;
        Ok(dedup(out).into())
    }

    /// A network group's prefixes, computed once per compile.
    fn group_addresses(
        &mut self,
        name: &str,
        depth: usize,
    ) -> Result<Rc<[AddrSpan]>, CompileError> {
        if let Some(done) = self.networks.get(name) {
            return Ok(done.clone());
        }
        too_deep(depth, name)?;
        let group = self.group(name)?;
        let ObjectGroup::Network { name: key, members } = group else {
            return Err(CompileError::Undefined {
                kind: "network object-group",
                name: name.to_string(),
            });
        };
        let done = self.expand_members(members, |c, m| match m {
            NetworkMember::Address(v) => Ok(network_value(v).into()),
            NetworkMember::Object(o) => Ok(c.network_object(o)?.into()),
            NetworkMember::Group(g) => c.group_addresses(g, depth + 1),
        })?;
        self.networks.insert(key, done.clone());
        Ok(done)
    }

    fn port_spec(&mut self, spec: &PortSpec) -> Result<Rc<[PortSpan]>, CompileError> {
        match spec {
            PortSpec::Match(m) => Ok(port_spans(m).into()),
            PortSpec::Group(name) => self.port_group(name, 0),
        }
    }

    /// A port group's blocks, computed once per compile.
    fn port_group(&mut self, name: &str, depth: usize) -> Result<Rc<[PortSpan]>, CompileError> {
        if let Some(done) = self.ports.get(name) {
            return Ok(done.clone());
        }
        too_deep(depth, name)?;
        let group = self.group(name)?;
        let ObjectGroup::Service {
            name: key,
            members,
            protocol: Some(_),
        } = group
        else {
            return Err(CompileError::Undefined {
                kind: "port object-group",
                name: name.to_string(),
            });
        };
        let done = self.expand_members(members, |c, m| match m {
            ServiceMember::Port(pm) => Ok(port_spans(pm).into()),
            ServiceMember::Group(g) => c.port_group(g, depth + 1),
            ServiceMember::Service(_) | ServiceMember::Object(_) => Ok(Rc::new([])),
        })?;
        self.ports.insert(key, done.clone());
        Ok(done)
    }

    /// An ICMP type group's types, computed once per compile.
    fn icmp_group(&mut self, name: &str, depth: usize) -> Result<Rc<[u8]>, CompileError> {
        if let Some(done) = self.icmp_types.get(name) {
            return Ok(done.clone());
        }
        too_deep(depth, name)?;
        let ObjectGroup::IcmpType { name: key, members } = self.group(name)? else {
            return Err(CompileError::Undefined {
                kind: "icmp-type object-group",
                name: name.to_string(),
            });
        };
        let done = self.expand_members(members, |c, m| match m {
            IcmpTypeMember::Type(t) => Ok(Rc::new([*t])),
            IcmpTypeMember::Group(g) => c.icmp_group(g, depth + 1),
        })?;
        self.icmp_types.insert(key, done.clone());
        Ok(done)
    }

    pub(super) fn service_atoms(
        &mut self,
        protos: &[Option<u8>],
        sport: Option<&PortSpec>,
        dport: Option<&PortSpec>,
    ) -> Result<Vec<Service>, CompileError> {
        let sports = match sport {
            Some(s) => self.port_spec(s)?,
            None => Rc::new([PortSpan::ANY]),
        };
        let dports = match dport {
            Some(d) => self.port_spec(d)?,
            None => Rc::new([PortSpan::ANY]),
        };
        Ok(protos
            .iter()
            .map(|&p| Service {
                proto: p,
                v6: None,
                sports: sports.clone(),
                dports: dports.clone(),
            })
            .collect())
    }

    /// Services of an `object-group` in the protocol position: a protocol
    /// group (with the ACE's ports) or a service group of `service-object`s.
    fn group_services(
        &mut self,
        name: &str,
        sport: Option<&PortSpec>,
        dport: Option<&PortSpec>,
    ) -> Result<Vec<Service>, CompileError> {
        let g = self.protocol_group(name, 0)?;
        let mut services = g.services.clone();
        services.extend(self.service_atoms(&g.protos, sport, dport)?);
        Ok(services)
    }

    /// A protocol or service group's protocols and services, computed once
    /// per compile.
    fn protocol_group(
        &mut self,
        name: &str,
        depth: usize,
    ) -> Result<Rc<GroupServices>, CompileError> {
        if let Some(done) = self.services.get(name) {
            return Ok(done.clone());
        }
        too_deep(depth, name)?;
        let group = self.group(name)?;
        let mut out = GroupServices::default();
        let key = match group {
            ObjectGroup::Protocol { name: key, members } => {
                for m in members {
                    match m {
                        ProtocolMember::Protocol(p) => out.protos.push(protocol(*p)),
                        ProtocolMember::Group(g) => {
                            let part = self.protocol_group(g, depth + 1)?;
                            self.charge(Some(part.protos.len() + part.services.len()))?;
                            out.protos.extend_from_slice(&part.protos);
                            out.services.extend_from_slice(&part.services);
                        }
                    }
                    self.charge(Some(1))?;
                }
                key
            }
            ObjectGroup::Service {
                name: key,
                members,
                protocol: None,
            } => {
                for m in members {
                    match m {
                        ServiceMember::Service(v) => out.services.push(service_value(v)),
                        ServiceMember::Object(o) => {
                            if let Object::Service { value, .. } = self.object(o)? {
                                out.services.push(service_value(value));
                            }
                        }
                        ServiceMember::Group(g) => {
                            let part = self.protocol_group(g, depth + 1)?;
                            self.charge(Some(part.protos.len() + part.services.len()))?;
                            out.protos.extend_from_slice(&part.protos);
                            out.services.extend_from_slice(&part.services);
                        }
                        ServiceMember::Port(_) => {}
                    }
                    self.charge(Some(1))?;
                }
                key
            }
            _ => {
                return Err(CompileError::Undefined {
                    kind: "protocol or service object-group",
                    name: name.to_string(),
                });
            }
        };
        let done = Rc::new(GroupServices {
            protos: dedup(out.protos),
            services: dedup(out.services),
        });
        self.groups_expanded += 1;
        self.services.insert(key, done.clone());
        Ok(done)
    }
}

/// A hash of one element, the same in every policy of any process (fixed
/// seeds): a new policy's element with the same content under the same
/// entry keeps its count.
fn element_key(a: &Atom) -> u64 {
    ahash::RandomState::with_seeds(0xe1e, 7, 8, 9).hash_one(a)
}

fn service_value(v: &ServiceValue) -> Service {
    // The parser keeps a type only in an icmp or icmp6 service.
    if let (Some(m), Protocol::Number(n @ (1 | 58))) = (v.icmp, v.protocol) {
        return Service::icmp(n, m);
    }
    let blocks = |m: &Option<PortMatch>| -> Rc<[PortSpan]> {
        m.as_ref()
            .map_or_else(|| vec![PortSpan::ANY], port_spans)
            .into()
    };
    Service {
        proto: protocol(v.protocol),
        v6: None,
        sports: blocks(&v.source),
        dports: blocks(&v.destination),
    }
}

fn protocol(p: Protocol) -> Option<u8> {
    match p {
        Protocol::Ip => None,
        Protocol::Number(n) => Some(n),
    }
}
