//! In a cluster, a packet no entry here holds waits for a peer's state
//! only where the rules could have let its connection open
//! (docs/sync.md §4). With ICMP types in the rules, the question for an
//! echo reply is the request the other way (ICMP 8 for a reply 0), never
//! the reply with its addresses swapped; for an error quoting an echo, the
//! request each way, never the quoted identifier taken for a type.

mod common;

use std::time::Duration;

use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::trace::{echo_frame, icmpv4_unreachable_frame, v4_pair};
use rampart_dataplane::verdict::DropReason;
use rampart_dataplane::{Engine, Instant, Verdict};

/// A syncing node with the policy `text` and `inspect icmp` (and `inspect
/// icmp error`).
fn node(text: &str) -> Engine {
    let mut e = common::synced_node(2, Duration::ZERO, 1);
    let text = format!(
        "{text}policy-map global_policy\n class class-default\n  inspect icmp\n  inspect icmp error\n\
         service-policy global_policy global\n"
    );
    let cfg = rampart_dataplane::policy::parse::parse_config(&text)
        .expect("parses")
        .config;
    let policy = rampart_dataplane::policy::compile::compile(&cfg, &e.config().interfaces)
        .expect("compiles");
    e.set_policy(std::sync::Arc::new(policy))
        .expect("the policy's classes fit");
    e
}

const NOW: u64 = 1_700_000_000;

fn send(e: &mut Engine, mut frame: Vec<u8>, iface: rampart_dataplane::IfaceId) -> Verdict {
    e.process(
        &mut frame,
        PacketMeta::default(),
        iface,
        Instant::from_secs(NOW),
    )
}

/// An echo reply from the outside that no flow here holds waits for a
/// peer's state when the inside's rules permit the request it answers,
/// and is dropped at once when they permit only replies.
#[test]
fn an_echo_reply_waits_when_its_request_could_have_passed() {
    let (c, s) = v4_pair(0, 0);
    let reply = || echo_frame(&s, &c, 7, 1, true);
    let mut e = node(
        "access-list IN extended permit icmp any any echo\n\
         access-group IN in interface inside\n",
    );
    assert_eq!(send(&mut e, reply(), s.iface), Verdict::Hold);
    let mut e = node(
        "access-list IN extended permit icmp any any echo-reply\n\
         access-list IN extended permit tcp any any\n\
         access-group IN in interface inside\n",
    );
    assert_eq!(
        send(&mut e, reply(), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
}

/// An error from the outside quoting an echo request the inside sent
/// (and no flow here holds) waits when the inside's rules permit that
/// request, and is dropped at once when they permit only echo replies:
/// the quote's "ports" are its identifier, not a type.
#[test]
fn an_error_quoting_an_echo_waits_when_the_request_could_have_passed() {
    let (c, s) = v4_pair(0, 0);
    let error = || icmpv4_unreachable_frame(&s, &c, &echo_frame(&c, &s, 0, 1, false));
    let mut e = node(
        "access-list IN extended permit icmp any any echo\n\
         access-group IN in interface inside\n",
    );
    assert_eq!(send(&mut e, error(), s.iface), Verdict::Hold);
    let mut e = node(
        "access-list IN extended permit icmp any any echo-reply\n\
         access-list IN extended permit tcp any any\n\
         access-group IN in interface inside\n",
    );
    assert_eq!(
        send(&mut e, error(), s.iface),
        Verdict::Drop(DropReason::IcmpNoConnection)
    );
}
