//! The ASA configuration parser: a whole config text in, a [`Config`] out,
//! or every error with its line and column (a config with any error is
//! refused whole). Known but unenforced ASA commands are listed as ignored.
//!
//! Lines are commands; `interface`, `object`, `object-group`, `class-map`
//! and `policy-map` (and ` class` inside a policy-map) open a mode whose
//! sub-commands follow. Indentation is not required — configurations get
//! pasted with all kinds of whitespace — but a line whose first word is a
//! top-level command always returns to the top level, as on the ASA CLI.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

use super::ast::*;
use super::ports;

/// One error, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1 (one past the end for "expected …" at end of line).
    pub column: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

/// All errors of a refused configuration, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<ParseError>);

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

/// A line accepted but not enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredLine {
    /// Line, from 1.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// Why it has no effect.
    pub reason: &'static str,
}

/// A parsed configuration and the lines it ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The configuration.
    pub config: Config,
    /// Lines accepted without effect.
    pub ignored: Vec<IgnoredLine>,
}

/// Top-level commands Rampart accepts without enforcing.
const HARMLESS: &[&str] = &[
    "hostname",
    "domain-name",
    "enable",
    "passwd",
    "names",
    "name",
    "logging",
    "ntp",
    "dns",
    "route",
    "ssh",
    "telnet",
    "http",
    "aaa",
    "username",
    "crypto",
    "snmp-server",
    "mtu",
    "arp",
    "icmp",
    "asdm",
    "pager",
    "console",
    "ftp",
    "clock",
    "boot",
    "license",
    "failover",
    "monitor-interface",
    "prompt",
    "call-home",
    "dynamic-access-policy-record",
    "threat-detection",
    "webvpn",
    "user-identity",
    "terminal",
    "global",
    "static",
    "fixup",
    "firewall",
    "xlate",
    "banner",
    "dhcpd",
    "dhcprelay",
    "privilege",
    "service",
    "tftp-server",
    "ipv6",
    "ip",
    "sysopt",
    "no-op",
    "end",
    "write",
    "exit",
    "quit",
    "timeout",
    "same-security-traffic",
    "nat",
    "object-group-search",
    "access-list-compile",
    "cryptochecksum",
    "ASA",
    "PIX",
    "Cryptochecksum:",
];

fn harmless_reason(word: &str) -> &'static str {
    match word {
        "timeout" => "global timeouts come from the node configuration",
        "same-security-traffic" => {
            "same-security traffic is refused unless an access-group permits it"
        }
        "nat" | "global" | "static" => "NAT is not implemented",
        _ => "not enforced by Rampart",
    }
}

const TOP: &[&str] = &[
    "interface",
    "object",
    "object-group",
    "access-list",
    "access-group",
    "class-map",
    "policy-map",
    "service-policy",
    "no",
];

/// A word of a line and its column.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    col: usize,
}

/// A cursor over one line's words.
struct Cur<'a> {
    line: usize,
    raw: &'a str,
    toks: Vec<Tok<'a>>,
    i: usize,
}

type R<T> = Result<T, ParseError>;

impl<'a> Cur<'a> {
    fn new(line: usize, raw: &'a str) -> Self {
        let mut toks = Vec::new();
        let mut start = None;
        for (i, ch) in raw.char_indices().chain(std::iter::once((raw.len(), ' '))) {
            match (ch.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    toks.push(Tok {
                        text: &raw[s..i],
                        col: raw[..s].chars().count() + 1,
                    });
                    start = None;
                }
                _ => {}
            }
        }
        Cur {
            line,
            raw,
            toks,
            i: 0,
        }
    }

    fn end_col(&self) -> usize {
        self.raw.trim_end().chars().count() + 1
    }

    fn err_at(&self, col: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: col,
            message: message.into(),
        }
    }

    /// An error at the next token (or end of line).
    fn err(&self, message: impl Into<String>) -> ParseError {
        let col = self
            .toks
            .get(self.i)
            .map_or_else(|| self.end_col(), |t| t.col);
        self.err_at(col, message)
    }

    /// "expected X" at the next token, naming what was found.
    fn expected(&self, what: &str) -> ParseError {
        match self.toks.get(self.i) {
            Some(t) => self.err_at(t.col, format!("expected {what}, found '{}'", t.text)),
            None => self.err_at(self.end_col(), format!("expected {what}")),
        }
    }

    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).map(|t| t.text)
    }

    fn peek_at(&self, k: usize) -> Option<&'a str> {
        self.toks.get(self.i + k).map(|t| t.text)
    }

    fn col(&self) -> usize {
        self.toks
            .get(self.i)
            .map_or_else(|| self.end_col(), |t| t.col)
    }

    fn next(&mut self) -> Option<&'a str> {
        let t = self.peek()?;
        self.i += 1;
        Some(t)
    }

    fn word(&mut self, what: &str) -> R<&'a str> {
        match self.peek() {
            Some(w) => {
                self.i += 1;
                Ok(w)
            }
            None => Err(self.expected(what)),
        }
    }

    fn eat(&mut self, w: &str) -> bool {
        if self.peek() == Some(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn keyword(&mut self, w: &str) -> R<()> {
        if self.eat(w) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{w}'")))
        }
    }

    fn rest(&mut self) -> &'a str {
        let s = self.toks.get(self.i).map_or("", |t| {
            let byte = self
                .raw
                .char_indices()
                .nth(t.col - 1)
                .map_or(self.raw.len(), |(b, _)| b);
            self.raw[byte..].trim_end()
        });
        self.i = self.toks.len();
        s
    }

    fn done(&self) -> R<()> {
        match self.toks.get(self.i) {
            None => Ok(()),
            Some(t) => Err(self.err_at(
                t.col,
                format!("unexpected '{}' after end of command", t.text),
            )),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> R<T> {
        let col = self.col();
        let w = self.word(what)?;
        w.parse()
            .map_err(|_| self.err_at(col, format!("invalid {what} '{w}'")))
    }

    fn ipv4(&mut self, what: &str) -> R<Ipv4Addr> {
        let col = self.col();
        let w = self.word(what)?;
        w.parse()
            .map_err(|_| self.err_at(col, format!("invalid IPv4 address '{w}'")))
    }

    fn ip(&mut self, what: &str) -> R<IpAddr> {
        let col = self.col();
        let w = self.word(what)?;
        w.parse()
            .map_err(|_| self.err_at(col, format!("invalid IP address '{w}'")))
    }
}

/// A name referenced somewhere, checked once everything is defined.
#[derive(Debug, Clone)]
struct Ref {
    kind: RefKind,
    name: String,
    line: usize,
    col: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Acl,
    ClassMap,
    PolicyMap,
    NetworkObject,
    ServiceObject,
    NetworkGroup,
    PortGroup,
    ProtoOrServiceGroup,
    AnyGroup,
    Interface,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Top,
    Interface(usize),
    Object(usize),
    Group(usize),
    ClassMap(usize),
    PolicyMap(usize),
    PolicyClass(usize, usize),
}

struct Parser {
    cfg: Config,
    ignored: Vec<IgnoredLine>,
    errors: Vec<ParseError>,
    refs: Vec<Ref>,
    mode: Mode,
    /// ACL names seen on lines, even lines with errors, so a reference to
    /// an ACL whose only lines were broken is not reported a second time.
    acl_names: HashSet<String>,
}

/// Parse a whole configuration.
pub fn parse_config(text: &str) -> Result<Parsed, ParseErrors> {
    let mut p = Parser {
        cfg: Config::default(),
        ignored: Vec::new(),
        errors: Vec::new(),
        refs: Vec::new(),
        mode: Mode::Top,
        acl_names: HashSet::new(),
    };
    for (n, raw) in text.lines().enumerate() {
        let mut c = Cur::new(n + 1, raw);
        let Some(first) = c.peek() else { continue };
        if first.starts_with('!') || first.starts_with(':') || first.starts_with('#') {
            continue;
        }
        if let Err(e) = p.line(&mut c) {
            p.errors.push(e);
        }
    }
    p.check_refs();
    if p.errors.is_empty() {
        Ok(Parsed {
            config: p.cfg,
            ignored: p.ignored,
        })
    } else {
        p.errors.sort_by_key(|e| (e.line, e.column));
        Err(ParseErrors(p.errors))
    }
}

impl Parser {
    fn ignore(&mut self, c: &Cur<'_>, reason: &'static str) {
        self.ignored.push(IgnoredLine {
            line: c.line,
            text: c.raw.trim().to_string(),
            reason,
        });
    }

    fn reference(&mut self, c: &Cur<'_>, kind: RefKind, name: &str, col: usize) {
        self.refs.push(Ref {
            kind,
            name: name.to_string(),
            line: c.line,
            col,
        });
    }

    fn line(&mut self, c: &mut Cur<'_>) -> R<()> {
        let first = c.peek().unwrap_or_default();
        // `no X` belongs to the current mode when X is one of its commands.
        let sub_no = first == "no"
            && matches!(
                (self.mode, c.peek_at(1).unwrap_or_default()),
                (Mode::Interface(_), "nameif" | "security-level")
                    | (Mode::ClassMap(_), "description" | "match")
                    | (Mode::PolicyMap(_) | Mode::PolicyClass(..), "class")
                    | (Mode::PolicyClass(..), "set" | "inspect")
            );
        if TOP.contains(&first) && !sub_no {
            self.mode = Mode::Top;
            return self.top(c);
        }
        if sub_no && c.peek_at(1) == Some("class") {
            let (Mode::PolicyMap(pm) | Mode::PolicyClass(pm, _)) = self.mode else {
                unreachable!("checked above")
            };
            return self.no_class(c, pm);
        }
        match self.mode {
            Mode::Top => {}
            Mode::Interface(i) => return self.interface_sub(c, i),
            Mode::Object(i) => return self.object_sub(c, i),
            Mode::Group(i) => return self.group_sub(c, i),
            Mode::ClassMap(i) => return self.class_map_sub(c, i),
            Mode::PolicyMap(i) | Mode::PolicyClass(i, _) if first == "class" => {
                return self.policy_class(c, i);
            }
            Mode::PolicyMap(_) if first == "description" => {
                self.ignore(c, "policy-map descriptions are not kept");
                return Ok(());
            }
            Mode::PolicyClass(i, k) if matches!(first, "set" | "inspect" | "no") => {
                return self.class_action(c, i, k);
            }
            Mode::PolicyMap(_) | Mode::PolicyClass(..) => {}
        }
        if HARMLESS.contains(&first) {
            self.mode = Mode::Top;
            self.ignore(c, harmless_reason(first));
            return Ok(());
        }
        Err(c.err(format!("unknown command '{first}'")))
    }

    fn top(&mut self, c: &mut Cur<'_>) -> R<()> {
        match c.next().unwrap_or_default() {
            "interface" => {
                let hw = c.word("interface name")?.to_string();
                c.done()?;
                let i = match self.cfg.interfaces.iter().position(|x| x.hardware == hw) {
                    Some(i) => i,
                    None => {
                        self.cfg.interfaces.push(Interface {
                            hardware: hw,
                            nameif: None,
                            security_level: None,
                        });
                        self.cfg.interfaces.len() - 1
                    }
                };
                self.mode = Mode::Interface(i);
                Ok(())
            }
            "object" => self.object(c),
            "object-group" => self.object_group(c),
            "access-list" => self.access_list(c),
            "access-group" => {
                let g = self.access_group(c)?;
                if self
                    .cfg
                    .access_groups
                    .iter()
                    .any(|x| x.interface == g.interface)
                {
                    self.cfg
                        .access_groups
                        .retain(|x| x.interface != g.interface);
                }
                self.cfg.access_groups.push(g);
                Ok(())
            }
            "class-map" => {
                let col = c.col();
                let name = c.word("class-map name")?.to_string();
                if name == "class-default" {
                    return Err(c.err_at(col, "class-default is reserved"));
                }
                if name.len() > 40 {
                    return Err(c.err_at(col, "class-map names are at most 40 characters"));
                }
                c.done()?;
                let i = match self.cfg.class_maps.iter().position(|m| m.name == name) {
                    Some(i) => i,
                    None => {
                        self.cfg.class_maps.push(ClassMap {
                            name,
                            description: None,
                            matcher: None,
                        });
                        self.cfg.class_maps.len() - 1
                    }
                };
                self.mode = Mode::ClassMap(i);
                Ok(())
            }
            "policy-map" => {
                let name = c.word("policy-map name")?.to_string();
                c.done()?;
                let i = match self.cfg.policy_maps.iter().position(|m| m.name == name) {
                    Some(i) => i,
                    None => {
                        self.cfg.policy_maps.push(PolicyMap {
                            name,
                            classes: Vec::new(),
                        });
                        self.cfg.policy_maps.len() - 1
                    }
                };
                self.mode = Mode::PolicyMap(i);
                Ok(())
            }
            "service-policy" => {
                let sp = self.service_policy(c)?;
                if self
                    .cfg
                    .service_policies
                    .iter()
                    .any(|x| x.scope == sp.scope)
                {
                    return Err(c.err_at(
                        1,
                        match &sp.scope {
                            ServiceScope::Global => {
                                "only one global service-policy is allowed".to_string()
                            }
                            ServiceScope::Interface(i) => {
                                format!("interface {i} already has a service-policy")
                            }
                        },
                    ));
                }
                self.cfg.service_policies.push(sp);
                Ok(())
            }
            "no" => self.no(c),
            other => Err(c.err_at(1, format!("unknown command '{other}'"))),
        }
    }

    // === interface ===

    fn interface_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        match c.peek().unwrap_or_default() {
            "nameif" => {
                c.next();
                let name = c.word("interface name")?.to_string();
                c.done()?;
                self.cfg.interfaces[i].nameif = Some(name);
            }
            "security-level" => {
                c.next();
                let col = c.col();
                let n: u8 = c.number("security level")?;
                if n > 100 {
                    return Err(c.err_at(col, "security-level must be 0-100"));
                }
                c.done()?;
                self.cfg.interfaces[i].security_level = Some(n);
            }
            "no" if matches!(c.peek_at(1), Some("nameif" | "security-level")) => {
                c.next();
                match c.next() {
                    Some("nameif") => self.cfg.interfaces[i].nameif = None,
                    _ => self.cfg.interfaces[i].security_level = None,
                }
            }
            _ => self.ignore(c, "interface setting not enforced by Rampart"),
        }
        Ok(())
    }

    // === objects and groups ===

    fn object(&mut self, c: &mut Cur<'_>) -> R<()> {
        let kind_col = c.col();
        let kind = c.word("'network' or 'service'")?;
        let name = c.word("object name")?.to_string();
        c.done()?;
        let placeholder = match kind {
            "network" => Object::Network {
                name: name.clone(),
                value: NetworkValue::Host(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            },
            "service" => Object::Service {
                name: name.clone(),
                value: ServiceValue {
                    protocol: Protocol::Ip,
                    source: None,
                    destination: None,
                },
            },
            _ => {
                return Err(c.err_at(
                    kind_col,
                    format!("expected 'network' or 'service', found '{kind}'"),
                ));
            }
        };
        let i = match self.cfg.objects.iter().position(|o| object_name(o) == name) {
            Some(i) => i,
            None => {
                self.cfg.objects.push(placeholder);
                self.cfg.objects.len() - 1
            }
        };
        self.mode = Mode::Object(i);
        Ok(())
    }

    fn object_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        if c.peek() == Some("description") {
            self.ignore(c, "descriptions are not kept");
            return Ok(());
        }
        match &mut self.cfg.objects[i] {
            Object::Network { value, .. } => {
                *value = network_value(c, false)?;
            }
            Object::Service { value, .. } => {
                c.keyword("service")?;
                *value = service_value(c)?;
            }
        }
        c.done()
    }

    fn object_group(&mut self, c: &mut Cur<'_>) -> R<()> {
        let kind_col = c.col();
        let kind = c.word("'network', 'service' or 'protocol'")?;
        let name = c.word("object-group name")?.to_string();
        let group = match kind {
            "network" => ObjectGroup::Network {
                name: name.clone(),
                members: Vec::new(),
            },
            "protocol" => ObjectGroup::Protocol {
                name: name.clone(),
                members: Vec::new(),
            },
            "service" => {
                let protocol = match c.next() {
                    None => None,
                    Some("tcp") => Some(PortProtocol::Tcp),
                    Some("udp") => Some(PortProtocol::Udp),
                    Some("tcp-udp") => Some(PortProtocol::TcpUdp),
                    Some(_) => {
                        c.i -= 1;
                        return Err(c.expected("'tcp', 'udp' or 'tcp-udp'"));
                    }
                };
                ObjectGroup::Service {
                    name: name.clone(),
                    protocol,
                    members: Vec::new(),
                }
            }
            other => {
                return Err(c.err_at(
                    kind_col,
                    format!("expected 'network', 'service' or 'protocol', found '{other}'"),
                ));
            }
        };
        c.done()?;
        let i = match self
            .cfg
            .object_groups
            .iter()
            .position(|g| group_name(g) == name)
        {
            Some(i) => i,
            None => {
                self.cfg.object_groups.push(group);
                self.cfg.object_groups.len() - 1
            }
        };
        self.mode = Mode::Group(i);
        Ok(())
    }

    fn group_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        if c.peek() == Some("description") {
            self.ignore(c, "descriptions are not kept");
            return Ok(());
        }
        let cmd = c.word("group member")?;
        let mut new_ref = None;
        let group = &mut self.cfg.object_groups[i];
        match (group, cmd) {
            (ObjectGroup::Network { members, .. }, "network-object") => {
                if c.eat("object") {
                    let col = c.col();
                    let n = c.word("object name")?.to_string();
                    new_ref = Some((RefKind::NetworkObject, n.clone(), col));
                    members.push(NetworkMember::Object(n));
                } else {
                    members.push(NetworkMember::Address(network_value(c, true)?));
                }
            }
            (
                ObjectGroup::Service {
                    protocol: Some(p),
                    members,
                    ..
                },
                "port-object",
            ) => {
                members.push(ServiceMember::Port(port_match(c, *p)?));
            }
            (
                ObjectGroup::Service {
                    protocol: None,
                    members,
                    ..
                },
                "service-object",
            ) => {
                if c.eat("object") {
                    let col = c.col();
                    let n = c.word("object name")?.to_string();
                    new_ref = Some((RefKind::ServiceObject, n.clone(), col));
                    members.push(ServiceMember::Object(n));
                } else {
                    members.push(ServiceMember::Service(service_value(c)?));
                }
            }
            (ObjectGroup::Protocol { members, .. }, "protocol-object") => {
                let col = c.col();
                let w = c.word("protocol")?;
                let p = ports::protocol(w)
                    .ok_or_else(|| c.err_at(col, format!("invalid protocol '{w}'")))?;
                members.push(ProtocolMember::Protocol(p));
            }
            (g, "group-object") => {
                let col = c.col();
                let n = c.word("object-group name")?.to_string();
                new_ref = Some((RefKind::AnyGroup, n.clone(), col));
                match g {
                    ObjectGroup::Network { members, .. } => members.push(NetworkMember::Group(n)),
                    ObjectGroup::Service { members, .. } => members.push(ServiceMember::Group(n)),
                    ObjectGroup::Protocol { members, .. } => members.push(ProtocolMember::Group(n)),
                }
            }
            (_, other) => {
                return Err(c.err_at(
                    c.toks[0].col,
                    format!("'{other}' is not a member command of this object-group"),
                ));
            }
        }
        c.done()?;
        if let Some((kind, name, col)) = new_ref {
            self.reference(c, kind, &name, col);
        }
        Ok(())
    }

    // === access lists ===

    fn access_list(&mut self, c: &mut Cur<'_>) -> R<()> {
        let name = c.word("access-list name")?.to_string();
        self.acl_names.insert(name.clone());
        let mut position = None;
        if c.eat("line") {
            let col = c.col();
            let n: usize = c.number("line number")?;
            if n == 0 {
                return Err(c.err_at(col, "line numbers start at 1"));
            }
            position = Some(n - 1);
        }
        let line = if c.eat("remark") {
            let text = c.rest();
            if text.is_empty() {
                return Err(c.expected("remark text"));
            }
            if text.chars().count() > 100 {
                return Err(c.err(format!(
                    "remarks are at most 100 characters, this one has {}",
                    text.chars().count()
                )));
            }
            AclLine::Remark(text.to_string())
        } else {
            c.eat("extended");
            AclLine::Ace(self.ace(c)?)
        };
        let acl = match self
            .cfg
            .access_lists
            .iter_mut()
            .position(|a| a.name == name)
        {
            Some(i) => &mut self.cfg.access_lists[i],
            None => {
                self.cfg.access_lists.push(AccessList {
                    name,
                    lines: Vec::new(),
                });
                self.cfg.access_lists.last_mut().expect("just pushed")
            }
        };
        let at = position.unwrap_or(acl.lines.len()).min(acl.lines.len());
        acl.lines.insert(at, line);
        Ok(())
    }

    fn ace(&mut self, c: &mut Cur<'_>) -> R<Ace> {
        let action = match c.peek() {
            Some("permit") => Action::Permit,
            Some("deny") => Action::Deny,
            _ => return Err(c.expected("permit or deny")),
        };
        c.next();
        let col = c.col();
        let (protocol, port_proto) = match c.peek() {
            Some("object") => {
                c.next();
                let n = c.word("service object name")?.to_string();
                self.reference(c, RefKind::ServiceObject, &n, col + 7);
                (ProtoSpec::Object(n), None)
            }
            Some("object-group") => {
                c.next();
                let gcol = c.col();
                let n = c.word("object-group name")?.to_string();
                self.reference(c, RefKind::ProtoOrServiceGroup, &n, gcol);
                // A protocol group's ACEs may carry tcp/udp port conditions.
                (ProtoSpec::Group(n), Some(PortProtocol::TcpUdp))
            }
            Some(w) => match ports::protocol(w) {
                Some(p) => {
                    c.next();
                    (ProtoSpec::Protocol(p), ports::port_protocol(p))
                }
                None => return Err(c.expected("protocol")),
            },
            None => return Err(c.expected("protocol")),
        };
        let source = self.address(c, "source address")?;
        let source_port = self.ports_opt(c, port_proto, "port or destination address")?;
        let destination = self.address(c, "destination address")?;
        let destination_port = self.ports_opt(c, port_proto, "end of command")?;
        let mut ace = Ace {
            action,
            protocol,
            source,
            source_port,
            destination,
            destination_port,
            log: false,
            inactive: false,
        };
        while let Some(w) = c.peek() {
            match w {
                "log" => {
                    c.next();
                    ace.log = true;
                    // Level, interval, disable, default: accepted, not kept.
                    while let Some(x) = c.peek() {
                        if x == "inactive" {
                            break;
                        }
                        c.next();
                    }
                }
                "inactive" => {
                    c.next();
                    ace.inactive = true;
                }
                "time-range" => return Err(c.err("time-range is not supported yet")),
                _ if matches!(ace.protocol, ProtoSpec::Protocol(Protocol::Number(1 | 58))) => {
                    return Err(c.err("icmp types are not supported yet; use icmp without a type"));
                }
                _ => return Err(c.err(format!("unexpected '{w}' after end of command"))),
            }
        }
        Ok(ace)
    }

    fn address(&mut self, c: &mut Cur<'_>, what: &str) -> R<AddrSpec> {
        let col = c.col();
        let Some(w) = c.peek() else {
            return Err(c.expected(what));
        };
        c.next();
        Ok(match w {
            "any" => AddrSpec::Any,
            "any4" => AddrSpec::Any4,
            "any6" => AddrSpec::Any6,
            "host" => AddrSpec::Host(c.ip("host address")?),
            "object" => {
                let ncol = c.col();
                let n = c.word("network object name")?.to_string();
                self.reference(c, RefKind::NetworkObject, &n, ncol);
                AddrSpec::Object(n)
            }
            "object-group" => {
                let ncol = c.col();
                let n = c.word("network object-group name")?.to_string();
                self.reference(c, RefKind::NetworkGroup, &n, ncol);
                AddrSpec::Group(n)
            }
            "interface" => {
                let ncol = c.col();
                let n = c.word("interface name")?.to_string();
                self.reference(c, RefKind::Interface, &n, ncol);
                AddrSpec::Interface(n)
            }
            w if w.contains('/') => {
                let (a, l) = w.split_once('/').unwrap_or((w, ""));
                match (a.parse::<Ipv6Addr>(), l.parse::<u8>()) {
                    (Ok(a), Ok(l)) if l <= 128 => {
                        if u128::from(a) & !mask128(l) != 0 {
                            return Err(
                                c.err_at(col, "address has host bits set beyond the prefix")
                            );
                        }
                        AddrSpec::V6Net(a, l)
                    }
                    _ => return Err(c.err_at(col, format!("invalid IPv6 prefix '{w}'"))),
                }
            }
            w => match w.parse::<Ipv4Addr>() {
                Ok(a) => {
                    let mcol = c.col();
                    if c.peek().is_none() {
                        return Err(c.expected("mask"));
                    }
                    let m = c.ipv4("mask")?;
                    check_mask(a, m)
                        .map_err(|(on_mask, e)| c.err_at(if on_mask { mcol } else { col }, e))?;
                    AddrSpec::V4Net(a, m)
                }
                Err(_) => {
                    c.i -= 1;
                    return Err(c.expected(what));
                }
            },
        })
    }

    /// An optional port condition after an address.
    fn ports_opt(
        &mut self,
        c: &mut Cur<'_>,
        p: Option<PortProtocol>,
        _next: &str,
    ) -> R<Option<PortSpec>> {
        match c.peek() {
            Some("eq" | "neq" | "lt" | "gt" | "range") => {
                let Some(p) = p else {
                    return Err(c.err("port conditions apply only to tcp, udp and sctp"));
                };
                Ok(Some(PortSpec::Match(port_match(c, p)?)))
            }
            // `object-group NAME` here is a port group if one of that name
            // was defined as a service group with a protocol.
            Some("object-group") if p.is_some() => {
                let name = c.peek_at(1).unwrap_or_default();
                let is_port_group = self
                    .cfg
                    .object_groups
                    .iter()
                    .any(|g| matches!(g, ObjectGroup::Service { name: n, protocol: Some(_), .. } if n == name));
                if !is_port_group {
                    return Ok(None);
                }
                c.next();
                let col = c.col();
                let n = c.word("port object-group name")?.to_string();
                self.reference(c, RefKind::PortGroup, &n, col);
                Ok(Some(PortSpec::Group(n)))
            }
            _ => Ok(None),
        }
    }

    fn access_group(&mut self, c: &mut Cur<'_>) -> R<AccessGroup> {
        let col = c.col();
        let acl = c.word("access-list name")?.to_string();
        match c.peek() {
            Some("in") => {
                c.next();
            }
            Some("out" | "global") => {
                return Err(c.err("only 'in interface' access-groups are supported"));
            }
            _ => return Err(c.expected("'in'")),
        }
        c.keyword("interface")?;
        let icol = c.col();
        let interface = c.word("interface name")?.to_string();
        c.done()?;
        self.reference(c, RefKind::Acl, &acl, col);
        self.reference(c, RefKind::Interface, &interface, icol);
        Ok(AccessGroup { acl, interface })
    }

    // === class-map, policy-map, service-policy ===

    fn class_map_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        match c.word("class-map command")? {
            "description" => {
                let text = c.rest();
                self.cfg.class_maps[i].description = Some(text.to_string());
                Ok(())
            }
            "match" => {
                if self.cfg.class_maps[i].matcher.is_some() {
                    return Err(c.err_at(c.toks[0].col, "a class-map takes one match command"));
                }
                let m = self.class_match(c)?;
                c.done()?;
                self.cfg.class_maps[i].matcher = Some(m);
                Ok(())
            }
            "no" => {
                match c.word("'description' or 'match'")? {
                    "description" => self.cfg.class_maps[i].description = None,
                    "match" => {
                        let m = self.class_match(c)?;
                        if self.cfg.class_maps[i].matcher.as_ref() != Some(&m) {
                            return Err(c.err_at(1, "no such match command in this class-map"));
                        }
                        self.cfg.class_maps[i].matcher = None;
                    }
                    _ => return Err(c.err_at(4, "expected 'description' or 'match'")),
                }
                Ok(())
            }
            other => Err(c.err_at(
                c.toks[0].col,
                format!("'{other}' is not a class-map command"),
            )),
        }
    }

    fn class_match(&mut self, c: &mut Cur<'_>) -> R<ClassMatch> {
        let col = c.col();
        match c.word("match criterion")? {
            "access-list" => {
                let ncol = c.col();
                let n = c.word("access-list name")?.to_string();
                self.reference(c, RefKind::Acl, &n, ncol);
                Ok(ClassMatch::AccessList(n))
            }
            "any" => Ok(ClassMatch::Any),
            "default-inspection-traffic" => Ok(ClassMatch::DefaultInspectionTraffic),
            "port" => {
                let p = match c.word("'tcp' or 'udp'")? {
                    "tcp" => PortProtocol::Tcp,
                    "udp" => PortProtocol::Udp,
                    _ => {
                        c.i -= 1;
                        return Err(c.expected("'tcp' or 'udp'"));
                    }
                };
                let pcol = c.col();
                let m = port_match(c, p)?;
                if !matches!(m, PortMatch::Eq(_) | PortMatch::Range(..)) {
                    return Err(c.err_at(pcol, "match port takes 'eq' or 'range'"));
                }
                Ok(ClassMatch::Port(p, m))
            }
            other => Err(c.err_at(col, format!("match {other} is not supported"))),
        }
    }

    fn policy_class(&mut self, c: &mut Cur<'_>, pm: usize) -> R<()> {
        c.keyword("class")?;
        let col = c.col();
        let name = c.word("class name")?.to_string();
        c.done()?;
        if name != "class-default" {
            self.reference(c, RefKind::ClassMap, &name, col);
        }
        let classes = &mut self.cfg.policy_maps[pm].classes;
        let k = match classes.iter().position(|x| x.class == name) {
            Some(k) => k,
            None => {
                classes.push(PolicyClass {
                    class: name,
                    connection: ConnectionSettings::default(),
                    inspects: Vec::new(),
                });
                classes.len() - 1
            }
        };
        self.mode = Mode::PolicyClass(pm, k);
        Ok(())
    }

    fn class_action(&mut self, c: &mut Cur<'_>, pm: usize, k: usize) -> R<()> {
        let negate = c.eat("no");
        match c.word("'set' or 'inspect'")? {
            "inspect" => {
                let what = c.rest().to_string();
                if what.is_empty() {
                    return Err(c.expected("inspection name"));
                }
                let class = &mut self.cfg.policy_maps[pm].classes[k];
                if negate {
                    class.inspects.retain(|x| *x != what);
                } else if !class.inspects.contains(&what) {
                    class.inspects.push(what);
                    self.ignore(c, "application inspection is not implemented");
                }
                Ok(())
            }
            "set" => {
                c.keyword("connection")?;
                let mut s = self.cfg.policy_maps[pm].classes[k].connection;
                set_connection(c, &mut s, negate)?;
                self.cfg.policy_maps[pm].classes[k].connection = s;
                Ok(())
            }
            other => Err(c.err_at(
                c.toks[usize::from(negate)].col,
                format!("'{other}' is not a class action"),
            )),
        }
    }

    fn service_policy(&mut self, c: &mut Cur<'_>) -> R<ServicePolicy> {
        let col = c.col();
        let policy_map = c.word("policy-map name")?.to_string();
        let scope = match c.peek() {
            Some("global") => {
                c.next();
                ServiceScope::Global
            }
            Some("interface") => {
                c.next();
                let icol = c.col();
                let i = c.word("interface name")?.to_string();
                self.reference(c, RefKind::Interface, &i, icol);
                ServiceScope::Interface(i)
            }
            _ => return Err(c.expected("'global' or 'interface'")),
        };
        c.done()?;
        self.reference(c, RefKind::PolicyMap, &policy_map, col);
        Ok(ServicePolicy { policy_map, scope })
    }

    // === no ===

    fn no(&mut self, c: &mut Cur<'_>) -> R<()> {
        let what = c.word("command to remove")?;
        match what {
            "access-list" => {
                let name = c.word("access-list name")?.to_string();
                let Some(ai) = self.cfg.access_lists.iter().position(|a| a.name == name) else {
                    return Err(c.err_at(c.toks[2].col, format!("no such access-list '{name}'")));
                };
                if c.peek().is_none() {
                    self.cfg.access_lists.remove(ai);
                    return Ok(());
                }
                let line = if c.eat("remark") {
                    AclLine::Remark(c.rest().to_string())
                } else {
                    c.eat("extended");
                    AclLine::Ace(self.ace(c)?)
                };
                let lines = &mut self.cfg.access_lists[ai].lines;
                match lines.iter().position(|l| *l == line) {
                    Some(i) => {
                        lines.remove(i);
                        Ok(())
                    }
                    None => Err(c.err_at(1, "no such line in the access-list")),
                }
            }
            "access-group" => {
                let g = self.access_group(c)?;
                let before = self.cfg.access_groups.len();
                self.cfg.access_groups.retain(|x| *x != g);
                if self.cfg.access_groups.len() == before {
                    return Err(c.err_at(1, "no such access-group"));
                }
                Ok(())
            }
            "class-map" | "policy-map" => {
                let name = c.word("name")?;
                c.done()?;
                let removed = if what == "class-map" {
                    let n = self.cfg.class_maps.len();
                    self.cfg.class_maps.retain(|m| m.name != name);
                    n != self.cfg.class_maps.len()
                } else {
                    let n = self.cfg.policy_maps.len();
                    self.cfg.policy_maps.retain(|m| m.name != name);
                    n != self.cfg.policy_maps.len()
                };
                if removed {
                    Ok(())
                } else {
                    Err(c.err_at(c.toks[2].col, format!("no such {what} '{name}'")))
                }
            }
            "service-policy" => {
                let sp = self.service_policy(c)?;
                let n = self.cfg.service_policies.len();
                self.cfg.service_policies.retain(|x| *x != sp);
                if n == self.cfg.service_policies.len() {
                    return Err(c.err_at(1, "no such service-policy"));
                }
                Ok(())
            }
            "object" | "object-group" => {
                c.word("object kind")?;
                let name = c.word("name")?;
                c.done()?;
                let removed = if what == "object" {
                    let n = self.cfg.objects.len();
                    self.cfg.objects.retain(|o| object_name(o) != name);
                    n != self.cfg.objects.len()
                } else {
                    let n = self.cfg.object_groups.len();
                    self.cfg.object_groups.retain(|g| group_name(g) != name);
                    n != self.cfg.object_groups.len()
                };
                if removed {
                    Ok(())
                } else {
                    Err(c.err_at(c.toks[3].col, format!("no such {what} '{name}'")))
                }
            }
            _ if HARMLESS.contains(&what) => {
                self.ignore(c, harmless_reason(what));
                Ok(())
            }
            _ => Err(c.err_at(c.toks[1].col, format!("unknown command 'no {what}'"))),
        }
    }

    /// `no class NAME` inside a policy-map.
    fn no_class(&mut self, c: &mut Cur<'_>, pm: usize) -> R<()> {
        c.keyword("no")?;
        c.keyword("class")?;
        let col = c.col();
        let name = c.word("class name")?;
        c.done()?;
        let classes = &mut self.cfg.policy_maps[pm].classes;
        let n = classes.len();
        classes.retain(|x| x.class != name);
        if classes.len() == n {
            return Err(c.err_at(col, format!("no such class '{name}' in this policy-map")));
        }
        self.mode = Mode::PolicyMap(pm);
        Ok(())
    }

    // === references ===

    fn check_refs(&mut self) {
        let cfg = &self.cfg;
        let has_ifaces = cfg.interfaces.iter().any(|i| i.nameif.is_some());
        for r in &self.refs {
            let name = r.name.as_str();
            let group = cfg.object_groups.iter().find(|g| group_name(g) == name);
            let object = cfg.objects.iter().find(|o| object_name(o) == name);
            let problem = match r.kind {
                RefKind::Acl => (!cfg.access_lists.iter().any(|a| a.name == name)
                    && !self.acl_names.contains(name))
                .then(|| format!("access-list '{name}' is not defined")),
                RefKind::ClassMap => (!cfg.class_maps.iter().any(|m| m.name == name))
                    .then(|| format!("class-map '{name}' is not defined")),
                RefKind::PolicyMap => (!cfg.policy_maps.iter().any(|m| m.name == name))
                    .then(|| format!("policy-map '{name}' is not defined")),
                RefKind::NetworkObject => (!matches!(object, Some(Object::Network { .. })))
                    .then(|| format!("network object '{name}' is not defined")),
                RefKind::ServiceObject => (!matches!(object, Some(Object::Service { .. })))
                    .then(|| format!("service object '{name}' is not defined")),
                RefKind::NetworkGroup => (!matches!(group, Some(ObjectGroup::Network { .. })))
                    .then(|| format!("network object-group '{name}' is not defined")),
                RefKind::PortGroup => (!matches!(
                    group,
                    Some(ObjectGroup::Service {
                        protocol: Some(_),
                        ..
                    })
                ))
                .then(|| format!("port object-group '{name}' is not defined")),
                RefKind::ProtoOrServiceGroup => (!matches!(
                    group,
                    Some(
                        ObjectGroup::Protocol { .. } | ObjectGroup::Service { protocol: None, .. }
                    )
                ))
                .then(|| format!("protocol or service object-group '{name}' is not defined")),
                RefKind::AnyGroup => group
                    .is_none()
                    .then(|| format!("object-group '{name}' is not defined")),
                RefKind::Interface => (has_ifaces
                    && !cfg
                        .interfaces
                        .iter()
                        .any(|i| i.nameif.as_deref() == Some(name)))
                .then(|| format!("interface '{name}' has no nameif in this configuration")),
            };
            if let Some(message) = problem {
                self.errors.push(ParseError {
                    line: r.line,
                    column: r.col,
                    message,
                });
            }
        }
        // group-object cycles
        for g in &cfg.object_groups {
            let mut seen = HashSet::new();
            if group_cycle(cfg, group_name(g), &mut seen) {
                let line = self
                    .refs
                    .iter()
                    .find(|r| r.kind == RefKind::AnyGroup && r.name == group_name(g))
                    .map_or(1, |r| r.line);
                self.errors.push(ParseError {
                    line,
                    column: 1,
                    message: format!("object-group '{}' contains itself", group_name(g)),
                });
                break;
            }
        }
    }
}

fn group_cycle(cfg: &Config, name: &str, path: &mut HashSet<String>) -> bool {
    if !path.insert(name.to_string()) {
        return true;
    }
    let children: Vec<&str> = match cfg.object_groups.iter().find(|g| group_name(g) == name) {
        Some(ObjectGroup::Network { members, .. }) => members
            .iter()
            .filter_map(|m| {
                if let NetworkMember::Group(g) = m {
                    Some(g.as_str())
                } else {
                    None
                }
            })
            .collect(),
        Some(ObjectGroup::Service { members, .. }) => members
            .iter()
            .filter_map(|m| {
                if let ServiceMember::Group(g) = m {
                    Some(g.as_str())
                } else {
                    None
                }
            })
            .collect(),
        Some(ObjectGroup::Protocol { members, .. }) => members
            .iter()
            .filter_map(|m| {
                if let ProtocolMember::Group(g) = m {
                    Some(g.as_str())
                } else {
                    None
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let cyclic = children.into_iter().any(|c| group_cycle(cfg, c, path));
    path.remove(name);
    cyclic
}

/// The name of an object.
pub fn object_name(o: &Object) -> &str {
    match o {
        Object::Network { name, .. } | Object::Service { name, .. } => name,
    }
}

/// The name of an object-group.
pub fn group_name(g: &ObjectGroup) -> &str {
    match g {
        ObjectGroup::Network { name, .. }
        | ObjectGroup::Service { name, .. }
        | ObjectGroup::Protocol { name, .. } => name,
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// A contiguous mask and an address without host bits; the error says
/// whether the mask (true) or the address (false) is at fault.
fn check_mask(a: Ipv4Addr, m: Ipv4Addr) -> Result<(), (bool, String)> {
    let m = u32::from(m);
    if m.leading_ones() + m.trailing_zeros() != 32 {
        return Err((true, "the mask is not contiguous".into()));
    }
    if u32::from(a) & !m != 0 {
        return Err((false, "address has host bits set beyond the mask".into()));
    }
    Ok(())
}

/// `host A`, `subnet A M`, `subnet A/L`, `range A B` (object), or for group
/// members `host A`, `A M`, `A/L`.
fn network_value(c: &mut Cur<'_>, member: bool) -> R<NetworkValue> {
    let col = c.col();
    let w = c.word("'host', 'subnet' or 'range'")?;
    let prefix = |c: &mut Cur<'_>, w: &str, col: usize| -> R<NetworkValue> {
        if let Some((a, l)) = w.split_once('/') {
            return match (a.parse::<Ipv6Addr>(), l.parse::<u8>()) {
                (Ok(a), Ok(l)) if l <= 128 && u128::from(a) & !mask128(l) == 0 => {
                    Ok(NetworkValue::V6Subnet(a, l))
                }
                _ => Err(c.err_at(col, format!("invalid IPv6 prefix '{w}'"))),
            };
        }
        let a: Ipv4Addr = w
            .parse()
            .map_err(|_| c.err_at(col, format!("invalid IPv4 address '{w}'")))?;
        let mcol = c.col();
        let m = c.ipv4("mask")?;
        check_mask(a, m).map_err(|(on_mask, e)| c.err_at(if on_mask { mcol } else { col }, e))?;
        Ok(NetworkValue::V4Subnet(a, m))
    };
    match w {
        "host" => Ok(NetworkValue::Host(c.ip("host address")?)),
        "subnet" if !member => {
            let col = c.col();
            let w = c.word("address")?;
            prefix(c, w, col)
        }
        "range" if !member => {
            let a = c.ip("first address")?;
            let col = c.col();
            let b = c.ip("last address")?;
            if a.is_ipv4() != b.is_ipv4() || a > b {
                return Err(c.err_at(
                    col,
                    "a range runs from a lower to a higher address of one family",
                ));
            }
            Ok(NetworkValue::Range(a, b))
        }
        w if member => prefix(c, w, col),
        _ => Err(c.err_at(
            col,
            format!("expected 'host', 'subnet' or 'range', found '{w}'"),
        )),
    }
}

/// `PROTO [source OP P] [destination OP P]`.
fn service_value(c: &mut Cur<'_>) -> R<ServiceValue> {
    let col = c.col();
    let w = c.word("protocol")?;
    let protocol =
        ports::protocol(w).ok_or_else(|| c.err_at(col, format!("invalid protocol '{w}'")))?;
    let pp = ports::port_protocol(protocol);
    let mut v = ServiceValue {
        protocol,
        source: None,
        destination: None,
    };
    for (kw, slot) in [("source", 0), ("destination", 1)] {
        if c.eat(kw) {
            let Some(p) = pp else {
                return Err(c.err("ports apply only to tcp, udp and sctp"));
            };
            let m = port_match(c, p)?;
            if slot == 0 {
                v.source = Some(m)
            } else {
                v.destination = Some(m)
            }
        }
    }
    Ok(v)
}

/// `eq|neq|lt|gt P` or `range A B`.
fn port_match(c: &mut Cur<'_>, p: PortProtocol) -> R<PortMatch> {
    let op = c.word("port operator")?;
    let port = |c: &mut Cur<'_>| -> R<u16> {
        let col = c.col();
        let w = c.word("port")?;
        let proto = match p {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
            PortProtocol::TcpUdp => "tcp-udp",
        };
        ports::port(w, p).ok_or_else(|| c.err_at(col, format!("invalid port '{w}' for {proto}")))
    };
    Ok(match op {
        "eq" => PortMatch::Eq(port(c)?),
        "neq" => PortMatch::Neq(port(c)?),
        "lt" => PortMatch::Lt(port(c)?),
        "gt" => PortMatch::Gt(port(c)?),
        "range" => {
            let a = port(c)?;
            let col = c.col();
            let b = port(c)?;
            if a > b {
                return Err(c.err_at(col, "a port range runs from the lower port to the higher"));
            }
            PortMatch::Range(a, b)
        }
        _ => {
            c.i -= 1;
            return Err(c.expected("'eq', 'neq', 'lt', 'gt' or 'range'"));
        }
    })
}

/// `H:MM:SS` with the ASA's bounds (H ≤ 1193).
fn hms(c: &mut Cur<'_>) -> R<Duration> {
    let col = c.col();
    let w = c.word("time as H:MM:SS")?;
    let parts: Vec<&str> = w.split(':').collect();
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some(&[h, m, s]) if h <= 1193 && m < 60 && s < 60 => {
            Ok(Duration::from_secs(h * 3600 + m * 60 + s))
        }
        _ => Err(c.err_at(col, format!("invalid time '{w}', expected H:MM:SS"))),
    }
}

/// The words after `set connection`: limits, randomization, timeouts,
/// advanced-options. With `negate`, the named options return to default.
fn set_connection(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<()> {
    match c.peek() {
        Some("timeout") => {
            c.next();
            if c.peek().is_none() {
                return Err(c.expected("'embryonic', 'half-closed' or 'idle'"));
            }
            while let Some(w) = c.peek() {
                let col = c.col();
                c.next();
                let (slot, min) = match w {
                    "embryonic" => (&mut s.timeout_embryonic, 5),
                    "half-closed" => (&mut s.timeout_half_closed, 30),
                    "idle" => (&mut s.timeout_idle, 1),
                    "dcd" => return Err(c.err_at(col, "dcd is not supported yet")),
                    _ => {
                        c.i -= 1;
                        return Err(c.expected("'embryonic', 'half-closed' or 'idle'"));
                    }
                };
                if negate {
                    *slot = None;
                    if w == "idle" {
                        s.idle_reset = false;
                    }
                    if c.peek().is_some_and(|x| x.contains(':')) {
                        c.next();
                    }
                    continue;
                }
                let tcol = c.col();
                let d = hms(c)?;
                if !d.is_zero() && d.as_secs() < min {
                    return Err(c.err_at(
                        tcol,
                        format!(
                            "{w} timeout must be at least 0:00:{min:02} (or 0:00:00 for never)"
                        ),
                    ));
                }
                *slot = Some(d);
                if w == "idle" {
                    s.idle_reset = c.eat("reset");
                }
            }
            Ok(())
        }
        Some("advanced-options") => {
            c.next();
            let col = c.col();
            let w = c.word("'tcp-state-bypass'")?;
            if w != "tcp-state-bypass" {
                return Err(c.err_at(
                    col,
                    format!("tcp-map '{w}' is not defined; only tcp-state-bypass is supported"),
                ));
            }
            c.done()?;
            s.tcp_state_bypass = !negate;
            Ok(())
        }
        Some("decrement-ttl") => {
            Err(c.err("decrement-ttl is not supported: Rampart bridges without touching TTLs"))
        }
        None => Err(c.expected("connection option")),
        Some(_) => {
            while let Some(w) = c.peek() {
                let col = c.col();
                c.next();
                let slot = match w {
                    "conn-max" => &mut s.conn_max,
                    "embryonic-conn-max" => &mut s.embryonic_conn_max,
                    "per-client-max" => &mut s.per_client_max,
                    "per-client-embryonic-max" => &mut s.per_client_embryonic_max,
                    "random-sequence-number" => {
                        if negate {
                            s.random_sequence_number = None;
                            c.eat("enable");
                            c.eat("disable");
                            continue;
                        }
                        s.random_sequence_number = Some(match c.word("'enable' or 'disable'")? {
                            "enable" => true,
                            "disable" => false,
                            _ => {
                                c.i -= 1;
                                return Err(c.expected("'enable' or 'disable'"));
                            }
                        });
                        continue;
                    }
                    _ => {
                        return Err(
                            c.err_at(col, format!("expected connection option, found '{w}'"))
                        );
                    }
                };
                if negate {
                    *slot = None;
                    if c.peek().is_some_and(|x| x.parse::<u32>().is_ok()) {
                        c.next();
                    }
                    continue;
                }
                let ncol = c.col();
                let n: u32 = c.number("limit")?;
                if n > 2_000_000 {
                    return Err(c.err_at(ncol, "limits are 0-2000000"));
                }
                *slot = Some(n);
            }
            Ok(())
        }
    }
}
