//! ASA literals: well-known port names (as `show running-config` prints
//! them) and protocol keywords.

use super::ast::{PortProtocol, Protocol};

/// TCP port names, one canonical name per number first (used to render),
/// then aliases accepted on input.
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
    ("kerberos", 88),
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
];

/// UDP port names, canonical first, then aliases.
const UDP: &[(&str, u16)] = &[
    ("biff", 512),
    ("bootpc", 68),
    ("bootps", 67),
    ("cifs", 3020),
    ("discard", 9),
    ("dnsix", 195),
    ("domain", 53),
    ("echo", 7),
    ("http", 80),
    ("isakmp", 500),
    ("kerberos", 88),
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
    ("xdmcp", 177),
    // aliases
    ("www", 80),
];

/// Protocol keywords of the ACE protocol position.
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
];

fn table(p: PortProtocol) -> &'static [&'static [(&'static str, u16)]] {
    match p {
        PortProtocol::Tcp => &[TCP],
        PortProtocol::Udp => &[UDP],
        PortProtocol::TcpUdp => &[TCP, UDP],
    }
}

/// A port number or name valid for `p` (for tcp-udp, a name of either).
pub fn port(word: &str, p: PortProtocol) -> Option<u16> {
    if let Ok(n) = word.parse::<u16>() {
        return Some(n);
    }
    table(p)
        .iter()
        .flat_map(|t| t.iter())
        .find(|(name, _)| *name == word)
        .map(|&(_, n)| n)
}

/// How a port is printed: the canonical name where the ASA has one for
/// this protocol (for tcp-udp, only a name both share), else the number.
pub fn port_name(n: u16, p: PortProtocol) -> String {
    let name = |t: &[(&'static str, u16)]| t.iter().find(|&&(_, v)| v == n).map(|&(s, _)| s);
    let found = match p {
        PortProtocol::Tcp => name(TCP),
        PortProtocol::Udp => name(UDP),
        PortProtocol::TcpUdp => match (name(TCP), name(UDP)) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        },
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

/// How a protocol is printed.
pub fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Ip => "ip".into(),
        Protocol::Number(n) => PROTOCOLS
            .iter()
            .find(|&&(_, v)| v == n)
            .map_or_else(|| n.to_string(), |&(k, _)| k.into()),
    }
}

/// The port protocol of a protocol, if ports apply to it.
pub fn port_protocol(p: Protocol) -> Option<PortProtocol> {
    match p {
        Protocol::Number(6) => Some(PortProtocol::Tcp),
        Protocol::Number(17) => Some(PortProtocol::Udp),
        // SCTP ports: the ASA accepts numbers only; tcp names are close enough
        // for parsing numbers.
        Protocol::Number(132) => Some(PortProtocol::Tcp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_per_protocol() {
        assert_eq!(port("www", PortProtocol::Tcp), Some(80));
        assert_eq!(port("http", PortProtocol::Tcp), Some(80));
        assert_eq!(port_name(80, PortProtocol::Tcp), "www");
        assert_eq!(port_name(514, PortProtocol::Udp), "syslog");
        assert_eq!(port_name(514, PortProtocol::Tcp), "cmd");
        assert_eq!(port_name(53, PortProtocol::TcpUdp), "domain");
        assert_eq!(port_name(514, PortProtocol::TcpUdp), "514");
        assert_eq!(port("syslog", PortProtocol::Tcp), None);
        for t in [TCP, UDP] {
            for &(name, n) in t {
                let p = if std::ptr::eq(t, TCP) {
                    PortProtocol::Tcp
                } else {
                    PortProtocol::Udp
                };
                assert_eq!(port(&port_name(n, p), p), Some(n), "{name}");
            }
        }
        assert_eq!(protocol("tcp"), Some(Protocol::Number(6)));
        assert_eq!(protocol_name(Protocol::Number(47)), "gre");
        assert_eq!(protocol_name(Protocol::Number(200)), "200");
    }
}
