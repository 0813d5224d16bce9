//! The words after `show conn` and `clear conn`, as the ASA takes them
//! (docs/asa-behaviour.md §2.4): `[all] [count] [state S[,S…]] [protocol P]
//! [address A[-B] [netmask M]] [port P[-Q]] [interface IF] [long | detail]`
//! for `show conn`, `[address A] [port P]` for `clear conn`. Keywords may
//! be abbreviated as on the ASA.

use rampart_dataplane::policy::ports::{PortNames, port};
use rampart_ops::conn_filter::{
    ConnState, parse_address, parse_netmask, parse_port_range, parse_protocol,
};
use rampart_ops::show_conn::{ConnFilter, ConnFormat};

use super::{Resolved, ambiguous, resolve};

/// What the words after `show conn` ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnWords {
    /// The filters.
    pub filter: ConnFilter,
    /// `detail`, `long`, or neither.
    pub format: ConnFormat,
    /// `count`.
    pub count: bool,
}

/// The keywords of `show conn`.
const SHOW: [&str; 9] = [
    "address",
    "port",
    "protocol",
    "interface",
    "state",
    "detail",
    "long",
    "count",
    "all",
];

/// The keywords of `clear conn`.
const CLEAR: [&str; 2] = ["address", "port"];

/// A port by number or ASA name (TCP's, then UDP's).
fn one_port(v: &str) -> Option<u16> {
    port(v, PortNames::Tcp).or_else(|| port(v, PortNames::Udp))
}

/// `% Invalid address: "x" (why)`.
fn invalid(kw: &str, value: &str, why: &str) -> String {
    format!("% Invalid {kw}: \"{}\" ({why})", value.escape_debug())
}

/// Parse the words of `show conn` (`clear`: of `clear conn`, which takes
/// one address and one port at most). `all` changes nothing: Rampart's
/// table holds only connections through the node.
pub fn conn_words(words: &[String], clear: bool) -> Result<ConnWords, String> {
    let keywords: &[&str] = if clear { &CLEAR } else { &SHOW };
    let verb = if clear { "clear conn" } else { "show conn" };
    let mut w = ConnWords::default();
    let mut it = words.iter().map(String::as_str).peekable();
    while let Some(word) = it.next() {
        let kw = match resolve(word, keywords) {
            Resolved::One(k) => k,
            Resolved::Ambiguous(hits) => {
                return Err(ambiguous(&[verb.to_string()], word, &hits));
            }
            Resolved::None => {
                return Err(format!(
                    "% Invalid input: \"{}\" (after {verb}: {})",
                    word.escape_debug(),
                    keywords.join(", ")
                ));
            }
        };
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("% Incomplete command: {verb} {kw} needs a value"))
        };
        let twice = || format!("% Invalid input: {kw} given twice");
        let f = &mut w.filter;
        match kw {
            "address" => {
                if f.address.is_some() {
                    return Err(twice());
                }
                let v = value()?;
                let (a, to, len) = parse_address(v).map_err(|e| invalid(kw, v, &e))?;
                (f.address, f.address_to, f.prefix_len) = (Some(a), to, len);
                if clear && (to.is_some() || len.is_some()) {
                    return Err(
                        "% Invalid input: clear conn takes one address, not a range or network"
                            .into(),
                    );
                }
                let netmask = it.peek().is_some_and(|n| {
                    !clear && resolve(n, &["netmask"]) == Resolved::One("netmask")
                });
                if netmask {
                    it.next();
                    let m = it.next().ok_or_else(|| {
                        format!("% Incomplete command: {verb} address A netmask needs a mask")
                    })?;
                    if len.is_some() {
                        return Err(
                            "% Invalid input: give the network as A/LEN or with netmask, not both"
                                .into(),
                        );
                    }
                    if a.is_ipv6() {
                        return Err(
                            "% Invalid input: netmask is for IPv4; give an IPv6 network as A/LEN"
                                .into(),
                        );
                    }
                    f.prefix_len = Some(parse_netmask(m).map_err(|e| invalid("netmask", m, &e))?);
                }
            }
            "port" => {
                if f.port.is_some() {
                    return Err(twice());
                }
                let v = value()?;
                let (p, to) = parse_port_range(v, one_port).map_err(|e| invalid(kw, v, &e))?;
                if clear && to.is_some() {
                    return Err("% Invalid input: clear conn takes one port, not a range".into());
                }
                (f.port, f.port_to) = (Some(p), to);
            }
            "protocol" => {
                if f.protocol.is_some() {
                    return Err(twice());
                }
                let v = value()?;
                f.protocol = Some(parse_protocol(v).map_err(|e| invalid(kw, v, &e))?);
            }
            "interface" => {
                if f.interface.is_some() {
                    return Err(twice());
                }
                f.interface = Some(value()?.to_string());
            }
            "state" => {
                if !f.states.is_empty() {
                    return Err(twice());
                }
                let v = value()?;
                f.states = ConnState::parse_list(v).map_err(|e| invalid(kw, v, &e))?;
            }
            "detail" | "long" => {
                let format = if kw == "detail" {
                    ConnFormat::Detail
                } else {
                    ConnFormat::Long
                };
                if w.format != ConnFormat::Plain && w.format != format {
                    return Err("% Invalid input: detail or long, not both".into());
                }
                w.format = format;
            }
            "count" => w.count = true,
            "all" => {}
            _ => unreachable!("one of the keywords"),
        }
    }
    w.filter
        .check()
        .map_err(|e| format!("% Invalid input: {e}"))?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str, clear: bool) -> Result<ConnWords, String> {
        let v: Vec<String> = line.split_whitespace().map(String::from).collect();
        conn_words(&v, clear)
    }

    #[test]
    fn conn_words_parse_as_on_the_asa() {
        let w = words("addr 198.18.0.1 po www det", false).unwrap();
        assert_eq!(w.filter.address, Some("198.18.0.1".parse().unwrap()));
        assert_eq!(w.filter.port, Some(80));
        assert!(w.format == ConnFormat::Detail && !w.count);
        assert!(words("cou", false).unwrap().count);
        assert_eq!(words("d", false).unwrap().format, ConnFormat::Detail);
        assert_eq!(words("l", false).unwrap().format, ConnFormat::Long);
        assert_eq!(words("all", false).unwrap(), ConnWords::default());
        assert_eq!(
            words("x", false).unwrap_err(),
            "% Invalid input: \"x\" (after show conn: address, port, protocol, interface, state, \
             detail, long, count, all)"
        );
        assert!(words("port", false).unwrap_err().contains("needs a value"));
        assert!(
            words("address x", false)
                .unwrap_err()
                .contains("Invalid address")
        );
        assert!(
            words("port 99999", false)
                .unwrap_err()
                .contains("Invalid port")
        );
        assert!(words("detail", true).unwrap_err().contains("Invalid input"));
        assert_eq!(
            words("a 198.18.0.1", false).unwrap_err(),
            "% Ambiguous command: \"show conn a\" could be address or all"
        );
    }

    /// The ASA's other filters: ranges, networks, protocol, interface and
    /// states, combined.
    #[test]
    fn ranges_networks_protocols_interfaces_and_states() {
        let w = words(
            "all count state up,conn_inbound prot tcp addr 198.18.0.0 net 255.255.255.0 \
             po 1-ftp-data int inside long",
            false,
        )
        .unwrap();
        let f = &w.filter;
        assert!(w.count);
        assert_eq!(w.format, ConnFormat::Long);
        assert_eq!(f.states, vec![ConnState::Up, ConnState::ConnInbound]);
        assert_eq!(f.protocol, Some(6));
        assert_eq!(f.address, Some("198.18.0.0".parse().unwrap()));
        assert_eq!(f.prefix_len, Some(24));
        assert_eq!((f.port, f.port_to), (Some(1), Some(20)));
        assert_eq!(f.interface.as_deref(), Some("inside"));
        let w = words("address 198.18.0.1-198.18.0.9 port ftp-data", false).unwrap();
        assert_eq!(w.filter.address_to, Some("198.18.0.9".parse().unwrap()));
        assert_eq!((w.filter.port, w.filter.port_to), (Some(20), None));
        let w = words("address 2001:db8::/48 protocol 89", false).unwrap();
        assert_eq!(w.filter.prefix_len, Some(48));
        assert_eq!(w.filter.protocol, Some(89));
    }

    /// Bad filter input is refused with why, never read as a wider filter.
    #[test]
    fn bad_filters_are_refused() {
        for (line, why) in [
            ("address 198.18.0.9-198.18.0.1", "runs backwards"),
            ("address 198.18.0.1-2001:db8::1", "both ends"),
            (
                "address 2001:db8::1 netmask 255.255.255.0",
                "netmask is for IPv4",
            ),
            ("address 198.18.0.0/24 netmask 255.255.255.0", "not both"),
            ("address 198.18.0.0 netmask 255.0.255.0", "contiguous"),
            ("address 198.18.0.0 netmask", "needs a mask"),
            ("address 198.18.0.0/33", "longer than"),
            ("port 90-80", "runs backwards"),
            ("protocol ipx", "0-255"),
            ("state up,sip", "state sip is not supported"),
            ("state vpn_orphan", "terminates no VPN"),
            ("state bogus", "unknown state"),
            ("detail long", "not both"),
            ("port 80 port 81", "given twice"),
            ("netmask 255.0.0.0", "Invalid input"),
        ] {
            let e = words(line, false).expect_err(line);
            assert!(e.contains(why), "{line}: {e}");
        }
        // `clear conn` carries one address and one port to every node.
        assert!(words("address 198.18.0.1 port 80", true).is_ok());
        for line in [
            "address 198.18.0.1-198.18.0.9",
            "address 198.18.0.0/24",
            "port 1-1023",
            "protocol tcp",
            "address 198.18.0.0 netmask 255.255.255.0",
        ] {
            assert!(words(line, true).is_err(), "{line}");
        }
    }
}
