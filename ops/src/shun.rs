//! The ASA's `shun` commands (docs/asa-behaviour.md §2.12): their
//! grammar, what the admin API carries, and `show shun [statistics]` as
//! the ASA prints it (Cisco ASA Series Command Reference, "shun", "show
//! shun").
//!
//! - `shun SRC [DST SPORT DPORT [PROTO]] [vlan ID | interface NAME]`
//! - `no shun SRC [vlan ID | interface NAME]`
//! - `clear shun [statistics]`

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Where a shun applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShunScope {
    /// Every interface.
    Any,
    /// One interface, by `nameif`.
    Interface(String),
    /// One VLAN.
    Vlan(u16),
}

/// The connection named with a shun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunConn {
    /// The connection's other end.
    pub dest: IpAddr,
    /// The source's port.
    pub sport: u16,
    /// The other end's port.
    pub dport: u16,
    /// The IP protocol (0: any).
    pub proto: u8,
}

/// One shun.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunEntry {
    /// The shunned source.
    pub source: IpAddr,
    /// The connection named with it, if any.
    pub conn: Option<ShunConn>,
    /// Where it applies.
    pub scope: ShunScope,
    /// When it was added (seconds since the Unix epoch).
    pub added_unix: u64,
}

/// A change of the shun list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShunChange {
    /// `shun …`.
    Add(ShunEntry),
    /// `no shun SRC [scope]`.
    Remove {
        /// The source.
        source: IpAddr,
        /// The scope it was added with.
        scope: ShunScope,
    },
    /// `clear shun`.
    Clear,
}

/// A parsed `shun` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShunCommand {
    /// A change of the list (cluster-wide).
    Change(ShunChange),
    /// `clear shun statistics`: zero this node's counts.
    ClearStatistics,
}

/// What a `shun` command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunDone {
    /// What was done, in words.
    pub message: String,
    /// Connections the shun's named connection removed on this node.
    pub removed: u64,
}

/// One shun as `show shun` lists it, with this node's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunRow {
    /// The shun.
    pub shun: ShunEntry,
    /// Packets from its source this node dropped (since the last `clear
    /// shun statistics`).
    pub dropped: u64,
    /// It names an interface this node does not have: it drops nothing
    /// here.
    pub inactive: bool,
}

/// One interface as `show shun statistics` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunIface {
    /// Its `nameif`.
    pub name: String,
    /// Whether a shun applies on it.
    pub on: bool,
    /// Packets a shun dropped on it.
    pub dropped: u64,
}

/// `show shun` and `show shun statistics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShunList {
    /// Every shun, in the order it was added.
    pub shuns: Vec<ShunRow>,
    /// Every data interface.
    pub interfaces: Vec<ShunIface>,
    /// The node's clock when the list was read (seconds since the Unix
    /// epoch): a shun's age is this less its `added_unix`.
    pub now_unix: u64,
}

fn bad(word: usize, what: impl std::fmt::Display) -> String {
    format!("word {word}: {what}")
}

/// A protocol by number or name (the names the ASA takes for it).
fn protocol(word: &str) -> Option<u8> {
    Some(match word.to_ascii_lowercase().as_str() {
        "ip" => 0,
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmp6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        n => n.parse().ok()?,
    })
}

/// `[vlan ID | interface NAME]` at `words[at..]`, the rest of the line.
fn scope(words: &[&str], at: usize) -> Result<ShunScope, String> {
    match &words[at.min(words.len())..] {
        [] => Ok(ShunScope::Any),
        ["vlan", id] => id
            .parse::<u16>()
            .ok()
            .filter(|v| (1..=4094).contains(v))
            .map(ShunScope::Vlan)
            .ok_or_else(|| bad(at + 2, format!("\"{id}\" is no VLAN id (1-4094)"))),
        ["interface", name] => Ok(ShunScope::Interface((*name).to_string())),
        ["vlan" | "interface"] => Err(bad(at + 1, format!("{} needs a value", words[at]))),
        [w, ..] => Err(bad(
            at + 1,
            format!("\"{w}\" is not vlan ID or interface NAME, the end of the command"),
        )),
    }
}

fn address(words: &[&str], i: usize) -> Result<IpAddr, String> {
    words[i]
        .parse()
        .map_err(|_| bad(i + 1, format!("\"{}\" is no IP address", words[i])))
}

fn port(words: &[&str], i: usize) -> Result<u16, String> {
    words[i]
        .parse()
        .map_err(|_| bad(i + 1, format!("\"{}\" is no port (0-65535)", words[i])))
}

/// Parse one command line; `now_unix` dates an added shun. A malformed
/// one says which word is at fault.
pub fn parse_command(line: &str, now_unix: u64) -> Result<ShunCommand, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["clear", "shun"] => Ok(ShunCommand::Change(ShunChange::Clear)),
        ["clear", "shun", "statistics"] => Ok(ShunCommand::ClearStatistics),
        ["clear", "shun", w, ..] => Err(bad(3, format!("\"{w}\": clear shun [statistics]"))),
        ["no", "shun", _, ..] => {
            let source = address(&words, 2)?;
            Ok(ShunCommand::Change(ShunChange::Remove {
                source,
                scope: scope(&words, 3)?,
            }))
        }
        ["shun", _, ..] => {
            let source = address(&words, 1)?;
            // The connection's words run up to `vlan` or `interface`.
            let end = words
                .iter()
                .position(|w| *w == "vlan" || *w == "interface")
                .unwrap_or(words.len());
            let conn = match end {
                2 => None,
                5 | 6 => {
                    let dest = address(&words, 2)?;
                    if dest.is_ipv4() != source.is_ipv4() {
                        return Err(bad(3, "the destination is not of the source's family"));
                    }
                    let proto = match words.get(5).filter(|_| end == 6) {
                        Some(p) => protocol(p)
                            .ok_or_else(|| bad(6, format!("\"{p}\" is no IP protocol")))?,
                        None => 0,
                    };
                    Some(ShunConn {
                        dest,
                        sport: port(&words, 3)?,
                        dport: port(&words, 4)?,
                        proto,
                    })
                }
                _ => {
                    return Err(bad(
                        end.min(words.len()) + 1,
                        "shun SRC [DST SPORT DPORT [PROTOCOL]] [vlan ID | interface NAME]",
                    ));
                }
            };
            Ok(ShunCommand::Change(ShunChange::Add(ShunEntry {
                source,
                conn,
                scope: scope(&words, end)?,
                added_unix: now_unix,
            })))
        }
        _ => Err(
            "shun SRC [DST SPORT DPORT [PROTOCOL]] [vlan ID | interface NAME], no shun SRC \
             [vlan ID | interface NAME], or clear shun [statistics]"
                .into(),
        ),
    }
}

fn unspecified(of: &IpAddr) -> IpAddr {
    match of {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// `show shun`: `shun (IF) SRC DST SPORT DPORT PROTO` per shun, as the ASA
/// prints it; a shun on every interface has no `(IF)`, one on a VLAN ends
/// with `vlan ID`; one naming an interface this node lacks says so.
pub fn render_list(l: &ShunList) -> String {
    let mut out = String::new();
    for r in &l.shuns {
        let s = &r.shun;
        out.push_str("shun ");
        if let ShunScope::Interface(name) = &s.scope {
            let _ = write!(out, "({name}) ");
        }
        let (dest, sport, dport, proto) = s.conn.map_or((unspecified(&s.source), 0, 0, 0), |c| {
            (c.dest, c.sport, c.dport, c.proto)
        });
        let _ = write!(out, "{} {dest} {sport} {dport} {proto}", s.source);
        if let ShunScope::Vlan(v) = s.scope {
            let _ = write!(out, " vlan {v}");
        }
        if r.inactive {
            out.push_str(" (no such interface on this node)");
        }
        out.push('\n');
    }
    out
}

/// `show shun statistics`: each interface ON or OFF with its count, then
/// each shun's count and age (h:mm:ss).
pub fn render_statistics(l: &ShunList) -> String {
    let mut out = String::new();
    for i in &l.interfaces {
        let on = if i.on { "ON" } else { "OFF" };
        let _ = writeln!(out, "{}={on}, cnt={}", i.name, i.dropped);
    }
    if !l.shuns.is_empty() {
        out.push('\n');
    }
    for r in &l.shuns {
        let age = l.now_unix.saturating_sub(r.shun.added_unix);
        let _ = writeln!(
            out,
            "Shun {} cnt={}, time=({}:{:02}:{:02})",
            r.shun.source,
            r.dropped,
            age / 3600,
            age / 60 % 60,
            age % 60
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(line: &str) -> ShunEntry {
        match parse_command(line, 100) {
            Ok(ShunCommand::Change(ShunChange::Add(e))) => e,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn refused(line: &str) -> String {
        match parse_command(line, 0) {
            Err(m) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn the_asa_forms_parse() {
        let e = add("shun 198.18.0.10");
        assert_eq!(
            (e.source.to_string(), e.conn, e.scope, e.added_unix),
            ("198.18.0.10".into(), None, ShunScope::Any, 100)
        );
        let e = add("shun 198.18.0.10 198.18.0.20 40000 80 tcp interface inside");
        assert_eq!(
            e.conn,
            Some(ShunConn {
                dest: "198.18.0.20".parse().unwrap(),
                sport: 40000,
                dport: 80,
                proto: 6
            })
        );
        assert_eq!(e.scope, ShunScope::Interface("inside".into()));
        assert_eq!(
            add("shun 198.18.0.10 198.18.0.20 1 2").conn.unwrap().proto,
            0
        );
        assert_eq!(
            add("shun 198.18.0.10 198.18.0.20 1 2 17")
                .conn
                .unwrap()
                .proto,
            17
        );
        assert_eq!(add("shun 2001:db8::1 vlan 12").scope, ShunScope::Vlan(12));
        assert_eq!(
            parse_command("no shun 198.18.0.10 vlan 12", 0).unwrap(),
            ShunCommand::Change(ShunChange::Remove {
                source: "198.18.0.10".parse().unwrap(),
                scope: ShunScope::Vlan(12)
            })
        );
        assert_eq!(
            parse_command("clear shun", 0).unwrap(),
            ShunCommand::Change(ShunChange::Clear)
        );
        assert_eq!(
            parse_command("clear shun statistics", 0).unwrap(),
            ShunCommand::ClearStatistics
        );
    }

    #[test]
    fn a_malformed_command_says_which_word() {
        assert!(refused("shun 198.18.0.300").starts_with("word 2:"));
        assert!(refused("shun 198.18.0.10 198.18.0.20 80").starts_with("word 5:"));
        assert!(refused("shun 198.18.0.10 198.18.0.20 1 99999").starts_with("word 5:"));
        assert!(refused("shun 198.18.0.10 198.18.0.20 1 2 bogus").starts_with("word 6:"));
        assert!(refused("shun 198.18.0.10 2001:db8::1 1 2").contains("family"));
        assert!(refused("shun 198.18.0.10 vlan 0").starts_with("word 4:"));
        assert!(refused("shun 198.18.0.10 vlan").starts_with("word 3:"));
        assert!(refused("shun 198.18.0.10 vlan 3 extra").starts_with("word 3:"));
        assert!(refused("clear shun now").starts_with("word 3:"));
        assert!(refused("shun").contains("shun SRC"));
        assert!(refused("").contains("shun SRC"));
    }

    #[test]
    fn show_shun_and_its_statistics_print_as_the_asa_does() {
        let l = ShunList {
            shuns: vec![
                ShunRow {
                    shun: add("shun 198.18.0.10 198.18.0.20 555 666 6 interface outside"),
                    dropped: 9,
                    inactive: false,
                },
                ShunRow {
                    shun: add("shun 2001:db8::1 vlan 12"),
                    dropped: 0,
                    inactive: false,
                },
                ShunRow {
                    shun: add("shun 198.18.0.11 interface dmz"),
                    dropped: 0,
                    inactive: true,
                },
            ],
            interfaces: vec![
                ShunIface {
                    name: "inside".into(),
                    on: false,
                    dropped: 0,
                },
                ShunIface {
                    name: "outside".into(),
                    on: true,
                    dropped: 9,
                },
            ],
            now_unix: 100 + 3_725,
        };
        assert_eq!(
            render_list(&l),
            "shun (outside) 198.18.0.10 198.18.0.20 555 666 6\n\
             shun 2001:db8::1 :: 0 0 0 vlan 12\n\
             shun (dmz) 198.18.0.11 0.0.0.0 0 0 0 (no such interface on this node)\n"
        );
        assert_eq!(
            render_statistics(&l),
            "inside=OFF, cnt=0\noutside=ON, cnt=9\n\n\
             Shun 198.18.0.10 cnt=9, time=(1:02:05)\n\
             Shun 2001:db8::1 cnt=0, time=(1:02:05)\n\
             Shun 198.18.0.11 cnt=0, time=(1:02:05)\n"
        );
    }
}
