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
/// for each flow of its table. A view longer than twice the membership
/// this node knows is refused, the ranking is over known nodes only, and
/// the copies stay within the configured limit.
#[test]
fn a_bulk_request_with_a_forged_view_or_copies_is_refused() {
    let mut n = Net::new();
    n.connect();
    let errors = n.p[0].counters().protocol_errors;
    let (ok, dumps) = ask(&mut n, 99, (0..8192).collect(), 1);
    assert!(!ok && dumps.is_empty(), "a view of thousands of nodes");
    let (ok, dumps) = ask(&mut n, 100, vec![1, 2, 3, 4, 5], 2);
    assert!(!ok && dumps.is_empty(), "more than twice the membership");
    let (ok, dumps) = ask(&mut n, 100, vec![2; 5], 2);
    assert!(!ok && dumps.is_empty(), "repeats count");
    let max = rampart_dataplane::placement::MAX_COPIES;
    let (ok, dumps) = ask(&mut n, 101, vec![1, 2], max as u8 + 1);
    assert!(!ok && dumps.is_empty(), "more copies than the limit");
    assert_eq!(n.p[0].counters().protocol_errors, errors + 4);
    // A view of known nodes, and copies within the limit, are served.
    let (ok, dumps) = ask(&mut n, 102, vec![1, 2], max as u8);
    assert!(ok);
    assert_eq!(dumps.len(), 1);
    assert_eq!(dumps[0].2.placement.members(), &[1, 2]);
}

/// The review found a request refused whole when its view named a member
/// this node had not met yet (one that joined through Raft while its link
/// to this node was down, the asker seeing both): the asker waited for its
/// bulk timeout and could go ready without this node's table. Such a view
/// is now served over the nodes this node knows, a share that holds every
/// flow of the asker's exact one.
#[test]
fn a_view_naming_a_member_not_met_yet_is_served_over_the_known_ones() {
    let mut n = Net::new();
    n.connect();
    let (ok, dumps) = ask(&mut n, 7, vec![1, 2, 3], 2);
    assert!(ok, "not refused");
    assert_eq!(dumps.len(), 1);
    let served = &dumps[0].2;
    assert_eq!(
        served.placement.members(),
        &[1, 2],
        "ranked over known nodes"
    );
    assert_eq!(n.p[0].counters().bulk_views_narrowed, 1);
    // Nothing of the exact share is missed; the narrowed one may hold more.
    let exact = Share {
        placement: Placement::new([1, 2, 3], 2),
        node: 2,
    };
    let mut more = 0;
    for port in 0..2000 {
        let mut s = state(port);
        s.inc.owner = 1;
        assert!(!exact.wants(&s) || served.wants(&s), "flow {port}");
        more += usize::from(served.wants(&s) && !exact.wants(&s));
    }
    assert!(more > 0, "the narrowed share is wider");
    // Two members not met in a cluster of which this node knows two is
    // still within twice the membership.
    n.p[0].bulk_out(2, 7, Vec::new(), true, 0);
    let (ok, dumps) = ask(&mut n, 8, vec![1, 2, 3, 4], 2);
    assert!(ok && dumps.len() == 1);
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
            if let Output::Send { peer, frame, .. } = o
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
/// `bulk_peer_tries` times (asked again after its backoff) the node is
/// ready on the table it got.
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
        ready <= cfg.bulk_timeout * cfg.bulk_peer_tries + cfg.bulk_retry_after + cfg.bulk_settle,
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

/// Node 2 with peer 1 up (its hello seen); the bulk requests it sends
/// come out of [`bulk_requests`].
fn asker() -> Protocol {
    asker_in(222)
}

/// [`asker`] in the process session `session`.
fn asker_in(session: u64) -> Protocol {
    let mut p = Protocol::new(2, session, &[1, 2], ProtocolConfig::default(), T0);
    p.on_peer_up(1, 1, T0);
    let hello = wire::encode(&Message::Hello {
        node: 1,
        session: 7,
        resume: None,
    });
    p.on_frame(1, 1, &hello, T0).expect("hello");
    p
}

/// The ids of the bulk requests among `p`'s outputs.
fn bulk_requests(p: &mut Protocol) -> Vec<u64> {
    std::iter::from_fn(|| p.poll_output())
        .filter_map(|o| match o {
            Output::Send { frame, .. } => match wire::decode(&frame) {
                Ok(Message::BulkRequest { id, .. }) => Some(id),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Peer 1 answers bulk `id` with `sent` flows and an end announcing
/// `announced`.
fn answer(p: &mut Protocol, id: u64, sent: u16, announced: u64, now: Instant) {
    let chunk = wire::encode(&Message::BulkChunk {
        id,
        flows: (0..sent).map(state).collect(),
    });
    let end = wire::encode(&Message::BulkEnd {
        id,
        flows: announced,
    });
    p.on_frame(1, 1, &chunk, now).expect("chunk");
    p.on_frame(1, 1, &end, now).expect("end");
}

/// Run `p`'s timers from `now` until it sends a bulk request; its id and
/// when, or `None` if it sends none within `limit`.
fn next_request(p: &mut Protocol, mut now: Instant, limit: Duration) -> Option<(u64, Instant)> {
    let end = now + limit;
    let mut wakes = 0;
    while let Some(t) = p.poll_timeout() {
        assert!(t >= now, "a timer in the past spins the driver");
        if t > end {
            return None;
        }
        now = t;
        p.handle_timeout(now);
        if let Some(&id) = bulk_requests(p).first() {
            return Some((id, now));
        }
        wakes += 1;
        assert!(wakes < 1000, "the timer keeps firing at {now:?}");
    }
    None
}

/// The review found a bulk's end taken as complete whatever it carried:
/// a chunk the sender's transport refused (its queue or byte budget full)
/// was only counted there, and the asker went ready on an incomplete
/// table. The end's count of flows is now checked against the chunks.
#[test]
fn a_bulk_whose_end_counts_other_flows_than_its_chunks_is_asked_again() {
    let mut p = asker();
    let first = bulk_requests(&mut p);
    assert_eq!(first.len(), 1);
    // Two flows announced, one arrived: a chunk was lost.
    answer(&mut p, first[0], 1, 2, T0);
    assert!(!p.is_ready(), "not ready on an incomplete table");
    assert_eq!(p.counters().bulk_incomplete, 1);
    assert_eq!(p.counters().bulk_failed, 1);
    let (again, at) = next_request(&mut p, T0, Duration::from_secs(60)).expect("asked again");
    answer(&mut p, again, 2, 2, at);
    assert!(p.is_ready());
    assert_eq!(p.counters().bulk_completed, 1);
}

/// The review found an incomplete bulk asked for again at once: a peer
/// whose link could not carry its dump before its transport's byte
/// budget filled dumped its whole table again and again, with nothing in
/// between. Each failure now makes the asker wait before it asks that
/// peer again: `bulk_retry_after`, doubled per failure in a row, up to
/// the bulk timeout; a completed bulk starts the backoff over.
#[test]
fn an_incomplete_bulk_is_asked_again_after_a_backoff_that_doubles() {
    let cfg = ProtocolConfig::default();
    let mut p = asker();
    let mut id = bulk_requests(&mut p)[0];
    let mut now = T0;
    let mut waits = Vec::new();
    for _ in 0..6 {
        answer(&mut p, id, 1, 2, now);
        assert!(bulk_requests(&mut p).is_empty(), "not asked at once");
        let (next, at) = next_request(&mut p, now, cfg.bulk_timeout * 2).expect("asked again");
        waits.push(at.saturating_since(now));
        (id, now) = (next, at);
    }
    let s = Duration::from_secs;
    assert_eq!(waits, [s(2), s(4), s(8), s(16), s(30), s(30)]);
    assert_eq!(p.counters().bulk_backoffs, 6);
    // Complete: ready, and the backoff starts over. A gap in peer 1's
    // batches asks for its table again at once (no failure since).
    answer(&mut p, id, 2, 2, now);
    assert!(p.is_ready());
    let gap = wire::encode(&Message::Events {
        seq: 5,
        passive: false,
        events: vec![SyncEvent::Upsert(state(1))],
    });
    p.on_frame(1, 1, &gap, now).expect("events");
    let ids = bulk_requests(&mut p);
    assert_eq!(ids.len(), 1, "a gap asks at once");
    answer(&mut p, ids[0], 1, 2, now);
    let (_, at) = next_request(&mut p, now, cfg.bulk_timeout).expect("asked again");
    assert_eq!(at.saturating_since(now), cfg.bulk_retry_after);
}

/// The review found bulk request ids restarting at 1 in every life of a
/// process, and a peer's dump left running when the peer went: after the
/// asker restarted and asked with id 1 again, chunks and ends of its
/// previous life's dump still on their way were counted into the new
/// answer, whose end could then come early. Ids now start from the
/// session, and a dump whose peer goes is cancelled (the shell stops it).
#[test]
fn bulk_ids_differ_between_lives_and_a_lost_peers_dump_is_cancelled() {
    let first = |session| bulk_requests(&mut asker_in(session))[0];
    for session in [1, 2, 22, 23, 0xdead_beef] {
        assert_ne!(first(session), first(session + 1), "{session}");
    }
    let cancels = |n: &mut Net| -> Vec<(u16, u64)> {
        std::iter::from_fn(|| n.p[0].poll_output())
            .filter_map(|o| match o {
                Output::BulkCancel { peer, id } => Some((peer, id)),
                _ => None,
            })
            .collect()
    };
    let mut n = Net::new();
    n.connect();
    // A dump that ended is not cancelled when its peer goes.
    assert_eq!(ask(&mut n, 7, vec![1, 2], 2).1.len(), 1);
    n.p[0].bulk_out(2, 7, Vec::new(), true, 0);
    n.p[0].on_peer_down(2, n.conn, T0);
    assert_eq!(cancels(&mut n), [], "the dump had ended");
    // One under way is, when its peer goes…
    n.connect();
    assert_eq!(ask(&mut n, 8, vec![1, 2], 2).1.len(), 1);
    n.p[0].on_peer_down(2, n.conn, T0);
    assert_eq!(cancels(&mut n), [(2, 8)], "the peer went");
    // …or when a new connection replaces the one it was asked on.
    n.connect();
    assert_eq!(ask(&mut n, 9, vec![1, 2], 2).1.len(), 1);
    n.p[0].on_peer_up(2, n.conn + 1, T0);
    assert_eq!(cancels(&mut n), [(2, 9)], "a new connection");
}
