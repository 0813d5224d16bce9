//! Peers up and down: what the engine is told of the peers up matches the
//! protocol's own view, in every order the transport reports connections
//! in (docs/sync.md §5, *Peers up and down*).

use super::*;

/// What the engine was last told: peers up and placement.
struct Told {
    up: usize,
    placed: Placement,
}

impl Told {
    /// What a node's engine holds right after `three_up`.
    fn of_three(kept: &[Output]) -> Told {
        let mut told = Told {
            up: 0,
            placed: Placement::new([1u16], ProtocolConfig::default().copies),
        };
        told.note(kept);
        told
    }

    /// Apply what the engine was told in `outputs`.
    fn note(&mut self, outputs: &[Output]) {
        for o in outputs {
            match o {
                Output::PeersUp(n) => self.up = *n,
                Output::Placement(p) => self.placed = p.clone(),
                _ => {}
            }
        }
    }

    /// The engine holds what the protocol sees.
    fn assert_matches(&self, p: &Protocol, when: &str) {
        assert_eq!(self.up, p.peers_up(), "peers up, {when}");
        assert_eq!(self.placed, p.placement(), "placement, {when}");
    }
}

fn drain(p: &mut Protocol) -> Vec<Output> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

/// Node `peer`'s Hello as a restarted node (a session of its new life).
fn hello_after_restart(peer: u16) -> Vec<u8> {
    wire::encode(&Message::Hello {
        node: peer,
        session: u64::from(peer) * 1_000,
        resume: None,
    })
}

/// The review's case: node 3 restarts and re-dials node 1 before its old
/// connection's idle timeout, so node 1's transport reports the new
/// connection up before the old one down; the new one dies before node 3's
/// Hello. Node 1 used to keep node 3 live for its engine for good: the
/// new connection took the peer from up to handshake unannounced, the old
/// one's Down was ignored, and the new one's found it not up. Flows whose
/// copies were on node 1 and node 3 were then never re-replicated.
#[test]
fn a_replaced_connection_lost_before_the_hello_takes_the_peer_down() {
    let (mut p, kept) = three_up();
    let mut told = Told::of_three(&kept[0]);
    told.assert_matches(&p[0], "all up");
    assert_eq!(told.up, 2);
    let all = p[0].placement();

    p[0].on_peer_up(3, 2, T0);
    let out = drain(&mut p[0]);
    let without_3 = Placement::new([1u16, 2], ProtocolConfig::default().copies);
    assert!(out.contains(&Output::PeersUp(1)), "{out:?}");
    assert!(
        out.contains(&Output::Placement(without_3.clone())),
        "{out:?}"
    );
    assert!(
        out.contains(&Output::Rebalance {
            old: all,
            new: without_3.clone(),
        }),
        "{out:?}"
    );
    told.note(&out);
    told.assert_matches(&p[0], "new connection up");

    p[0].on_peer_down(3, 1, T0);
    let out = drain(&mut p[0]);
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::PeersUp(_) | Output::Placement(_) | Output::Rebalance { .. }
        )),
        "the old connection's Down changes nothing: {out:?}"
    );
    p[0].on_peer_down(3, 2, T0);
    told.note(&drain(&mut p[0]));
    told.assert_matches(&p[0], "new connection down");
    assert_eq!(told.placed, without_3);
    assert_eq!(
        p[0].peer_phases(),
        vec![(2, PeerPhase::Up), (3, PeerPhase::Down)]
    );
}

/// A pair: the survivor of a peer whose replacing connection died before
/// its Hello is told it is alone (it stops holding packets for a peer that
/// cannot answer, docs/sync.md §4).
#[test]
fn a_pair_whose_peer_is_lost_on_a_replacing_connection_is_told_it_is_alone() {
    let mut n = Net::new();
    n.connect();
    assert_eq!(n.p[0].peers_up(), 1);
    n.p[0].on_peer_up(2, n.conn + 1, T0);
    n.p[0].on_peer_down(2, n.conn, T0);
    n.p[0].on_peer_down(2, n.conn + 1, T0);
    let out = drain(&mut n.p[0]);
    assert_eq!(
        out.iter()
            .filter_map(|o| match o {
                Output::PeersUp(k) => Some(*k),
                _ => None,
            })
            .collect::<Vec<_>>(),
        vec![0],
        "{out:?}"
    );
    assert!(out.contains(&Output::Placement(Placement::new(
        [1u16],
        ProtocolConfig::default().copies
    ))));
}

/// Every order in which the transport may report the old connection's
/// Down, the new connection's Up and Down, and the peer's Hello on the
/// new connection (with or without the Hello, with or without either
/// Down; orders the transport never produces, a Down or a frame before
/// its connection's Up, included): after each step the engine holds exactly the
/// peers up and the placement the protocol sees, and at the end the peer
/// is up only if its Hello came on the connection that stayed.
#[test]
fn the_engine_matches_the_peers_up_in_every_order_of_connection_events() {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Ev {
        OldDown,
        NewUp,
        NewDown,
        NewHello,
    }
    let all = [Ev::OldDown, Ev::NewUp, Ev::NewDown, Ev::NewHello];
    // Every ordering of every subset that has the new connection's Up.
    let mut runs: Vec<Vec<Ev>> = vec![Vec::new()];
    for _ in 0..all.len() {
        let mut longer = Vec::new();
        for r in &runs {
            for e in all {
                if !r.contains(&e) {
                    let mut r = r.clone();
                    r.push(e);
                    longer.push(r);
                }
            }
        }
        runs.extend(longer);
    }
    runs.retain(|r| r.contains(&Ev::NewUp));
    runs.sort_by_key(|r| format!("{r:?}"));
    runs.dedup();
    assert_eq!(runs.len(), 49);
    for run in runs {
        let (mut p, kept) = three_up();
        let mut told = Told::of_three(&kept[0]);
        for (i, &e) in run.iter().enumerate() {
            let node = &mut p[0];
            match e {
                Ev::OldDown => node.on_peer_down(3, 1, T0),
                Ev::NewUp => node.on_peer_up(3, 2, T0),
                Ev::NewDown => node.on_peer_down(3, 2, T0),
                // A frame of a connection not (or no longer) current is
                // ignored, as the transport's Up comes before its frames.
                Ev::NewHello => node
                    .on_frame(3, 2, &hello_after_restart(3), T0)
                    .expect("a Hello"),
            }
            told.note(&drain(node));
            told.assert_matches(node, &format!("after {:?} of {run:?}", &run[..=i]));
        }
        // A Down or frame of a connection before its Up is ignored.
        let after_up =
            |e: Ev| run.iter().position(|&x| x == e) > run.iter().position(|&x| x == Ev::NewUp);
        let up = after_up(Ev::NewHello) && !after_up(Ev::NewDown);
        assert_eq!(p[0].peers_up(), 1 + usize::from(up), "{run:?}");
    }
}

/// A bulk node 1 was getting from a peer whose connection is replaced
/// fails at once (its chunks were on the old connection), and is asked
/// again on the new one: it used to wait for the bulk timeout.
#[test]
fn a_bulk_from_a_peer_whose_connection_is_replaced_fails_at_once() {
    let mut p = Protocol::new(1, 111, &[1, 2], ProtocolConfig::default(), T0);
    p.on_peer_up(2, 1, T0);
    p.on_frame(2, 1, &hello_after_restart(2), T0)
        .expect("hello");
    let asked = |p: &mut Protocol| {
        drain(p)
            .iter()
            .filter(|o| {
                matches!(o, Output::Send { frame, .. }
                    if matches!(wire::decode(frame), Ok(Message::BulkRequest { .. })))
            })
            .count()
    };
    assert_eq!(asked(&mut p), 1);
    p.on_peer_up(2, 2, T0);
    assert_eq!(p.counters().bulk_failed, 1);
    assert_eq!(asked(&mut p), 0, "not before the peer's Hello");
    p.on_frame(2, 2, &hello_after_restart(2), T0)
        .expect("hello");
    assert_eq!(asked(&mut p), 1, "asked again on the new connection");
}

/// The frames `p` asked to send in `outputs`: the connection each is
/// meant for, and the message.
fn sends(outputs: &[Output]) -> Vec<(u64, Message)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn, frame, .. } => Some((*conn, wire::decode(frame).expect("ours"))),
            _ => None,
        })
        .collect()
}

/// Node 2 restarts and re-dials before its old connection's idle timeout:
/// node 1's transport is on the new connection (2) before node 1's
/// protocol hears of it, and node 1 still sends to node 2 as up on the old
/// one. Those frames are tagged with connection 1, so the transport drops
/// them: sent on connection 2 they would reach node 2 ahead of node 1's
/// Hello and be refused as the peer's fault (`before_hello`). Once node 1
/// hears of connection 2, everything it sends is tagged 2, its Hello
/// first (docs/sync.md §5, *Peers up and down*).
#[test]
fn frames_are_tagged_with_the_connection_they_were_meant_for() {
    let mut n = Net::new();
    n.connect();
    assert_eq!(n.conn, 1);
    n.p[1] = Protocol::new(2, 333, &[1, 2], ProtocolConfig::default(), T0);
    n.conn = 2;
    n.p[1].on_peer_up(1, 2, T0);
    let restarted = drain(&mut n.p[1]);
    let hello = sends(&restarted);
    assert!(
        matches!(hello[..], [(2, Message::Hello { node: 2, .. })]),
        "{hello:?}"
    );

    n.p[0].push_events(&[out(1000, false)]);
    n.p[0].flush(T0);
    let stale = drain(&mut n.p[0]);
    let tagged = sends(&stale);
    assert!(
        matches!(tagged[..], [(1, Message::Events { .. })]),
        "meant for the old connection: {tagged:?}"
    );
    // What it would have met on the new connection.
    let mut fresh = Protocol::new(2, 444, &[1, 2], ProtocolConfig::default(), T0);
    fresh.on_peer_up(1, 2, T0);
    let Some(Output::Send { frame, .. }) = stale.iter().find(|o| matches!(o, Output::Send { .. }))
    else {
        unreachable!("checked above");
    };
    assert_eq!(
        fresh.on_frame(1, 2, frame, T0),
        Err(FrameError::Protocol(Violation::BeforeHello))
    );

    n.p[0].on_peer_up(2, 2, T0);
    let current = drain(&mut n.p[0]);
    let tagged = sends(&current);
    assert!(
        matches!(tagged[..], [(2, Message::Hello { node: 1, .. })]),
        "{tagged:?}"
    );
    for (i, outputs) in [(1, current), (0, restarted)] {
        for o in outputs {
            if let Output::Send { frame, .. } = o {
                n.wire[i].push_back(frame);
            }
        }
    }
    n.settle();
    assert_eq!((n.p[0].peers_up(), n.p[1].peers_up()), (1, 1));
    assert_eq!(n.p[1].counters().protocol_errors, 0);
    n.p[0].push_events(&[out(1001, false)]);
    n.p[0].flush(T0);
    let live = sends(&drain(&mut n.p[0]));
    assert!(
        matches!(live[..], [(2, Message::Events { .. })]),
        "{live:?}"
    );
}
