//! What the parser's sections share about names and references: the
//! kinds of object-groups and of references, the construct a reference
//! belongs to, and how members and names are read from the AST. A leaf of
//! the parser, so that the sections that define objects and groups and the
//! resolution that checks references do not depend on each other.

use crate::ast::*;
use crate::ports::PortNames;

use super::ace_identity::identity;

/// The kind of an object-group, for reference checks and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupKind {
    Network,
    Port(PortProtocol),
    Service,
    Protocol,
    IcmpType,
}

impl GroupKind {
    pub(super) fn of(g: &ObjectGroup) -> GroupKind {
        match g {
            ObjectGroup::Network { .. } => GroupKind::Network,
            ObjectGroup::Service {
                protocol: Some(p), ..
            } => GroupKind::Port(*p),
            ObjectGroup::Service { protocol: None, .. } => GroupKind::Service,
            ObjectGroup::Protocol { .. } => GroupKind::Protocol,
            ObjectGroup::IcmpType { .. } => GroupKind::IcmpType,
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            GroupKind::Network => "network",
            GroupKind::Port(PortProtocol::Tcp) => "tcp port",
            GroupKind::Port(PortProtocol::Udp) => "udp port",
            GroupKind::Port(PortProtocol::TcpUdp) => "tcp-udp port",
            GroupKind::Service => "service",
            GroupKind::Protocol => "protocol",
            GroupKind::IcmpType => "icmp-type",
        }
    }
}

/// What a name must refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RefKind {
    Acl,
    /// The EtherType access-list of an access-group.
    EthertypeAcl,
    ClassMap,
    PolicyMap,
    Interface,
    /// The `time-range NAME` of an ACE.
    TimeRange,
    /// The tcp-map of `set connection advanced-options NAME`.
    TcpMap,
    NetworkObject,
    ServiceObject,
    /// A network group (ACE address).
    NetworkGroup,
    /// A port group usable with these port names (ACE port position).
    PortGroup(PortNames),
    /// A protocol or service group (ACE protocol position, no ports).
    ProtoOrServiceGroup,
    /// The `object-group` of an ACE's `icmp_argument`: an ICMP type
    /// group, after `icmp` (`v6` false) only.
    IcmpGroup {
        /// After `icmp6`.
        v6: bool,
    },
    /// A protocol group (ACE protocol position followed by ports), and
    /// the port groups among those ports.
    ProtocolGroup {
        /// The port groups the line names after it.
        port_groups: Vec<String>,
    },
    /// `group-object` inside the named group: same kind, no cycle.
    Member {
        parent: String,
        kind: GroupKind,
    },
}

/// The construct a reference belongs to: a reference is checked only if
/// its construct is still in the final configuration (a `no` form may
/// remove the line, and then the referenced name with it).
#[derive(Debug, Clone)]
pub(super) enum Owner {
    /// Always checked.
    Always,
    /// An ACL line or a group member, by [`acl_line_key`] or
    /// [`member_key`] (there can be tens of thousands; they are looked up
    /// in a set).
    Keyed(String),
    AccessGroup(AccessGroup),
    AccessGroupOut(AccessGroup),
    GlobalAccessGroup(String),
    EthertypeGroup(AccessGroup),
    ClassMatch {
        class_map: String,
        matcher: ClassMatch,
    },
    PolicyClass {
        policy: String,
        class: String,
    },
    ServicePolicy(ServicePolicy),
    /// A class's `set connection advanced-options MAP`.
    TcpMapUse {
        policy: String,
        class: String,
        map: String,
    },
}

/// The key of an access-list line: an ACE by its identity (without its
/// options, [`identity`]), as re-entering it changes the entry in place
/// and `no access-list` removes it by that identity; a remark by its text.
pub(super) fn acl_line_key(acl: &str, line: &AclLine) -> String {
    match line {
        AclLine::Ace(a) => format!("access-list {acl} {:?}", identity(a)),
        AclLine::Remark(_) => format!("access-list {acl} {line:?}"),
    }
}

pub(super) fn member_key(group: &str, m: &Stored) -> String {
    format!("object-group {group} {m:?}")
}

/// A member as stored in a group of its kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Stored {
    Network(NetworkMember),
    Service(ServiceMember),
    Protocol(ProtocolMember),
    IcmpType(IcmpTypeMember),
}

/// The `group-object` names of a group.
pub(super) fn children(g: &ObjectGroup) -> Vec<&str> {
    match g {
        ObjectGroup::Network { members, .. } => members
            .iter()
            .filter_map(|m| match m {
                NetworkMember::Group(n) => Some(n.as_str()),
                _ => None,
            })
            .collect(),
        ObjectGroup::Service { members, .. } => members
            .iter()
            .filter_map(|m| match m {
                ServiceMember::Group(n) => Some(n.as_str()),
                _ => None,
            })
            .collect(),
        ObjectGroup::Protocol { members, .. } => members
            .iter()
            .filter_map(|m| match m {
                ProtocolMember::Group(n) => Some(n.as_str()),
                _ => None,
            })
            .collect(),
        ObjectGroup::IcmpType { members, .. } => members
            .iter()
            .filter_map(|m| match m {
                IcmpTypeMember::Group(n) => Some(n.as_str()),
                IcmpTypeMember::Type(_) => None,
            })
            .collect(),
    }
}

/// The name of an object-group.
pub fn group_name(g: &ObjectGroup) -> &str {
    match g {
        ObjectGroup::Network { name, .. }
        | ObjectGroup::Service { name, .. }
        | ObjectGroup::Protocol { name, .. }
        | ObjectGroup::IcmpType { name, .. } => name,
    }
}

/// The name of an object.
pub fn object_name(o: &Object) -> &str {
    match o {
        Object::Network { name, .. } | Object::Service { name, .. } => name,
    }
}
