//! The ASA's `capture` commands, one line each (privileged EXEC commands,
//! not configuration: docs/asa-behaviour.md §2.11):
//!
//! ```text
//! capture NAME [type raw-data | type asp-drop [all | DROP-REASON]] [interface IF]
//!     [buffer BYTES] [packet-length BYTES] [circular-buffer]
//!     [match PROTO SRC [OP PORT] DST [OP PORT] | access-list ACL]
//! capture NAME stop
//! no capture NAME
//! clear capture NAME
//! ```
//!
//! Options come in any order, as the ASA takes them. Defaults and bounds
//! are the ASA's ("capture", Cisco ASA Series Command Reference): a
//! 524,288-byte linear buffer, 1,518 bytes kept of each packet, a buffer
//! of 1,534 to 33,554,432 bytes, a packet length of 14 to 1,522 bytes.
//! Addresses are `any`, `any4`, `any6`, `host A`, `A MASK` (IPv4) and
//! `A/LEN` (IPv6) and ports `eq|neq|lt|gt|range`, parsed as an
//! access-list entry's are; no objects (a capture outlives no
//! configuration it could refer to).

use crate::ast::{AddrSpec, PortMatch, Protocol};
use crate::ports;

use super::ParseError;
use super::cursor::{Cur, R};
use super::values::{Net, Ops, PROTOCOL_ZERO, host_ip, network_literal, port_match};

/// The ASA's default capture buffer, in bytes.
pub const CAPTURE_BUFFER_DEFAULT_BYTES: u32 = 524_288;
/// The smallest buffer the ASA takes (one full frame and its header).
pub const CAPTURE_BUFFER_MIN_BYTES: u32 = 1_534;
/// The largest buffer the ASA takes.
pub const CAPTURE_BUFFER_MAX_BYTES: u32 = 33_554_432;
/// The ASA's default of bytes kept per packet.
pub const CAPTURE_PACKET_LENGTH_DEFAULT_BYTES: u32 = 1_518;
/// The fewest bytes kept per packet (an Ethernet header).
pub const CAPTURE_PACKET_LENGTH_MIN_BYTES: u32 = 14;
/// The most bytes kept per packet.
pub const CAPTURE_PACKET_LENGTH_MAX_BYTES: u32 = 1_522;
/// The longest capture name.
pub const CAPTURE_NAME_MAX_CHARS: usize = 32;

/// What a capture records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureType {
    /// `type raw-data` (the default): frames entering or leaving an interface.
    RawData,
    /// `type asp-drop [REASON]`: frames the engine drops, all or for one
    /// reason (by its `show asp drop` name).
    AspDrop(Option<String>),
}

/// A `match` clause: a protocol and two endpoints, matched both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureMatch {
    /// `ip` or one protocol.
    pub protocol: Protocol,
    /// One end.
    pub source: AddrSpec,
    /// Its ports.
    pub source_port: Option<PortMatch>,
    /// The other end.
    pub destination: AddrSpec,
    /// Its ports.
    pub destination_port: Option<PortMatch>,
}

/// Which frames a capture keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureFilter {
    /// All.
    All,
    /// `match …`.
    Match(CaptureMatch),
    /// `access-list ACL`: the permits of an access-list of the running
    /// configuration.
    AccessList(String),
}

/// A `capture NAME …` that defines (or restarts) a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureDef {
    /// Its name.
    pub name: String,
    /// What it records.
    pub kind: CaptureType,
    /// The interface, by nameif.
    pub interface: Option<String>,
    /// Buffer size in bytes.
    pub buffer_bytes: u32,
    /// Bytes kept of each packet.
    pub packet_length_bytes: u32,
    /// Overwrite the oldest packets when full (else stop capturing).
    pub circular: bool,
    /// Which frames.
    pub filter: CaptureFilter,
    /// `capture NAME` with no option at all: restarts a stopped capture.
    pub bare: bool,
}

/// One `capture` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureCommand {
    /// `capture NAME …`.
    Define(CaptureDef),
    /// `capture NAME stop`.
    Stop(String),
    /// `no capture NAME`.
    Remove(String),
    /// `clear capture NAME`.
    Clear(String),
}

impl CaptureCommand {
    /// The capture it names.
    pub fn name(&self) -> &str {
        match self {
            CaptureCommand::Define(d) => &d.name,
            CaptureCommand::Stop(n) | CaptureCommand::Remove(n) | CaptureCommand::Clear(n) => n,
        }
    }
}

/// Parse one `capture` command line. `is_drop_reason` says whether a word
/// names a drop reason (the engine's, as `show asp drop` prints them);
/// errors are on line 1 with the column of the offending word.
pub fn parse_capture(
    line: &str,
    is_drop_reason: &dyn Fn(&str) -> bool,
) -> Result<CaptureCommand, ParseError> {
    let mut c = Cur::new(1, line);
    let cmd = match c.peek() {
        Some("no") => {
            c.next();
            c.keyword("capture")?;
            let name = name(&mut c)?;
            if c.peek().is_some() {
                return Err(c.err(
                    "removing a capture's options one by one is not supported: \
                     'no capture NAME' removes it whole",
                ));
            }
            CaptureCommand::Remove(name)
        }
        Some("clear") => {
            c.next();
            c.keyword("capture")?;
            CaptureCommand::Clear(name(&mut c)?)
        }
        Some("capture") => {
            c.next();
            let name = name(&mut c)?;
            if c.eat("stop") {
                c.done()?;
                return Ok(CaptureCommand::Stop(name));
            }
            CaptureCommand::Define(define(&mut c, name, is_drop_reason)?)
        }
        _ => return Err(c.expected("'capture', 'no capture' or 'clear capture'")),
    };
    c.done()?;
    Ok(cmd)
}

fn name(c: &mut Cur<'_>) -> R<String> {
    let t = c.word("capture name")?;
    let ok = t.text.chars().count() <= CAPTURE_NAME_MAX_CHARS
        && t.text
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        && t.text.starts_with(|ch: char| ch.is_ascii_alphanumeric());
    if !ok {
        return Err(c.err_at(
            t.col,
            format!(
                "invalid capture name '{}': letters, digits, '_', '-' and '.', \
                 at most {CAPTURE_NAME_MAX_CHARS}, starting with a letter or digit",
                t.text
            ),
        ));
    }
    Ok(t.text.to_string())
}

fn define(c: &mut Cur<'_>, name: String, is_drop_reason: &dyn Fn(&str) -> bool) -> R<CaptureDef> {
    let mut def = CaptureDef {
        name,
        kind: CaptureType::RawData,
        interface: None,
        buffer_bytes: CAPTURE_BUFFER_DEFAULT_BYTES,
        packet_length_bytes: CAPTURE_PACKET_LENGTH_DEFAULT_BYTES,
        circular: false,
        filter: CaptureFilter::All,
        bare: c.peek().is_none(),
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut interface_col = 1;
    while let Some(t) = c.next() {
        let key = match t.text {
            "match" | "access-list" => "filter",
            w => w,
        };
        if seen.contains(&key) {
            return Err(c.err_at(t.col, format!("'{}' given twice", t.text)));
        }
        match t.text {
            "type" => {
                let k = c.word("'raw-data' or 'asp-drop'")?;
                def.kind = match k.text {
                    "raw-data" => CaptureType::RawData,
                    "asp-drop" => match c.peek() {
                        Some("all") => {
                            c.next();
                            CaptureType::AspDrop(None)
                        }
                        Some(w) if is_drop_reason(w) => {
                            c.next();
                            CaptureType::AspDrop(Some(w.to_string()))
                        }
                        Some(w) if !is_option(w) => {
                            return Err(c.err(format!(
                                "unknown drop reason '{w}' (the names `show asp drop` prints, or 'all')"
                            )));
                        }
                        _ => CaptureType::AspDrop(None),
                    },
                    "isakmp" | "lacp" | "tls-proxy" | "webvpn" | "inline-tag" => {
                        return Err(
                            c.err_at(k.col, format!("capture type '{}' is not supported", k.text))
                        );
                    }
                    _ => {
                        c.back();
                        return Err(c.expected("'raw-data' or 'asp-drop'"));
                    }
                };
            }
            "interface" => {
                interface_col = t.col;
                def.interface = Some(c.word("interface name")?.text.to_string());
            }
            "buffer" => {
                def.buffer_bytes = number(
                    c,
                    "buffer size",
                    CAPTURE_BUFFER_MIN_BYTES,
                    CAPTURE_BUFFER_MAX_BYTES,
                )?;
            }
            "packet-length" => {
                def.packet_length_bytes = number(
                    c,
                    "packet length",
                    CAPTURE_PACKET_LENGTH_MIN_BYTES,
                    CAPTURE_PACKET_LENGTH_MAX_BYTES,
                )?;
            }
            "circular-buffer" => def.circular = true,
            "match" => def.filter = CaptureFilter::Match(match_clause(c)?),
            "access-list" => {
                def.filter = CaptureFilter::AccessList(c.word("access-list name")?.text.to_string())
            }
            "ethernet-type" | "headers-only" | "real-time" | "trace" | "file-size"
            | "reinject-hide" => {
                return Err(c.err_at(t.col, format!("'{}' is not supported", t.text)));
            }
            w => {
                return Err(c.err_at(
                    t.col,
                    format!(
                        "unexpected '{w}': expected type, interface, buffer, packet-length, \
                         circular-buffer, match or access-list"
                    ),
                ));
            }
        }
        seen.push(key);
    }
    match (&def.kind, &def.interface) {
        (CaptureType::RawData, None) if !def.bare => {
            Err(c.err("a raw-data capture needs 'interface IF'"))
        }
        (CaptureType::AspDrop(_), Some(_)) => Err(c.err_at(
            interface_col,
            "an asp-drop capture takes no interface: it records the drops of every interface",
        )),
        _ => Ok(def),
    }
}

fn is_option(w: &str) -> bool {
    matches!(
        w,
        "type"
            | "interface"
            | "buffer"
            | "packet-length"
            | "circular-buffer"
            | "match"
            | "access-list"
    )
}

fn number(c: &mut Cur<'_>, what: &str, min: u32, max: u32) -> R<u32> {
    let t = c.word(what)?;
    match t.text.parse::<u64>() {
        Ok(n) if (u64::from(min)..=u64::from(max)).contains(&n) => Ok(n as u32),
        _ => Err(c.err_at(
            t.col,
            format!("invalid {what} '{}': {min} to {max} bytes", t.text),
        )),
    }
}

fn match_clause(c: &mut Cur<'_>) -> R<CaptureMatch> {
    let t = c.word("protocol")?;
    let protocol = match ports::protocol(t.text) {
        Some(Protocol::Number(0)) => return Err(c.err_at(t.col, PROTOCOL_ZERO)),
        Some(p) => p,
        None => {
            c.back();
            return Err(c.expected("protocol"));
        }
    };
    let names = ports::port_names(protocol);
    let ports = |c: &mut Cur<'_>| -> R<Option<PortMatch>> {
        match c.peek() {
            Some("eq" | "neq" | "lt" | "gt" | "range") => match names {
                Some(n) => Ok(Some(port_match(c, n, Ops::All)?)),
                None => Err(c.err("ports apply only to tcp, udp and sctp")),
            },
            _ => Ok(None),
        }
    };
    let source = address(c, "source address")?;
    let source_port = ports(c)?;
    let destination = address(c, "destination address")?;
    let destination_port = ports(c)?;
    Ok(CaptureMatch {
        protocol,
        source,
        source_port,
        destination,
        destination_port,
    })
}

fn address(c: &mut Cur<'_>, what: &str) -> R<AddrSpec> {
    let Some(t) = c.next() else {
        return Err(c.expected(what));
    };
    Ok(match t.text {
        "any" => AddrSpec::Any,
        "any4" => AddrSpec::Any4,
        "any6" => AddrSpec::Any6,
        "host" => AddrSpec::Host(host_ip(c)?),
        "object" | "object-group" | "interface" => {
            return Err(c.err_at(
                t.col,
                format!(
                    "a capture's match takes no '{}': write the addresses",
                    t.text
                ),
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn reasons(w: &str) -> bool {
        matches!(w, "acl-drop" | "tcp-not-syn")
    }

    fn parse(line: &str) -> Result<CaptureCommand, ParseError> {
        parse_capture(line, &reasons)
    }

    fn def(line: &str) -> CaptureDef {
        match parse(line) {
            Ok(CaptureCommand::Define(d)) => d,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn err(line: &str) -> (usize, String) {
        let e = parse(line).expect_err(line);
        assert_eq!(e.line, 1);
        (e.column, e.message)
    }

    #[test]
    fn defaults_are_the_asa_s() {
        let d = def("capture cap1 interface inside");
        assert_eq!(d.name, "cap1");
        assert_eq!(d.kind, CaptureType::RawData);
        assert_eq!(d.interface.as_deref(), Some("inside"));
        assert_eq!(d.buffer_bytes, 524_288);
        assert_eq!(d.packet_length_bytes, 1_518);
        assert!(!d.circular && !d.bare);
        assert_eq!(d.filter, CaptureFilter::All);
    }

    #[test]
    fn every_option_in_any_order() {
        let d = def(
            "capture c type raw-data match tcp host 198.18.0.1 eq 80 198.18.1.0 255.255.255.0 \
             range 1000 2000 buffer 1534 circular-buffer packet-length 14 interface outside",
        );
        assert_eq!(d.buffer_bytes, 1534);
        assert_eq!(d.packet_length_bytes, 14);
        assert!(d.circular);
        assert_eq!(
            d.filter,
            CaptureFilter::Match(CaptureMatch {
                protocol: Protocol::Number(6),
                source: AddrSpec::Host(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))),
                source_port: Some(PortMatch::Eq(80)),
                destination: AddrSpec::V4Net(
                    Ipv4Addr::new(198, 18, 1, 0),
                    Ipv4Addr::new(255, 255, 255, 0)
                ),
                destination_port: Some(PortMatch::Range(1000, 2000)),
            })
        );
        let d = def("capture c interface inside match ip any6 2001:db8::/32");
        let CaptureFilter::Match(m) = d.filter else {
            panic!()
        };
        assert_eq!(m.source, AddrSpec::Any6);
        assert!(matches!(m.destination, AddrSpec::V6Net(_, 32)));
        let d = def("capture c interface inside access-list CAP");
        assert_eq!(d.filter, CaptureFilter::AccessList("CAP".into()));
        let d = def("capture c interface inside match udp any4 neq 53 any gt 1023");
        let CaptureFilter::Match(m) = d.filter else {
            panic!()
        };
        assert_eq!(m.source_port, Some(PortMatch::Neq(53)));
        assert_eq!(m.destination_port, Some(PortMatch::Gt(1023)));
    }

    #[test]
    fn asp_drop_with_and_without_a_reason() {
        assert_eq!(
            def("capture d type asp-drop").kind,
            CaptureType::AspDrop(None)
        );
        assert_eq!(
            def("capture d type asp-drop all").kind,
            CaptureType::AspDrop(None)
        );
        let d = def("capture d type asp-drop acl-drop buffer 100000");
        assert_eq!(d.kind, CaptureType::AspDrop(Some("acl-drop".into())));
        assert_eq!(d.buffer_bytes, 100_000);
        assert_eq!(
            err("capture d type asp-drop no-such-drop"),
            (
                25,
                "unknown drop reason 'no-such-drop' (the names `show asp drop` prints, or 'all')"
                    .into()
            )
        );
        assert_eq!(
            err("capture d type asp-drop interface inside").1,
            "an asp-drop capture takes no interface: it records the drops of every interface"
        );
    }

    #[test]
    fn stop_remove_clear_and_bare() {
        assert_eq!(
            parse("capture c stop"),
            Ok(CaptureCommand::Stop("c".into()))
        );
        assert_eq!(
            parse("no capture c"),
            Ok(CaptureCommand::Remove("c".into()))
        );
        assert_eq!(
            parse("clear capture c"),
            Ok(CaptureCommand::Clear("c".into()))
        );
        assert!(def("capture c").bare);
        assert_eq!(err("no capture c interface inside").0, 14);
        assert_eq!(err("capture c stop now").0, 16);
    }

    #[test]
    fn bounds_and_errors_name_their_column() {
        assert_eq!(
            err("capture c interface inside buffer 33554433"),
            (
                35,
                "invalid buffer size '33554433': 1534 to 33554432 bytes".into()
            )
        );
        assert_eq!(err("capture c interface inside buffer 1533").0, 35);
        assert!(parse("capture c interface inside buffer 33554432").is_ok());
        assert_eq!(
            err("capture c interface inside packet-length 1523"),
            (42, "invalid packet length '1523': 14 to 1522 bytes".into())
        );
        assert_eq!(err("capture c interface inside packet-length 13").0, 42);
        assert_eq!(
            err("capture c match ip any any"),
            (27, "a raw-data capture needs 'interface IF'".into())
        );
        assert_eq!(
            err("capture c interface inside circular-buffer circular-buffer").0,
            44
        );
        assert_eq!(
            err("capture c interface a match ip any any access-list X").0,
            40
        );
        assert_eq!(err("capture c interface inside bogus").0, 28);
        assert_eq!(err("capture c interface inside real-time").0, 28);
        assert_eq!(err("capture c type isakmp").0, 16);
        assert_eq!(err("capture c type raw").0, 16);
        assert_eq!(
            err("capture c interface inside match tcp any eq 99999 any").0,
            45
        );
        assert_eq!(
            err("capture c interface inside match icmp any eq 80 any").0,
            43
        );
        assert_eq!(
            err("capture c interface inside match tcp 198.18.0.1/24 any").0,
            38
        );
        assert_eq!(
            err("capture c interface inside match tcp any object o").0,
            42
        );
        assert_eq!(err("capture c interface inside match tcp any").0, 41);
        assert_eq!(err("capture bad/name interface inside").0, 9);
        assert_eq!(
            err(&format!("capture {} interface inside", "x".repeat(33))).0,
            9
        );
        assert_eq!(err("show capture").0, 1);
        assert_eq!(err("capture").0, 8);
    }

    use proptest::prelude::*;

    proptest::proptest! {
        /// Any line, words of the grammar or not: a command or an error
        /// whose column lies on the line (or one past it), never a panic.
        #[test]
        fn any_line_parses_or_is_refused_with_a_column(
            words in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "capture", "no", "clear", "stop", "type", "raw-data", "asp-drop",
                        "all", "acl-drop", "interface", "inside", "buffer", "packet-length",
                        "circular-buffer", "match", "access-list", "tcp", "udp", "ip", "host",
                        "any", "any4", "any6", "eq", "range", "neq", "198.18.0.1",
                        "255.255.255.0", "2001:db8::/32", "80", "1534", "99999999999",
                    ]).prop_map(String::from),
                    "[ -~]{0,12}",
                ],
                0..16,
            )
        ) {
            let line = words.join(" ");
            if let Err(e) = parse(&line) {
                proptest::prop_assert!(e.column >= 1 && e.column <= line.chars().count() + 1);
            }
        }
    }
}
