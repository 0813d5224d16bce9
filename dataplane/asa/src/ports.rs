//! ASA literals: well-known port names (as `show running-config` prints
//! them) and protocol keywords.
//!
//! The tables follow the ASA's port literal list, not `/etc/services`:
//! `kerberos` is 750 (Kerberos IV) on the ASA, not 88, and `www` is what
//! `show running-config` prints for port 80 (`http` is accepted on input).

use crate::ast::{PortProtocol, Protocol};

/// Which port names a port position accepts and prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortNames {
    /// TCP names.
    Tcp,
    /// UDP names.
    Udp,
    /// Names meaning the same port for TCP and UDP (`tcp-udp` groups,
    /// ports after a protocol group).
    TcpUdp,
    /// SCTP: numbers only (the ASA's literal list is for TCP and UDP).
    Sctp,
}

impl PortNames {
    /// The protocol word used in error messages.
    pub fn label(self) -> &'static str {
        match self {
            PortNames::Tcp => "tcp",
            PortNames::Udp => "udp",
            PortNames::TcpUdp => "tcp-udp",
            PortNames::Sctp => "sctp",
        }
    }
}

impl From<PortProtocol> for PortNames {
    fn from(p: PortProtocol) -> Self {
        match p {
            PortProtocol::Tcp => PortNames::Tcp,
            PortProtocol::Udp => PortNames::Udp,
            PortProtocol::TcpUdp => PortNames::TcpUdp,
        }
    }
}

/// TCP port names: the name `show running-config` prints for each number
/// comes first; aliases accepted on input follow.
const TCP: &[(&str, u16)] = &[
    ("aol", 5190),
    ("bgp", 179),
    ("chargen", 19),
    ("cifs", 3020),
    ("citrix-ica", 1494),
    ("cmd", 514),
    ("ctiqbe", 2748),
    ("daytime", 13),
    ("discard", 9),
    ("domain", 53),
    ("echo", 7),
    ("exec", 512),
    ("finger", 79),
    ("ftp", 21),
    ("ftp-data", 20),
    ("gopher", 70),
    ("h323", 1720),
    ("hostname", 101),
    ("https", 443),
    ("ident", 113),
    ("imap4", 143),
    ("irc", 194),
    ("kerberos", 750),
    ("klogin", 543),
    ("kshell", 544),
    ("ldap", 389),
    ("ldaps", 636),
    ("login", 513),
    ("lotusnotes", 1352),
    ("lpd", 515),
    ("netbios-ssn", 139),
    ("nfs", 2049),
    ("nntp", 119),
    ("pcanywhere-data", 5631),
    ("pim-auto-rp", 496),
    ("pop2", 109),
    ("pop3", 110),
    ("pptp", 1723),
    ("rtsp", 554),
    ("sip", 5060),
    ("smtp", 25),
    ("sqlnet", 1521),
    ("ssh", 22),
    ("sunrpc", 111),
    ("tacacs", 49),
    ("talk", 517),
    ("telnet", 23),
    ("uucp", 540),
    ("whois", 43),
    ("www", 80),
    // aliases
    ("http", 80),
    ("rsh", 514),
    ("rpc", 111),
];

/// UDP port names, printed name first, then aliases.
const UDP: &[(&str, u16)] = &[
    ("biff", 512),
    ("bootpc", 68),
    ("bootps", 67),
    ("cifs", 3020),
    ("discard", 9),
    ("dnsix", 195),
    ("domain", 53),
    ("echo", 7),
    ("isakmp", 500),
    ("kerberos", 750),
    ("mobile-ip", 434),
    ("nameserver", 42),
    ("netbios-dgm", 138),
    ("netbios-ns", 137),
    ("nfs", 2049),
    ("ntp", 123),
    ("pcanywhere-status", 5632),
    ("pim-auto-rp", 496),
    ("radius", 1645),
    ("radius-acct", 1646),
    ("rip", 520),
    ("secureid-udp", 5510),
    ("sip", 5060),
    ("snmp", 161),
    ("snmptrap", 162),
    ("sunrpc", 111),
    ("syslog", 514),
    ("tacacs", 49),
    ("talk", 517),
    ("tftp", 69),
    ("time", 37),
    ("vxlan", 4789),
    ("who", 513),
    ("www", 80),
    ("xdmcp", 177),
    // aliases
    ("http", 80),
    ("rpc", 111),
];

/// Protocol keywords of the ACE protocol position, printed name first.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipinip", 4),
    ("tcp", 6),
    ("igrp", 9),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmp6", 58),
    ("eigrp", 88),
    ("ospf", 89),
    ("nos", 94),
    ("pim", 103),
    ("pcp", 108),
    ("snp", 109),
    ("sctp", 132),
    // aliases the ASA accepts and prints by the names above
    ("ipsec", 50),
    ("pptp", 47),
];

fn lookup(t: &[(&'static str, u16)], word: &str) -> Option<u16> {
    t.iter().find(|(name, _)| *name == word).map(|&(_, n)| n)
}

fn printed(t: &[(&'static str, u16)], n: u16) -> Option<&'static str> {
    t.iter().find(|&&(_, v)| v == n).map(|&(s, _)| s)
}

/// A port number or a name valid for `p`. A `tcp-udp` position takes only
/// names that mean the same port for both protocols.
pub fn port(word: &str, p: PortNames) -> Option<u16> {
    if let Ok(n) = word.parse::<u16>() {
        return Some(n);
    }
    match p {
        PortNames::Tcp => lookup(TCP, word),
        PortNames::Udp => lookup(UDP, word),
        PortNames::TcpUdp => match (lookup(TCP, word), lookup(UDP, word)) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        },
        PortNames::Sctp => None,
    }
}

/// How a port is printed: the ASA's name for this protocol where it has
/// one (for tcp-udp, only a name both print), else the number.
pub fn port_name(n: u16, p: PortNames) -> String {
    let found = match p {
        PortNames::Tcp => printed(TCP, n),
        PortNames::Udp => printed(UDP, n),
        PortNames::TcpUdp => match (printed(TCP, n), printed(UDP, n)) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        },
        PortNames::Sctp => None,
    };
    found.map_or_else(|| n.to_string(), str::to_string)
}

/// A protocol keyword, `ip`, or a number 0–255.
pub fn protocol(word: &str) -> Option<Protocol> {
    if word == "ip" {
        return Some(Protocol::Ip);
    }
    if let Ok(n) = word.parse::<u8>() {
        return Some(Protocol::Number(n));
    }
    PROTOCOLS
        .iter()
        .find(|(k, _)| *k == word)
        .map(|&(_, n)| Protocol::Number(n))
}

/// How a protocol is printed: its keyword, else its number.
pub fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Ip => "ip".into(),
        Protocol::Number(n) => PROTOCOLS
            .iter()
            .find(|&&(_, v)| v == n)
            .map_or_else(|| n.to_string(), |&(k, _)| k.into()),
    }
}

/// The port names of a protocol, if ports apply to it (tcp, udp, sctp).
pub fn port_names(p: Protocol) -> Option<PortNames> {
    match p {
        Protocol::Number(6) => Some(PortNames::Tcp),
        Protocol::Number(17) => Some(PortNames::Udp),
        Protocol::Number(132) => Some(PortNames::Sctp),
        _ => None,
    }
}

/// Whether `p` is ICMP or ICMPv6, whose ACEs may name a type.
pub fn is_icmp(p: Protocol) -> bool {
    matches!(p, Protocol::Number(1 | 58))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_names_follow_the_asa() {
        assert_eq!(port_name(80, PortNames::Tcp), "www");
        assert_eq!(port_name(80, PortNames::Udp), "www");
        assert_eq!(port_name(80, PortNames::TcpUdp), "www");
        assert_eq!(port_name(443, PortNames::Tcp), "https");
        assert_eq!(port_name(443, PortNames::Udp), "443");
        assert_eq!(port_name(514, PortNames::Udp), "syslog");
        assert_eq!(port_name(514, PortNames::Tcp), "cmd");
        assert_eq!(port_name(514, PortNames::TcpUdp), "514");
        assert_eq!(port_name(53, PortNames::TcpUdp), "domain");
        assert_eq!(port_name(750, PortNames::Tcp), "kerberos");
        assert_eq!(port_name(88, PortNames::Tcp), "88");
        assert_eq!(port_name(80, PortNames::Sctp), "80");
        assert_eq!(port_name(65535, PortNames::Tcp), "65535");
    }

    #[test]
    fn names_are_per_protocol() {
        assert_eq!(port("www", PortNames::Tcp), Some(80));
        assert_eq!(port("http", PortNames::Tcp), Some(80));
        assert_eq!(port("http", PortNames::Udp), Some(80));
        assert_eq!(port("rsh", PortNames::Tcp), Some(514));
        assert_eq!(port("syslog", PortNames::Tcp), None);
        assert_eq!(port("ssh", PortNames::Udp), None);
        assert_eq!(port("syslog", PortNames::TcpUdp), None);
        assert_eq!(port("domain", PortNames::TcpUdp), Some(53));
        assert_eq!(port("www", PortNames::Sctp), None);
        assert_eq!(port("2905", PortNames::Sctp), Some(2905));
        assert_eq!(port("65536", PortNames::Tcp), None);
        assert_eq!(port("-1", PortNames::Tcp), None);
    }

    #[test]
    fn every_printed_name_parses_back() {
        for p in [
            PortNames::Tcp,
            PortNames::Udp,
            PortNames::TcpUdp,
            PortNames::Sctp,
        ] {
            for n in 0..=u16::MAX {
                assert_eq!(port(&port_name(n, p), p), Some(n), "{n} for {p:?}");
            }
        }
    }

    #[test]
    fn protocols_by_keyword_and_number() {
        assert_eq!(protocol("ip"), Some(Protocol::Ip));
        assert_eq!(protocol("tcp"), Some(Protocol::Number(6)));
        assert_eq!(protocol("ipsec"), Some(Protocol::Number(50)));
        assert_eq!(protocol("pptp"), Some(Protocol::Number(47)));
        assert_eq!(protocol("255"), Some(Protocol::Number(255)));
        assert_eq!(protocol("256"), None);
        assert_eq!(protocol("tcp-udp"), None);
        assert_eq!(protocol_name(Protocol::Number(47)), "gre");
        assert_eq!(protocol_name(Protocol::Number(50)), "esp");
        assert_eq!(protocol_name(Protocol::Number(200)), "200");
        for n in 0..=u8::MAX {
            let p = Protocol::Number(n);
            assert_eq!(protocol(&protocol_name(p)), Some(p));
        }
        assert_eq!(port_names(Protocol::Number(132)), Some(PortNames::Sctp));
        assert_eq!(port_names(Protocol::Number(1)), None);
        assert_eq!(port_names(Protocol::Ip), None);
        assert!(is_icmp(Protocol::Number(58)));
        assert!(!is_icmp(Protocol::Number(6)));
    }
}
