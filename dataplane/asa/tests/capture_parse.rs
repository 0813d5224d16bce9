//! `parse_capture` on token soup never panics, and what it
//! accepts keeps its bounds.
use proptest::prelude::*;
use rampart_asa::{CaptureCommand, CaptureFilter, parse_capture};

const WORDS: &[&str] = &[
    "capture",
    "no",
    "clear",
    "stop",
    "type",
    "raw-data",
    "asp-drop",
    "all",
    "acl-drop",
    "interface",
    "inside",
    "buffer",
    "packet-length",
    "circular-buffer",
    "match",
    "access-list",
    "tcp",
    "udp",
    "icmp",
    "ip",
    "icmp6",
    "sctp",
    "gre",
    "0",
    "256",
    "any",
    "any4",
    "any6",
    "host",
    "198.18.0.1",
    "255.255.255.0",
    "255.0.255.0",
    "2001:db8::/32",
    "2001:db8::1",
    "::ffff:1.2.3.4",
    "eq",
    "neq",
    "lt",
    "gt",
    "range",
    "80",
    "65535",
    "65536",
    "www",
    "1534",
    "33554432",
    "33554433",
    "14",
    "1522",
    "1523",
    "99999999999999999999",
    "-1",
    "c",
    "é",
    "ñame",
    "\u{202e}x",
    "a/b",
    "/",
    "1.2.3.4/24",
    "object",
    "\t",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(50_000))]
    #[test]
    fn token_soup_never_panics_and_keeps_the_bounds(words in prop::collection::vec(prop::sample::select(WORDS), 0..14), pre in any::<bool>()) {
        let mut w: Vec<&str> = words;
        if pre { w.insert(0, "capture"); }
        let line = w.join(" ");
        match parse_capture(&line, &|r| r == "acl-drop") {
            Err(e) => { prop_assert!(e.column >= 1 && e.column <= line.chars().count() + 2, "{line:?} col {}", e.column); }
            Ok(CaptureCommand::Define(d)) => {
                prop_assert!((1534..=33_554_432).contains(&d.buffer_bytes) || d.bare);
                prop_assert!((14..=1522).contains(&d.packet_length_bytes));
                prop_assert!(d.name.len() <= 32);
                if let CaptureFilter::Match(m) = &d.filter
                    && (m.source_port.is_some() || m.destination_port.is_some())
                {
                    prop_assert!(matches!(m.protocol, rampart_asa::ast::Protocol::Number(6 | 17 | 132)), "{line}");
                }
            }
            Ok(_) => {}
        }
    }
}
