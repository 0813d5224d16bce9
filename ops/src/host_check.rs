//! The `Host` check of the ops listeners (docs/ops.md §3).
//!
//! A loopback listener is still reachable from a browser on the host: a
//! page from `attacker.example` whose name is re-pointed at 127.0.0.1
//! (DNS rebinding) may send requests to it and read the answers, since to
//! the browser they are same-origin. What gives the page away is the
//! `Host` header, which carries the name the browser resolved. So the
//! admin API answers only when `Host` names the listener: its own address
//! literal, `localhost`, `127.0.0.1`, `[::1]`, or a name the operator
//! listed; with a port, only the listener's own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a `Host` header says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostVerdict {
    /// It names this listener.
    Ours,
    /// There is none (an HTTP/1.0 request): 400.
    Missing,
    /// It names something else, or does not parse: 421.
    Foreign,
}

/// The names one listener answers to.
#[derive(Debug, Clone)]
pub struct HostCheck {
    port: u16,
    addresses: Vec<IpAddr>,
    names: Vec<String>,
}

impl HostCheck {
    /// The names of the listener bound at `listener`: its address
    /// literal, the loopback literals, `localhost` and `extra` (names
    /// compared without regard to ASCII case; an address in `extra`, bare
    /// or bracketed, is compared as an address).
    pub fn new(listener: SocketAddr, extra: &[String]) -> Self {
        let mut addresses = vec![
            listener.ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        let mut names = vec!["localhost".to_string()];
        for e in extra {
            match e.parse::<IpAddr>().ok().or_else(|| address(e)) {
                Some(ip) => addresses.push(ip),
                None => names.push(e.to_ascii_lowercase()),
            }
        }
        HostCheck {
            port: listener.port(),
            addresses,
            names,
        }
    }

    /// Judge a request's `Host` (or its absolute URI's authority).
    pub fn check(&self, host: Option<&str>) -> HostVerdict {
        let Some(host) = host else {
            return HostVerdict::Missing;
        };
        let Some((name, port)) = split_host_port(host) else {
            return HostVerdict::Foreign;
        };
        if let Some(p) = port
            && p.parse::<u16>().ok() != Some(self.port)
        {
            return HostVerdict::Foreign;
        }
        let ours = match address(name) {
            Some(ip) => self.addresses.contains(&ip),
            None => self.names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        };
        if ours {
            HostVerdict::Ours
        } else {
            HostVerdict::Foreign
        }
    }
}

/// `name[:port]` or `[v6]:port` (RFC 3986 §3.2.2: an IPv6 literal is
/// bracketed); `None` if it does not have that shape.
fn split_host_port(host: &str) -> Option<(&str, Option<&str>)> {
    if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at(end + 1);
        return match rest {
            "" => Some((name, None)),
            r => Some((name, Some(r.strip_prefix(':')?))),
        };
    }
    match host.split_once(':') {
        None => Some((host, None)),
        Some((name, port)) => Some((name, Some(port))),
    }
}

/// The address a host literal spells (`[v6]` bracketed), if it is one.
fn address(name: &str) -> Option<IpAddr> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => name.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(listener: &str, extra: &[&str], host: Option<&str>) -> HostVerdict {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        HostCheck::new(listener.parse().unwrap(), &extra).check(host)
    }

    #[test]
    fn the_listener_s_own_names_pass() {
        let l = "127.0.0.1:9461";
        for h in [
            "127.0.0.1:9461",
            "127.0.0.1",
            "localhost",
            "LocalHost:9461",
            "[::1]:9461",
            "[0:0:0:0:0:0:0:1]",
        ] {
            assert_eq!(check(l, &[], Some(h)), HostVerdict::Ours, "{h}");
        }
        assert_eq!(
            check("[::1]:9461", &[], Some("[::1]:9461")),
            HostVerdict::Ours
        );
        assert_eq!(
            check("127.0.0.2:9461", &[], Some("127.0.0.2:9461")),
            HostVerdict::Ours
        );
        assert_eq!(
            check(l, &["FW-A.example"], Some("fw-a.example:9461")),
            HostVerdict::Ours
        );
        // A listener on every address is reached by one the operator lists.
        let any = "0.0.0.0:9460";
        let extra = ["198.51.100.7", "2001:db8::7", "[2001:db8::8]"];
        for h in ["198.51.100.7:9460", "[2001:db8::7]:9460", "[2001:db8::8]"] {
            assert_eq!(check(any, &extra, Some(h)), HostVerdict::Ours, "{h}");
        }
        assert_eq!(
            check(any, &extra, Some("198.51.100.8:9460")),
            HostVerdict::Foreign
        );
    }

    #[test]
    fn other_names_ports_and_shapes_are_foreign() {
        let l = "127.0.0.1:9461";
        for h in [
            "attacker.example",
            "attacker.example:9461",
            "localhost.attacker.example",
            "127.0.0.2:9461",
            "127.0.0.1:9462",
            "127.0.0.1:",
            "localhost:9461:9461",
            "[::1",
            "[::1]x",
            "[fe80::1]:9461",
            "",
            "127.1",
        ] {
            assert_eq!(check(l, &[], Some(h)), HostVerdict::Foreign, "{h:?}");
        }
        assert_eq!(check(l, &[], None), HostVerdict::Missing);
    }
}
