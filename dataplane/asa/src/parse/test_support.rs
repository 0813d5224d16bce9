//! Helpers for the parser's unit tests: parse a text expecting success,
//! errors or ignored lines, and build the values tests compare with.

use std::net::{IpAddr, Ipv4Addr};

use crate::ast::*;

use super::{Parsed, parse_config};

pub(super) fn parsed(text: &str) -> Parsed {
    parse_config(text).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

pub(super) fn cfg(text: &str) -> Config {
    parsed(text).config
}

pub(super) fn errs(text: &str) -> Vec<(usize, usize, String)> {
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
pub(super) fn err(text: &str) -> (usize, usize, String) {
    let e = errs(text);
    assert_eq!(e.len(), 1, "for:\n{text}\n{e:#?}");
    e.into_iter().next().expect("one")
}

/// Each case must fail with exactly this one error.
pub(super) fn check_errors(cases: &[(&str, usize, usize, &str)]) {
    for &(text, line, column, message) in cases {
        assert_eq!(
            err(text),
            (line, column, message.to_string()),
            "for:\n{text}"
        );
    }
}

pub(super) fn ignored(text: &str) -> Vec<(usize, &'static str)> {
    parsed(text)
        .ignored
        .iter()
        .map(|i| (i.line, i.reason))
        .collect()
}

pub(super) fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn ace(text: &str) -> Ace {
    let c = cfg(text);
    match c.access_lists.last().and_then(|a| a.lines.last()) {
        Some(AclLine::Ace(a)) => a.clone(),
        other => panic!("no ACE: {other:?}"),
    }
}

pub(super) fn permit_ip(source: AddrSpec, destination: AddrSpec) -> Ace {
    Ace {
        action: Action::Permit,
        protocol: ProtoSpec::Protocol(Protocol::Ip),
        source,
        source_port: None,
        destination,
        destination_port: None,
        icmp: None,
        log: AceLog::Default,
        time_range: None,
        inactive: false,
    }
}
