//! Bulk resync: what a peer may ask for, and how a starting node gets its
//! share of the tables (docs/sync.md §6).

use super::*;

/// Send `peer`'s bulk request to node 1 of `n`; whether it was accepted,
/// and the bulk dumps it asked node 1 for.
fn ask(n: &mut Net, id: u64, view: Vec<u16>, copies: u8) -> (bool, Vec<(u16, u64, Share)>) {
    let req = wire::encode(&Message::BulkRequest { id, view, copies });
    let ok = n.p[0].on_frame(2, n.conn, &req, T0).is_ok();
    let mut dumps = Vec::new();
    while let Some(o) = n.p[0].poll_output() {
        if let Output::BulkDump { peer, id, share } = o {
            dumps.push((peer, id, share));
        }
    }
    (ok, dumps)
}

/// The review found a bulk request's view taken as is: up to 8,192 ids,
/// any copies up to 255, and every worker then ranked every one of them
/// for each flow of its table. The view must name known nodes only, and
/// the copies stay within the configured limit.
#[test]
fn a_bulk_request_with_a_forged_view_or_copies_is_refused() {
    let mut n = Net::new();
    n.connect();
    let errors = n.p[0].counters().protocol_errors;
    let (ok, dumps) = ask(&mut n, 99, (0..8192).collect(), 1);
    assert!(!ok && dumps.is_empty(), "a view of unknown nodes");
    let (ok, dumps) = ask(&mut n, 100, vec![1, 2, 3], 2);
    assert!(!ok && dumps.is_empty(), "one node this node does not know");
    let max = rampart_dataplane::placement::MAX_COPIES;
    let (ok, dumps) = ask(&mut n, 101, vec![1, 2], max as u8 + 1);
    assert!(!ok && dumps.is_empty(), "more copies than the limit");
    assert_eq!(n.p[0].counters().protocol_errors, errors + 3);
    // A view of known nodes, and copies within the limit, are served.
    let (ok, dumps) = ask(&mut n, 102, vec![1, 2], max as u8);
    assert!(ok);
    assert_eq!(dumps.len(), 1);
    assert_eq!(dumps[0].2.placement.members(), &[1, 2]);
}

/// One dump per peer at a time: a request repeated while its dump runs
/// is ignored (the workers would otherwise start the walk over for each),
/// and the peer may ask again once the dump ended or its connection went.
#[test]
fn a_repeated_bulk_request_is_ignored_while_its_dump_runs() {
    let mut n = Net::new();
    n.connect();
    let (ok, first) = ask(&mut n, 7, vec![1, 2], 2);
    assert!(ok);
    assert_eq!(first.len(), 1);
    let (ok, again) = ask(&mut n, 8, vec![1, 2], 2);
    assert!(ok, "not the peer's fault: its retry may cross the dump");
    assert!(again.is_empty(), "ignored while the first runs");
    assert_eq!(n.p[0].counters().bulk_requests_ignored, 1);
    // A chunk of a dump the peer did not ask for on this connection is
    // not sent.
    n.p[0].bulk_out(2, 8, vec![state(1)], true, 1);
    assert!(n.p[0].poll_output().is_none());
    // The dump ends: the next request is served.
    n.p[0].bulk_out(2, 7, vec![state(1)], true, 1);
    while n.p[0].poll_output().is_some() {}
    let (_, next) = ask(&mut n, 9, vec![1, 2], 2);
    assert_eq!(next.len(), 1, "served once the dump ended");
    // Its connection goes mid-dump: the dump's chunks are no longer sent,
    // and its request on the next connection is served.
    n.cut();
    n.connect();
    n.p[0].bulk_out(2, 9, vec![state(1)], true, 1);
    assert!(
        !std::iter::from_fn(|| n.p[0].poll_output()).any(|o| matches!(o, Output::Send { .. })),
        "a dump for the old connection"
    );
    let (_, after) = ask(&mut n, 10, vec![1, 2], 2);
    assert_eq!(after.len(), 1, "served on the new connection");
}
