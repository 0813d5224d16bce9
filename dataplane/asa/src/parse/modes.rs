//! Which mode a line belongs to and where it goes: the command tables,
//! the reasons given for ignored lines, the open mode (`interface`,
//! `object`, `object-group`, `class-map`, `policy-map`, its classes, or an
//! ignored block) and the top-level dispatch.

use crate::ast::Object;

use super::Parser;
use super::cursor::{Cur, R};

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
    "same-security-traffic",
    "timeout",
    "fragment",
    "sysopt",
    "time-range",
    "clock",
    "names",
    "name",
    "tcp-map",
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
    "service",
    "sla",
    "snmp-server",
    "ssh",
    "ssl",
    "static",
    "telnet",
    "terminal",
    "tftp-server",
    "threat-detection",
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
    "tls-proxy",
    "tunnel-group",
    "uc-ime",
    "username",
    "vpn",
    "webvpn",
    "zone",
];

/// Sub-commands of ignored blocks that are also top-level commands Rampart
/// parses; inside such a block they must be indented. `timeout` is one in
/// `aaa-server NAME (IF) host A` (the server's response timeout) and in
/// `sla monitor` (the probe's), both shown indented by `show
/// running-config`; taken as the global `timeout`, the block's own lines
/// after it (`key …`) would be top-level commands nobody knows.
const BLOCK_ALSO: &[&str] = &["timeout"];
/// `vpn load-balancing` names the interfaces the load-balancing cluster
/// uses with `interface lbpublic IF` and `interface lbprivate IF` (Cisco
/// ASA Series Command Reference, `interface (vpn load-balancing)`),
/// indented in its block. No interface of the ASA's own is called
/// `lbpublic` or `lbprivate`, so the second word tells them from an
/// `interface` line that opens an interface.
const BLOCK_INTERFACE_ROLES: &[&str] = &["lbpublic", "lbprivate"];
/// Interface sub-commands that are also top-level words; inside an
/// interface they must be indented.
const INTERFACE_ALSO: &[&str] = &["ip", "ipv6", "mac-address", "dhcp-client"];
/// Interface sub-commands of the ASA (Cisco, "ASA Series Command
/// Reference", interface configuration mode). Rampart keeps `nameif`,
/// `security-level` and `shutdown` and ignores the others; a word not
/// among them is a mistake, never a setting silently dropped.
const INTERFACE_SUBS: &[&str] = &[
    "authentication",
    "bfd",
    "bridge-group",
    "channel-group",
    "cts",
    "ddns",
    "delay",
    "description",
    "dhcp",
    "dhcprelay",
    "duplex",
    "flowcontrol",
    "forward",
    "hello-interval",
    "hold-time",
    "igmp",
    "isis",
    "lacp",
    "management-only",
    "media-type",
    "member-interface",
    "mfib",
    "multicast",
    "nameif",
    "nve-only",
    "ospf",
    "pim",
    "policy-route",
    "port-channel",
    "power",
    "pppoe",
    "ptp",
    "rip",
    "security-level",
    "shutdown",
    "spanning-tree",
    "speed",
    "split-horizon",
    "summary-address",
    "switchport",
    "traffic-forward",
    "tunnel",
    "vlan",
    "vrf",
    "zone-member",
];
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
/// `time-range` sub-commands.
const TIME_RANGE_SUBS: &[&str] = &["absolute", "periodic"];
/// `class-map` sub-commands.
const CLASS_MAP_SUBS: &[&str] = &["match", "description"];
/// `tcp-map` sub-commands (Cisco ASA Series Command Reference).
const TCP_MAP_SUBS: &[&str] = &[
    "check-retransmission",
    "checksum-verification",
    "exceed-mss",
    "invalid-ack",
    "queue-limit",
    "reserved-bits",
    "seq-past-window",
    "syn-data",
    "synack-data",
    "tcp-options",
    "ttl-evasion-protection",
    "urgent-flag",
    "window-variation",
];
/// `policy-map` and class sub-commands Rampart parses.
const POLICY_SUBS: &[&str] = &["class", "description", "set", "inspect"];
/// Class actions of other ASA features, accepted without effect.
pub(super) const CLASS_IGNORED: &[&str] = &[
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

// Why a line is ignored (`IgnoredLine::reason`), for reasons given by
// more than one command.
pub(super) const REASON_HARMLESS: &str = "not enforced by Rampart";
const REASON_BLOCK: &str = "inside a block Rampart does not enforce";
pub(super) const REASON_INTERFACE: &str = "interface setting not enforced by Rampart";
pub(super) const REASON_DESCRIPTION: &str = "descriptions are not kept";
pub(super) const REASON_INSPECT: &str = "application inspection is not implemented";
pub(super) const REASON_CLASS_ACTION: &str = "class action not enforced by Rampart";
pub(super) const REASON_NAT: &str = "NAT is not implemented: addresses pass untranslated";
pub(super) const REASON_TYPED_MAP: &str =
    "inspection and management class-maps and policy-maps are not enforced";
pub(super) const REASON_DECREMENT_TTL: &str =
    "decrement-ttl is not enforced: Rampart forwards as a bridge and leaves TTLs alone";
pub(super) const REASON_DUPLICATE_MEMBER: &str = "duplicate of an existing member";

pub(super) fn is_harmless(word: &str) -> bool {
    HARMLESS.contains(&word) || word.starts_with("Cryptochecksum:")
}

/// A word that starts a top-level command (parsed or ignored).
fn is_command(word: &str) -> bool {
    TOP.contains(&word) || is_harmless(word)
}

pub(super) fn harmless_reason(word: &str) -> &'static str {
    match word {
        "nat" | "global" | "static" => REASON_NAT,
        _ => REASON_HARMLESS,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
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
    TimeRange(usize),
    TcpMap(usize),
}

impl Parser {
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
            // Indented lines stay in the block, but for a command Rampart
            // parses (an indented `access-list` after a `crypto` block in a
            // pasted config is that access-list, not a crypto setting),
            // unless the blocks use its word too.
            Mode::Ignored => {
                c.indented()
                    && (!TOP.contains(&w)
                        || BLOCK_ALSO.contains(&w)
                        || (w == "interface"
                            && BLOCK_INTERFACE_ROLES.contains(
                                &c.peek_at(1 + usize::from(first == "no"))
                                    .unwrap_or_default(),
                            )))
            }
            // `ip`, `ipv6`, … are interface settings and top-level commands
            // alike: indentation decides (show run indents the former). An
            // unknown word is the interface's mistake when indented (reported
            // below) and a top-level one otherwise.
            Mode::Interface(_) => {
                INTERFACE_SUBS.contains(&w)
                    || (c.indented() && (INTERFACE_ALSO.contains(&w) || w.is_empty()))
            }
            Mode::Object(i) => match &self.cfg.objects[i] {
                Object::Network { .. } => OBJECT_NETWORK_SUBS.contains(&w),
                Object::Service { .. } => OBJECT_SERVICE_SUBS.contains(&w),
            },
            Mode::Group(_) => GROUP_SUBS.contains(&w),
            Mode::ClassMap(_) => CLASS_MAP_SUBS.contains(&w),
            Mode::TimeRange(_) => TIME_RANGE_SUBS.contains(&w),
            Mode::TcpMap(_) => TCP_MAP_SUBS.contains(&w),
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
            Mode::TimeRange(_) => "time-range",
            Mode::TcpMap(_) => "tcp-map",
            Mode::PolicyMap(_) | Mode::PolicyClass(..) => "policy-map",
        }
    }

    pub(super) fn line(&mut self, c: &mut Cur<'_>) -> R<()> {
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
                Mode::TimeRange(i) => self.time_range_sub(c, i),
                Mode::TcpMap(i) => self.tcp_map_sub(c, i),
            };
        }
        let first = c.peek().unwrap_or_default();
        // An indented unknown word inside a mode (after `no`, the word it
        // negates) is a mistyped sub-command: report it and stay in the
        // mode, so its siblings still parse.
        let word = if first == "no" {
            c.peek_at(1).unwrap_or_default()
        } else {
            first
        };
        if c.indented()
            && !word.is_empty()
            && !is_command(word)
            && !matches!(self.mode, Mode::Top | Mode::Skip | Mode::Ignored)
        {
            return Err(c.err(format!("unknown {} command '{word}'", self.mode_label())));
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
            "same-security-traffic" => self.same_security_traffic(c, false),
            "timeout" => self.timeout(c),
            "fragment" => self.fragment(c, false),
            "sysopt" => self.sysopt(c, false),
            "time-range" => self.time_range(c),
            "clock" => self.clock(c, false),
            "names" => self.names_command(c, false),
            "name" => self.name_command(c, cmd.col),
            "tcp-map" => self.tcp_map(c),
            other => Err(c.err_at(cmd.col, format!("unknown command '{other}'"))),
        }
    }
}

/// Why `same-security-traffic permit intra-interface` changes nothing.
pub(super) const REASON_INTRA: &str =
    "intra-interface: a bridge never sends a packet back out of the interface it came in on";

impl Parser {
    /// `[no] same-security-traffic permit {inter-interface|intra-interface}`.
    pub(super) fn same_security_traffic(&mut self, c: &mut Cur<'_>, negate: bool) -> R<()> {
        let permit = c.word("permit")?;
        if permit.text != "permit" {
            return Err(c.err_at(
                permit.col,
                format!("expected permit, found '{}'", permit.text),
            ));
        }
        let which = c.word("inter-interface or intra-interface")?;
        match which.text {
            "inter-interface" => {
                c.done()?;
                self.cfg.same_security_inter_interface = !negate;
            }
            "intra-interface" => {
                c.done()?;
                self.ignore(c, REASON_INTRA);
            }
            other => {
                return Err(c.err_at(
                    which.col,
                    format!("expected inter-interface or intra-interface, found '{other}'"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Config;
    use crate::parse::test_support::*;

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
    fn same_security_traffic_is_kept_and_can_be_removed() {
        let on = "same-security-traffic permit inter-interface";
        assert!(parsed(on).config.same_security_inter_interface);
        assert!(
            !parsed(&format!("{on}\nno {on}"))
                .config
                .same_security_inter_interface
        );
        let intra = "same-security-traffic permit intra-interface";
        assert!(!parsed(intra).config.same_security_inter_interface);
        assert_eq!(ignored(intra), vec![(1, REASON_INTRA)]);
        check_errors(&[
            (
                "same-security-traffic deny inter-interface",
                1,
                23,
                "expected permit, found 'deny'",
            ),
            (
                "same-security-traffic permit everything",
                1,
                30,
                "expected inter-interface or intra-interface, found 'everything'",
            ),
            (
                "same-security-traffic permit",
                1,
                29,
                "expected inter-interface or intra-interface",
            ),
        ]);
    }

    #[test]
    fn harmless_commands_are_ignored_with_a_reason() {
        let text = "ASA Version 9.16(4)\nhostname fw\nlogging enable\ntimeout xlate 3:00:00\nnat (inside,outside) dynamic interface\nno logging message 106023\nCryptochecksum:0a1b2c3d\nroute outside 0.0.0.0 0.0.0.0 198.18.0.1 1";
        let p = parsed(text);
        assert_eq!(p.config, Config::default());
        assert_eq!(
            ignored(text),
            vec![
                (1, REASON_HARMLESS),
                (2, REASON_HARMLESS),
                (3, REASON_HARMLESS),
                (4, super::super::timeouts::REASON_OTHER_TIMEOUTS),
                (5, REASON_NAT),
                (6, REASON_HARMLESS),
                (7, REASON_HARMLESS),
                (8, REASON_HARMLESS),
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

    /// `timeout` is a sub-command of `aaa-server … host` and `sla monitor`
    /// as well as a top-level command: indented in such a block it is the
    /// block's, and the block's later lines stay ignored with it.
    #[test]
    fn an_indented_timeout_stays_in_its_block() {
        let text = "aaa-server RAD (inside) host 10.1.1.5\n timeout 5\n key secret\n\
                    sla monitor 10\n type echo protocol ipIcmpEcho 10.1.1.1 interface outside\n num-packets 3\n timeout 1000\n frequency 10\n\
                    timeout conn 2:00:00\n\
                    crypto ca trustpoint TP\n enrollment self\n access-list A permit ip any any";
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
                (8, REASON_BLOCK),
                (10, REASON_HARMLESS),
                (11, REASON_BLOCK),
            ]
        );
        // Unindented, `timeout` is the global one; an indented command
        // Rampart parses still leaves the block.
        let c = cfg(text);
        assert_eq!(c.timeouts.conn, Some(std::time::Duration::from_secs(7200)));
        assert_eq!(c.access_lists.len(), 1);
        // Outside ignored blocks nothing changed: an indented `timeout` in a
        // parsed mode is the global command, as before.
        assert_eq!(
            cfg("interface G0\n nameif inside\n timeout conn 0:30:00")
                .timeouts
                .conn,
            Some(std::time::Duration::from_secs(1800))
        );
    }

    /// `vpn load-balancing` names its interfaces with an indented
    /// `interface lbpublic|lbprivate IF`: the block's, not an interface of
    /// the firewall; an indented `interface` naming a real one still opens
    /// that interface.
    #[test]
    fn vpn_load_balancing_interface_roles_stay_in_their_block() {
        let text = "vpn load-balancing\n interface lbpublic outside\n interface lbprivate inside\n\
                    \x20cluster ip address 198.18.0.10\n participate\n\
                    \x20interface G1\n nameif dmz\n security-level 50";
        assert_eq!(
            ignored(text),
            vec![
                (1, REASON_HARMLESS),
                (2, REASON_BLOCK),
                (3, REASON_BLOCK),
                (4, REASON_BLOCK),
                (5, REASON_BLOCK),
            ]
        );
        let c = cfg(text);
        assert_eq!(c.interfaces.len(), 1, "{:?}", c.interfaces);
        assert_eq!(c.interfaces[0].nameif.as_deref(), Some("dmz"));
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
}
