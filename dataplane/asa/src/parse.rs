//! The ASA configuration parser: a whole config text in, a [`Config`] out,
//! or every error with its line and column (a config with any error is
//! refused whole). Known but unenforced ASA commands are listed as ignored.
//!
//! Lines are commands; `interface`, `object`, `object-group`, `class-map`
//! and `policy-map` (and ` class` inside a policy-map) open a mode. A line
//! belongs to the open mode when its first word is one of the mode's
//! sub-commands; indentation is not required — configurations get pasted
//! with all kinds of whitespace — and a line whose first word is a
//! top-level command always returns to the top level, as on the ASA CLI.
//! Blocks of ASA features Rampart does not implement (`crypto`, `webvpn`,
//! `call-home`, `policy-map type inspect`, …) are ignored with their
//! indented sub-lines.
//!
//! Names are resolved once the whole text is read, so a reference may come
//! before its definition; a dangling or mistyped reference is reported at
//! the referring word. A reference whose line a later `no` removed is not
//! checked, so a pasted session may remove a line and then its object.
//!
//! Edits follow ASA configuration mode: a second `class-map`, `policy-map`,
//! `object-group` or `interface` block re-enters the first; a second
//! `object network NAME` gives it a new value; a repeated `set connection`
//! option overrides; a new class goes before `class-default`; an identical
//! group member is kept once; an access-list whose last line is removed is
//! gone. Choices beyond the ASA: an object without a value is refused (it
//! would match nothing, or everything for a service object); `log disable`
//! is kept as no `log`; `set connection decrement-ttl` is ignored (Rampart
//! is a bridge); icmp types, `time-range` and `dcd` are refused.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

use crate::ast::*;
use crate::ports::{self, PortNames};

// === public types ===

/// One error, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// Line, from 1.
    pub line: usize,
    /// Column (in characters), from 1; one past the end of the line for
    /// "expected …" at the end of a line.
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
    /// The line as written, without surrounding whitespace.
    pub text: String,
    /// Why it has no effect.
    pub reason: &'static str,
}

/// A parsed configuration and the lines it ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The configuration.
    pub config: Config,
    /// Lines accepted without effect, in line order.
    pub ignored: Vec<IgnoredLine>,
}

// === limits (spec/asa.md §2) ===

/// Longest class-map name (§2.1).
const CLASS_MAP_NAME_MAX_CHARS: usize = 40;
/// Longest ACL remark; the ASA refuses longer ones (Capirca cuts to this).
const REMARK_MAX_CHARS: usize = 100;
/// Longest class-map description the ASA takes.
const DESCRIPTION_MAX_CHARS: usize = 200;
/// Connection limits are 0–2000000 (§2.2).
const CONN_LIMIT_MAX: u32 = 2_000_000;
/// Longest class timeout: 1193:00:00 (§2.2).
const TIMEOUT_MAX_SECS: u64 = 1193 * 3600;
/// Shortest non-zero `timeout embryonic` (§2.2).
const EMBRYONIC_MIN_SECS: u64 = 5;
/// Shortest non-zero `timeout half-closed` (ASA ≥ 9.1(2), §2.2).
const HALF_CLOSED_MIN_SECS: u64 = 30;
/// Shortest non-zero `timeout idle` (§2.2).
const IDLE_MIN_SECS: u64 = 1;
/// `security-level` is 0–100.
const SECURITY_LEVEL_MAX: u32 = 100;
/// `log … interval N`: 1–600 seconds.
const LOG_INTERVAL_MAX_SECS: u32 = 600;

// === command tables ===

/// Top-level commands Rampart parses.
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

/// Top-level ASA commands accepted without effect.
const HARMLESS: &[&str] = &[
    "aaa",
    "aaa-server",
    "arp",
    "asdm",
    "ASA",
    "auto-update",
    "banner",
    "boot",
    "call-home",
    "clock",
    "cluster",
    "configure",
    "console",
    "coredump",
    "crashinfo",
    "crypto",
    "ctl-file",
    "dhcp-client",
    "dhcpd",
    "dhcprelay",
    "dns",
    "dns-guard",
    "domain-name",
    "dynamic-access-policy-record",
    "enable",
    "end",
    "exit",
    "failover",
    "firewall",
    "fixup",
    "flow-export",
    "fragment",
    "ftp",
    "global",
    "group-policy",
    "hostname",
    "http",
    "icmp",
    "ip",
    "ipv6",
    "jumbo-frame",
    "ldap",
    "license",
    "logging",
    "mac-address",
    "mac-address-table",
    "management-access",
    "media-termination",
    "monitor-interface",
    "mtu",
    "multicast-routing",
    "name",
    "names",
    "nat",
    "ntp",
    "pager",
    "passwd",
    "password-policy",
    "phone-proxy",
    "PIX",
    "prefix-list",
    "privilege",
    "prompt",
    "quit",
    "route",
    "route-map",
    "router",
    "same-security-traffic",
    "service",
    "sla",
    "snmp-server",
    "ssh",
    "ssl",
    "static",
    "sysopt",
    "tcp-map",
    "telnet",
    "terminal",
    "tftp-server",
    "threat-detection",
    "time-range",
    "timeout",
    "tls-proxy",
    "track",
    "tunnel-group",
    "uc-ime",
    "user-identity",
    "username",
    "vpn",
    "vpn-addr-assign",
    "webvpn",
    "write",
    "xlate",
    "zone",
];

/// Harmless commands that open an ASA mode: their indented sub-lines are
/// ignored with them.
const BLOCKS: &[&str] = &[
    "aaa-server",
    "call-home",
    "cluster",
    "crypto",
    "ctl-file",
    "dns",
    "dynamic-access-policy-record",
    "failover",
    "group-policy",
    "ldap",
    "license",
    "media-termination",
    "phone-proxy",
    "route-map",
    "router",
    "sla",
    "tcp-map",
    "time-range",
    "tls-proxy",
    "tunnel-group",
    "uc-ime",
    "username",
    "vpn",
    "webvpn",
    "zone",
];

/// Interface sub-commands that are also top-level words; inside an
/// interface they must be indented.
const INTERFACE_ALSO: &[&str] = &["ip", "ipv6", "mac-address", "dhcp-client"];
/// `object network` sub-commands.
const OBJECT_NETWORK_SUBS: &[&str] = &["host", "subnet", "range", "fqdn", "description", "nat"];
/// `object service` sub-commands.
const OBJECT_SERVICE_SUBS: &[&str] = &["service", "description"];
/// `object-group` sub-commands (of any kind; the kind is checked later).
const GROUP_SUBS: &[&str] = &[
    "network-object",
    "port-object",
    "service-object",
    "protocol-object",
    "group-object",
    "icmp-object",
    "description",
];
/// `class-map` sub-commands.
const CLASS_MAP_SUBS: &[&str] = &["match", "description"];
/// `policy-map` and class sub-commands Rampart parses.
const POLICY_SUBS: &[&str] = &["class", "description", "set", "inspect"];
/// Class actions of other ASA features, accepted without effect.
const CLASS_IGNORED: &[&str] = &[
    "police",
    "priority",
    "shape",
    "ips",
    "csc",
    "cxsc",
    "sfr",
    "user-statistics",
    "flow-export",
];
/// Syslog levels a `log` option may name.
const LOG_LEVELS: &[&str] = &[
    "emergencies",
    "alerts",
    "critical",
    "errors",
    "warnings",
    "notifications",
    "informational",
    "debugging",
];

const REASON_HARMLESS: &str = "not enforced by Rampart";
const REASON_BLOCK: &str = "inside a block Rampart does not enforce";
const REASON_INTERFACE: &str = "interface setting not enforced by Rampart";
const REASON_DESCRIPTION: &str = "descriptions are not kept";
const REASON_INSPECT: &str = "application inspection is not implemented";
const REASON_CLASS_ACTION: &str = "class action not enforced by Rampart";
const REASON_NAT: &str = "NAT is not implemented: addresses pass untranslated";
const REASON_TYPED_MAP: &str =
    "inspection and management class-maps and policy-maps are not enforced";
const REASON_DECREMENT_TTL: &str =
    "decrement-ttl is not enforced: Rampart forwards as a bridge and leaves TTLs alone";
const REASON_DUPLICATE_MEMBER: &str = "duplicate of an existing member";

fn is_harmless(word: &str) -> bool {
    HARMLESS.contains(&word) || word.starts_with("Cryptochecksum:")
}

/// A word that starts a top-level command (parsed or ignored).
fn is_command(word: &str) -> bool {
    TOP.contains(&word) || is_harmless(word)
}

fn harmless_reason(word: &str) -> &'static str {
    match word {
        "timeout" => "global timeouts come from the node configuration for now",
        "same-security-traffic" => {
            "same-security-traffic is not implemented: equal security levels pass only where an access-group permits"
        }
        "nat" | "global" | "static" => REASON_NAT,
        _ => REASON_HARMLESS,
    }
}

// === tokens ===

/// A word of a line and where it starts.
#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    /// 1-based column, in characters.
    col: usize,
    /// Byte offset in the line.
    byte: usize,
}

/// A cursor over one line's words.
#[derive(Debug)]
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
        let mut start: Option<(usize, usize)> = None;
        for (col, (byte, ch)) in raw.char_indices().enumerate() {
            if ch.is_whitespace() {
                if let Some((b, c)) = start.take() {
                    toks.push(Tok {
                        text: &raw[b..byte],
                        col: c,
                        byte: b,
                    });
                }
            } else if start.is_none() {
                start = Some((byte, col + 1));
            }
        }
        if let Some((b, c)) = start {
            toks.push(Tok {
                text: &raw[b..],
                col: c,
                byte: b,
            });
        }
        Cur {
            line,
            raw,
            toks,
            i: 0,
        }
    }

    fn indented(&self) -> bool {
        self.raw.starts_with(char::is_whitespace)
    }

    /// One past the last character of the line.
    fn end_col(&self) -> usize {
        self.raw.trim_end().chars().count() + 1
    }

    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).map(|t| t.text)
    }

    fn peek_at(&self, k: usize) -> Option<&'a str> {
        self.toks.get(self.i + k).map(|t| t.text)
    }

    /// Column of the next word, or one past the end.
    fn col(&self) -> usize {
        self.toks
            .get(self.i)
            .map_or_else(|| self.end_col(), |t| t.col)
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.toks.get(self.i).copied()?;
        self.i += 1;
        Some(t)
    }

    fn back(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn err_at(&self, col: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: col,
            message: message.into(),
        }
    }

    /// An error at the next word (or the end of the line).
    fn err(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.col(), message)
    }

    /// "expected X" at the next word, naming what was found, or at the end.
    fn expected(&self, what: &str) -> ParseError {
        match self.toks.get(self.i) {
            Some(t) => self.err_at(t.col, format!("expected {what}, found '{}'", t.text)),
            None => self.err_at(self.end_col(), format!("expected {what}")),
        }
    }

    /// The next word, or "expected WHAT".
    fn word(&mut self, what: &str) -> R<Tok<'a>> {
        self.next().ok_or_else(|| self.expected(what))
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

    /// The rest of the line from the next word, verbatim (trailing
    /// whitespace dropped), and its column; consumes every word.
    fn rest(&mut self) -> Option<(&'a str, usize)> {
        let t = self.toks.get(self.i).copied()?;
        self.i = self.toks.len();
        Some((self.raw[t.byte..].trim_end(), t.col))
    }

    /// The remaining words joined by single spaces.
    fn rest_words(&mut self) -> String {
        let words: Vec<&str> = self.toks[self.i.min(self.toks.len())..]
            .iter()
            .map(|t| t.text)
            .collect();
        self.i = self.toks.len();
        words.join(" ")
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
}

// === references ===

/// The kind of an object-group, for reference checks and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    Network,
    Port(PortProtocol),
    Service,
    Protocol,
}

impl GroupKind {
    fn of(g: &ObjectGroup) -> GroupKind {
        match g {
            ObjectGroup::Network { .. } => GroupKind::Network,
            ObjectGroup::Service {
                protocol: Some(p), ..
            } => GroupKind::Port(*p),
            ObjectGroup::Service { protocol: None, .. } => GroupKind::Service,
            ObjectGroup::Protocol { .. } => GroupKind::Protocol,
        }
    }

    fn label(self) -> &'static str {
        match self {
            GroupKind::Network => "network",
            GroupKind::Port(PortProtocol::Tcp) => "tcp port",
            GroupKind::Port(PortProtocol::Udp) => "udp port",
            GroupKind::Port(PortProtocol::TcpUdp) => "tcp-udp port",
            GroupKind::Service => "service",
            GroupKind::Protocol => "protocol",
        }
    }
}

/// What a name must refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RefKind {
    Acl,
    ClassMap,
    PolicyMap,
    Interface,
    NetworkObject,
    ServiceObject,
    /// A network group (ACE address).
    NetworkGroup,
    /// A port group usable with these port names (ACE port position).
    PortGroup(PortNames),
    /// A protocol or service group (ACE protocol position, no ports).
    ProtoOrServiceGroup,
    /// A protocol group (ACE protocol position followed by ports).
    ProtocolGroup,
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
enum Owner {
    /// Always checked.
    Always,
    /// An ACL line or a group member, by [`acl_line_key`] or
    /// [`member_key`] (there can be tens of thousands; they are looked up
    /// in a set).
    Keyed(String),
    AccessGroup(AccessGroup),
    ClassMatch {
        class_map: String,
        matcher: ClassMatch,
    },
    PolicyClass {
        policy: String,
        class: String,
    },
    ServicePolicy(ServicePolicy),
}

fn acl_line_key(acl: &str, line: &AclLine) -> String {
    format!("access-list {acl} {line:?}")
}

fn member_key(group: &str, m: &Stored) -> String {
    format!("object-group {group} {m:?}")
}

/// A name referenced somewhere, checked once everything is defined.
#[derive(Debug, Clone)]
struct Ref {
    kind: RefKind,
    name: String,
    line: usize,
    col: usize,
    owner: Owner,
}

// === parser state ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Top,
    /// After a mode command that failed: its sub-lines are skipped, so one
    /// mistake is reported once.
    Skip,
    /// Inside an ASA block Rampart ignores: indented lines are ignored.
    Ignored,
    Interface(usize),
    Object(usize),
    Group(usize),
    ClassMap(usize),
    PolicyMap(usize),
    PolicyClass(usize, usize),
}

/// Where an object without a value was opened.
#[derive(Debug)]
struct Valueless {
    name: String,
    line: usize,
    col: usize,
}

#[derive(Debug)]
struct Parser {
    cfg: Config,
    ignored: Vec<IgnoredLine>,
    errors: Vec<ParseError>,
    refs: Vec<Ref>,
    mode: Mode,
    /// Objects opened but not yet given a value.
    valueless: Vec<Valueless>,
    /// ACL names of lines with errors, so references to them are not
    /// reported a second time.
    broken_acls: HashSet<String>,
    /// ACLs of kinds Rampart ignores (`standard`, `ethertype`, `webtype`).
    other_acls: HashMap<String, &'static str>,
    /// Whether anything was removed or replaced: only then can a
    /// reference's construct be gone (checking costs a scan per reference).
    edited: bool,
}

/// Parse a whole configuration.
pub fn parse_config(text: &str) -> Result<Parsed, ParseErrors> {
    let mut p = Parser {
        cfg: Config::default(),
        ignored: Vec::new(),
        errors: Vec::new(),
        refs: Vec::new(),
        mode: Mode::Top,
        valueless: Vec::new(),
        broken_acls: HashSet::new(),
        other_acls: HashMap::new(),
        edited: false,
    };
    for (n, raw) in text.lines().enumerate() {
        let mut c = Cur::new(n + 1, raw);
        let Some(first) = c.peek() else { continue };
        if first.starts_with('!') || first.starts_with(':') {
            continue;
        }
        let refs_before = p.refs.len();
        if let Err(e) = p.line(&mut c) {
            // A broken line's references would only repeat its error.
            p.refs.truncate(refs_before);
            p.errors.push(e);
        }
    }
    p.finish();
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

    fn reference(&mut self, c: &Cur<'_>, kind: RefKind, t: Tok<'_>) {
        self.refs.push(Ref {
            kind,
            name: t.text.to_string(),
            line: c.line,
            col: t.col,
            owner: Owner::Always,
        });
    }

    /// Give the references made since `from` their construct.
    fn own(&mut self, from: usize, owner: &Owner) {
        for r in &mut self.refs[from..] {
            r.owner = owner.clone();
        }
    }

    // === modes ===

    /// Whether the line is a sub-command of the open mode.
    fn owns(&self, c: &Cur<'_>) -> bool {
        let Some(first) = c.peek() else { return false };
        let w = if first == "no" {
            c.peek_at(1).unwrap_or_default()
        } else {
            first
        };
        match self.mode {
            Mode::Top => false,
            Mode::Skip => !is_command(w),
            Mode::Ignored => c.indented() && !TOP.contains(&w),
            // `ip`, `ipv6`, … are interface settings and top-level commands
            // alike: indentation decides (show run indents the former).
            Mode::Interface(_) => !is_command(w) || (c.indented() && INTERFACE_ALSO.contains(&w)),
            Mode::Object(i) => match &self.cfg.objects[i] {
                Object::Network { .. } => OBJECT_NETWORK_SUBS.contains(&w),
                Object::Service { .. } => OBJECT_SERVICE_SUBS.contains(&w),
            },
            Mode::Group(_) => GROUP_SUBS.contains(&w),
            Mode::ClassMap(_) => CLASS_MAP_SUBS.contains(&w),
            Mode::PolicyMap(_) | Mode::PolicyClass(..) => {
                POLICY_SUBS.contains(&w) || CLASS_IGNORED.contains(&w)
            }
        }
    }

    fn mode_label(&self) -> &'static str {
        match self.mode {
            Mode::Top | Mode::Skip | Mode::Ignored => "top-level",
            Mode::Interface(_) => "interface",
            Mode::Object(i) => match &self.cfg.objects[i] {
                Object::Network { .. } => "object network",
                Object::Service { .. } => "object service",
            },
            Mode::Group(_) => "object-group",
            Mode::ClassMap(_) => "class-map",
            Mode::PolicyMap(_) | Mode::PolicyClass(..) => "policy-map",
        }
    }

    fn line(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.edited |= c.peek() == Some("no");
        if self.owns(c) {
            return match self.mode {
                Mode::Top | Mode::Skip => Ok(()),
                Mode::Ignored => {
                    self.ignore(c, REASON_BLOCK);
                    Ok(())
                }
                Mode::Interface(i) => self.interface_sub(c, i),
                Mode::Object(i) => self.object_sub(c, i),
                Mode::Group(i) => self.group_sub(c, i),
                Mode::ClassMap(i) => self.class_map_sub(c, i),
                Mode::PolicyMap(p) => self.policy_sub(c, p, None),
                Mode::PolicyClass(p, k) => self.policy_sub(c, p, Some(k)),
            };
        }
        let first = c.peek().unwrap_or_default();
        // An indented unknown word inside a mode is a mistyped sub-command:
        // report it and stay in the mode, so its siblings still parse.
        if c.indented()
            && !is_command(first)
            && !matches!(self.mode, Mode::Top | Mode::Skip | Mode::Ignored)
        {
            return Err(c.err(format!("unknown {} command '{first}'", self.mode_label())));
        }
        self.mode = Mode::Top;
        if first == "no" {
            return self.no(c);
        }
        if TOP.contains(&first) {
            return self.top(c);
        }
        if is_harmless(first) {
            self.ignore(c, harmless_reason(first));
            if BLOCKS.contains(&first) {
                self.mode = Mode::Ignored;
            }
            return Ok(());
        }
        Err(c.err(format!("unknown command '{first}'")))
    }

    fn top(&mut self, c: &mut Cur<'_>) -> R<()> {
        let Some(cmd) = c.next() else { return Ok(()) };
        match cmd.text {
            "interface" => self.interface(c),
            "object" => self.object(c),
            "object-group" => self.object_group(c),
            "access-list" => {
                let name = c.word("access-list name")?;
                let r = self.access_list(c, name);
                if r.is_err() {
                    self.broken_acls.insert(name.text.to_string());
                }
                r
            }
            "access-group" => self.access_group(c),
            "class-map" => self.class_map(c),
            "policy-map" => self.policy_map(c),
            "service-policy" => self.service_policy(c),
            other => Err(c.err_at(cmd.col, format!("unknown command '{other}'"))),
        }
    }

    // === interface ===

    fn interface(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let hw = c.word("interface name")?.text.to_string();
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

    fn interface_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        match (c.peek().unwrap_or_default(), negate) {
            ("nameif", false) => {
                c.next();
                let name = c.word("interface name")?;
                c.done()?;
                if let Some(other) = self
                    .cfg
                    .interfaces
                    .iter()
                    .enumerate()
                    .find(|&(k, x)| k != i && x.nameif.as_deref() == Some(name.text))
                {
                    return Err(c.err_at(
                        name.col,
                        format!(
                            "nameif '{}' is already used by interface {}",
                            name.text, other.1.hardware
                        ),
                    ));
                }
                self.cfg.interfaces[i].nameif = Some(name.text.to_string());
            }
            ("security-level", false) => {
                c.next();
                let t = c.word("security level")?;
                let n = t
                    .text
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n <= SECURITY_LEVEL_MAX)
                    .ok_or_else(|| c.err_at(t.col, "security-level must be 0-100"))?;
                c.done()?;
                self.cfg.interfaces[i].security_level = Some(n as u8);
            }
            ("nameif", true) => {
                c.next();
                c.rest();
                self.cfg.interfaces[i].nameif = None;
            }
            ("security-level", true) => {
                c.next();
                c.rest();
                self.cfg.interfaces[i].security_level = None;
            }
            ("", true) => return Err(c.expected("interface setting to remove")),
            _ => self.ignore(c, REASON_INTERFACE),
        }
        Ok(())
    }

    // === objects ===

    /// Refuse a name already used by the other namespace half (objects and
    /// object-groups share one namespace on the ASA).
    fn check_name_free(&self, c: &Cur<'_>, t: Tok<'_>, for_group: bool) -> R<()> {
        let clash = if for_group {
            self.cfg.objects.iter().any(|o| object_name(o) == t.text)
        } else {
            self.cfg
                .object_groups
                .iter()
                .any(|g| group_name(g) == t.text)
        };
        if clash {
            let what = if for_group {
                "an object"
            } else {
                "an object-group"
            };
            return Err(c.err_at(t.col, format!("'{}' is already {what}", t.text)));
        }
        Ok(())
    }

    fn object(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let kind = c.word("'network' or 'service'")?;
        let service = match kind.text {
            "network" => false,
            "service" => true,
            _ => {
                c.back();
                return Err(c.expected("'network' or 'service'"));
            }
        };
        let name = c.word("object name")?;
        c.done()?;
        self.check_name_free(c, name, false)?;
        let i = match self
            .cfg
            .objects
            .iter()
            .position(|o| object_name(o) == name.text)
        {
            Some(i) => {
                let is_service = matches!(self.cfg.objects[i], Object::Service { .. });
                if is_service != service {
                    let was = if is_service { "service" } else { "network" };
                    return Err(c.err_at(
                        kind.col,
                        format!("object '{}' already exists as a {was} object", name.text),
                    ));
                }
                i
            }
            None => {
                let n = name.text.to_string();
                // A placeholder until the value line; `finish` refuses an
                // object that never gets one.
                self.cfg.objects.push(if service {
                    Object::Service {
                        name: n.clone(),
                        value: ServiceValue {
                            protocol: Protocol::Ip,
                            source: None,
                            destination: None,
                        },
                    }
                } else {
                    Object::Network {
                        name: n.clone(),
                        value: NetworkValue::Host(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    }
                });
                self.valueless.push(Valueless {
                    name: n,
                    line: c.line,
                    col: name.col,
                });
                self.cfg.objects.len() - 1
            }
        };
        self.mode = Mode::Object(i);
        Ok(())
    }

    fn object_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let r = self.object_value(c, i);
        if r.is_err() {
            // The object is reported at its value line, not again as valueless.
            let name = object_name(&self.cfg.objects[i]).to_string();
            self.valueless.retain(|v| v.name != name);
        }
        r
    }

    fn object_value(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.peek().unwrap_or_default();
        match cmd {
            "description" => {
                self.ignore(c, REASON_DESCRIPTION);
                return Ok(());
            }
            "nat" => {
                self.ignore(c, REASON_NAT);
                return Ok(());
            }
            _ if negate => {
                return Err(c.err(format!(
                    "an object's '{cmd}' cannot be removed; give it a new value or remove the object"
                )));
            }
            _ => {}
        }
        match &mut self.cfg.objects[i] {
            Object::Network { value, .. } => {
                let v = object_network_value(c)?;
                c.done()?;
                *value = v;
            }
            Object::Service { value, .. } => {
                c.keyword("service")?;
                let col = c.col();
                let v = service_value(c)?;
                c.done()?;
                let Some(v) = v.single() else {
                    return Err(c.err_at(
                        col,
                        "a service object takes one protocol; use an object-group service for tcp-udp",
                    ));
                };
                *value = v;
            }
        }
        let name = object_name(&self.cfg.objects[i]).to_string();
        self.valueless.retain(|v| v.name != name);
        Ok(())
    }

    // === object-groups ===

    fn object_group(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        let kind = c.word("'network', 'service' or 'protocol'")?;
        match kind.text {
            "network" | "service" | "protocol" => {}
            "icmp-type" | "user" | "security" | "network-service" => {
                return Err(c.err_at(
                    kind.col,
                    format!("object-group {} is not supported", kind.text),
                ));
            }
            _ => {
                c.back();
                return Err(c.expected("'network', 'service' or 'protocol'"));
            }
        }
        let name = c.word("object-group name")?;
        let mut port_proto = None;
        if kind.text == "service" {
            port_proto = match c.next().map(|t| t.text) {
                None => None,
                Some("tcp") => Some(PortProtocol::Tcp),
                Some("udp") => Some(PortProtocol::Udp),
                Some("tcp-udp") => Some(PortProtocol::TcpUdp),
                Some(_) => {
                    c.back();
                    return Err(c.expected("'tcp', 'udp' or 'tcp-udp'"));
                }
            };
        }
        c.done()?;
        self.check_name_free(c, name, true)?;
        let n = name.text.to_string();
        let group = match kind.text {
            "network" => ObjectGroup::Network {
                name: n,
                members: Vec::new(),
            },
            "protocol" => ObjectGroup::Protocol {
                name: n,
                members: Vec::new(),
            },
            _ => ObjectGroup::Service {
                name: n,
                protocol: port_proto,
                members: Vec::new(),
            },
        };
        let i = match self
            .cfg
            .object_groups
            .iter()
            .position(|g| group_name(g) == name.text)
        {
            Some(i) => {
                let was = GroupKind::of(&self.cfg.object_groups[i]);
                if was != GroupKind::of(&group) {
                    return Err(c.err_at(
                        kind.col,
                        format!(
                            "object-group '{}' already exists as a {} group",
                            name.text,
                            was.label()
                        ),
                    ));
                }
                i
            }
            None => {
                self.cfg.object_groups.push(group);
                self.cfg.object_groups.len() - 1
            }
        };
        self.mode = Mode::Group(i);
        Ok(())
    }

    fn group_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("object-group member")?;
        if cmd.text == "description" {
            self.ignore(c, REASON_DESCRIPTION);
            return Ok(());
        }
        let kind = GroupKind::of(&self.cfg.object_groups[i]);
        let refs_before = self.refs.len();
        let members = self.group_member(c, cmd, kind, i)?;
        c.done()?;
        let group = &mut self.cfg.object_groups[i];
        let gname = group_name(group).to_string();
        if negate {
            self.refs.truncate(refs_before);
            let mut removed = false;
            for m in &members {
                removed |= group_remove(group, m);
            }
            if !removed {
                return Err(c.err_at(cmd.col, format!("no such member in object-group '{gname}'")));
            }
            return Ok(());
        }
        let mut added = false;
        for m in &members {
            added |= group_add(group, m);
        }
        if !added {
            self.refs.truncate(refs_before);
            self.ignore(c, REASON_DUPLICATE_MEMBER);
        } else if let [member] = members.as_slice()
            && let Some(m) = stored(&self.cfg.object_groups[i], member)
        {
            self.own(refs_before, &Owner::Keyed(member_key(&gname, &m)));
        }
        Ok(())
    }

    /// The member(s) a member line names (a `tcp-udp` service-object is a
    /// tcp and a udp member).
    fn group_member(
        &mut self,
        c: &mut Cur<'_>,
        cmd: Tok<'_>,
        kind: GroupKind,
        i: usize,
    ) -> R<Vec<Member>> {
        let parent = group_name(&self.cfg.object_groups[i]).to_string();
        let wrong = |c: &Cur<'_>| {
            c.err_at(
                cmd.col,
                format!("'{}' does not belong in a {} group", cmd.text, kind.label()),
            )
        };
        Ok(match (cmd.text, kind) {
            ("group-object", _) => {
                let n = c.word("object-group name")?;
                self.reference(c, RefKind::Member { parent, kind }, n);
                vec![Member::Group(n.text.to_string())]
            }
            ("network-object", GroupKind::Network) => {
                if c.eat("object") {
                    let n = c.word("network object name")?;
                    self.reference(c, RefKind::NetworkObject, n);
                    vec![Member::NetworkObject(n.text.to_string())]
                } else {
                    vec![Member::Network(group_network_value(c)?)]
                }
            }
            ("port-object", GroupKind::Port(p)) => {
                vec![Member::Port(port_match(c, p.into(), Ops::EqRange)?)]
            }
            ("service-object", GroupKind::Service) => {
                if c.eat("object") {
                    let n = c.word("service object name")?;
                    self.reference(c, RefKind::ServiceObject, n);
                    vec![Member::ServiceObject(n.text.to_string())]
                } else {
                    service_value(c)?
                        .values()
                        .into_iter()
                        .map(Member::Service)
                        .collect()
                }
            }
            ("protocol-object", GroupKind::Protocol) => {
                let t = c.word("protocol")?;
                let p = ports::protocol(t.text)
                    .ok_or_else(|| c.err_at(t.col, format!("invalid protocol '{}'", t.text)))?;
                vec![Member::Protocol(p)]
            }
            _ => return Err(wrong(c)),
        })
    }

    // === access lists ===

    fn access_list(&mut self, c: &mut Cur<'_>, name: Tok<'_>) -> R<()> {
        let position = if c.eat("line") {
            Some(line_number(c)?)
        } else {
            None
        };
        if let Some(kind) = c
            .peek()
            .filter(|w| matches!(*w, "standard" | "ethertype" | "webtype"))
        {
            if self.cfg.access_lists.iter().any(|a| a.name == name.text) {
                return Err(c.err(format!(
                    "access-list '{}' is an extended access-list",
                    name.text
                )));
            }
            let reason = match kind {
                "standard" => {
                    "standard access-lists serve routing and VPN features Rampart does not implement"
                }
                "ethertype" => "ethertype access-lists are not enforced: Rampart filters IP only",
                _ => "webtype access-lists serve clientless VPN, which Rampart does not implement",
            };
            self.other_acls.insert(name.text.to_string(), reason);
            self.ignore(c, reason);
            return Ok(());
        }
        if self.other_acls.contains_key(name.text) && c.peek() != Some("remark") {
            return Err(c.err(format!(
                "access-list '{}' is not an extended access-list",
                name.text
            )));
        }
        let refs_before = self.refs.len();
        let line = if c.eat("remark") {
            AclLine::Remark(remark(c)?.to_string())
        } else {
            c.eat("extended");
            AclLine::Ace(self.ace(c)?)
        };
        self.own(refs_before, &Owner::Keyed(acl_line_key(name.text, &line)));
        if let Some(reason) = self.other_acls.get(name.text) {
            // A remark of an ignored access-list.
            self.ignore(c, reason);
            return Ok(());
        }
        let acl = match self
            .cfg
            .access_lists
            .iter()
            .position(|a| a.name == name.text)
        {
            Some(i) => &mut self.cfg.access_lists[i],
            None => {
                self.cfg.access_lists.push(AccessList {
                    name: name.text.to_string(),
                    lines: Vec::new(),
                });
                self.cfg.access_lists.last_mut().expect("just pushed")
            }
        };
        // `line N` inserts before the current Nth line (remarks count); a
        // number past the end appends.
        let at = position.map_or(acl.lines.len(), |n| (n - 1).min(acl.lines.len()));
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
        // What may follow the addresses: port names, or why no ports.
        let (protocol, ports): (ProtoSpec, Result<PortNames, &'static str>) = match c.next() {
            Some(t) if t.text == "object" => {
                let n = c.word("service object name")?;
                self.reference(c, RefKind::ServiceObject, n);
                (
                    ProtoSpec::Object(n.text.to_string()),
                    Err("ports come from the service object, not the access-list line"),
                )
            }
            Some(t) if t.text == "object-group" => {
                let n = c.word("object-group name")?;
                let known = self
                    .cfg
                    .object_groups
                    .iter()
                    .find(|g| group_name(g) == n.text)
                    .map(GroupKind::of);
                let ports = if known == Some(GroupKind::Service) {
                    Err("ports come from the service object-group, not the access-list line")
                } else {
                    Ok(PortNames::TcpUdp)
                };
                let at = self.refs.len();
                self.reference(c, RefKind::ProtoOrServiceGroup, n);
                let ace = self.ace_rest(c, action, ProtoSpec::Group(n.text.to_string()), ports)?;
                // Ports after a group need a protocol group (the ASA's
                // tcp-udp idiom); a service group carries its own.
                if ace.source_port.is_some() || ace.destination_port.is_some() {
                    self.refs[at].kind = RefKind::ProtocolGroup;
                }
                return Ok(ace);
            }
            Some(t) => match ports::protocol(t.text) {
                Some(p) => (
                    ProtoSpec::Protocol(p),
                    ports::port_names(p).ok_or("ports apply only to tcp, udp and sctp"),
                ),
                None => {
                    c.back();
                    return Err(c.expected("protocol"));
                }
            },
            None => return Err(c.expected("protocol")),
        };
        self.ace_rest(c, action, protocol, ports)
    }

    /// An ACE after its protocol: addresses, ports, options.
    fn ace_rest(
        &mut self,
        c: &mut Cur<'_>,
        action: Action,
        protocol: ProtoSpec,
        ports: Result<PortNames, &'static str>,
    ) -> R<Ace> {
        let source = self.address(c, "source address")?;
        let source_port = self.ports_opt(c, ports, false)?;
        let destination = self.address(
            c,
            if ports.is_ok() && source_port.is_none() {
                "port or destination address"
            } else {
                "destination address"
            },
        )?;
        let destination_port = self.ports_opt(c, ports, true)?;
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
        let icmp = matches!(ace.protocol, ProtoSpec::Protocol(p) if ports::is_icmp(p));
        if icmp
            && c.peek()
                .is_some_and(|w| !matches!(w, "log" | "inactive" | "time-range"))
        {
            return Err(c.err("icmp types are not supported yet"));
        }
        while let Some(t) = c.next() {
            match t.text {
                "log" => ace.log = log_options(c)?,
                "inactive" => ace.inactive = true,
                "time-range" => {
                    return Err(c.err_at(t.col, "time-range is not supported yet"));
                }
                w => {
                    return Err(c.err_at(t.col, format!("unexpected '{w}' after end of command")));
                }
            }
        }
        Ok(ace)
    }

    fn address(&mut self, c: &mut Cur<'_>, what: &str) -> R<AddrSpec> {
        let Some(t) = c.next() else {
            return Err(c.expected(what));
        };
        Ok(match t.text {
            "any" => AddrSpec::Any,
            "any4" => AddrSpec::Any4,
            "any6" => AddrSpec::Any6,
            "host" => AddrSpec::Host(host_ip(c)?),
            "object" => {
                let n = c.word("network object name")?;
                self.reference(c, RefKind::NetworkObject, n);
                AddrSpec::Object(n.text.to_string())
            }
            "object-group" => {
                let n = c.word("network object-group name")?;
                self.reference(c, RefKind::NetworkGroup, n);
                AddrSpec::Group(n.text.to_string())
            }
            "interface" => {
                let n = c.word("interface name")?;
                self.reference(c, RefKind::Interface, n);
                AddrSpec::Interface(n.text.to_string())
            }
            _ => match network_literal(c, t)? {
                Some(Net::V4(a, m)) => AddrSpec::V4Net(a, m),
                Some(Net::V6(a, l)) => AddrSpec::V6Net(a, l),
                None => {
                    c.back();
                    return Err(c.expected(what));
                }
            },
        })
    }

    /// An optional port condition after an address (`last`: after the
    /// destination, where nothing but ports can follow).
    fn ports_opt(
        &mut self,
        c: &mut Cur<'_>,
        ports: Result<PortNames, &'static str>,
        last: bool,
    ) -> R<Option<PortSpec>> {
        match c.peek() {
            Some("eq" | "neq" | "lt" | "gt" | "range") => match ports {
                Ok(names) => Ok(Some(PortSpec::Match(port_match(c, names, Ops::All)?))),
                Err(why) => Err(c.err(why)),
            },
            // After the source, `object-group NAME` is a port group when a
            // service group with a protocol of that name is already defined
            // (as the ASA resolves it: by the name's kind when the line is
            // entered), else the destination. After the destination it can
            // only be a port group; the reference check names a wrong one.
            Some("object-group") if ports.is_ok() => {
                let name = c.peek_at(1).unwrap_or_default();
                let is_port_group = self.cfg.object_groups.iter().any(|g| {
                    group_name(g) == name && matches!(GroupKind::of(g), GroupKind::Port(_))
                });
                if !is_port_group && !last {
                    return Ok(None);
                }
                c.next();
                let n = c.word("port object-group name")?;
                if let Ok(names) = ports {
                    self.reference(c, RefKind::PortGroup(names), n);
                }
                Ok(Some(PortSpec::Group(n.text.to_string())))
            }
            _ => Ok(None),
        }
    }

    fn access_group(&mut self, c: &mut Cur<'_>) -> R<()> {
        let (acl, iface) = self.access_group_args(c)?;
        if let Some(&reason) = self.other_acls.get(acl.text) {
            // Binding an ethertype (or standard) list: as ignored as the list.
            self.ignore(c, reason);
            return Ok(());
        }
        let group = AccessGroup {
            acl: acl.text.to_string(),
            interface: iface.text.to_string(),
        };
        let at = self.refs.len();
        self.reference(c, RefKind::Acl, acl);
        self.reference(c, RefKind::Interface, iface);
        self.own(at, &Owner::AccessGroup(group.clone()));
        // A second access-group for an interface replaces the first.
        self.edited |= self
            .cfg
            .access_groups
            .iter()
            .any(|x| x.interface == group.interface);
        self.cfg
            .access_groups
            .retain(|x| x.interface != group.interface);
        self.cfg.access_groups.push(group);
        Ok(())
    }

    fn access_group_args<'a>(&self, c: &mut Cur<'a>) -> R<(Tok<'a>, Tok<'a>)> {
        let acl = c.word("access-list name")?;
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
        let iface = c.word("interface name")?;
        c.done()?;
        Ok((acl, iface))
    }

    // === class-map ===

    fn class_map(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        if c.peek() == Some("type") {
            self.ignore(c, REASON_TYPED_MAP);
            self.mode = Mode::Ignored;
            return Ok(());
        }
        let name = c.word("class-map name")?;
        if name.text == "class-default" {
            return Err(c.err_at(name.col, "class-default is reserved"));
        }
        if name.text.chars().count() > CLASS_MAP_NAME_MAX_CHARS {
            return Err(c.err_at(name.col, "class-map names are at most 40 characters"));
        }
        c.done()?;
        let i = match self.cfg.class_maps.iter().position(|m| m.name == name.text) {
            Some(i) => i,
            None => {
                self.cfg.class_maps.push(ClassMap {
                    name: name.text.to_string(),
                    description: None,
                    matcher: None,
                });
                self.cfg.class_maps.len() - 1
            }
        };
        self.mode = Mode::ClassMap(i);
        Ok(())
    }

    fn class_map_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("'match' or 'description'")?;
        match (cmd.text, negate) {
            ("description", false) => {
                let Some((text, col)) = c.rest() else {
                    return Err(c.expected("description text"));
                };
                if text.chars().count() > DESCRIPTION_MAX_CHARS {
                    return Err(c.err_at(col, "descriptions are at most 200 characters"));
                }
                self.cfg.class_maps[i].description = Some(text.to_string());
            }
            ("description", true) => {
                c.rest();
                self.cfg.class_maps[i].description = None;
            }
            ("match", false) => {
                if self.cfg.class_maps[i].matcher.is_some() {
                    // spec/asa.md §2.1: one match per class-map.
                    return Err(c.err_at(cmd.col, "a class-map takes one match command"));
                }
                let at = self.refs.len();
                let m = self.class_match(c)?;
                c.done()?;
                let owner = Owner::ClassMatch {
                    class_map: self.cfg.class_maps[i].name.clone(),
                    matcher: m.clone(),
                };
                self.own(at, &owner);
                self.cfg.class_maps[i].matcher = Some(m);
            }
            _ => {
                let at = self.refs.len();
                let m = self.class_match(c);
                self.refs.truncate(at);
                let m = m?;
                c.done()?;
                let map = &mut self.cfg.class_maps[i];
                if map.matcher.as_ref() != Some(&m) {
                    return Err(c.err_at(
                        cmd.col,
                        format!("no such match in class-map '{}'", map.name),
                    ));
                }
                map.matcher = None;
            }
        }
        Ok(())
    }

    fn class_match(&mut self, c: &mut Cur<'_>) -> R<ClassMatch> {
        let t = c.word("match criterion")?;
        match t.text {
            "access-list" => {
                let n = c.word("access-list name")?;
                self.reference(c, RefKind::Acl, n);
                Ok(ClassMatch::AccessList(n.text.to_string()))
            }
            "any" => Ok(ClassMatch::Any),
            "default-inspection-traffic" => Ok(ClassMatch::DefaultInspectionTraffic),
            "port" => {
                let p = match c.next().map(|t| t.text) {
                    Some("tcp") => PortProtocol::Tcp,
                    Some("udp") => PortProtocol::Udp,
                    Some(_) => {
                        c.back();
                        return Err(c.expected("'tcp' or 'udp'"));
                    }
                    None => return Err(c.expected("'tcp' or 'udp'")),
                };
                Ok(ClassMatch::Port(p, port_match(c, p.into(), Ops::EqRange)?))
            }
            other => Err(c.err_at(t.col, format!("match {other} is not supported"))),
        }
    }

    // === policy-map ===

    fn policy_map(&mut self, c: &mut Cur<'_>) -> R<()> {
        self.mode = Mode::Skip;
        if c.peek() == Some("type") {
            self.ignore(c, REASON_TYPED_MAP);
            self.mode = Mode::Ignored;
            return Ok(());
        }
        let name = c.word("policy-map name")?;
        c.done()?;
        let i = match self
            .cfg
            .policy_maps
            .iter()
            .position(|m| m.name == name.text)
        {
            Some(i) => i,
            None => {
                self.cfg.policy_maps.push(PolicyMap {
                    name: name.text.to_string(),
                    classes: Vec::new(),
                });
                self.cfg.policy_maps.len() - 1
            }
        };
        self.mode = Mode::PolicyMap(i);
        Ok(())
    }

    /// A line of a policy-map (`class` is `None` before the first class).
    fn policy_sub(&mut self, c: &mut Cur<'_>, pm: usize, class: Option<usize>) -> R<()> {
        let negate = c.eat("no");
        let cmd = c.word("policy-map command")?;
        match cmd.text {
            "class" if negate => self.no_class(c, pm),
            "class" => self.policy_class(c, pm),
            "description" => {
                self.ignore(c, "policy-map descriptions are not kept");
                Ok(())
            }
            w if CLASS_IGNORED.contains(&w) => {
                self.ignore(c, REASON_CLASS_ACTION);
                Ok(())
            }
            w => match class {
                None => Err(c.err_at(cmd.col, format!("expected 'class' before '{w}'"))),
                Some(k) if w == "inspect" => self.inspect(c, pm, k, negate),
                Some(k) => {
                    c.keyword("connection")?;
                    let mut s = self.cfg.policy_maps[pm].classes[k].connection;
                    if set_connection(c, &mut s, negate)? {
                        self.cfg.policy_maps[pm].classes[k].connection = s;
                    } else {
                        self.ignore(c, REASON_DECREMENT_TTL);
                    }
                    Ok(())
                }
            },
        }
    }

    fn policy_class(&mut self, c: &mut Cur<'_>, pm: usize) -> R<()> {
        let name = c.word("class name")?;
        c.done()?;
        if name.text != "class-default" {
            let at = self.refs.len();
            self.reference(c, RefKind::ClassMap, name);
            let owner = Owner::PolicyClass {
                policy: self.cfg.policy_maps[pm].name.clone(),
                class: name.text.to_string(),
            };
            self.own(at, &owner);
        }
        let classes = &mut self.cfg.policy_maps[pm].classes;
        let k = match classes.iter().position(|x| x.class == name.text) {
            Some(k) => k,
            None => {
                // spec/asa.md §2.3: class-default is always last; a class
                // added after it goes before it, as on the ASA.
                let at = match classes.last() {
                    Some(l) if l.class == "class-default" => classes.len() - 1,
                    _ => classes.len(),
                };
                classes.insert(
                    at,
                    PolicyClass {
                        class: name.text.to_string(),
                        connection: ConnectionSettings::default(),
                        inspects: Vec::new(),
                    },
                );
                at
            }
        };
        self.mode = Mode::PolicyClass(pm, k);
        Ok(())
    }

    /// `no class NAME` inside a policy-map.
    fn no_class(&mut self, c: &mut Cur<'_>, pm: usize) -> R<()> {
        let name = c.word("class name")?;
        c.done()?;
        let map = &mut self.cfg.policy_maps[pm];
        let n = map.classes.len();
        map.classes.retain(|x| x.class != name.text);
        if map.classes.len() == n {
            return Err(c.err_at(
                name.col,
                format!("no such class '{}' in policy-map '{}'", name.text, map.name),
            ));
        }
        self.mode = Mode::PolicyMap(pm);
        Ok(())
    }

    fn inspect(&mut self, c: &mut Cur<'_>, pm: usize, k: usize, negate: bool) -> R<()> {
        let col = c.col();
        let what = c.rest_words();
        if what.is_empty() {
            return Err(c.expected("inspection name"));
        }
        let class = &mut self.cfg.policy_maps[pm].classes[k];
        if negate {
            let n = class.inspects.len();
            class.inspects.retain(|x| *x != what);
            if class.inspects.len() == n {
                return Err(c.err_at(
                    col,
                    format!("no such inspect '{what}' in class '{}'", class.class),
                ));
            }
            return Ok(());
        }
        if !class.inspects.contains(&what) {
            class.inspects.push(what);
        }
        self.ignore(c, REASON_INSPECT);
        Ok(())
    }

    // === service-policy ===

    fn service_policy(&mut self, c: &mut Cur<'_>) -> R<()> {
        let (sp, name, scope_tok) = self.service_policy_args(c)?;
        if let Some(old) = self
            .cfg
            .service_policies
            .iter()
            .find(|x| x.scope == sp.scope)
        {
            // spec/asa.md §2.1: exactly one global policy, one per interface.
            let message = match &sp.scope {
                ServiceScope::Global => format!(
                    "only one global service-policy is allowed; '{}' is already global",
                    old.policy_map
                ),
                ServiceScope::Interface(i) => format!(
                    "interface '{i}' already has service-policy '{}'",
                    old.policy_map
                ),
            };
            return Err(c.err_at(scope_tok.col, message));
        }
        let at = self.refs.len();
        self.reference(c, RefKind::PolicyMap, name);
        if let ServiceScope::Interface(_) = sp.scope {
            self.reference(c, RefKind::Interface, scope_tok);
        }
        self.own(at, &Owner::ServicePolicy(sp.clone()));
        self.cfg.service_policies.push(sp);
        Ok(())
    }

    /// `NAME global` or `NAME interface IF`: the policy, the name word and
    /// the scope word (`global` or the interface name).
    fn service_policy_args<'a>(&self, c: &mut Cur<'a>) -> R<(ServicePolicy, Tok<'a>, Tok<'a>)> {
        let name = c.word("policy-map name")?;
        let (scope, tok) = match c.next() {
            Some(t) if t.text == "global" => (ServiceScope::Global, t),
            Some(t) if t.text == "interface" => {
                let i = c.word("interface name")?;
                (ServiceScope::Interface(i.text.to_string()), i)
            }
            Some(_) => {
                c.back();
                return Err(c.expected("'global' or 'interface'"));
            }
            None => return Err(c.expected("'global' or 'interface'")),
        };
        c.done()?;
        Ok((
            ServicePolicy {
                policy_map: name.text.to_string(),
                scope,
            },
            name,
            tok,
        ))
    }

    // === no ===

    fn no(&mut self, c: &mut Cur<'_>) -> R<()> {
        c.next();
        let what = c.word("command to remove")?;
        match what.text {
            "access-list" => self.no_access_list(c),
            "access-group" => {
                let (acl, iface) = self.access_group_args(c)?;
                if self.other_acls.contains_key(acl.text) {
                    self.ignore(c, "ethertype access-groups are not enforced");
                    return Ok(());
                }
                let n = self.cfg.access_groups.len();
                self.cfg
                    .access_groups
                    .retain(|x| !(x.acl == acl.text && x.interface == iface.text));
                if self.cfg.access_groups.len() == n {
                    return Err(c.err_at(
                        acl.col,
                        format!(
                            "no such access-group '{}' in interface {}",
                            acl.text, iface.text
                        ),
                    ));
                }
                Ok(())
            }
            "class-map" | "policy-map" if c.peek() == Some("type") => {
                self.ignore(c, REASON_TYPED_MAP);
                Ok(())
            }
            "class-map" => {
                let name = c.word("class-map name")?;
                c.done()?;
                let n = self.cfg.class_maps.len();
                self.cfg.class_maps.retain(|m| m.name != name.text);
                if n == self.cfg.class_maps.len() {
                    return Err(c.err_at(name.col, format!("no such class-map '{}'", name.text)));
                }
                Ok(())
            }
            "policy-map" => {
                let name = c.word("policy-map name")?;
                c.done()?;
                let n = self.cfg.policy_maps.len();
                self.cfg.policy_maps.retain(|m| m.name != name.text);
                if n == self.cfg.policy_maps.len() {
                    return Err(c.err_at(name.col, format!("no such policy-map '{}'", name.text)));
                }
                Ok(())
            }
            "service-policy" => {
                let (sp, name, _) = self.service_policy_args(c)?;
                let n = self.cfg.service_policies.len();
                self.cfg.service_policies.retain(|x| *x != sp);
                if n == self.cfg.service_policies.len() {
                    return Err(
                        c.err_at(name.col, format!("no such service-policy '{}'", name.text))
                    );
                }
                Ok(())
            }
            "object" => {
                let kind = c.word("'network' or 'service'")?;
                let service = match kind.text {
                    "network" => false,
                    "service" => true,
                    _ => {
                        c.back();
                        return Err(c.expected("'network' or 'service'"));
                    }
                };
                let name = c.word("object name")?;
                c.done()?;
                let n = self.cfg.objects.len();
                self.cfg.objects.retain(|o| {
                    !(object_name(o) == name.text && matches!(o, Object::Service { .. }) == service)
                });
                if n == self.cfg.objects.len() {
                    return Err(c.err_at(
                        name.col,
                        format!("no such object {} '{}'", kind.text, name.text),
                    ));
                }
                self.valueless.retain(|v| v.name != name.text);
                Ok(())
            }
            "object-group" => {
                let kind = c.word("'network', 'service' or 'protocol'")?;
                let want: fn(&ObjectGroup) -> bool = match kind.text {
                    "network" => |g| matches!(g, ObjectGroup::Network { .. }),
                    "service" => |g| matches!(g, ObjectGroup::Service { .. }),
                    "protocol" => |g| matches!(g, ObjectGroup::Protocol { .. }),
                    _ => {
                        c.back();
                        return Err(c.expected("'network', 'service' or 'protocol'"));
                    }
                };
                let name = c.word("object-group name")?;
                if kind.text == "service" {
                    // The protocol may be repeated, as `show run` prints it.
                    let _ = c.eat("tcp") || c.eat("udp") || c.eat("tcp-udp");
                }
                c.done()?;
                let n = self.cfg.object_groups.len();
                self.cfg
                    .object_groups
                    .retain(|g| !(group_name(g) == name.text && want(g)));
                if n == self.cfg.object_groups.len() {
                    return Err(c.err_at(
                        name.col,
                        format!("no such object-group {} '{}'", kind.text, name.text),
                    ));
                }
                Ok(())
            }
            "interface" => {
                let hw = c.word("interface name")?;
                c.done()?;
                let n = self.cfg.interfaces.len();
                self.cfg.interfaces.retain(|i| i.hardware != hw.text);
                if n == self.cfg.interfaces.len() {
                    return Err(c.err_at(hw.col, format!("no such interface '{}'", hw.text)));
                }
                Ok(())
            }
            w if is_harmless(w) => {
                self.ignore(c, harmless_reason(w));
                Ok(())
            }
            w => Err(c.err_at(what.col, format!("unknown command 'no {w}'"))),
        }
    }

    fn no_access_list(&mut self, c: &mut Cur<'_>) -> R<()> {
        let name = c.word("access-list name")?;
        if let Some(&reason) = self.other_acls.get(name.text) {
            if c.peek().is_none() {
                self.other_acls.remove(name.text);
            }
            c.rest();
            self.ignore(c, reason);
            return Ok(());
        }
        let Some(ai) = self
            .cfg
            .access_lists
            .iter()
            .position(|a| a.name == name.text)
        else {
            return Err(c.err_at(name.col, format!("no such access-list '{}'", name.text)));
        };
        if c.peek().is_none() {
            self.cfg.access_lists.remove(ai);
            return Ok(());
        }
        if c.eat("line") {
            // The entry is found by its text; the number is not needed.
            line_number(c)?;
        }
        let col = c.col();
        let line = if c.eat("remark") {
            AclLine::Remark(remark(c)?.to_string())
        } else {
            c.eat("extended");
            let at = self.refs.len();
            let ace = self.ace(c);
            self.refs.truncate(at);
            AclLine::Ace(ace?)
        };
        let lines = &mut self.cfg.access_lists[ai].lines;
        let Some(k) = lines.iter().position(|l| *l == line) else {
            return Err(c.err_at(col, format!("no such line in access-list '{}'", name.text)));
        };
        lines.remove(k);
        if lines.is_empty() {
            // The ASA deletes an access-list with its last line.
            self.cfg.access_lists.remove(ai);
        }
        Ok(())
    }

    // === after the last line ===

    fn finish(&mut self) {
        for v in &self.valueless {
            let message = match self.cfg.objects.iter().find(|o| object_name(o) == v.name) {
                Some(Object::Service { .. }) => {
                    format!("object service '{}' has no service line", v.name)
                }
                _ => format!("object network '{}' has no host, subnet or range", v.name),
            };
            self.errors.push(ParseError {
                line: v.line,
                column: v.col,
                message,
            });
        }
        let ix = Index::new(&self.cfg);
        let keys = if self.edited {
            self.keys()
        } else {
            HashSet::new()
        };
        let found: Vec<ParseError> = self
            .refs
            .iter()
            .filter(|r| !self.edited || self.live(&r.owner, &keys))
            .filter_map(|r| {
                self.problem(r, &ix).map(|message| ParseError {
                    line: r.line,
                    column: r.col,
                    message,
                })
            })
            .collect();
        self.errors.extend(found);
    }

    /// The keys of the ACL lines and group members in the configuration.
    fn keys(&self) -> HashSet<String> {
        let cfg = &self.cfg;
        let lines = cfg
            .access_lists
            .iter()
            .flat_map(|a| a.lines.iter().map(|l| acl_line_key(&a.name, l)));
        let members = cfg.object_groups.iter().flat_map(|g| {
            let stored: Vec<Stored> = match g {
                ObjectGroup::Network { members, .. } => {
                    members.iter().cloned().map(Stored::Network).collect()
                }
                ObjectGroup::Service { members, .. } => {
                    members.iter().cloned().map(Stored::Service).collect()
                }
                ObjectGroup::Protocol { members, .. } => {
                    members.iter().cloned().map(Stored::Protocol).collect()
                }
            };
            stored.into_iter().map(|m| member_key(group_name(g), &m))
        });
        lines.chain(members).collect()
    }

    /// Whether a reference's construct is still in the configuration.
    fn live(&self, owner: &Owner, keys: &HashSet<String>) -> bool {
        let cfg = &self.cfg;
        match owner {
            Owner::Always => true,
            Owner::Keyed(k) => keys.contains(k),
            Owner::AccessGroup(g) => cfg.access_groups.contains(g),
            Owner::ClassMatch { class_map, matcher } => cfg
                .class_maps
                .iter()
                .any(|m| m.name == *class_map && m.matcher.as_ref() == Some(matcher)),
            Owner::PolicyClass { policy, class } => cfg
                .policy_maps
                .iter()
                .any(|p| p.name == *policy && p.classes.iter().any(|c| c.class == *class)),
            Owner::ServicePolicy(sp) => cfg.service_policies.contains(sp),
        }
    }

    /// What is wrong with a reference, if anything.
    fn problem(&self, r: &Ref, ix: &Index<'_>) -> Option<String> {
        let name = r.name.as_str();
        let group = ix.groups.get(name).map(|(k, _)| *k);
        let object = ix.objects.get(name).copied();
        let group_is = |ok: &dyn Fn(GroupKind) -> bool, want: &str| match group {
            None => Some(format!("object-group '{name}' is not defined")),
            Some(k) if ok(k) => None,
            Some(k) => Some(format!(
                "object-group '{name}' is a {} group, not a {want} group",
                k.label()
            )),
        };
        match &r.kind {
            RefKind::Acl => {
                if ix.acls.contains(name) || self.broken_acls.contains(name) {
                    None
                } else if self.other_acls.contains_key(name) {
                    Some(format!(
                        "access-list '{name}' is not an extended access-list"
                    ))
                } else {
                    Some(format!("access-list '{name}' is not defined"))
                }
            }
            RefKind::ClassMap => (!ix.class_maps.contains(name))
                .then(|| format!("class-map '{name}' is not defined")),
            RefKind::PolicyMap => (!ix.policy_maps.contains(name))
                .then(|| format!("policy-map '{name}' is not defined")),
            // Without named interface blocks the node configuration names
            // the interfaces; the compiler checks against those.
            RefKind::Interface => (!ix.nameifs.is_empty() && !ix.nameifs.contains(name))
                .then(|| format!("no interface has nameif '{name}'")),
            RefKind::NetworkObject => match object {
                Some(false) => None,
                Some(true) => Some(format!(
                    "object '{name}' is a service object, not a network object"
                )),
                None => Some(format!("object '{name}' is not defined")),
            },
            RefKind::ServiceObject => match object {
                Some(true) => None,
                Some(false) => Some(format!(
                    "object '{name}' is a network object, not a service object"
                )),
                None => Some(format!("object '{name}' is not defined")),
            },
            RefKind::NetworkGroup => group_is(&|k| k == GroupKind::Network, "network"),
            RefKind::PortGroup(names) => {
                let want = match names {
                    PortNames::Tcp => "tcp port",
                    PortNames::Udp => "udp port",
                    PortNames::TcpUdp | PortNames::Sctp => "port",
                };
                group_is(
                    &|k| match (k, names) {
                        (GroupKind::Port(p), PortNames::Tcp) => p != PortProtocol::Udp,
                        (GroupKind::Port(p), PortNames::Udp) => p != PortProtocol::Tcp,
                        (GroupKind::Port(_), _) => true,
                        _ => false,
                    },
                    want,
                )
            }
            RefKind::ProtoOrServiceGroup => group_is(
                &|k| matches!(k, GroupKind::Protocol | GroupKind::Service),
                "protocol or service",
            ),
            RefKind::ProtocolGroup => group_is(&|k| k == GroupKind::Protocol, "protocol"),
            RefKind::Member { parent, kind } => {
                if let Some(p) = group_is(&|k| k == *kind, kind.label()) {
                    return Some(p);
                }
                ix.reaches(name, parent).then(|| {
                    format!(
                        "group-object '{name}' would make object-group '{parent}' contain itself"
                    )
                })
            }
        }
    }
}

// === group members ===

/// One member line of any group kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Network(NetworkValue),
    NetworkObject(String),
    Port(PortMatch),
    Service(ServiceValue),
    ServiceObject(String),
    Protocol(Protocol),
    Group(String),
}

/// A member as stored in a group of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stored {
    Network(NetworkMember),
    Service(ServiceMember),
    Protocol(ProtocolMember),
}

/// How `m` is stored in a group of `g`'s kind (`None` if it cannot be).
fn stored(g: &ObjectGroup, m: &Member) -> Option<Stored> {
    Some(match (g, m.clone()) {
        (ObjectGroup::Network { .. }, Member::Network(v)) => {
            Stored::Network(NetworkMember::Address(v))
        }
        (ObjectGroup::Network { .. }, Member::NetworkObject(n)) => {
            Stored::Network(NetworkMember::Object(n))
        }
        (ObjectGroup::Network { .. }, Member::Group(n)) => Stored::Network(NetworkMember::Group(n)),
        (ObjectGroup::Service { .. }, Member::Port(p)) => Stored::Service(ServiceMember::Port(p)),
        (ObjectGroup::Service { .. }, Member::Service(v)) => {
            Stored::Service(ServiceMember::Service(v))
        }
        (ObjectGroup::Service { .. }, Member::ServiceObject(n)) => {
            Stored::Service(ServiceMember::Object(n))
        }
        (ObjectGroup::Service { .. }, Member::Group(n)) => Stored::Service(ServiceMember::Group(n)),
        (ObjectGroup::Protocol { .. }, Member::Protocol(p)) => {
            Stored::Protocol(ProtocolMember::Protocol(p))
        }
        (ObjectGroup::Protocol { .. }, Member::Group(n)) => {
            Stored::Protocol(ProtocolMember::Group(n))
        }
        _ => return None,
    })
}

/// Whether the group holds the member.
fn group_contains(g: &ObjectGroup, m: &Member) -> bool {
    match (g, stored(g, m)) {
        (ObjectGroup::Network { members, .. }, Some(Stored::Network(x))) => members.contains(&x),
        (ObjectGroup::Service { members, .. }, Some(Stored::Service(x))) => members.contains(&x),
        (ObjectGroup::Protocol { members, .. }, Some(Stored::Protocol(x))) => members.contains(&x),
        _ => false,
    }
}

/// Add a member unless an identical one is there (the ASA keeps one);
/// false if it was there.
fn group_add(g: &mut ObjectGroup, m: &Member) -> bool {
    if group_contains(g, m) {
        return false;
    }
    match (stored(g, m), g) {
        (Some(Stored::Network(x)), ObjectGroup::Network { members, .. }) => members.push(x),
        (Some(Stored::Service(x)), ObjectGroup::Service { members, .. }) => members.push(x),
        (Some(Stored::Protocol(x)), ObjectGroup::Protocol { members, .. }) => members.push(x),
        _ => return false,
    }
    true
}

/// Remove an identical member; false if there was none.
fn group_remove(g: &mut ObjectGroup, m: &Member) -> bool {
    fn remove_all<T: PartialEq>(v: &mut Vec<T>, x: &T) -> bool {
        let n = v.len();
        v.retain(|y| y != x);
        v.len() != n
    }
    match (stored(g, m), g) {
        (Some(Stored::Network(x)), ObjectGroup::Network { members, .. }) => remove_all(members, &x),
        (Some(Stored::Service(x)), ObjectGroup::Service { members, .. }) => remove_all(members, &x),
        (Some(Stored::Protocol(x)), ObjectGroup::Protocol { members, .. }) => {
            remove_all(members, &x)
        }
        _ => false,
    }
}

/// The `group-object` names of a group.
fn children(g: &ObjectGroup) -> Vec<&str> {
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
    }
}

/// The names of the final configuration, for reference checks.
#[derive(Debug)]
struct Index<'c> {
    /// Group kinds and their group-object children.
    groups: HashMap<&'c str, (GroupKind, Vec<&'c str>)>,
    /// Objects: whether each is a service object.
    objects: HashMap<&'c str, bool>,
    acls: HashSet<&'c str>,
    class_maps: HashSet<&'c str>,
    policy_maps: HashSet<&'c str>,
    nameifs: HashSet<&'c str>,
}

impl<'c> Index<'c> {
    fn new(cfg: &'c Config) -> Self {
        Index {
            groups: cfg
                .object_groups
                .iter()
                .map(|g| (group_name(g), (GroupKind::of(g), children(g))))
                .collect(),
            objects: cfg
                .objects
                .iter()
                .map(|o| (object_name(o), matches!(o, Object::Service { .. })))
                .collect(),
            acls: cfg.access_lists.iter().map(|a| a.name.as_str()).collect(),
            class_maps: cfg.class_maps.iter().map(|m| m.name.as_str()).collect(),
            policy_maps: cfg.policy_maps.iter().map(|m| m.name.as_str()).collect(),
            nameifs: cfg
                .interfaces
                .iter()
                .filter_map(|i| i.nameif.as_deref())
                .collect(),
        }
    }

    /// Whether group `from` is, or contains (through group-objects), `to`.
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![from];
        while let Some(g) = stack.pop() {
            if g == to {
                return true;
            }
            if seen.insert(g)
                && let Some((_, children)) = self.groups.get(g)
            {
                stack.extend(children.iter().copied());
            }
        }
        false
    }
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

// === values ===

/// `line N` of an access-list (N ≥ 1).
fn line_number(c: &mut Cur<'_>) -> R<usize> {
    let t = c.word("line number")?;
    match t.text.parse::<usize>() {
        Ok(0) => Err(c.err_at(t.col, "line numbers start at 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(c.err_at(t.col, format!("invalid line number '{}'", t.text))),
    }
}

/// The text of an ACL remark: the rest of the line, verbatim.
fn remark<'a>(c: &mut Cur<'a>) -> R<&'a str> {
    let Some((text, col)) = c.rest() else {
        return Err(c.expected("remark text"));
    };
    let n = text.chars().count();
    if n > REMARK_MAX_CHARS {
        return Err(c.err_at(
            col,
            format!("remarks are at most 100 characters, this one has {n}"),
        ));
    }
    Ok(text)
}

/// `log [LEVEL] [interval SECS] | log disable | log default`: whether the
/// ACE logs (`log disable` turns it off; level and interval are not kept).
fn log_options(c: &mut Cur<'_>) -> R<bool> {
    match c.peek() {
        Some("disable") => {
            c.next();
            return Ok(false);
        }
        Some("default") => {
            c.next();
            return Ok(true);
        }
        Some(w) if LOG_LEVELS.contains(&w) || w.parse::<u8>().is_ok_and(|n| n <= 7) => {
            c.next();
        }
        Some(w) if w.chars().all(|ch| ch.is_ascii_digit()) => {
            return Err(c.err(format!("invalid log level '{w}', expected 0-7")));
        }
        _ => {}
    }
    if c.eat("interval") {
        let t = c.word("log interval")?;
        if !t
            .text
            .parse::<u32>()
            .is_ok_and(|n| (1..=LOG_INTERVAL_MAX_SECS).contains(&n))
        {
            return Err(c.err_at(
                t.col,
                format!("invalid log interval '{}', expected 1-600", t.text),
            ));
        }
    }
    Ok(true)
}

/// Whether a word looks like a dotted IPv4 address (so a bad one is
/// reported as an address, not as an unexpected word).
fn dotted(w: &str) -> bool {
    w.contains('.') && w.chars().all(|ch| ch.is_ascii_digit() || ch == '.')
}

fn host_ip(c: &mut Cur<'_>) -> R<IpAddr> {
    let t = c.word("host address")?;
    let family = if t.text.contains(':') { "IPv6" } else { "IPv4" };
    t.text
        .parse()
        .map_err(|_| c.err_at(t.col, format!("invalid {family} address '{}'", t.text)))
}

/// A network literal.
#[derive(Debug, Clone, Copy)]
enum Net {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, u8),
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// `A M` (IPv4, the mask from the next word) or `A/L` (IPv6) starting at
/// `t`; `None` when `t` is no address at all.
fn network_literal(c: &mut Cur<'_>, t: Tok<'_>) -> R<Option<Net>> {
    let w = t.text;
    if let Some((a, l)) = w.split_once('/') {
        if a.parse::<Ipv4Addr>().is_ok() {
            return Err(c.err_at(
                t.col,
                format!("IPv4 networks are written as address and mask, not '{w}'"),
            ));
        }
        let (Ok(a), Some(l)) = (
            a.parse::<Ipv6Addr>(),
            l.parse::<u8>().ok().filter(|&l| l <= 128),
        ) else {
            return Err(c.err_at(t.col, format!("invalid IPv6 prefix '{w}'")));
        };
        if u128::from(a) & !mask128(l) != 0 {
            return Err(c.err_at(t.col, "address has host bits set beyond the prefix length"));
        }
        return Ok(Some(Net::V6(a, l)));
    }
    if let Ok(a) = w.parse::<Ipv4Addr>() {
        let m = match c.peek() {
            Some(m) if m.parse::<Ipv4Addr>().is_ok() => c.next().expect("peeked"),
            Some(m) if dotted(m) => {
                return Err(c.err(format!("invalid IPv4 mask '{m}'")));
            }
            _ => return Err(c.expected("mask or prefix")),
        };
        let mask: Ipv4Addr = m.text.parse().expect("checked above");
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return Err(c.err_at(m.col, format!("mask '{}' is not contiguous", m.text)));
        }
        if u32::from(a) & !bits != 0 {
            return Err(c.err_at(t.col, "address has host bits set beyond the mask"));
        }
        return Ok(Some(Net::V4(a, mask)));
    }
    if w.parse::<Ipv6Addr>().is_ok() {
        return Err(c.err_at(t.col + w.chars().count(), "expected mask or prefix"));
    }
    if dotted(w) {
        return Err(c.err_at(t.col, format!("invalid IPv4 address '{w}'")));
    }
    Ok(None)
}

/// The value line of `object network`: `host A`, `subnet A M`,
/// `subnet A/L`, `range A B`.
fn object_network_value(c: &mut Cur<'_>) -> R<NetworkValue> {
    let t = c.word("'host', 'subnet' or 'range'")?;
    match t.text {
        "host" => Ok(NetworkValue::Host(host_ip(c)?)),
        "subnet" => {
            let a = c.word("address")?;
            match network_literal(c, a)? {
                Some(net) => Ok(net.into()),
                None => {
                    c.back();
                    Err(c.expected("address"))
                }
            }
        }
        "range" => {
            let a = host_ip(c)?;
            let col = c.col();
            let b = host_ip(c)?;
            if a.is_ipv4() != b.is_ipv4() {
                return Err(c.err_at(col, "the ends of a range must be of one IP family"));
            }
            if a > b {
                return Err(c.err_at(col, "a range runs from the lower address to the higher"));
            }
            Ok(NetworkValue::Range(a, b))
        }
        "fqdn" => Err(c.err_at(t.col, "fqdn objects are not supported")),
        _ => {
            c.back();
            Err(c.expected("'host', 'subnet' or 'range'"))
        }
    }
}

impl From<Net> for NetworkValue {
    fn from(n: Net) -> Self {
        match n {
            Net::V4(a, m) => NetworkValue::V4Subnet(a, m),
            Net::V6(a, l) => NetworkValue::V6Subnet(a, l),
        }
    }
}

/// A `network-object` value: `host A`, `A M` or `A/L`.
fn group_network_value(c: &mut Cur<'_>) -> R<NetworkValue> {
    let t = c.word("'host', 'object' or a network")?;
    if t.text == "host" {
        return Ok(NetworkValue::Host(host_ip(c)?));
    }
    match network_literal(c, t)? {
        Some(net) => Ok(net.into()),
        None => {
            c.back();
            Err(c.expected("'host', 'object' or a network"))
        }
    }
}

/// A service line's value; `tcp-udp` stands for a tcp and a udp value.
#[derive(Debug)]
enum Service {
    One(ServiceValue),
    TcpUdp(Option<PortMatch>, Option<PortMatch>),
}

impl Service {
    fn single(self) -> Option<ServiceValue> {
        match self {
            Service::One(v) => Some(v),
            Service::TcpUdp(..) => None,
        }
    }

    fn values(self) -> Vec<ServiceValue> {
        match self {
            Service::One(v) => vec![v],
            Service::TcpUdp(source, destination) => [6, 17]
                .into_iter()
                .map(|n| ServiceValue {
                    protocol: Protocol::Number(n),
                    source,
                    destination,
                })
                .collect(),
        }
    }
}

/// `PROTO [source OP P] [destination OP P]`.
fn service_value(c: &mut Cur<'_>) -> R<Service> {
    let t = c.word("protocol")?;
    let (protocol, names) = if t.text == "tcp-udp" {
        (None, Some(PortNames::TcpUdp))
    } else {
        let p = ports::protocol(t.text)
            .ok_or_else(|| c.err_at(t.col, format!("invalid protocol '{}'", t.text)))?;
        (Some(p), ports::port_names(p))
    };
    if protocol.is_some_and(ports::is_icmp) && c.peek().is_some() {
        return Err(c.err("icmp types are not supported yet"));
    }
    let mut source = None;
    let mut destination = None;
    for (kw, slot) in [("source", &mut source), ("destination", &mut destination)] {
        if c.peek() == Some(kw) {
            let Some(names) = names else {
                return Err(c.err("ports apply only to tcp, udp and sctp"));
            };
            c.next();
            *slot = Some(port_match(c, names, Ops::All)?);
        }
    }
    if c.peek().is_some() && names.is_some() && source.is_none() && destination.is_none() {
        return Err(c.expected("'source' or 'destination'"));
    }
    Ok(match protocol {
        Some(protocol) => Service::One(ServiceValue {
            protocol,
            source,
            destination,
        }),
        None => Service::TcpUdp(source, destination),
    })
}

/// Which port operators a position takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ops {
    /// `eq neq lt gt range` (ACEs, service objects).
    All,
    /// `eq range` (`port-object`, `match port`).
    EqRange,
}

/// `eq|neq|lt|gt P` or `range A B`.
fn port_match(c: &mut Cur<'_>, names: PortNames, ops: Ops) -> R<PortMatch> {
    let expected_ops = match ops {
        Ops::All => "'eq', 'neq', 'lt', 'gt' or 'range'",
        Ops::EqRange => "'eq' or 'range'",
    };
    let port = |c: &mut Cur<'_>| -> R<u16> {
        let t = c.word("port")?;
        ports::port(t.text, names).ok_or_else(|| {
            c.err_at(
                t.col,
                format!("invalid port '{}' for {}", t.text, names.label()),
            )
        })
    };
    let op = c.word(expected_ops)?;
    Ok(match (op.text, ops) {
        ("eq", _) => PortMatch::Eq(port(c)?),
        ("neq", Ops::All) => PortMatch::Neq(port(c)?),
        ("lt", Ops::All) => PortMatch::Lt(port(c)?),
        ("gt", Ops::All) => PortMatch::Gt(port(c)?),
        ("range", _) => {
            let a = port(c)?;
            let col = c.col();
            let b = port(c)?;
            if a > b {
                return Err(c.err_at(col, "a port range runs from the lower port to the higher"));
            }
            PortMatch::Range(a, b)
        }
        _ => {
            c.back();
            return Err(c.expected(expected_ops));
        }
    })
}

/// `H:MM:SS`, at most 1193:00:00 (spec/asa.md §2.2).
fn hms(c: &mut Cur<'_>) -> R<Duration> {
    let t = c.word("time as H:MM:SS")?;
    let nums: Option<Vec<u64>> = t
        .text
        .split(':')
        .map(|p| {
            (!p.is_empty() && p.len() <= 4 && p.chars().all(|ch| ch.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect();
    let secs = match nums.as_deref() {
        Some(&[h, m, s]) if m < 60 && s < 60 => h * 3600 + m * 60 + s,
        _ => {
            return Err(c.err_at(
                t.col,
                format!("invalid time '{}', expected H:MM:SS", t.text),
            ));
        }
    };
    if secs > TIMEOUT_MAX_SECS {
        return Err(c.err_at(t.col, format!("time '{}' is beyond 1193:00:00", t.text)));
    }
    Ok(Duration::from_secs(secs))
}

/// The words after `set connection`: limits and randomization, or
/// `timeout …`, or `advanced-options …`. With `negate`, the named options
/// return to their defaults. False for `decrement-ttl`, which is ignored.
fn set_connection(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<bool> {
    match c.peek() {
        Some("timeout") => {
            c.next();
            set_timeouts(c, s, negate)?;
        }
        Some("advanced-options") => {
            c.next();
            let t = c.word("'tcp-state-bypass'")?;
            if t.text != "tcp-state-bypass" {
                return Err(c.err_at(
                    t.col,
                    format!(
                        "tcp-map '{}' is not defined; only tcp-state-bypass is supported",
                        t.text
                    ),
                ));
            }
            c.done()?;
            s.tcp_state_bypass = !negate;
        }
        Some("decrement-ttl") => {
            c.next();
            c.done()?;
            return Ok(false);
        }
        None => return Err(c.expected("connection option")),
        Some(_) => set_limits(c, s, negate)?,
    }
    Ok(true)
}

fn set_limits(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<()> {
    while let Some(t) = c.next() {
        let slot = match t.text {
            "conn-max" => &mut s.conn_max,
            "embryonic-conn-max" => &mut s.embryonic_conn_max,
            "per-client-max" => &mut s.per_client_max,
            "per-client-embryonic-max" => &mut s.per_client_embryonic_max,
            "random-sequence-number" => {
                let v = match c.next().map(|t| t.text) {
                    Some("enable") => true,
                    Some("disable") => false,
                    None if negate => {
                        s.random_sequence_number = None;
                        continue;
                    }
                    Some(_) => {
                        c.back();
                        return Err(c.expected("'enable' or 'disable'"));
                    }
                    None => return Err(c.expected("'enable' or 'disable'")),
                };
                s.random_sequence_number = if negate { None } else { Some(v) };
                continue;
            }
            w => {
                return Err(c.err_at(t.col, format!("expected connection option, found '{w}'")));
            }
        };
        if negate {
            *slot = None;
            if c.peek().is_some_and(|w| w.parse::<u32>().is_ok()) {
                c.next();
            }
            continue;
        }
        let n = c.word("number of connections")?;
        let v = n
            .text
            .parse::<u32>()
            .ok()
            .filter(|&v| v <= CONN_LIMIT_MAX)
            .ok_or_else(|| c.err_at(n.col, format!("{} must be 0-2000000", t.text)))?;
        *slot = Some(v);
    }
    Ok(())
}

fn set_timeouts(c: &mut Cur<'_>, s: &mut ConnectionSettings, negate: bool) -> R<()> {
    const WHICH: &str = "'embryonic', 'half-closed', 'idle' or 'dcd'";
    if c.peek().is_none() {
        return Err(c.expected(WHICH));
    }
    while let Some(t) = c.next() {
        let (slot, min) = match t.text {
            "embryonic" => (&mut s.timeout_embryonic, EMBRYONIC_MIN_SECS),
            "half-closed" => (&mut s.timeout_half_closed, HALF_CLOSED_MIN_SECS),
            "idle" => (&mut s.timeout_idle, IDLE_MIN_SECS),
            "dcd" => return Err(c.err_at(t.col, "dcd is not supported yet")),
            _ => {
                c.back();
                return Err(c.expected(WHICH));
            }
        };
        if negate {
            *slot = None;
            if c.peek().is_some_and(|w| w.contains(':')) {
                c.next();
            }
            if t.text == "idle" {
                c.eat("reset");
                s.idle_reset = false;
            }
            continue;
        }
        let col = c.col();
        let d = hms(c)?;
        if !d.is_zero() && d.as_secs() < min {
            return Err(c.err_at(
                col,
                format!(
                    "{} timeout must be at least 0:00:{min:02} (or 0:00:00 for never)",
                    t.text
                ),
            ));
        }
        // 0:00:00 means never; kept as Duration::ZERO.
        *slot = Some(d);
        if t.text == "idle" {
            s.idle_reset = c.eat("reset");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Parsed {
        parse_config(text).unwrap_or_else(|e| panic!("{text}\n{e}"))
    }

    fn cfg(text: &str) -> Config {
        parsed(text).config
    }

    fn errs(text: &str) -> Vec<(usize, usize, String)> {
        match parse_config(text) {
            Ok(p) => panic!("expected errors for:\n{text}\nparsed {:?}", p.config),
            Err(e) => {
                e.0.into_iter()
                    .map(|e| (e.line, e.column, e.message))
                    .collect()
            }
        }
    }

    /// Exactly one error, as (line, column, message).
    fn err(text: &str) -> (usize, usize, String) {
        let e = errs(text);
        assert_eq!(e.len(), 1, "for:\n{text}\n{e:#?}");
        e.into_iter().next().expect("one")
    }

    /// Each case must fail with exactly this one error.
    fn check_errors(cases: &[(&str, usize, usize, &str)]) {
        for &(text, line, column, message) in cases {
            assert_eq!(
                err(text),
                (line, column, message.to_string()),
                "for:\n{text}"
            );
        }
    }

    fn ignored(text: &str) -> Vec<(usize, &'static str)> {
        parsed(text)
            .ignored
            .iter()
            .map(|i| (i.line, i.reason))
            .collect()
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ace(text: &str) -> Ace {
        let c = cfg(text);
        match c.access_lists.last().and_then(|a| a.lines.last()) {
            Some(AclLine::Ace(a)) => a.clone(),
            other => panic!("no ACE: {other:?}"),
        }
    }

    fn permit_ip(source: AddrSpec, destination: AddrSpec) -> Ace {
        Ace {
            action: Action::Permit,
            protocol: ProtoSpec::Protocol(Protocol::Ip),
            source,
            source_port: None,
            destination,
            destination_port: None,
            log: false,
            inactive: false,
        }
    }

    /// A policy-map with class C (line 4), so `set connection` lines start at line 5.
    const CLASS: &str = "class-map C\n match any\npolicy-map P\n class C\n";

    fn settings(lines: &str) -> ConnectionSettings {
        cfg(&format!("{CLASS}{lines}")).policy_maps[0].classes[0].connection
    }

    // === lines and tokens ===

    #[test]
    fn comments_blank_lines_and_line_endings() {
        let c = cfg("! a comment\n: Saved\n\n   \r\naccess-list A permit ip any any\r\n");
        assert_eq!(c.access_lists[0].lines.len(), 1);
        // Columns count characters, tabs included, from 1.
        assert_eq!(
            err("access-list\tA\tpermit ip any"),
            (1, 28, "expected destination address".into())
        );
        assert_eq!(
            err("access-list é permit ip any fo"),
            (1, 29, "expected destination address, found 'fo'".into())
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let e = parse_config("bogus\naccess-list A permit").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column 1: unknown command 'bogus'\nline 2, column 21: expected protocol\n"
        );
        assert_eq!(
            e.0[0].to_string(),
            "line 1, column 1: unknown command 'bogus'"
        );
    }

    #[test]
    fn every_error_is_reported_in_line_order() {
        let e = errs(
            "access-list A permit\nbogus\naccess-list B permit ip any any\naccess-list C deny tcp any\naccess-group NOPE in interface x",
        );
        assert_eq!(
            e,
            vec![
                (1, 21, "expected protocol".to_string()),
                (2, 1, "unknown command 'bogus'".to_string()),
                (4, 27, "expected port or destination address".to_string()),
                (5, 14, "access-list 'NOPE' is not defined".to_string()),
            ]
        );
    }

    // === top level and ignored commands ===

    #[test]
    fn unknown_commands_are_errors() {
        check_errors(&[
            ("frobnicate all", 1, 1, "unknown command 'frobnicate'"),
            ("  frobnicate", 1, 3, "unknown command 'frobnicate'"),
            ("no frobnicate", 1, 4, "unknown command 'no frobnicate'"),
            ("no", 1, 3, "expected command to remove"),
            ("class C", 1, 1, "unknown command 'class'"),
            (" nameif inside", 1, 2, "unknown command 'nameif'"),
            ("Hostname fw", 1, 1, "unknown command 'Hostname'"),
        ]);
    }

    #[test]
    fn harmless_commands_are_ignored_with_a_reason() {
        let text = "ASA Version 9.16(4)\nhostname fw\nlogging enable\ntimeout conn 1:00:00\nsame-security-traffic permit inter-interface\nnat (inside,outside) dynamic interface\nno logging message 106023\nCryptochecksum:0a1b2c3d\nroute outside 0.0.0.0 0.0.0.0 198.18.0.1 1";
        let p = parsed(text);
        assert_eq!(p.config, Config::default());
        assert_eq!(
            ignored(text),
            vec![
                (1, REASON_HARMLESS),
                (2, REASON_HARMLESS),
                (3, REASON_HARMLESS),
                (
                    4,
                    "global timeouts come from the node configuration for now"
                ),
                (
                    5,
                    "same-security-traffic is not implemented: equal security levels pass only where an access-group permits"
                ),
                (6, REASON_NAT),
                (7, REASON_HARMLESS),
                (8, REASON_HARMLESS),
                (9, REASON_HARMLESS),
            ]
        );
        assert_eq!(p.ignored[1].text, "hostname fw");
    }

    #[test]
    fn blocks_of_other_features_are_ignored_with_their_indented_lines() {
        let text = "crypto ca trustpoint TP\n enrollment self\n subject-name CN=fw\ncall-home\n profile CiscoTAC-1\n  no active\n  destination address http https://example.test\naccess-list A permit ip any any";
        assert_eq!(
            ignored(text),
            vec![
                (1, REASON_HARMLESS),
                (2, REASON_BLOCK),
                (3, REASON_BLOCK),
                (4, REASON_HARMLESS),
                (5, REASON_BLOCK),
                (6, REASON_BLOCK),
                (7, REASON_BLOCK),
            ]
        );
        assert_eq!(cfg(text).access_lists.len(), 1);
        // An unindented unknown word after a block is still an error, and
        // a single-line command opens no block.
        check_errors(&[
            (
                "crypto ca trustpoint TP\nenrollment self",
                2,
                1,
                "unknown command 'enrollment'",
            ),
            (
                "hostname fw\n enrollment self",
                2,
                2,
                "unknown command 'enrollment'",
            ),
        ]);
    }

    #[test]
    fn inspection_maps_are_ignored_blocks() {
        let text = "policy-map type inspect dns preset_dns_map\n parameters\n  message-length maximum client auto\n  no tcp-inspection\nclass-map type inspect http match-all H\n match request method connect\npolicy-map global_policy\n class class-default\n  inspect dns preset_dns_map";
        let p = parsed(text);
        assert_eq!(
            p.ignored
                .iter()
                .map(|i| (i.line, i.reason))
                .collect::<Vec<_>>(),
            vec![
                (1, REASON_TYPED_MAP),
                (2, REASON_BLOCK),
                (3, REASON_BLOCK),
                (4, REASON_BLOCK),
                (5, REASON_TYPED_MAP),
                (6, REASON_BLOCK),
                (9, REASON_INSPECT),
            ]
        );
        assert_eq!(
            p.config.policy_maps[0].classes[0].inspects,
            vec!["dns preset_dns_map".to_string()]
        );
        assert!(p.config.class_maps.is_empty());
        assert_eq!(
            ignored("no policy-map type inspect dns X"),
            vec![(1, REASON_TYPED_MAP)]
        );
    }

    // === interface ===

    #[test]
    fn interface_blocks() {
        let text = "interface GigabitEthernet0/0\n nameif outside\n security-level 0\n ip address 198.18.0.2 255.255.255.0\n no shutdown\n description uplink\ninterface GigabitEthernet0/1\nnameif inside\nsecurity-level 100\ninterface GigabitEthernet0/0\n security-level 5";
        let p = parsed(text);
        assert_eq!(
            p.config.interfaces,
            vec![
                Interface {
                    hardware: "GigabitEthernet0/0".into(),
                    nameif: Some("outside".into()),
                    security_level: Some(5),
                },
                Interface {
                    hardware: "GigabitEthernet0/1".into(),
                    nameif: Some("inside".into()),
                    security_level: Some(100),
                },
            ]
        );
        assert_eq!(
            ignored(text),
            vec![
                (4, REASON_INTERFACE),
                (5, REASON_INTERFACE),
                (6, REASON_INTERFACE)
            ]
        );
        let c =
            cfg("interface G0\n nameif x\n security-level 10\n no nameif\n no security-level 10");
        assert_eq!(c.interfaces[0].nameif, None);
        assert_eq!(c.interfaces[0].security_level, None);
        // `ip` and `ipv6` belong to the interface only when indented.
        assert_eq!(
            ignored("interface G0\n ipv6 enable\nipv6 route outside ::/0 2001:db8::1"),
            vec![(2, REASON_INTERFACE), (3, REASON_HARMLESS)]
        );
        // A top-level word leaves the interface.
        assert_eq!(
            err("interface G0\nhostname fw\n nameif inside"),
            (3, 2, "unknown command 'nameif'".into())
        );
    }

    #[test]
    fn interface_errors() {
        check_errors(&[
            ("interface", 1, 10, "expected interface name"),
            (
                "interface G0 extra",
                1,
                14,
                "unexpected 'extra' after end of command",
            ),
            (
                "interface G0\n security-level 101",
                2,
                17,
                "security-level must be 0-100",
            ),
            (
                "interface G0\n security-level -1",
                2,
                17,
                "security-level must be 0-100",
            ),
            (
                "interface G0\n security-level",
                2,
                16,
                "expected security level",
            ),
            ("interface G0\n nameif", 2, 8, "expected interface name"),
            (
                "interface G0\n nameif a b",
                2,
                11,
                "unexpected 'b' after end of command",
            ),
            (
                "interface G0\n no",
                2,
                4,
                "expected interface setting to remove",
            ),
            (
                "interface G0\n nameif inside\ninterface G1\n nameif inside",
                4,
                9,
                "nameif 'inside' is already used by interface G0",
            ),
        ]);
        // A broken interface line does not make its settings errors too.
        assert_eq!(
            errs("interface\n nameif inside\n security-level 100"),
            vec![(1, 10, "expected interface name".to_string())]
        );
    }

    // === objects ===

    #[test]
    fn network_and_service_objects() {
        let c = cfg(
            "object network H4\n host 198.18.0.1\nobject network H6\n host 2001:db8::1\nobject network S4\n subnet 198.18.0.0 255.255.254.0\nobject network S6\n subnet 2001:db8::/32\nobject network R\n range 198.18.0.10 198.18.0.20\n description a range\nobject service WEB\n service tcp source range 1024 65535 destination eq www\nobject service GRE\n service gre\nobject network H4\n host 198.18.0.2",
        );
        assert_eq!(
            c.objects,
            vec![
                Object::Network {
                    name: "H4".into(),
                    value: NetworkValue::Host(ip("198.18.0.2")),
                },
                Object::Network {
                    name: "H6".into(),
                    value: NetworkValue::Host(ip("2001:db8::1")),
                },
                Object::Network {
                    name: "S4".into(),
                    value: NetworkValue::V4Subnet(v4("198.18.0.0"), v4("255.255.254.0")),
                },
                Object::Network {
                    name: "S6".into(),
                    value: NetworkValue::V6Subnet("2001:db8::".parse().unwrap(), 32),
                },
                Object::Network {
                    name: "R".into(),
                    value: NetworkValue::Range(ip("198.18.0.10"), ip("198.18.0.20")),
                },
                Object::Service {
                    name: "WEB".into(),
                    value: ServiceValue {
                        protocol: Protocol::Number(6),
                        source: Some(PortMatch::Range(1024, 65535)),
                        destination: Some(PortMatch::Eq(80)),
                    },
                },
                Object::Service {
                    name: "GRE".into(),
                    value: ServiceValue {
                        protocol: Protocol::Number(47),
                        source: None,
                        destination: None,
                    },
                },
            ]
        );
        assert_eq!(
            ignored(
                "object network N\n host 198.18.0.1\n description web\n nat (inside,outside) static 203.0.113.5"
            ),
            vec![(3, REASON_DESCRIPTION), (4, REASON_NAT)]
        );
        let c = cfg(
            "object service U\n service udp destination eq syslog\nobject service S\n service sctp destination eq 2905",
        );
        assert!(matches!(
            &c.objects[0],
            Object::Service { value, .. } if value.destination == Some(PortMatch::Eq(514))
        ));
    }

    #[test]
    fn object_errors() {
        check_errors(&[
            ("object", 1, 7, "expected 'network' or 'service'"),
            (
                "object host X",
                1,
                8,
                "expected 'network' or 'service', found 'host'",
            ),
            ("object network", 1, 15, "expected object name"),
            (
                "object network N",
                1,
                16,
                "object network 'N' has no host, subnet or range",
            ),
            (
                "object service S",
                1,
                16,
                "object service 'S' has no service line",
            ),
            ("object network N\n host", 2, 6, "expected host address"),
            (
                "object network N\n host 198.18.0",
                2,
                7,
                "invalid IPv4 address '198.18.0'",
            ),
            (
                "object network N\n host 2001:db8::g",
                2,
                7,
                "invalid IPv6 address '2001:db8::g'",
            ),
            (
                "object network N\n subnet 198.18.0.1 255.255.255.0",
                2,
                9,
                "address has host bits set beyond the mask",
            ),
            (
                "object network N\n subnet 198.18.0.0/24",
                2,
                9,
                "IPv4 networks are written as address and mask, not '198.18.0.0/24'",
            ),
            (
                "object network N\n subnet 198.18.0.0",
                2,
                19,
                "expected mask or prefix",
            ),
            (
                "object network N\n range 198.18.0.9 198.18.0.1",
                2,
                19,
                "a range runs from the lower address to the higher",
            ),
            (
                "object network N\n range 198.18.0.1 2001:db8::1",
                2,
                19,
                "the ends of a range must be of one IP family",
            ),
            (
                "object network N\n fqdn www.example.test",
                2,
                2,
                "fqdn objects are not supported",
            ),
            (
                "object network N\n host 198.18.0.1 extra",
                2,
                18,
                "unexpected 'extra' after end of command",
            ),
            (
                "object network N\n no host 198.18.0.1",
                2,
                5,
                "an object's 'host' cannot be removed; give it a new value or remove the object",
            ),
            ("object service S\n service", 2, 9, "expected protocol"),
            (
                "object service S\n service foo",
                2,
                10,
                "invalid protocol 'foo'",
            ),
            (
                "object service S\n service tcp eq 80",
                2,
                14,
                "expected 'source' or 'destination', found 'eq'",
            ),
            (
                "object service S\n service icmp echo",
                2,
                15,
                "icmp types are not supported yet",
            ),
            (
                "object service S\n service gre destination eq 1",
                2,
                14,
                "ports apply only to tcp, udp and sctp",
            ),
            (
                "object service S\n service tcp-udp destination eq 53",
                2,
                10,
                "a service object takes one protocol; use an object-group service for tcp-udp",
            ),
            (
                "object service S\n service tcp destination eq syslog",
                2,
                29,
                "invalid port 'syslog' for tcp",
            ),
            (
                "object network N\n host 198.18.0.1\nobject service N",
                3,
                8,
                "object 'N' already exists as a network object",
            ),
            (
                "object-group network N\nobject network N\n host 198.18.0.1",
                2,
                16,
                "'N' is already an object-group",
            ),
        ]);
        // A mistyped indented line is reported and the object stays open.
        assert_eq!(
            errs("object network N\n hots 198.18.0.1\n host 198.18.0.1"),
            vec![(2, 2, "unknown object network command 'hots'".to_string())]
        );
    }

    // === object-groups ===

    #[test]
    fn object_group_members() {
        let c = cfg(
            "object network W\n host 198.18.0.80\nobject-group network NETS\n network-object host 198.18.0.1\n network-object 198.18.1.0 255.255.255.0\n network-object 2001:db8::/48\n network-object object W\n group-object MORE\n description duplicate follows\n network-object host 198.18.0.1\nobject-group network MORE\n network-object host 198.18.9.9\nobject-group service WEB tcp\n port-object eq www\n port-object range 8000 8080\nobject-group service DNS tcp-udp\n port-object eq domain\nobject service SSH\n service tcp destination eq ssh\nobject-group service MIX\n service-object tcp destination eq https\n service-object tcp-udp destination eq domain\n service-object object SSH\n service-object esp\nobject-group protocol P\n protocol-object tcp\n protocol-object 112\n group-object Q\nobject-group protocol Q\n protocol-object udp",
        );
        let g = &c.object_groups;
        assert_eq!(
            g[0],
            ObjectGroup::Network {
                name: "NETS".into(),
                members: vec![
                    NetworkMember::Address(NetworkValue::Host(ip("198.18.0.1"))),
                    NetworkMember::Address(NetworkValue::V4Subnet(
                        v4("198.18.1.0"),
                        v4("255.255.255.0")
                    )),
                    NetworkMember::Address(NetworkValue::V6Subnet(
                        "2001:db8::".parse().unwrap(),
                        48
                    )),
                    NetworkMember::Object("W".into()),
                    NetworkMember::Group("MORE".into()),
                ],
            }
        );
        assert_eq!(
            g[2],
            ObjectGroup::Service {
                name: "WEB".into(),
                protocol: Some(PortProtocol::Tcp),
                members: vec![
                    ServiceMember::Port(PortMatch::Eq(80)),
                    ServiceMember::Port(PortMatch::Range(8000, 8080)),
                ],
            }
        );
        assert_eq!(
            g[3],
            ObjectGroup::Service {
                name: "DNS".into(),
                protocol: Some(PortProtocol::TcpUdp),
                members: vec![ServiceMember::Port(PortMatch::Eq(53))],
            }
        );
        let svc = |p, d| {
            ServiceMember::Service(ServiceValue {
                protocol: Protocol::Number(p),
                source: None,
                destination: d,
            })
        };
        assert_eq!(
            g[4],
            ObjectGroup::Service {
                name: "MIX".into(),
                protocol: None,
                members: vec![
                    svc(6, Some(PortMatch::Eq(443))),
                    svc(6, Some(PortMatch::Eq(53))),
                    svc(17, Some(PortMatch::Eq(53))),
                    ServiceMember::Object("SSH".into()),
                    svc(50, None),
                ],
            }
        );
        assert_eq!(
            g[5],
            ObjectGroup::Protocol {
                name: "P".into(),
                members: vec![
                    ProtocolMember::Protocol(Protocol::Number(6)),
                    ProtocolMember::Protocol(Protocol::Number(112)),
                    ProtocolMember::Group("Q".into()),
                ],
            }
        );
        assert_eq!(
            ignored(
                "object-group network N\n description x\n network-object host 198.18.0.1\n network-object host 198.18.0.1"
            ),
            vec![(2, REASON_DESCRIPTION), (4, REASON_DUPLICATE_MEMBER)]
        );
    }

    #[test]
    fn object_group_member_removal_and_reentry() {
        let c = cfg(
            "object-group network N\n network-object host 198.18.0.1\n network-object host 198.18.0.2\nobject-group service M\n service-object tcp-udp destination eq 53\n service-object gre\nobject-group network N\n no network-object host 198.18.0.1\n network-object host 198.18.0.3\nobject-group service M\n no service-object tcp-udp destination eq 53",
        );
        assert_eq!(
            c.object_groups[0],
            ObjectGroup::Network {
                name: "N".into(),
                members: vec![
                    NetworkMember::Address(NetworkValue::Host(ip("198.18.0.2"))),
                    NetworkMember::Address(NetworkValue::Host(ip("198.18.0.3"))),
                ],
            }
        );
        assert_eq!(
            c.object_groups[1],
            ObjectGroup::Service {
                name: "M".into(),
                protocol: None,
                members: vec![ServiceMember::Service(ServiceValue {
                    protocol: Protocol::Number(47),
                    source: None,
                    destination: None,
                })],
            }
        );
        let c = cfg(
            "object-group network A\n network-object host 198.18.0.1\nno object-group network A\nobject-group service B udp\n port-object eq 53\nno object-group service B udp",
        );
        assert!(c.object_groups.is_empty());
    }

    #[test]
    fn object_group_errors() {
        check_errors(&[
            (
                "object-group",
                1,
                13,
                "expected 'network', 'service' or 'protocol'",
            ),
            (
                "object-group icmp-type I",
                1,
                14,
                "object-group icmp-type is not supported",
            ),
            (
                "object-group foo F",
                1,
                14,
                "expected 'network', 'service' or 'protocol', found 'foo'",
            ),
            ("object-group network", 1, 21, "expected object-group name"),
            (
                "object-group network N tcp",
                1,
                24,
                "unexpected 'tcp' after end of command",
            ),
            (
                "object-group service S sctp",
                1,
                24,
                "expected 'tcp', 'udp' or 'tcp-udp', found 'sctp'",
            ),
            (
                "object-group network N\n port-object eq 80",
                2,
                2,
                "'port-object' does not belong in a network group",
            ),
            (
                "object-group service S tcp\n service-object tcp",
                2,
                2,
                "'service-object' does not belong in a tcp port group",
            ),
            (
                "object-group service S\n port-object eq 80",
                2,
                2,
                "'port-object' does not belong in a service group",
            ),
            (
                "object-group service S tcp\n port-object neq 80",
                2,
                14,
                "expected 'eq' or 'range', found 'neq'",
            ),
            (
                "object-group service S udp\n port-object eq ssh",
                2,
                17,
                "invalid port 'ssh' for udp",
            ),
            (
                "object-group service S tcp-udp\n port-object eq syslog",
                2,
                17,
                "invalid port 'syslog' for tcp-udp",
            ),
            (
                "object-group service S tcp\n port-object range 90 80",
                2,
                23,
                "a port range runs from the lower port to the higher",
            ),
            (
                "object-group service S\n service-object icmp echo",
                2,
                22,
                "icmp types are not supported yet",
            ),
            (
                "object-group protocol P\n protocol-object tcp-udp",
                2,
                18,
                "invalid protocol 'tcp-udp'",
            ),
            (
                "object-group network N\n network-object 198.18.0.1",
                2,
                27,
                "expected mask or prefix",
            ),
            (
                "object-group network N\n network-object any",
                2,
                17,
                "expected 'host', 'object' or a network, found 'any'",
            ),
            (
                "object-group network N\n network-object object",
                2,
                23,
                "expected network object name",
            ),
            (
                "object-group network N\n group-object",
                2,
                14,
                "expected object-group name",
            ),
            (
                "object-group network N\n no network-object host 198.18.0.1",
                2,
                5,
                "no such member in object-group 'N'",
            ),
            (
                "object-group network N\nobject-group protocol N",
                2,
                14,
                "object-group 'N' already exists as a network group",
            ),
            (
                "object-group service N tcp\nobject-group service N udp",
                2,
                14,
                "object-group 'N' already exists as a tcp port group",
            ),
            (
                "object network N\n host 198.18.0.1\nobject-group network N",
                3,
                22,
                "'N' is already an object",
            ),
            (
                "no object-group network N",
                1,
                25,
                "no such object-group network 'N'",
            ),
            (
                "object-group protocol N\nno object-group network N",
                2,
                25,
                "no such object-group network 'N'",
            ),
            (
                "object-group network N\n group-object M",
                2,
                15,
                "object-group 'M' is not defined",
            ),
            (
                "object-group network N\n group-object M\nobject-group service M tcp",
                2,
                15,
                "object-group 'M' is a tcp port group, not a network group",
            ),
            (
                "object-group service N tcp\n group-object M\nobject-group service M udp",
                2,
                15,
                "object-group 'M' is a udp port group, not a tcp port group",
            ),
            (
                "object-group network N\n network-object object X",
                2,
                24,
                "object 'X' is not defined",
            ),
            (
                "object service X\n service tcp\nobject-group network N\n network-object object X",
                4,
                24,
                "object 'X' is a service object, not a network object",
            ),
            (
                "object network X\n host 198.18.0.1\nobject-group service N\n service-object object X",
                4,
                24,
                "object 'X' is a network object, not a service object",
            ),
            (
                "object-group network N\n group-object N",
                2,
                15,
                "group-object 'N' would make object-group 'N' contain itself",
            ),
        ]);
        // A cycle through two groups is reported at both group-objects.
        assert_eq!(
            errs(
                "object-group network A\n group-object B\nobject-group network B\n group-object A"
            ),
            vec![
                (
                    2,
                    15,
                    "group-object 'B' would make object-group 'A' contain itself".to_string()
                ),
                (
                    4,
                    15,
                    "group-object 'A' would make object-group 'B' contain itself".to_string()
                ),
            ]
        );
    }

    // === access-list ===

    #[test]
    fn seed_lines() {
        let c = cfg(
            "access-list tcp_bypass permit ip any 198.18.2.0 255.255.255.0\naccess-list tcp_bypass extended permit ip 198.18.2.0 255.255.255.0 any",
        );
        let net = AddrSpec::V4Net(v4("198.18.2.0"), v4("255.255.255.0"));
        assert_eq!(
            c.access_lists,
            vec![AccessList {
                name: "tcp_bypass".into(),
                lines: vec![
                    AclLine::Ace(permit_ip(AddrSpec::Any, net.clone())),
                    AclLine::Ace(permit_ip(net, AddrSpec::Any)),
                ],
            }]
        );
    }

    #[test]
    fn addresses() {
        let cases: &[(&str, AddrSpec)] = &[
            ("any", AddrSpec::Any),
            ("any4", AddrSpec::Any4),
            ("any6", AddrSpec::Any6),
            ("host 198.18.0.1", AddrSpec::Host(ip("198.18.0.1"))),
            ("host 2001:db8::1", AddrSpec::Host(ip("2001:db8::1"))),
            (
                "198.18.0.0 255.255.0.0",
                AddrSpec::V4Net(v4("198.18.0.0"), v4("255.255.0.0")),
            ),
            (
                "0.0.0.0 0.0.0.0",
                AddrSpec::V4Net(v4("0.0.0.0"), v4("0.0.0.0")),
            ),
            (
                "2001:db8::/32",
                AddrSpec::V6Net("2001:db8::".parse().unwrap(), 32),
            ),
            ("::/0", AddrSpec::V6Net(Ipv6Addr::UNSPECIFIED, 0)),
            ("object O", AddrSpec::Object("O".into())),
            ("object-group G", AddrSpec::Group("G".into())),
            ("interface outside", AddrSpec::Interface("outside".into())),
        ];
        let defs = "object network O\n host 198.18.0.1\nobject-group network G\n network-object host 198.18.0.2\n";
        for (text, want) in cases {
            let a = ace(&format!("{defs}access-list A permit ip {text} {text}"));
            assert_eq!((&a.source, &a.destination), (want, want), "{text}");
        }
    }

    #[test]
    fn protocols_and_ports() {
        let a = ace("access-list A permit tcp any eq www host 198.18.0.1 range ftp-data ftp");
        assert_eq!(a.protocol, ProtoSpec::Protocol(Protocol::Number(6)));
        assert_eq!(a.source_port, Some(PortSpec::Match(PortMatch::Eq(80))));
        assert_eq!(
            a.destination_port,
            Some(PortSpec::Match(PortMatch::Range(20, 21)))
        );
        let ops = [
            ("eq https", PortMatch::Eq(443)),
            ("neq 8080", PortMatch::Neq(8080)),
            ("lt 1024", PortMatch::Lt(1024)),
            ("gt ssh", PortMatch::Gt(22)),
            ("range 0 65535", PortMatch::Range(0, 65535)),
        ];
        for (text, want) in ops {
            let a = ace(&format!("access-list A deny tcp any any {text}"));
            assert_eq!(a.destination_port, Some(PortSpec::Match(want)), "{text}");
            assert_eq!(a.action, Action::Deny);
        }
        assert_eq!(
            ace("access-list A permit udp any any eq snmp").destination_port,
            Some(PortSpec::Match(PortMatch::Eq(161)))
        );
        assert_eq!(
            ace("access-list A permit sctp any any eq 2905").destination_port,
            Some(PortSpec::Match(PortMatch::Eq(2905)))
        );
        for (word, n) in [
            ("gre", 47),
            ("esp", 50),
            ("icmp6", 58),
            ("pcp", 108),
            ("200", 200),
        ] {
            assert_eq!(
                ace(&format!("access-list A permit {word} any any")).protocol,
                ProtoSpec::Protocol(Protocol::Number(n))
            );
        }
    }

    #[test]
    fn groups_and_objects_in_aces() {
        let defs = "object service SVC\n service tcp destination eq 443\nobject-group service SG\n service-object udp destination eq 53\nobject-group protocol TU\n protocol-object tcp\n protocol-object udp\nobject-group service WEB tcp\n port-object eq 80\nobject-group network NET\n network-object 198.18.0.0 255.255.0.0\n";
        let a = ace(&format!("{defs}access-list A permit object SVC any any"));
        assert_eq!(a.protocol, ProtoSpec::Object("SVC".into()));
        let a = ace(&format!(
            "{defs}access-list A permit object-group SG any any"
        ));
        assert_eq!(a.protocol, ProtoSpec::Group("SG".into()));
        let a = ace(&format!(
            "{defs}access-list A permit object-group TU any any eq domain"
        ));
        assert_eq!(a.protocol, ProtoSpec::Group("TU".into()));
        assert_eq!(a.destination_port, Some(PortSpec::Match(PortMatch::Eq(53))));
        let a = ace(&format!(
            "{defs}access-list A permit tcp object-group NET object-group WEB object-group NET object-group WEB"
        ));
        assert_eq!(a.source, AddrSpec::Group("NET".into()));
        assert_eq!(a.source_port, Some(PortSpec::Group("WEB".into())));
        assert_eq!(a.destination, AddrSpec::Group("NET".into()));
        assert_eq!(a.destination_port, Some(PortSpec::Group("WEB".into())));
    }

    #[test]
    fn log_and_inactive() {
        let base = "access-list A permit ip any any";
        for (tail, log, inactive) in [
            ("", false, false),
            (" log", true, false),
            (" log 7", true, false),
            (" log informational interval 300", true, false),
            (" log interval 60", true, false),
            (" log default", true, false),
            (" log disable", false, false),
            (" inactive", false, true),
            (" log warnings inactive", true, true),
        ] {
            let a = ace(&format!("{base}{tail}"));
            assert_eq!((a.log, a.inactive), (log, inactive), "{tail}");
        }
    }

    #[test]
    fn remarks_and_line_numbers() {
        let c = cfg(
            "access-list A permit ip any host 198.18.0.1\naccess-list A remark   spaced   remark text  \naccess-list A line 1 remark first\naccess-list A line 3 extended deny ip any any\naccess-list A line 99 remark last",
        );
        let lines = &c.access_lists[0].lines;
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], AclLine::Remark("first".into()));
        assert!(matches!(&lines[1], AclLine::Ace(a) if a.action == Action::Permit));
        assert!(matches!(&lines[2], AclLine::Ace(a) if a.action == Action::Deny));
        assert_eq!(lines[3], AclLine::Remark("spaced   remark text".into()));
        assert_eq!(lines[4], AclLine::Remark("last".into()));
        let hundred = "x".repeat(100);
        assert_eq!(
            cfg(&format!("access-list A remark {hundred}")).access_lists[0].lines[0],
            AclLine::Remark(hundred)
        );
    }

    #[test]
    fn other_access_list_kinds_are_ignored() {
        let text = "access-list S standard permit 198.18.0.0 255.255.0.0\naccess-list E ethertype deny bpdu\naccess-group E in interface inside\naccess-list E remark bridge protocol\nno access-list E ethertype deny bpdu";
        let p = parsed(text);
        assert_eq!(p.config, Config::default());
        assert_eq!(p.ignored.len(), 5);
        assert_eq!(
            p.ignored[1].reason,
            "ethertype access-lists are not enforced: Rampart filters IP only"
        );
        check_errors(&[
            (
                "access-list S standard permit any\naccess-list S extended permit ip any any",
                2,
                15,
                "access-list 'S' is not an extended access-list",
            ),
            (
                "access-list S extended permit ip any any\naccess-list S standard permit any",
                2,
                15,
                "access-list 'S' is an extended access-list",
            ),
            (
                "access-list S standard permit any\nclass-map C\n match access-list S",
                3,
                20,
                "access-list 'S' is not an extended access-list",
            ),
        ]);
    }

    #[test]
    fn access_list_errors() {
        check_errors(&[
            (
                "access-list tcp_bypass permit ip any",
                1,
                37,
                "expected destination address",
            ),
            ("access-list", 1, 12, "expected access-list name"),
            ("access-list A", 1, 14, "expected permit or deny"),
            (
                "access-list A allow ip any any",
                1,
                15,
                "expected permit or deny, found 'allow'",
            ),
            ("access-list A extended", 1, 23, "expected permit or deny"),
            ("access-list A permit", 1, 21, "expected protocol"),
            (
                "access-list A permit foo any any",
                1,
                22,
                "expected protocol, found 'foo'",
            ),
            (
                "access-list A permit 256 any any",
                1,
                22,
                "expected protocol, found '256'",
            ),
            ("access-list A permit ip", 1, 24, "expected source address"),
            (
                "access-list A permit ip nowhere any",
                1,
                25,
                "expected source address, found 'nowhere'",
            ),
            (
                "access-list A permit tcp any",
                1,
                29,
                "expected port or destination address",
            ),
            (
                "access-list A permit tcp any bogus",
                1,
                30,
                "expected port or destination address, found 'bogus'",
            ),
            (
                "access-list A permit tcp any eq 80",
                1,
                35,
                "expected destination address",
            ),
            (
                "access-list A permit ip 198.18.0.0 any",
                1,
                36,
                "expected mask or prefix, found 'any'",
            ),
            (
                "access-list A permit ip any 198.18.0.0",
                1,
                39,
                "expected mask or prefix",
            ),
            (
                "access-list A permit ip 2001:db8:: any",
                1,
                35,
                "expected mask or prefix",
            ),
            (
                "access-list A permit ip 198.18.2.300 255.255.255.0 any",
                1,
                25,
                "invalid IPv4 address '198.18.2.300'",
            ),
            (
                "access-list A permit ip 198.18.2.0 255.255.255.300 any",
                1,
                36,
                "invalid IPv4 mask '255.255.255.300'",
            ),
            (
                "access-list A permit ip host 198.18.0 any",
                1,
                30,
                "invalid IPv4 address '198.18.0'",
            ),
            (
                "access-list A permit ip host any any",
                1,
                30,
                "invalid IPv4 address 'any'",
            ),
            (
                "access-list A permit ip host",
                1,
                29,
                "expected host address",
            ),
            (
                "access-list A permit ip 198.18.0.1 255.255.255.0 any",
                1,
                25,
                "address has host bits set beyond the mask",
            ),
            (
                "access-list A permit ip 198.18.0.0 255.0.255.0 any",
                1,
                36,
                "mask '255.0.255.0' is not contiguous",
            ),
            (
                "access-list A permit ip 2001:db8::1/64 any",
                1,
                25,
                "address has host bits set beyond the prefix length",
            ),
            (
                "access-list A permit ip 2001:db8::/129 any",
                1,
                25,
                "invalid IPv6 prefix '2001:db8::/129'",
            ),
            (
                "access-list A permit ip 10.0.0.0/8 any",
                1,
                25,
                "IPv4 networks are written as address and mask, not '10.0.0.0/8'",
            ),
            (
                "access-list A permit ip object",
                1,
                31,
                "expected network object name",
            ),
            (
                "access-list A permit tcp any any eq",
                1,
                36,
                "expected port",
            ),
            (
                "access-list A permit tcp any any eq wwww",
                1,
                37,
                "invalid port 'wwww' for tcp",
            ),
            (
                "access-list A permit tcp any any eq syslog",
                1,
                37,
                "invalid port 'syslog' for tcp",
            ),
            (
                "access-list A permit udp any any eq ssh",
                1,
                37,
                "invalid port 'ssh' for udp",
            ),
            (
                "access-list A permit sctp any any eq www",
                1,
                38,
                "invalid port 'www' for sctp",
            ),
            (
                "access-list A permit tcp any any eq 65536",
                1,
                37,
                "invalid port '65536' for tcp",
            ),
            (
                "access-list A permit tcp any any range 80",
                1,
                42,
                "expected port",
            ),
            (
                "access-list A permit tcp any any range 90 80",
                1,
                43,
                "a port range runs from the lower port to the higher",
            ),
            (
                "access-list A permit icmp any any eq 80",
                1,
                35,
                "ports apply only to tcp, udp and sctp",
            ),
            (
                "access-list A permit ip any eq 80 any",
                1,
                29,
                "ports apply only to tcp, udp and sctp",
            ),
            (
                "access-list A permit icmp any any echo",
                1,
                35,
                "icmp types are not supported yet",
            ),
            (
                "access-list A permit icmp6 any any 128",
                1,
                36,
                "icmp types are not supported yet",
            ),
            (
                "access-list A permit ip any any time-range WORK",
                1,
                33,
                "time-range is not supported yet",
            ),
            (
                "access-list A permit ip any any extra",
                1,
                33,
                "unexpected 'extra' after end of command",
            ),
            (
                "access-list A permit ip any any log extra",
                1,
                37,
                "unexpected 'extra' after end of command",
            ),
            (
                "access-list A permit ip any any log 8",
                1,
                37,
                "invalid log level '8', expected 0-7",
            ),
            (
                "access-list A permit ip any any log 6 interval 0",
                1,
                48,
                "invalid log interval '0', expected 1-600",
            ),
            (
                "access-list A permit ip any any log interval",
                1,
                45,
                "expected log interval",
            ),
            ("access-list A remark", 1, 21, "expected remark text"),
            (
                "access-list A remark xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                1,
                22,
                "remarks are at most 100 characters, this one has 101",
            ),
            (
                "access-list A line 0 remark x",
                1,
                20,
                "line numbers start at 1",
            ),
            (
                "access-list A line x remark x",
                1,
                20,
                "invalid line number 'x'",
            ),
            ("access-list A line", 1, 19, "expected line number"),
        ]);
    }

    #[test]
    fn access_list_group_and_object_errors() {
        let defs = "object service SVC\n service tcp destination eq 443\nobject-group service SG\n service-object udp\nobject-group service WEB tcp\n port-object eq 80\nobject-group service DNS udp\n port-object eq 53\nobject-group network NET\n network-object host 198.18.0.1\n";
        let at = |line: &str| format!("{defs}{line}");
        check_errors(&[
            (
                &at("access-list A permit object SVC any any eq 80"),
                11,
                41,
                "ports come from the service object, not the access-list line",
            ),
            (
                &at("access-list A permit object-group SG any any eq 80"),
                11,
                46,
                "ports come from the service object-group, not the access-list line",
            ),
            (
                &at("access-list A permit object-group NET any any"),
                11,
                35,
                "object-group 'NET' is a network group, not a protocol or service group",
            ),
            (
                &at("access-list A permit object NET any any"),
                11,
                29,
                "object 'NET' is not defined",
            ),
            (
                &at("access-list A permit tcp any object-group DNS any"),
                11,
                43,
                "object-group 'DNS' is a udp port group, not a tcp port group",
            ),
            (
                &at("access-list A permit udp any any object-group WEB"),
                11,
                47,
                "object-group 'WEB' is a tcp port group, not a udp port group",
            ),
            (
                &at("access-list A permit ip object-group WEB any"),
                11,
                38,
                "object-group 'WEB' is a tcp port group, not a network group",
            ),
            (
                &at("access-list A permit ip object SVC any"),
                11,
                32,
                "object 'SVC' is a service object, not a network object",
            ),
            (
                &at("access-list A permit ip object-group NOPE any"),
                11,
                38,
                "object-group 'NOPE' is not defined",
            ),
            (
                // After the destination only a port group can follow.
                &at("access-list A permit tcp any any object-group NOPE"),
                11,
                47,
                "object-group 'NOPE' is not defined",
            ),
            (
                &at("access-list A permit tcp any any object-group NET"),
                11,
                47,
                "object-group 'NET' is a network group, not a tcp port group",
            ),
            (
                &at("access-list A permit ip any any object-group WEB"),
                11,
                33,
                "unexpected 'object-group' after end of command",
            ),
            (
                // Ports after a group defined later: it must be a protocol group.
                "access-list A permit object-group LATER any any eq 80\nobject-group service LATER\n service-object tcp",
                1,
                35,
                "object-group 'LATER' is a service group, not a protocol group",
            ),
        ]);
    }

    // === access-group ===

    #[test]
    fn access_groups() {
        let c = cfg(
            "access-list A permit ip any any\naccess-list B permit ip any any\naccess-group A in interface outside\naccess-group B in interface inside\naccess-group B in interface outside",
        );
        assert_eq!(
            c.access_groups,
            vec![
                AccessGroup {
                    acl: "B".into(),
                    interface: "inside".into()
                },
                AccessGroup {
                    acl: "B".into(),
                    interface: "outside".into()
                },
            ]
        );
        let c = cfg(
            "access-list A permit ip any any\naccess-group A in interface outside\nno access-group A in interface outside",
        );
        assert!(c.access_groups.is_empty());
        check_errors(&[
            (
                "access-list A permit ip any any\naccess-group A out interface outside",
                2,
                16,
                "only 'in interface' access-groups are supported",
            ),
            (
                "access-list A permit ip any any\naccess-group A global",
                2,
                16,
                "only 'in interface' access-groups are supported",
            ),
            ("access-group", 1, 13, "expected access-list name"),
            (
                "access-list A permit ip any any\naccess-group A",
                2,
                15,
                "expected 'in'",
            ),
            (
                "access-list A permit ip any any\naccess-group A in outside",
                2,
                19,
                "expected 'interface', found 'outside'",
            ),
            (
                "access-list A permit ip any any\naccess-group A in interface",
                2,
                28,
                "expected interface name",
            ),
            (
                "access-list A permit ip any any\naccess-group A in interface o x",
                2,
                31,
                "unexpected 'x' after end of command",
            ),
            (
                "access-group NOPE in interface outside",
                1,
                14,
                "access-list 'NOPE' is not defined",
            ),
            (
                "no access-group A in interface outside",
                1,
                17,
                "no such access-group 'A' in interface outside",
            ),
            (
                "interface G0\n nameif inside\naccess-list A permit ip any any\naccess-group A in interface outside",
                4,
                29,
                "no interface has nameif 'outside'",
            ),
        ]);
        // Without interface blocks the node configuration names interfaces.
        assert_eq!(
            cfg("access-list A permit ip any any\naccess-group A in interface dmz").access_groups
                [0]
            .interface,
            "dmz"
        );
    }

    // === class-map ===

    #[test]
    fn class_maps() {
        let c = cfg(
            "access-list A permit tcp any any\nclass-map C1\n description  web  servers \n match access-list A\nclass-map C2\n match port tcp eq www\nclass-map C3\n match port udp range 5000 5100\nclass-map C4\n match any\nclass-map inspection_default\n match default-inspection-traffic\nclass-map C1\n no description",
        );
        assert_eq!(
            c.class_maps,
            vec![
                ClassMap {
                    name: "C1".into(),
                    description: None,
                    matcher: Some(ClassMatch::AccessList("A".into())),
                },
                ClassMap {
                    name: "C2".into(),
                    description: None,
                    matcher: Some(ClassMatch::Port(PortProtocol::Tcp, PortMatch::Eq(80))),
                },
                ClassMap {
                    name: "C3".into(),
                    description: None,
                    matcher: Some(ClassMatch::Port(
                        PortProtocol::Udp,
                        PortMatch::Range(5000, 5100)
                    )),
                },
                ClassMap {
                    name: "C4".into(),
                    description: None,
                    matcher: Some(ClassMatch::Any),
                },
                ClassMap {
                    name: "inspection_default".into(),
                    description: None,
                    matcher: Some(ClassMatch::DefaultInspectionTraffic),
                },
            ]
        );
        assert_eq!(
            cfg("class-map C\n description  web  servers ").class_maps[0].description,
            Some("web  servers".into())
        );
        // Re-entering edits: the match can be replaced after `no match`.
        let c = cfg("class-map C\n match any\nclass-map C\n no match any\n match port tcp eq 22");
        assert_eq!(
            c.class_maps[0].matcher,
            Some(ClassMatch::Port(PortProtocol::Tcp, PortMatch::Eq(22)))
        );
        let forty = "c".repeat(40);
        assert_eq!(cfg(&format!("class-map {forty}")).class_maps[0].name, forty);
        assert!(cfg("class-map C\nno class-map C").class_maps.is_empty());
    }

    #[test]
    fn class_map_errors() {
        let long = format!("class-map {}", "c".repeat(41));
        let long_description = format!("class-map C\n description {}", "d".repeat(201));
        check_errors(&[
            ("class-map", 1, 10, "expected class-map name"),
            (
                "class-map class-default",
                1,
                11,
                "class-default is reserved",
            ),
            (&long, 1, 11, "class-map names are at most 40 characters"),
            (
                "class-map C D",
                1,
                13,
                "unexpected 'D' after end of command",
            ),
            (
                "class-map C\n match any\n match port tcp eq 80",
                3,
                2,
                "a class-map takes one match command",
            ),
            ("class-map C\n match", 2, 7, "expected match criterion"),
            (
                "class-map C\n match dscp af41",
                2,
                8,
                "match dscp is not supported",
            ),
            (
                "class-map C\n match tunnel-group VPN",
                2,
                8,
                "match tunnel-group is not supported",
            ),
            (
                "class-map C\n match port sctp eq 1",
                2,
                13,
                "expected 'tcp' or 'udp', found 'sctp'",
            ),
            (
                "class-map C\n match port tcp lt 80",
                2,
                17,
                "expected 'eq' or 'range', found 'lt'",
            ),
            (
                "class-map C\n match port udp eq www2",
                2,
                20,
                "invalid port 'www2' for udp",
            ),
            (
                "class-map C\n match any extra",
                2,
                12,
                "unexpected 'extra' after end of command",
            ),
            (
                "class-map C\n description",
                2,
                13,
                "expected description text",
            ),
            (
                &long_description,
                2,
                14,
                "descriptions are at most 200 characters",
            ),
            (
                "class-map C\n match access-list NOPE",
                2,
                20,
                "access-list 'NOPE' is not defined",
            ),
            (
                "class-map C\n no match any",
                2,
                5,
                "no such match in class-map 'C'",
            ),
            (
                "class-map C\n match any\n no match port tcp eq 80",
                3,
                5,
                "no such match in class-map 'C'",
            ),
            (
                "class-map C\n mtach any",
                2,
                2,
                "unknown class-map command 'mtach'",
            ),
            ("no class-map C", 1, 14, "no such class-map 'C'"),
        ]);
        // Sub-lines of a refused class-map are not errors of their own.
        assert_eq!(
            errs("class-map class-default\n description x\n match any"),
            vec![(1, 11, "class-default is reserved".to_string())]
        );
    }

    // === policy-map ===

    #[test]
    fn seed_policy() {
        let c = cfg(
            "class-map tcp_bypass\n match any\npolicy-map global_policy\n class tcp_bypass\n  set connection per-client-max 10000\n  set connection timeout idle 0:00:15\n  set connection advanced-options tcp-state-bypass",
        );
        assert_eq!(
            c.policy_maps,
            vec![PolicyMap {
                name: "global_policy".into(),
                classes: vec![PolicyClass {
                    class: "tcp_bypass".into(),
                    connection: ConnectionSettings {
                        per_client_max: Some(10_000),
                        timeout_idle: Some(Duration::from_secs(15)),
                        tcp_state_bypass: true,
                        ..ConnectionSettings::default()
                    },
                    inspects: vec![],
                }],
            }]
        );
    }

    #[test]
    fn connection_settings() {
        assert_eq!(
            settings(
                "  set connection conn-max 100 embryonic-conn-max 20 per-client-max 10 per-client-embryonic-max 5 random-sequence-number disable\n  set connection timeout embryonic 0:00:05 half-closed 0:00:30 idle 1193:00:00 reset"
            ),
            ConnectionSettings {
                conn_max: Some(100),
                embryonic_conn_max: Some(20),
                per_client_max: Some(10),
                per_client_embryonic_max: Some(5),
                random_sequence_number: Some(false),
                timeout_embryonic: Some(Duration::from_secs(5)),
                timeout_half_closed: Some(Duration::from_secs(30)),
                timeout_idle: Some(Duration::from_secs(1193 * 3600)),
                idle_reset: true,
                tcp_state_bypass: false,
            }
        );
        // 0:00:00 is "never"; limits take 0 and 2000000.
        let s = settings(
            "  set connection conn-max 0 per-client-max 2000000\n  set connection timeout embryonic 0:0:0 half-closed 0:00:00 idle 0:0:0",
        );
        assert_eq!(s.conn_max, Some(0));
        assert_eq!(s.per_client_max, Some(2_000_000));
        assert_eq!(s.timeout_embryonic, Some(Duration::ZERO));
        assert_eq!(s.timeout_half_closed, Some(Duration::ZERO));
        assert_eq!(s.timeout_idle, Some(Duration::ZERO));
        assert!(!s.idle_reset);
        // A repeated option overrides; `reset` goes with the last idle.
        let s = settings(
            "  set connection conn-max 100\n  set connection conn-max 200\n  set connection timeout idle 0:10:00 reset\n  set connection timeout idle 0:20:00\n  set connection random-sequence-number enable",
        );
        assert_eq!(s.conn_max, Some(200));
        assert_eq!(s.timeout_idle, Some(Duration::from_secs(1200)));
        assert!(!s.idle_reset);
        assert_eq!(s.random_sequence_number, Some(true));
        // `no set connection` returns options to their defaults.
        let s = settings(
            "  set connection conn-max 100 per-client-max 5 random-sequence-number disable\n  set connection timeout idle 0:10:00 reset embryonic 0:00:10\n  set connection advanced-options tcp-state-bypass\n  no set connection per-client-max 5 random-sequence-number\n  no set connection timeout idle\n  no set connection advanced-options tcp-state-bypass",
        );
        assert_eq!(
            s,
            ConnectionSettings {
                conn_max: Some(100),
                timeout_embryonic: Some(Duration::from_secs(10)),
                ..ConnectionSettings::default()
            }
        );
    }

    #[test]
    fn classes_inspects_and_ignored_actions() {
        let text = "class-map A\n match any\nclass-map B\n match any\npolicy-map P\n description edge policy\n class class-default\n  user-statistics accounting\n class A\n  inspect ftp\n  inspect  dns   preset_dns_map\n  inspect ftp\n  set connection decrement-ttl\n class B\n  police output 1000000\n class A\n  no inspect ftp";
        let p = parsed(text);
        let classes = &p.config.policy_maps[0].classes;
        // class-default stays last whatever the order of entry.
        assert_eq!(
            classes.iter().map(|c| c.class.as_str()).collect::<Vec<_>>(),
            vec!["A", "B", "class-default"]
        );
        assert_eq!(classes[0].inspects, vec!["dns preset_dns_map".to_string()]);
        assert_eq!(classes[0].connection, ConnectionSettings::default());
        assert_eq!(
            p.ignored
                .iter()
                .map(|i| (i.line, i.reason))
                .collect::<Vec<_>>(),
            vec![
                (6, "policy-map descriptions are not kept"),
                (8, REASON_CLASS_ACTION),
                (10, REASON_INSPECT),
                (11, REASON_INSPECT),
                (12, REASON_INSPECT),
                (13, REASON_DECREMENT_TTL),
                (15, REASON_CLASS_ACTION),
            ]
        );
        let c = cfg(
            "class-map A\n match any\npolicy-map P\n class A\n class class-default\n no class A",
        );
        assert_eq!(c.policy_maps[0].classes.len(), 1);
        assert_eq!(c.policy_maps[0].classes[0].class, "class-default");
        // Re-entering a policy-map and a class edits them.
        let c = cfg(
            "class-map A\n match any\npolicy-map P\n class A\n  set connection conn-max 5\npolicy-map P\n class A\n  set connection per-client-max 1",
        );
        let s = c.policy_maps[0].classes[0].connection;
        assert_eq!((s.conn_max, s.per_client_max), (Some(5), Some(1)));
        assert!(cfg("policy-map P\nno policy-map P").policy_maps.is_empty());
    }

    #[test]
    fn policy_map_errors() {
        let at = |l: &str| format!("{CLASS}{l}");
        check_errors(&[
            ("policy-map", 1, 11, "expected policy-map name"),
            (
                "policy-map P\n set connection conn-max 5",
                2,
                2,
                "expected 'class' before 'set'",
            ),
            (
                "policy-map P\n inspect ftp",
                2,
                2,
                "expected 'class' before 'inspect'",
            ),
            ("policy-map P\n class", 2, 7, "expected class name"),
            (
                "policy-map P\n class MISSING",
                2,
                8,
                "class-map 'MISSING' is not defined",
            ),
            (
                "policy-map P\n no class C",
                2,
                11,
                "no such class 'C' in policy-map 'P'",
            ),
            (
                "policy-map P\n clas C",
                2,
                2,
                "unknown policy-map command 'clas'",
            ),
            ("no policy-map P", 1, 15, "no such policy-map 'P'"),
            (&at("  set"), 5, 6, "expected 'connection'"),
            (&at("  set connection"), 5, 17, "expected connection option"),
            (
                &at("  set connection bogus 5"),
                5,
                18,
                "expected connection option, found 'bogus'",
            ),
            (
                &at("  set connection conn-max"),
                5,
                26,
                "expected number of connections",
            ),
            (
                &at("  set connection conn-max 2000001"),
                5,
                27,
                "conn-max must be 0-2000000",
            ),
            (
                &at("  set connection per-client-max -1"),
                5,
                33,
                "per-client-max must be 0-2000000",
            ),
            (
                &at("  set connection conn-max 5 embryonic-conn-max x"),
                5,
                48,
                "embryonic-conn-max must be 0-2000000",
            ),
            (
                &at("  set connection random-sequence-number"),
                5,
                40,
                "expected 'enable' or 'disable'",
            ),
            (
                &at("  set connection random-sequence-number on"),
                5,
                41,
                "expected 'enable' or 'disable', found 'on'",
            ),
            (
                &at("  set connection timeout"),
                5,
                25,
                "expected 'embryonic', 'half-closed', 'idle' or 'dcd'",
            ),
            (
                &at("  set connection timeout idle"),
                5,
                30,
                "expected time as H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 0:61:00"),
                5,
                31,
                "invalid time '0:61:00', expected H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 15"),
                5,
                31,
                "invalid time '15', expected H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 0:00:-1"),
                5,
                31,
                "invalid time '0:00:-1', expected H:MM:SS",
            ),
            (
                &at("  set connection timeout idle 1193:00:01"),
                5,
                31,
                "time '1193:00:01' is beyond 1193:00:00",
            ),
            (
                &at("  set connection timeout embryonic 0:00:04"),
                5,
                36,
                "embryonic timeout must be at least 0:00:05 (or 0:00:00 for never)",
            ),
            (
                &at("  set connection timeout half-closed 0:00:29"),
                5,
                38,
                "half-closed timeout must be at least 0:00:30 (or 0:00:00 for never)",
            ),
            (
                &at("  set connection timeout idle 0:01:00 dcd"),
                5,
                39,
                "dcd is not supported yet",
            ),
            (
                &at("  set connection timeout dcd 0:00:15 5"),
                5,
                26,
                "dcd is not supported yet",
            ),
            (
                &at("  set connection timeout idle 0:01:00 bogus"),
                5,
                39,
                "expected 'embryonic', 'half-closed', 'idle' or 'dcd', found 'bogus'",
            ),
            (
                &at("  set connection advanced-options"),
                5,
                34,
                "expected 'tcp-state-bypass'",
            ),
            (
                &at("  set connection advanced-options MYMAP"),
                5,
                35,
                "tcp-map 'MYMAP' is not defined; only tcp-state-bypass is supported",
            ),
            (
                &at("  set connection advanced-options tcp-state-bypass x"),
                5,
                52,
                "unexpected 'x' after end of command",
            ),
            (
                &at("  set connection decrement-ttl now"),
                5,
                32,
                "unexpected 'now' after end of command",
            ),
            (&at("  inspect"), 5, 10, "expected inspection name"),
            (
                &at("  no inspect ftp"),
                5,
                14,
                "no such inspect 'ftp' in class 'C'",
            ),
        ]);
    }

    // === service-policy ===

    #[test]
    fn service_policies() {
        let c = cfg(
            "policy-map G\npolicy-map I\nservice-policy G global\nservice-policy I interface outside\nservice-policy G interface inside",
        );
        assert_eq!(
            c.service_policies,
            vec![
                ServicePolicy {
                    policy_map: "G".into(),
                    scope: ServiceScope::Global
                },
                ServicePolicy {
                    policy_map: "I".into(),
                    scope: ServiceScope::Interface("outside".into())
                },
                ServicePolicy {
                    policy_map: "G".into(),
                    scope: ServiceScope::Interface("inside".into())
                },
            ]
        );
        let c = cfg(
            "policy-map G\nservice-policy G global\nno service-policy G global\nservice-policy G global",
        );
        assert_eq!(c.service_policies.len(), 1);
        check_errors(&[
            ("service-policy", 1, 15, "expected policy-map name"),
            (
                "policy-map G\nservice-policy G",
                2,
                17,
                "expected 'global' or 'interface'",
            ),
            (
                "policy-map G\nservice-policy G everywhere",
                2,
                18,
                "expected 'global' or 'interface', found 'everywhere'",
            ),
            (
                "policy-map G\nservice-policy G interface",
                2,
                27,
                "expected interface name",
            ),
            (
                "policy-map G\nservice-policy G global x",
                2,
                25,
                "unexpected 'x' after end of command",
            ),
            (
                "service-policy NOPE global",
                1,
                16,
                "policy-map 'NOPE' is not defined",
            ),
            (
                "policy-map G\npolicy-map H\nservice-policy G global\nservice-policy H global",
                4,
                18,
                "only one global service-policy is allowed; 'G' is already global",
            ),
            (
                "policy-map G\nservice-policy G interface outside\nservice-policy G interface outside",
                3,
                28,
                "interface 'outside' already has service-policy 'G'",
            ),
            (
                "interface G0\n nameif inside\npolicy-map G\nservice-policy G interface outside",
                4,
                28,
                "no interface has nameif 'outside'",
            ),
            (
                "policy-map G\nno service-policy G global",
                2,
                19,
                "no such service-policy 'G'",
            ),
            (
                "policy-map G\nservice-policy G global\nno policy-map G",
                2,
                16,
                "policy-map 'G' is not defined",
            ),
        ]);
    }

    // === no ===

    #[test]
    fn no_access_list_lines() {
        let c = cfg(
            "access-list A remark web\naccess-list A extended permit tcp any host 198.18.0.1 eq www\naccess-list A permit tcp any host 198.18.0.2 eq 80 log\naccess-list A deny ip any any\nno access-list A permit tcp any host 198.18.0.1 eq 80\nno access-list A line 2 extended permit tcp any host 198.18.0.2 eq www log\nno access-list A remark web",
        );
        assert_eq!(
            c.access_lists[0].lines,
            vec![AclLine::Ace(Ace {
                action: Action::Deny,
                ..permit_ip(AddrSpec::Any, AddrSpec::Any)
            })]
        );
        // Removing the last line removes the list; `no access-list NAME` removes it whole.
        assert!(
            cfg("access-list A permit ip any any\nno access-list A permit ip any any")
                .access_lists
                .is_empty()
        );
        assert!(
            cfg("access-list A permit ip any any\naccess-list A remark x\nno access-list A")
                .access_lists
                .is_empty()
        );
        check_errors(&[
            (
                "no access-list A permit ip any any",
                1,
                16,
                "no such access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A deny ip any any",
                2,
                18,
                "no such line in access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A permit ip any any log",
                2,
                18,
                "no such line in access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A remark nothing",
                2,
                18,
                "no such line in access-list 'A'",
            ),
            (
                "access-list A permit ip any any\nno access-list A permit ip any",
                2,
                31,
                "expected destination address",
            ),
            (
                "access-list A permit ip any any\naccess-group A in interface outside\nno access-list A permit ip any any",
                2,
                14,
                "access-list 'A' is not defined",
            ),
        ]);
        // A removed line's references are not checked.
        let c = cfg(
            "object network O\n host 198.18.0.1\naccess-list A permit ip object O any\naccess-list A permit ip any any\nno access-list A permit ip object O any\nno object network O",
        );
        assert!(c.objects.is_empty());
    }

    #[test]
    fn no_definitions() {
        let c = cfg(
            "interface G0\n nameif inside\nno interface G0\nobject network N\n host 198.18.0.1\nobject service S\n service tcp\nno object network N\nno object service S",
        );
        assert!(c.interfaces.is_empty());
        assert!(c.objects.is_empty());
        check_errors(&[
            ("no interface G0", 1, 14, "no such interface 'G0'"),
            ("no object network N", 1, 19, "no such object network 'N'"),
            (
                "object network N\n host 198.18.0.1\nno object service N",
                3,
                19,
                "no such object service 'N'",
            ),
            (
                "no object thing N",
                1,
                11,
                "expected 'network' or 'service', found 'thing'",
            ),
            (
                "no object-group thing N",
                1,
                17,
                "expected 'network', 'service' or 'protocol', found 'thing'",
            ),
            ("no class-map", 1, 13, "expected class-map name"),
            (
                "object network N\n host 198.18.0.1\naccess-list A permit ip object N any\nno object network N",
                3,
                32,
                "object 'N' is not defined",
            ),
            (
                "class-map C\n match any\npolicy-map P\n class C\nno class-map C",
                4,
                8,
                "class-map 'C' is not defined",
            ),
        ]);
        // An object removed before it got a value is not reported as valueless.
        assert!(
            cfg("object network N\nno object network N")
                .objects
                .is_empty()
        );
    }

    // === references ===

    #[test]
    fn references_may_come_before_definitions() {
        let c = cfg(
            "service-policy P global\npolicy-map P\n class C\nclass-map C\n match access-list A\naccess-list A permit ip object-group G any\nobject-group network G\n network-object object O\nobject network O\n host 198.18.0.1",
        );
        assert_eq!(c.service_policies.len(), 1);
        assert_eq!(c.objects.len(), 1);
    }

    #[test]
    fn removed_lines_take_their_references_with_them() {
        for text in [
            "object-group network G\n network-object object O\n no network-object object O",
            "class-map C\n match access-list NOPE\n no match access-list NOPE",
            "policy-map P\n class MISSING\n no class MISSING",
            "service-policy NOPE global\nno service-policy NOPE global",
            "access-list A permit ip object-group G any\nno access-list A",
            "access-group NOPE in interface x\naccess-list A permit ip any any\naccess-group A in interface x",
            "object-group network G\n group-object G2\nno object-group network G",
        ] {
            parsed(text);
        }
        // An identical line left in place keeps the reference alive (both
        // lines that made it are named).
        assert_eq!(
            errs(
                "access-list A permit ip object O any\naccess-list A permit ip object O any\nno access-list A permit ip object O any"
            ),
            vec![
                (1, 32, "object 'O' is not defined".to_string()),
                (2, 32, "object 'O' is not defined".to_string()),
            ]
        );
    }

    #[test]
    fn interface_references_follow_nameif_when_interfaces_are_defined() {
        let text = "interface G0\n nameif outside\naccess-list A permit ip interface outside any\naccess-group A in interface outside\npolicy-map P\nservice-policy P interface outside";
        assert_eq!(cfg(text).service_policies.len(), 1);
        assert_eq!(
            err("interface G0\n nameif outside\naccess-list A permit ip interface inside any"),
            (3, 35, "no interface has nameif 'inside'".into())
        );
        // An interface block without nameif names nothing to check against.
        assert_eq!(
            cfg("interface G0\n shutdown\naccess-list A permit ip any any\naccess-group A in interface dmz").access_groups.len(),
            1
        );
    }
}
