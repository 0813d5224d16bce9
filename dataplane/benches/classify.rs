//! Policy classification cost for new connections as the ACL grows: a
//! permit/deny decision through a 10-rule and a 10,000-rule access-list
//! (first match near the end, so a linear scan would pay for every rule),
//! through 2,000 entries of address and port ranges (IPv4 and IPv6
//! ranges that are not aligned blocks: checked after their covering
//! prefix), a packet that matches nothing in access-lists at the lookup
//! bounds (512 subtables; 1,024 range checks), and the compile time of
//! the 10,000-rule policy. Fixed seeds throughout.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::flow::Addr;
use rampart_dataplane::policy::ast::*;
use rampart_dataplane::policy::classifier::Probe;
use rampart_dataplane::policy::compile::{Policy, compile};
use rampart_dataplane::{EngineConfig, IfaceId};

/// An ACL of `n` rules in the shapes real ones use: host and /24
/// destinations, `eq` and `range` ports, a few sources; the last rule is a
/// catch-all deny so every probe finds a match.
fn config(n: usize) -> Config {
    let mut lines = Vec::with_capacity(n);
    for i in 0..n - 1 {
        let third = (i / 250) as u8;
        let fourth = (i % 250) as u8 + 1;
        let (dst, port) = match i % 4 {
            0 => (
                AddrSpec::Host(Ipv4Addr::new(198, 18, third, fourth).into()),
                PortMatch::Eq(443),
            ),
            1 => (
                AddrSpec::V4Net(
                    Ipv4Addr::new(198, 19, third, 0),
                    Ipv4Addr::new(255, 255, 255, 0),
                ),
                PortMatch::Eq(80 + (i % 7) as u16),
            ),
            2 => (
                AddrSpec::Host(Ipv4Addr::new(198, 18, third, fourth).into()),
                PortMatch::Range(8000, 8099),
            ),
            _ => (
                AddrSpec::Host(Ipv4Addr::new(198, 18, third, fourth).into()),
                PortMatch::Eq(22),
            ),
        };
        let source = if i % 10 == 0 {
            AddrSpec::V4Net(
                Ipv4Addr::new(198, 18, 200, 0),
                Ipv4Addr::new(255, 255, 255, 0),
            )
        } else {
            AddrSpec::Any
        };
        lines.push(AclLine::Ace(Ace {
            action: if i % 5 == 4 {
                Action::Deny
            } else {
                Action::Permit
            },
            protocol: ProtoSpec::Protocol(Protocol::Number(6)),
            source,
            source_port: None,
            destination: dst,
            destination_port: Some(PortSpec::Match(port)),
            icmp: None,
            log: AceLog::Default,
            time_range: None,
            inactive: false,
        }));
    }
    lines.push(AclLine::Ace(Ace {
        action: Action::Deny,
        protocol: ProtoSpec::Protocol(Protocol::Ip),
        source: AddrSpec::Any,
        source_port: None,
        destination: AddrSpec::Any,
        destination_port: None,
        icmp: None,
        log: AceLog::Default,
        time_range: None,
        inactive: false,
    }));
    Config {
        access_lists: vec![AccessList {
            name: "OUTSIDE_IN".into(),
            lines,
        }],
        access_groups: vec![AccessGroup {
            acl: "OUTSIDE_IN".into(),
            interface: "outside".into(),
        }],
        ..Config::default()
    }
}

/// 2,000 entries, each from any to an address range that is not one
/// aligned block, half IPv4 (`198.18.X.10`–`198.18.X.200`, ports
/// 1024–65535) and half IPv6 (`2001:db8:X::1`–`2001:db8:X::fffe`, ports
/// 8000–8099), then a catch-all deny.
fn range_policy() -> Policy {
    let mut text = String::new();
    for i in 0..1000 {
        text += &format!(
            "object network V4R{i}\n range 198.18.{a}.10 198.18.{a}.200\n\
             object network V6R{i}\n range 2001:db8:{i:x}::1 2001:db8:{i:x}::fffe\n",
            a = i % 250
        );
    }
    for i in 0..1000 {
        text += &format!(
            "access-list OUTSIDE_IN extended permit tcp any object V4R{i} range {lo} 65535\n\
             access-list OUTSIDE_IN extended permit tcp any object V6R{i} range 8000 8099\n",
            lo = 1024 + i
        );
    }
    text += "access-list OUTSIDE_IN extended deny ip any any\n\
             access-group OUTSIDE_IN in interface outside\n";
    let cfg = rampart_dataplane::policy::parse_config(&text)
        .expect("parses")
        .config;
    let ifaces = EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces;
    compile(&cfg, &ifaces).expect("compiles")
}

/// Probes into the range policy: IPv4 inside and outside the ranges'
/// ports, IPv6 inside and outside the ranges.
fn range_probes() -> Vec<Probe> {
    (0..1024u32)
        .map(|i| {
            if i % 2 == 0 {
                Probe {
                    v6: false,
                    proto: 6,
                    src: Addr::v4([203, 0, 113, (i % 250) as u8]),
                    dst: Addr::v4([198, 18, (i % 250) as u8, (i % 240) as u8]),
                    sport: 40_000,
                    dport: [1500, 2100, 443][(i % 3) as usize],
                }
            } else {
                let mut dst = [0u8; 16];
                dst[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, (i >> 8) as u8, i as u8]);
                dst[15] = (i % 3) as u8;
                Probe {
                    v6: true,
                    proto: 6,
                    src: Addr::v6([
                        0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                    ]),
                    dst: Addr::v6(dst),
                    sport: 40_000,
                    dport: [8050, 8100][(i % 2) as usize],
                }
            }
        })
        .collect()
}

/// An access-list of `shapes` subtables (a destination prefix length and
/// a source port block size each, all holding 10.0.0.1 and port 40000),
/// each entry's destination ports given by `dports` (one entry per item):
/// the worst lookups the bounds allow, for a packet from port 40000 to
/// 10.0.0.1 port 65535 that every key holds and no entry matches.
fn bound_policy(shapes: usize, dports: &[&str]) -> Policy {
    let mut text = String::new();
    for (d, l) in (0..=32u32)
        .flat_map(|d| (0..=16u32).map(move |l| (d, l)))
        .take(shapes)
    {
        let mask = u32::MAX.checked_shl(32 - d).unwrap_or(0);
        let net = Ipv4Addr::from(0x0a00_0001 & mask);
        let size = 1u32 << (16 - l);
        let lo = 40_000 & !(size - 1);
        for dports in dports {
            text += &format!(
                "access-list A extended permit tcp any range {lo} {hi} {net} {m} {dports}\n",
                hi = lo + size - 1,
                m = Ipv4Addr::from(mask)
            );
        }
    }
    text += "access-group A in interface outside\n";
    let cfg = rampart_dataplane::policy::parse_config(&text)
        .expect("parses")
        .config;
    let ifaces = EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces;
    compile(&cfg, &ifaces).expect("within the bounds")
}

fn misses_at_the_bounds(c: &mut Criterion) {
    let probe = Probe {
        v6: false,
        proto: 6,
        src: Addr::v4([203, 0, 113, 1]),
        dst: Addr::v4([10, 0, 0, 1]),
        sport: 40_000,
        dport: 65_535,
    };
    let mut g = c.benchmark_group("acl_miss_at_bounds");
    for (name, shapes, dports) in [
        ("512_subtables", 512, &["eq 1"][..]),
        ("512_subtables_1_check_each", 512, &["range 1 65534"][..]),
        (
            "341_subtables_2_checks_each",
            341,
            &["range 1 65534", "range 2 65533"][..],
        ),
    ] {
        let p = bound_policy(shapes, dports);
        let acl = &p.acls()[0];
        eprintln!(
            "{name}: {} subtables, {} range checks",
            acl.subtables(),
            acl.range_checks()
        );
        assert_eq!(acl.decide(&probe), None, "a miss");
        g.bench_function(name, |b| b.iter(|| acl.decide(black_box(&probe))));
    }
    g.finish();
}

fn policy(n: usize) -> Policy {
    let ifaces = EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces;
    compile(&config(n), &ifaces).expect("compiles")
}

/// Probes that hit rules spread over the whole list, most of them late.
fn probes() -> Vec<Probe> {
    (0..1024u32)
        .map(|i| Probe {
            v6: false,
            proto: 6,
            src: Addr::v4([203, 0, 113, (i % 250) as u8]),
            dst: Addr::v4([198, 18, (i % 40) as u8, (i % 250) as u8 + 1]),
            sport: 40_000,
            dport: [443, 22, 8050, 80, 9999][(i % 5) as usize],
        })
        .collect()
}

fn classification(c: &mut Criterion) {
    let probes = probes();
    let mut g = c.benchmark_group("acl_decision");
    g.throughput(Throughput::Elements(probes.len() as u64));
    for n in [10usize, 10_000] {
        let p = policy(n);
        eprintln!("{n} rules: {} subtables", p.acls()[0].subtables());
        g.bench_function(format!("{n}_rules"), |b| {
            b.iter(|| {
                let mut permitted = 0u32;
                for probe in &probes {
                    permitted += u32::from(p.permits(IfaceId(1), IfaceId(0), black_box(probe)));
                }
                permitted
            })
        });
    }
    let (p, probes) = (range_policy(), range_probes());
    let acl = &p.acls()[0];
    eprintln!(
        "2000 range rules: {} subtables, {} range checks",
        acl.subtables(),
        acl.range_checks()
    );
    g.bench_function("2000_range_rules", |b| {
        b.iter(|| {
            let mut permitted = 0u32;
            for probe in &probes {
                permitted += u32::from(p.permits(IfaceId(1), IfaceId(0), black_box(probe)));
            }
            permitted
        })
    });
    g.finish();

    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    let cfg = config(10_000);
    let ifaces = EngineConfig::inside_outside(NodeId(1), [0; 4]).interfaces;
    g.bench_function("10000_rules", |b| {
        b.iter(|| compile(black_box(&cfg), &ifaces).expect("compiles"))
    });
    g.finish();
}

criterion_group!(benches, classification, misses_at_the_bounds);
criterion_main!(benches);
