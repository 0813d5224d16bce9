//! ICMP echo under `inspect icmp`: one reply per request.

use super::*;

/// docs/asa-behaviour.md §2.5: one reply per request, as the ASA's ICMP
/// inspection passes them ("only one response for each request", with
/// the sequence number checked): a second reply to a request, or a reply
/// to a sequence number nobody asked for, is dropped while the flow lives.
/// Replies may come out of order; each request is answered once.
#[test]
fn echo_passes_one_reply_per_request() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let req = |seq| echo_frame(&c, &s, 9, seq, false);
    let rep = |seq| echo_frame(&s, &c, 9, seq, true);
    assert_eq!(h.frame(req(1), c.iface), FWD_OUT);
    assert_eq!(h.frame(rep(1), s.iface), FWD_IN);
    let mismatch = Verdict::Drop(DropReason::IcmpSeqMismatch);
    assert_eq!(h.frame(rep(1), s.iface), mismatch, "a second reply");
    assert_eq!(h.frame(rep(2), s.iface), mismatch, "never requested");
    for seq in 2..=4 {
        assert_eq!(h.frame(req(seq), c.iface), FWD_OUT);
    }
    for seq in [4, 2, 3] {
        assert_eq!(h.frame(rep(seq), s.iface), FWD_IN, "{seq}");
    }
    assert_eq!(h.frame(rep(3), s.iface), mismatch);
    assert_eq!(h.dropped(DropReason::IcmpSeqMismatch), 3);
    let e = h
        .engine
        .find(&m_tuple(&c, &s), h.now)
        .expect("the flow lives");
    let ProtoState::IcmpEcho(seqs) = e.proto else {
        panic!("an echo flow: {:?}", e.proto);
    };
    assert_eq!((seqs.newest, seqs.outstanding()), (4, 0));
    // Asked again before its reply, a request asks nothing new: one reply.
    assert_eq!(h.frame(req(5), c.iface), FWD_OUT);
    assert_eq!(h.frame(req(5), c.iface), FWD_OUT);
    assert_eq!(h.frame(rep(5), s.iface), FWD_IN);
    assert_eq!(h.frame(rep(5), s.iface), mismatch);
    // Asked again after it (a probe that always sends one sequence
    // number): a new flow, as the ASA's connection per request ended with
    // its reply; its reply passes, once.
    let reopened = h.engine.counters().conns_removed[RemoveReason::Reopen as usize];
    assert_eq!(h.frame(req(5), c.iface), FWD_OUT);
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::Reopen as usize],
        reopened + 1
    );
    assert_eq!(h.frame(rep(5), s.iface), FWD_IN);
    assert_eq!(h.frame(rep(5), s.iface), mismatch);
}

/// The tuple of an echo request from `c` to `s` with identifier 9.
fn m_tuple(c: &Host, s: &Host) -> crate::flow::Tuple {
    let frame = echo_frame(c, s, 9, 1, false);
    match crate::packet::parse(&frame, crate::packet::PacketMeta::default()) {
        Ok(crate::packet::Parsed::Ip { tuple, .. }) => tuple,
        other => panic!("an echo request parses: {other:?}"),
    }
}

/// The sequence numbers the echo flow from `c` to `s` (identifier 9)
/// holds.
fn echo_seqs(h: &Harness, c: &Host, s: &Host) -> crate::conntrack::echo::EchoSeqs {
    let e = h
        .engine
        .find(&m_tuple(c, s), h.now)
        .expect("the flow lives");
    let ProtoState::IcmpEcho(seqs) = e.proto else {
        panic!("an echo flow: {:?}", e.proto);
    };
    seqs
}

/// A flow remembers the 64 newest sequence numbers of its identifier; a
/// request far behind them (a new `ping` reusing the identifier, its
/// numbering started again) replaces the flow with a new one, whose
/// replies pass, rather than being refused until the old flow idles out
/// (which its own requests would never let happen).
#[test]
fn a_request_far_behind_the_window_starts_a_new_flow() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let req = |seq| echo_frame(&c, &s, 9, seq, false);
    let rep = |seq| echo_frame(&s, &c, 9, seq, true);
    assert_eq!(h.frame(req(1_000), c.iface), FWD_OUT);
    assert_eq!(h.frame(req(1_063), c.iface), FWD_OUT);
    // 1,000 is the oldest the window still holds.
    assert_eq!(h.frame(rep(1_000), s.iface), FWD_IN);
    assert_eq!(h.frame(req(1_064), c.iface), FWD_OUT);
    assert_eq!(
        h.frame(rep(1_001), s.iface),
        Verdict::Drop(DropReason::IcmpSeqMismatch),
        "requested, but fallen out of the window: never passes"
    );
    let before = h.engine.counters().conns_removed[RemoveReason::Reopen as usize];
    assert_eq!(h.frame(req(1), c.iface), FWD_OUT);
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::Reopen as usize],
        before + 1
    );
    assert_eq!(h.frame(rep(1), s.iface), FWD_IN);
    assert_eq!(
        h.frame(rep(1_064), s.iface),
        Verdict::Drop(DropReason::IcmpSeqMismatch),
        "the old flow's request went with it"
    );
}

/// A request that would start a new flow on the identifier replaces the
/// old flow only if the rules let it open the new one: after a policy
/// change that denies it (or for a forged request on the identifier) the
/// old flow stays, and its outstanding request's reply still passes.
#[test]
fn a_denied_request_leaves_the_flow_it_would_replace() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let req = |seq| echo_frame(&c, &s, 9, seq, false);
    let rep = |seq| echo_frame(&s, &c, 9, seq, true);
    assert_eq!(h.frame(req(1_000), c.iface), FWD_OUT);
    let mut deny = crate::policy::parse::parse_config(
        "access-list IN extended deny icmp any any\naccess-list IN extended permit ip any any\naccess-group IN in interface inside\n",
    )
    .unwrap()
    .config;
    crate::policy::compile::disable_randomization(&mut deny);
    crate::policy::compile::inspect_icmp(&mut deny);
    h.install(deny);
    assert_eq!(h.frame(req(1), c.iface), Verdict::Drop(DropReason::AclDeny));
    assert_eq!(
        h.engine.counters().conns_removed[RemoveReason::Reopen as usize],
        0
    );
    assert_eq!(h.frame(rep(1_000), s.iface), FWD_IN, "the old flow lives");
}

/// A running `ping` does not outlive an access-list change that denies
/// it. The ASA's connection for each request ends with its reply
/// (docs/asa-behaviour.md §2.5), so its next request is judged by the
/// rules in force: each request that asks a new sequence number is
/// checked here as one that opened the flow would be. A reply to a
/// request made before the change still passes, as the ASA keeps a
/// connection the new rules would not open; a request asked again
/// before its reply asks nothing new.
#[test]
fn a_running_ping_stops_at_an_access_list_that_denies_it() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let req = |seq| echo_frame(&c, &s, 9, seq, false);
    let rep = |seq| echo_frame(&s, &c, 9, seq, true);
    assert_eq!(h.frame(req(1), c.iface), FWD_OUT);
    assert_eq!(h.frame(rep(1), s.iface), FWD_IN);
    assert_eq!(h.frame(req(2), c.iface), FWD_OUT);
    let mut deny = crate::policy::parse::parse_config(
        "access-list IN extended deny icmp any any\naccess-list IN extended permit ip any any\naccess-group IN in interface inside\n",
    )
    .unwrap()
    .config;
    crate::policy::compile::disable_randomization(&mut deny);
    crate::policy::compile::inspect_icmp(&mut deny);
    h.install(deny);
    let denied = Verdict::Drop(DropReason::AclDeny);
    for seq in [3, 4, 1_000] {
        assert_eq!(h.frame(req(seq), c.iface), denied, "{seq}");
    }
    assert_eq!(
        h.frame(req(2), c.iface),
        FWD_OUT,
        "asked again before its reply"
    );
    assert_eq!(
        h.frame(rep(2), s.iface),
        FWD_IN,
        "requested before the change"
    );
    assert_eq!(
        h.frame(rep(3), s.iface),
        Verdict::Drop(DropReason::IcmpSeqMismatch),
        "the denied request was not recorded"
    );
    let seqs = echo_seqs(&h, &c, &s);
    assert_eq!((seqs.newest, seqs.outstanding()), (2, 0));
}

/// Without `inspect icmp` echo is stateless (docs/asa-behaviour.md §2.5):
/// once a policy drops the inspection, a running ping's new requests and
/// their replies are judged by the access rules alone, as if no flow were
/// there. Here the rules let requests out and no reply in.
#[test]
fn a_running_ping_is_judged_statelessly_once_inspection_is_removed() {
    let mut h = Harness::inspecting_icmp();
    let (c, s) = v4_pair(0, 0);
    let req = |seq| echo_frame(&c, &s, 9, seq, false);
    let rep = |seq| echo_frame(&s, &c, 9, seq, true);
    assert_eq!(h.frame(req(1), c.iface), FWD_OUT);
    assert_eq!(h.frame(req(2), c.iface), FWD_OUT);
    h.install(crate::policy::compile::randomization_off());
    assert_eq!(h.frame(req(3), c.iface), FWD_OUT, "inside to outside");
    assert_eq!(
        h.frame(rep(1), s.iface),
        FWD_IN,
        "requested under inspection"
    );
    assert_eq!(
        h.frame(rep(3), s.iface),
        Verdict::Drop(DropReason::AclDeny),
        "a reply the rules judge alone: outside to inside"
    );
    assert_eq!(
        echo_seqs(&h, &c, &s).newest,
        2,
        "the stateless request was not recorded"
    );
}
