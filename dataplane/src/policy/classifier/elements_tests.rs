//! The classifier's elements (an entry over object-groups is one rule of
//! several atoms, each an element `show access-list` counts) against a
//! linear first-match scan: the first matching rule and, of its atoms, the
//! first that matches, over both families, prefixes and ranges, port ranges
//! both ways, atoms no packet can match and rules that match nothing but
//! keep their elements' numbers (an entry out of its time-range).

use super::*;
use proptest::prelude::*;
use std::net::IpAddr;

/// An address of a model atom: independent of the classifier's own
/// encoding (families as `IpAddr`s, ranges as inclusive pairs).
#[derive(Debug, Clone, Copy)]
enum ModelAddr {
    Any,
    Any4,
    Any6,
    Net(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

fn model_ip(v6: bool, c: u8, d: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            u16::from(c),
            u16::from(d),
        ))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(198, 18, c, d))
    }
}

fn model_key(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

impl ModelAddr {
    fn span(self) -> Option<AddrSpan> {
        match self {
            ModelAddr::Any => Some(AddrSpan::ANY),
            ModelAddr::Any4 => Some(AddrSpan::of(AddrPrefix::ANY4)),
            ModelAddr::Any6 => Some(AddrSpan::of(AddrPrefix::ANY6)),
            ModelAddr::Net(ip, len) => Some(AddrSpan::of(AddrPrefix::new(ip, len))),
            ModelAddr::Range(a, b) => AddrSpan::range(a, b),
        }
    }
    fn holds(self, ip: IpAddr) -> bool {
        let (f, x) = model_key(ip);
        match self {
            ModelAddr::Any => true,
            ModelAddr::Any4 => !f,
            ModelAddr::Any6 => f,
            ModelAddr::Net(n, len) => {
                let (g, y) = model_key(n);
                let width = if g { 128 } else { 32 };
                let len = u32::from(len).min(width);
                let shift = width - len;
                g == f && (shift == 128 || ((x ^ y) >> shift) == 0)
            }
            ModelAddr::Range(a, b) => {
                let ((g, lo), (_, hi)) = (model_key(a), model_key(b));
                g == f && (lo..=hi).contains(&x)
            }
        }
    }
}

fn model_addr() -> impl Strategy<Value = ModelAddr> {
    let ip = (any::<bool>(), 0u8..3, 0u8..4).prop_map(|(f, c, d)| model_ip(f, c, d));
    prop_oneof![
        Just(ModelAddr::Any),
        Just(ModelAddr::Any4),
        Just(ModelAddr::Any6),
        (
            ip.clone(),
            prop_oneof![
                Just(0u8),
                Just(16),
                Just(24),
                Just(30),
                Just(32),
                Just(64),
                Just(120),
                Just(126),
                Just(128)
            ]
        )
            .prop_map(|(a, l)| ModelAddr::Net(a, l)),
        (any::<bool>(), 0u8..3, 0u8..4, 0u8..3, 0u8..4).prop_map(|(f, c, d, c2, d2)| {
            let (a, b) = (model_ip(f, c, d), model_ip(f, c2, d2));
            let (a, b) = if model_key(a) <= model_key(b) {
                (a, b)
            } else {
                (b, a)
            };
            ModelAddr::Range(a, b)
        }),
    ]
}

/// One model atom: family restriction, protocol, addresses, sport and
/// dport ranges.
type ModelAtom = (
    Option<bool>,
    Option<u8>,
    ModelAddr,
    ModelAddr,
    (u16, u16),
    (u16, u16),
);

fn model_ports() -> impl Strategy<Value = (u16, u16)> {
    prop_oneof![
        Just((0u16, u16::MAX)),
        (0u16..40, 0u16..40).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn model_atom() -> impl Strategy<Value = ModelAtom> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(prop_oneof![Just(6u8), Just(17u8)]),
        model_addr(),
        model_addr(),
        model_ports(),
        model_ports(),
    )
}

fn model_matches(
    a: &ModelAtom,
    v6: bool,
    proto: u8,
    s: IpAddr,
    d: IpAddr,
    sp: u16,
    dp: u16,
) -> bool {
    let (fam, p, sa, da, (slo, shi), (dlo, dhi)) = *a;
    fam.is_none_or(|f| f == v6)
        && p.is_none_or(|p| p == proto)
        && sa.holds(s)
        && da.holds(d)
        && (slo..=shi).contains(&sp)
        && (dlo..=dhi).contains(&dp)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Elements agree with a linear scan over rules of many atoms of
    /// both families (any, any4, any6, IPv4 and IPv6 prefixes and
    /// ranges), source and destination port ranges, atoms no packet
    /// can match (numbered, never returned) and rules matching nothing
    /// that keep their elements' numbers (an entry out of its
    /// time-range).
    #[test]
    fn elements_agree_with_linear_scan_both_families(
        rules in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(model_atom(), 0..5)),
            0..30,
        ),
        probes in proptest::collection::vec(
            (any::<bool>(), prop_oneof![Just(6u8), Just(17u8), Just(1u8)], 0u8..3, 0u8..4, 0u8..3, 0u8..4, 0u16..40, 0u16..40),
            1..60,
        ),
    ) {
        let mut b = ClassifierBuilder::new();
        for (nothing, atoms) in &rules {
            let built: Vec<Atom> = atoms
                .iter()
                .map(|(fam, proto, s, d, (slo, shi), (dlo, dhi))| Atom {
                    v6: *fam,
                    proto: *proto,
                    src: s.span().expect("ordered"),
                    dst: d.span().expect("ordered"),
                    sport: PortSpan::range(*slo, *shi).expect("ordered"),
                    dport: PortSpan::range(*dlo, *dhi).expect("ordered"),
                })
                .collect();
            if *nothing {
                b.push_rule_matching_nothing(built.len());
            } else {
                b.push_rule(built);
            }
        }
        let c = b.build();
        prop_assert_eq!(c.elements(), rules.iter().map(|(_, a)| a.len()).sum::<usize>());
        for (v6, proto, c1, d1, c2, d2, sp, dp) in probes {
            let (s, d) = (model_ip(v6, c1, d1), model_ip(v6, c2, d2));
            let p = Probe {
                v6,
                proto,
                src: Addr(match s { IpAddr::V4(a) => a.to_ipv6_mapped().octets(), IpAddr::V6(a) => a.octets() }),
                dst: Addr(match d { IpAddr::V4(a) => a.to_ipv6_mapped().octets(), IpAddr::V6(a) => a.octets() }),
                sport: sp,
                dport: dp,
            };
            let mut want = None;
            let mut element = 0u32;
            'rules: for (r, (nothing, atoms)) in rules.iter().enumerate() {
                for a in atoms {
                    if !*nothing && model_matches(a, v6, proto, s, d, sp, dp) {
                        want = Some((r as u32, element));
                        break 'rules;
                    }
                    element += 1;
                }
            }
            prop_assert_eq!(c.first_match_element(&p), want, "probe {:?}", p);
            prop_assert_eq!(c.first_match(&p), want.map(|(r, _)| r));
        }
    }
}
