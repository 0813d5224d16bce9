//! `interface HW` blocks: `nameif`, `security-level`, `shutdown` and
//! `management-only` are kept, the ASA's other interface settings are
//! ignored, and any other word is an error. A bridge-group member may not
//! be `management-only` (docs/asa-behaviour.md §2.7).

use crate::ast::Interface;

use super::Parser;
use super::cursor::{Cur, R};
use super::modes::{Mode, REASON_INTERFACE};

/// `security-level` is 0–100.
const SECURITY_LEVEL_MAX: u32 = 100;

impl Parser {
    pub(super) fn interface(&mut self, c: &mut Cur<'_>) -> R<()> {
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
                    shutdown: false,
                    management_only: false,
                });
                self.cfg.interfaces.len() - 1
            }
        };
        self.mode = Mode::Interface(i);
        Ok(())
    }

    pub(super) fn interface_sub(&mut self, c: &mut Cur<'_>, i: usize) -> R<()> {
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
            ("shutdown", negate) => {
                c.next();
                c.done()?;
                self.cfg.interfaces[i].shutdown = !negate;
            }
            ("management-only", negate) => {
                let at = (c.line, c.col());
                c.next();
                c.done()?;
                let hw = &self.cfg.interfaces[i].hardware;
                if !negate && let Some(&(line, _)) = self.bridge_members.get(hw) {
                    return Err(c.err_at(
                        at.1,
                        format!(
                            "interface {hw} is a bridge-group member (line {line}): a bridge-group member cannot be management-only"
                        ),
                    ));
                }
                if negate {
                    self.management_only_at.remove(hw);
                } else {
                    self.management_only_at.insert(hw.clone(), at);
                }
                self.cfg.interfaces[i].management_only = !negate;
            }
            ("bridge-group", negate) => {
                let at = (c.line, c.col());
                let hw = self.cfg.interfaces[i].hardware.clone();
                if negate {
                    self.bridge_members.remove(&hw);
                } else if let Some(&(line, _)) = self.management_only_at.get(&hw) {
                    return Err(c.err_at(
                        at.1,
                        format!(
                            "interface {hw} is management-only (line {line}): a management-only interface cannot join a bridge-group"
                        ),
                    ));
                } else {
                    self.bridge_members.insert(hw, at);
                }
                // Rampart bridges the node's interfaces; the group's
                // number changes nothing.
                c.rest();
                self.ignore(c, REASON_INTERFACE);
            }
            ("", true) => return Err(c.expected("interface setting to remove")),
            _ => self.ignore(c, REASON_INTERFACE),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::parse::modes::{REASON_HARMLESS, REASON_INTERFACE};
    use crate::parse::test_support::*;

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
                    shutdown: false,
                    management_only: false,
                },
                Interface {
                    hardware: "GigabitEthernet0/1".into(),
                    nameif: Some("inside".into()),
                    security_level: Some(100),
                    shutdown: false,
                    management_only: false,
                },
            ]
        );
        assert_eq!(
            ignored(text),
            vec![(4, REASON_INTERFACE), (6, REASON_INTERFACE)]
        );
        // `shutdown` is kept; `no shutdown` clears it.
        let c = cfg("interface G0\n nameif x\n shutdown\ninterface G1\n shutdown\n no shutdown");
        assert!(c.interfaces[0].shutdown);
        assert!(!c.interfaces[1].shutdown);
        assert!(crate::render::render(&c).contains("interface G0\n nameif x\n shutdown\n!"));
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

    /// The interface blocks of a small ASA's (5505, Firepower 1010)
    /// `show running-config`: switch ports, a VLAN interface that may not
    /// forward to another, a VTI tunnel, a port-channel member. All are
    /// ASA interface settings Rampart ignores; none is an error.
    #[test]
    fn real_interface_blocks_parse() {
        let text = "interface Ethernet0/0\n switchport access vlan 2\n spanning-tree portfast\n power inline auto\n!\n\
                    interface Vlan1\n nameif inside\n security-level 100\n ip address 198.18.0.1 255.255.255.0\n!\n\
                    interface Vlan3\n no forward interface Vlan1\n nameif dmz\n security-level 50\n!\n\
                    interface Tunnel1\n nameif vti\n ip address 169.254.0.1 255.255.255.252\n tunnel source interface outside\n tunnel destination 198.18.9.9\n tunnel mode ipsec ipv4\n tunnel protection ipsec profile P\n!\n\
                    interface Port-channel1\n port-channel min-bundle 1\n lacp max-bundle 8\n!\n\
                    interface GigabitEthernet1/1\n channel-group 1 mode active\n no nameif\n no security-level\n";
        let c = cfg(text);
        assert_eq!(c.interfaces.len(), 6);
        assert_eq!(c.interfaces[2].nameif.as_deref(), Some("dmz"));
        assert_eq!(c.interfaces[2].security_level, Some(50));
    }

    /// A bridge-group member may not be management-only, in either
    /// order, in one block or a re-entered one; `no` lifts either side.
    #[test]
    fn management_only_is_not_for_bridge_group_members() {
        let c = cfg(
            "interface Management0/0\n nameif management\n management-only\n\
             interface G0\n bridge-group 1\n nameif inside\n\
             interface G1\n management-only\n no management-only\n bridge-group 1\n\
             interface G2\n bridge-group 1\n no bridge-group 1\n management-only",
        );
        let m: Vec<bool> = c.interfaces.iter().map(|i| i.management_only).collect();
        assert_eq!(m, vec![true, false, false, true]);
        let shown = crate::render::render(&c);
        assert!(
            shown.contains("interface Management0/0\n nameif management\n management-only\n!"),
            "{shown}"
        );
        assert_eq!(cfg(&shown), c);
        check_errors(&[
            (
                "interface G0\n bridge-group 1\n management-only",
                3,
                2,
                "interface G0 is a bridge-group member (line 2): a bridge-group member cannot be management-only",
            ),
            (
                "interface G0\n management-only\n nameif inside\ninterface G1\ninterface G0\n bridge-group 2",
                6,
                2,
                "interface G0 is management-only (line 2): a management-only interface cannot join a bridge-group",
            ),
        ]);
        // A removed interface takes its bridge group with it.
        assert!(
            cfg("interface G0\n bridge-group 1\nno interface G0\ninterface G0\n management-only")
                .interfaces[0]
                .management_only
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
        // A mistyped line after an interface block is an error, never a
        // setting of the interface silently ignored: indented, the
        // interface's; unindented, a top-level one (before, both were
        // ignored, and an `acess-list` deny line with them).
        check_errors(&[
            (
                "interface G0\n nameif outside\nacess-list OUT extended deny tcp any any eq 22",
                3,
                1,
                "unknown command 'acess-list'",
            ),
            (
                "interface G0\n securty-level 0",
                2,
                2,
                "unknown interface command 'securty-level'",
            ),
            (
                "interface G0\n shutdown now",
                2,
                11,
                "unexpected 'now' after end of command",
            ),
        ]);
        // An indented `no` of an unknown word is that interface's one
        // mistake; the lines after it still belong to the interface.
        assert_eq!(
            errs("interface Vlan3\n no shutdwn\n nameif dmz\n security-level 50"),
            vec![(2, 2, "unknown interface command 'shutdwn'".to_string())]
        );
        // A broken interface line does not make its settings errors too.
        assert_eq!(
            errs("interface\n nameif inside\n security-level 100"),
            vec![(1, 10, "expected interface name".to_string())]
        );
    }
}
