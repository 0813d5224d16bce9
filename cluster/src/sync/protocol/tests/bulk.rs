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

/// Node 2 starts with peers 1 and 3 up; `answers` says whether a peer
/// answers a bulk request (with one flow). Runs the timers until the node
/// is ready (or `limit` passes); returns the peers asked, in order, and
/// when it became ready.
fn start_with(
    answers: impl Fn(u16) -> bool,
    limit: Duration,
) -> (Protocol, Vec<u16>, Option<Duration>) {
    let cfg = ProtocolConfig {
        stall_after: Duration::ZERO,
        ..ProtocolConfig::default()
    };
    let mut p = Protocol::new(2, 222, &[1, 2, 3], cfg, T0);
    let mut asked: Vec<u16> = Vec::new();
    // Answers at once, including to the requests the answers lead to.
    let take = |p: &mut Protocol, asked: &mut Vec<u16>, now: Instant| loop {
        let mut replies = Vec::new();
        while let Some(o) = p.poll_output() {
            if let Output::Send { peer, frame } = o
                && let Ok(Message::BulkRequest { id, .. }) = wire::decode(&frame)
            {
                asked.push(peer);
                if answers(peer) {
                    replies.push((peer, id));
                }
            }
        }
        if replies.is_empty() {
            break;
        }
        for (peer, id) in replies {
            let conn = u64::from(peer);
            let chunk = wire::encode(&Message::BulkChunk {
                id,
                flows: vec![state(peer)],
            });
            let end = wire::encode(&Message::BulkEnd { id, flows: 1 });
            p.on_frame(peer, conn, &chunk, now).expect("chunk");
            p.on_frame(peer, conn, &end, now).expect("end");
        }
    };
    for peer in [1u16, 3] {
        let conn = u64::from(peer);
        p.on_peer_up(peer, conn, T0);
        let hello = wire::encode(&Message::Hello {
            node: peer,
            session: u64::from(peer) * 7,
            resume: None,
        });
        p.on_frame(peer, conn, &hello, T0).expect("hello");
    }
    take(&mut p, &mut asked, T0);
    let mut now = T0;
    while !p.is_ready() && now.saturating_since(T0) < limit {
        now = p.poll_timeout().expect("a timer");
        p.handle_timeout(now);
        take(&mut p, &mut asked, now);
    }
    let ready = p.is_ready().then(|| now.saturating_since(T0));
    (p, asked, ready)
}

/// The review found that a peer that is up but never answers (its driver
/// wedged, or hostile) was asked again and again, always first (the lowest
/// wanted id), so the healthy peer was never asked: the node stayed not
/// ready for 12 × 30 s and then went ready with no table at all. Now the
/// peer that failed least is asked next, and once the silent one failed
/// `bulk_peer_tries` times the node is ready on the table it got.
#[test]
fn a_silent_lowest_peer_does_not_starve_the_bulk_from_a_healthy_one() {
    let cfg = ProtocolConfig::default();
    let (p, asked, ready) = start_with(|peer| peer == 3, Duration::from_secs(3600));
    assert_eq!(
        &asked[..2],
        &[1, 3],
        "the healthy peer is asked after one failure"
    );
    let ready = ready.expect("ready");
    assert!(
        ready <= cfg.bulk_timeout * cfg.bulk_peer_tries + cfg.bulk_settle,
        "ready after {ready:?}; asked {asked:?}"
    );
    let c = p.counters();
    assert_eq!(c.bulk_completed, 1);
    assert_eq!(c.bulk_failed, u64::from(cfg.bulk_peer_tries));
    assert_eq!(c.bulk_peers_skipped, 1);
    assert_eq!(c.bulk_flows_received, 1, "peer 3's table");
}

/// With every peer silent, the node still waits for `bulk_max_tries`
/// (pfsync's bound), asking the peers in turn.
#[test]
fn with_every_peer_silent_the_node_waits_for_all_its_tries() {
    let cfg = ProtocolConfig::default();
    let (p, asked, ready) = start_with(|_| false, Duration::from_secs(3600));
    assert!(ready.is_some());
    // Ready at the last try's failure, which asks again at once.
    let tries = cfg.bulk_max_tries as usize;
    assert_eq!(asked.len(), tries + 1);
    assert_eq!(
        asked.iter().filter(|&&a| a == 3).count(),
        tries / 2,
        "{asked:?}"
    );
    assert_eq!(p.counters().bulk_peers_skipped, 0);
}

/// Healthy peers: each asked once, ready after both answered.
#[test]
fn with_every_peer_answering_each_is_asked_once() {
    let (p, asked, ready) = start_with(|_| true, Duration::from_secs(3600));
    assert_eq!(asked, [1, 3]);
    assert!(ready.expect("ready") <= ProtocolConfig::default().bulk_settle);
    assert_eq!(p.counters().bulk_completed, 2);
}

/// The review found a bulk's end taken as complete whatever it carried:
/// a chunk the sender's transport refused (its queue or byte budget full)
/// was only counted there, and the asker went ready on an incomplete
/// table. The end's count of flows is now checked against the chunks.
#[test]
fn a_bulk_whose_end_counts_other_flows_than_its_chunks_is_asked_again() {
    let mut p = Protocol::new(2, 222, &[1, 2], ProtocolConfig::default(), T0);
    p.on_peer_up(1, 1, T0);
    let hello = wire::encode(&Message::Hello {
        node: 1,
        session: 7,
        resume: None,
    });
    p.on_frame(1, 1, &hello, T0).expect("hello");
    let requests = |p: &mut Protocol| -> Vec<u64> {
        std::iter::from_fn(|| p.poll_output())
            .filter_map(|o| match o {
                Output::Send { frame, .. } => match wire::decode(&frame) {
                    Ok(Message::BulkRequest { id, .. }) => Some(id),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    let answer = |p: &mut Protocol, id: u64, sent: u16, announced: u64| {
        let chunk = wire::encode(&Message::BulkChunk {
            id,
            flows: (0..sent).map(state).collect(),
        });
        let end = wire::encode(&Message::BulkEnd {
            id,
            flows: announced,
        });
        p.on_frame(1, 1, &chunk, T0).expect("chunk");
        p.on_frame(1, 1, &end, T0).expect("end");
    };
    let first = requests(&mut p);
    assert_eq!(first.len(), 1);
    // Two flows announced, one arrived: a chunk was lost.
    answer(&mut p, first[0], 1, 2);
    assert!(!p.is_ready(), "not ready on an incomplete table");
    assert_eq!(p.counters().bulk_incomplete, 1);
    assert_eq!(p.counters().bulk_failed, 1);
    let again = requests(&mut p);
    assert_eq!(again.len(), 1, "asked again at once");
    answer(&mut p, again[0], 2, 2);
    assert!(p.is_ready());
    assert_eq!(p.counters().bulk_completed, 1);
}
