//! ICMP types and codes in the access rules (docs/asa-behaviour.md §2.1,
//! §2.5): untracked ICMP is judged per packet with its type and code, so
//! `permit icmp any any echo-reply` on the outside lets replies in and
//! nothing else; an inspected echo's reply passes by its flow.

use super::*;
use crate::trace::v6_pair;

/// `h` with the policy `text` (randomization off, as the harness has it).
fn with_text(text: &str) -> Harness {
    let mut cfg = crate::policy::parse::parse_config(text).unwrap().config;
    crate::policy::compile::disable_randomization(&mut cfg);
    let mut h = Harness::new();
    h.install(cfg);
    h
}

/// An ICMP message of type `t` and code `c` from `src` to `dst`, with
/// `body` after its 8-byte header (zeros for the rest of the header).
fn icmp_frame(
    src: &crate::trace::Host,
    dst: &crate::trace::Host,
    t: u8,
    c: u8,
    body: &[u8],
) -> Vec<u8> {
    let l2 = etherparse::PacketBuilder::ethernet2(src.mac, dst.mac);
    let mut out = Vec::new();
    match (src.ip, dst.ip) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => l2
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4_raw(t, c, [0; 4])
            .write(&mut out, body),
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => l2
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6_raw(t, c, [0; 4])
            .write(&mut out, body),
        _ => panic!("one family"),
    }
    .unwrap();
    out
}

/// An echo request (`reply` false) or reply with code `code`.
fn echo_with_code(
    src: &crate::trace::Host,
    dst: &crate::trace::Host,
    reply: bool,
    code: u8,
) -> Vec<u8> {
    let v6 = src.ip.is_ipv6();
    let t = match (v6, reply) {
        (false, false) => 8,
        (false, true) => 0,
        (true, false) => 128,
        (true, true) => 129,
    };
    let mut f = icmp_frame(src, dst, t, code, &[0; 16]);
    // Identifier 9, sequence 1, where the header's last four bytes are.
    let at = if v6 { 14 + 40 + 4 } else { 14 + 20 + 4 };
    f[at..at + 4].copy_from_slice(&[0, 9, 0, 1]);
    f
}

/// The outside's `permit icmp any any echo-reply`, without `inspect
/// icmp`: each reply is judged on its own and passes; a request from the
/// outside, and every other type, meet the implicit deny. Before, the
/// line was refused, and without its type it let every ICMP message in.
#[test]
fn an_echo_reply_permit_passes_replies_not_requests() {
    let mut h = with_text(
        "access-list OUT extended permit icmp any any echo-reply\n\
         access-list OUT extended permit icmp6 any any echo-reply\n\
         access-group OUT in interface outside\n",
    );
    for (c, s) in [v4_pair(0, 0), v6_pair(0, 0)] {
        assert_eq!(h.frame(echo_frame(&c, &s, 9, 1, false), c.iface), FWD_OUT);
        assert_eq!(h.frame(echo_frame(&s, &c, 9, 1, true), s.iface), FWD_IN);
        assert_eq!(
            h.frame(echo_frame(&s, &c, 9, 1, false), s.iface),
            Verdict::Drop(DropReason::AclDeny),
            "a request from the outside"
        );
        // Timestamp, redirect, router advertisement; router
        // solicitation and advertisement, listener query.
        let others: [u8; 3] = if c.ip.is_ipv6() {
            [133, 134, 130]
        } else {
            [13, 5, 9]
        };
        for t in others {
            assert_eq!(
                h.frame(icmp_frame(&s, &c, t, 0, &[0; 8]), s.iface),
                Verdict::Drop(DropReason::AclDeny),
                "type {t}"
            );
        }
    }
    assert_eq!(h.engine.table().len(), 0, "nothing is tracked");
}

/// An entry with a code passes that code only: `unreachable 4` (the
/// fragmentation-needed message path MTU discovery lives on) passes, a
/// port unreachable does not, both judged by the rules without `inspect
/// icmp error`; an echo reply of another code than the entry's is denied.
#[test]
fn a_code_specific_entry_passes_only_that_code() {
    let mut h = with_text(
        "access-list OUT extended permit icmp any any unreachable 4\n\
         access-list OUT extended permit icmp any any echo-reply 0\n\
         access-list OUT extended permit icmp any any timestamp-reply\n\
         access-group OUT in interface outside\n",
    );
    let (c, s) = v4_pair(4444, 5555);
    let probe = udp_frame(&c, &s, b"probe");
    assert_eq!(h.frame(probe.clone(), c.iface), FWD_OUT);
    let unreachable = |code| icmp_frame(&s, &c, 3, code, &probe[14..14 + 28]);
    assert_eq!(h.frame(unreachable(4), s.iface), FWD_IN);
    assert_eq!(
        h.frame(unreachable(3), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(h.engine.counters().icmp_related_passed, 0, "by the rules");
    assert_eq!(h.frame(echo_with_code(&s, &c, true, 0), s.iface), FWD_IN);
    assert_eq!(
        h.frame(echo_with_code(&s, &c, true, 1), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
    assert_eq!(
        h.frame(icmp_frame(&s, &c, 14, 0, &[0; 12]), s.iface),
        FWD_IN
    );
    assert_eq!(
        h.frame(icmp_frame(&s, &c, 14, 1, &[0; 12]), s.iface),
        FWD_IN,
        "no code named: every code"
    );
    assert_eq!(
        h.frame(icmp_frame(&s, &c, 13, 0, &[0; 12]), s.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
}

/// With `inspect icmp` the request is what the rules judge: an inside
/// access-list that permits only `echo` opens the flow, whose reply
/// passes by it; an echo reply from the inside that no request opened a
/// flow for is dropped by the inspection.
#[test]
fn an_inspected_echo_is_judged_by_its_request() {
    let mut h = with_text(
        "access-list IN extended permit icmp any any echo\n\
         access-group IN in interface inside\n\
         policy-map global_policy\n class class-default\n  inspect icmp\n\
         service-policy global_policy global\n",
    );
    let (c, s) = v4_pair(0, 0);
    assert_eq!(h.frame(echo_frame(&c, &s, 9, 1, false), c.iface), FWD_OUT);
    assert_eq!(h.engine.table().len(), 1);
    assert_eq!(h.frame(echo_frame(&s, &c, 9, 1, true), s.iface), FWD_IN);
    assert_eq!(
        h.frame(echo_frame(&c, &s, 10, 1, true), c.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
    // The list names echo only: a timestamp request is denied.
    assert_eq!(
        h.frame(icmp_frame(&c, &s, 13, 0, &[0; 12]), c.iface),
        Verdict::Drop(DropReason::AclDeny)
    );
}

/// An ICMP error about a connection is judged by the connection under
/// `inspect icmp error`, whatever type the access-list names: a deny of
/// `unreachable` on the outside does not stop the error about a live flow
/// (docs/asa-behaviour.md §2.5), and without the inspection it does.
#[test]
fn an_inspected_error_is_judged_by_its_connection_not_its_type() {
    let text = "access-list OUT extended deny icmp any any unreachable\n\
                access-list OUT extended permit icmp any any\n\
                access-group OUT in interface outside\n";
    let inspect = "policy-map global_policy\n class class-default\n  inspect icmp error\n\
                   service-policy global_policy global\n";
    for (inspected, want) in [(true, FWD_IN), (false, Verdict::Drop(DropReason::AclDeny))] {
        let mut h = with_text(&format!("{text}{}", if inspected { inspect } else { "" }));
        let (c, s) = v4_pair(4444, 5555);
        let probe = udp_frame(&c, &s, b"probe");
        assert_eq!(h.frame(probe.clone(), c.iface), FWD_OUT);
        let err = icmpv4_unreachable_frame(&s, &c, &probe);
        assert_eq!(h.frame(err, s.iface), want, "inspected: {inspected}");
        let quench = icmp_frame(&s, &c, 4, 0, &probe[14..14 + 28]);
        assert_eq!(
            h.frame(quench, s.iface),
            FWD_IN,
            "source quench: the rules'"
        );
    }
}

/// Random typed and untyped icmp and icmp6 entries (some with
/// object-groups and service objects) against random ICMP messages of
/// both families from the outside, without inspection: the engine's
/// verdict is the first matching entry's, by a linear reference.
mod differential {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct E {
        permit: bool,
        v6: bool,
        ty: Option<u8>,
        code: Option<u8>,
        form: u8,
    }

    fn entry() -> impl Strategy<Value = E> {
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(prop_oneof![
                Just(0u8),
                Just(8),
                Just(128),
                Just(129),
                Just(13),
                Just(130),
                0u8..=255
            ]),
            proptest::option::of(0u8..3),
            0u8..3,
        )
            .prop_map(|(permit, v6, ty, code, form)| E {
                permit,
                v6,
                code: ty.and(code),
                ty,
                form,
            })
    }

    fn text(es: &[E]) -> String {
        let mut defs = String::new();
        let mut acl = String::new();
        for (i, e) in es.iter().enumerate() {
            let fam = if e.v6 { "icmp6" } else { "icmp" };
            let action = if e.permit { "permit" } else { "deny" };
            let tc = match (e.ty, e.code) {
                (Some(t), Some(c)) => format!(" {t} {c}"),
                (Some(t), None) => format!(" {t}"),
                _ => String::new(),
            };
            match (e.form, e.ty) {
                // A service object.
                (1, _) => {
                    defs.push_str(&format!("object service S{i}\n service {fam}{tc}\n"));
                    acl.push_str(&format!(
                        "access-list OUT extended {action} object S{i} any any\n"
                    ));
                }
                // A service group, nested once.
                (2, _) => {
                    defs.push_str(&format!(
                        "object-group service I{i}\n service-object {fam}{tc}\nobject-group service G{i}\n group-object I{i}\n"
                    ));
                    acl.push_str(&format!(
                        "access-list OUT extended {action} object-group G{i} any any\n"
                    ));
                }
                _ => acl.push_str(&format!(
                    "access-list OUT extended {action} {fam} any any{tc}\n"
                )),
            }
        }
        format!("{defs}{acl}access-group OUT in interface outside\n")
    }

    /// The reference: the first entry of the packet's family whose type
    /// and code match.
    fn reference(es: &[E], v6: bool, t: u8, c: u8) -> bool {
        es.iter()
            .find(|e| e.v6 == v6 && e.ty.is_none_or(|x| x == t) && e.code.is_none_or(|x| x == c))
            .is_some_and(|e| e.permit)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn engine_verdicts_follow_the_first_matching_typed_entry(
            es in proptest::collection::vec(entry(), 1..6),
            packets in proptest::collection::vec((any::<bool>(), prop_oneof![Just(0u8), Just(8), Just(128), Just(129), Just(13), Just(130), any::<u8>()], 0u8..3), 1..12),
        ) {
            let mut h = with_text(&text(&es));
            for (v6, t, c) in packets {
                // Errors are judged by what they quote, ND passes untracked.
                let error = if v6 { (1..=4).contains(&t) } else { matches!(t, 3 | 11 | 12) };
                if error || (v6 && matches!(t, 135 | 136)) {
                    continue;
                }
                let (cl, s) = if v6 { v6_pair(0, 0) } else { v4_pair(0, 0) };
                let mut f = icmp_frame(&s, &cl, t, c, &[0; 16]);
                let _ = &mut f;
                let want = if reference(&es, v6, t, c) {
                    FWD_IN
                } else {
                    Verdict::Drop(DropReason::AclDeny)
                };
                let got = h.frame(f, s.iface);
                prop_assert_eq!(got, want, "{} v6={} t={} c={}", text(&es), v6, t, c);
            }
        }
    }
}
