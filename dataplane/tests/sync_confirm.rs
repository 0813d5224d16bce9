//! A pull at three nodes (docs/sync.md §13): the reply's node B lacks a
//! flow whose owner A backs it up on its director D. D answers from its
//! copy and passes the pull on to A with the digest of that answer; A, on
//! the path with the same state, confirms briefly instead of sending it
//! again, and demotes D with an event that carries no state.

use std::time::Duration;

use rampart_dataplane::conntrack::NodeId;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{Applied, PullOut, Source, SyncConfig};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::sync::{Confirm, FlowState, PeerSet, SyncEvent};
use rampart_dataplane::trace::{Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, EngineConfig, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;
const D: u16 = 3;

fn node(id: u16) -> Engine {
    let mut cfg = EngineConfig::inside_outside(NodeId(id), [u64::from(id), 2, 3, 4]);
    cfg.sync = Some(SyncConfig {
        defer_deadline: Duration::ZERO,
        ..SyncConfig::default()
    });
    let mut e = Engine::new(cfg).expect("valid config");
    e.set_peers_up(2);
    e.set_ready(true);
    e.set_placement(Placement::new([A, B, D], 2));
    e
}

fn effects(e: &mut Engine, now: Instant) -> Vec<Effect> {
    std::iter::from_fn(|| e.poll_effect(now)).collect()
}

fn pulls(effects: &[Effect]) -> Vec<PullOut> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Pull(p) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Three engines after the client's SYN crossed A and A's insert reached
/// D; B holds the server's SYN-ACK. Returns the model, the flow's key and
/// the effects B made (its pull).
struct Three {
    a: Engine,
    b: Engine,
    d: Engine,
    m: TcpModel,
    key: FlowKey,
    now: Instant,
}

impl Three {
    fn new() -> Three {
        let members = Placement::new([A, B, D], 2);
        // A client port whose flow D directs, so that A's backup is D
        // and B is no copy.
        let (c, s, key) = (40_000..41_000)
            .map(|port| {
                let (c, s) = v4_pair(port, 80);
                let m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
                let (key, _) = FlowKey::of(&m.tuple());
                (c, s, key)
            })
            .find(|(_, _, key)| members.ranked(key) == vec![D, B, A])
            .expect("some port ranks D, B, A");
        let mut m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
        let (mut a, mut b, mut d) = (node(A), node(B), node(D));
        let now = Instant::from_secs(1_700_000_000);
        let syn = m.syn();
        let mut f = m.frame(&syn);
        let v = a.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now);
        assert!(matches!(v, Verdict::Forward { .. }));
        m.set_shift(a.find(&m.tuple(), now).expect("opened").seq_offset);
        // A's insert goes to D alone, as its backup.
        for e in effects(&mut a, now) {
            let o = e.into_sync().expect("a sync event");
            assert_eq!((o.full, o.passive), (PeerSet::of(D), PeerSet::EMPTY));
            d.apply_peer(&o.event, Source::batch(Some(A), false), now)
                .expect("valid");
        }
        // The SYN-ACK through B waits and pulls from the director.
        let synack = m.syn_ack();
        let mut f = m.frame(&synack);
        let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
        assert_eq!(v, Verdict::Hold);
        assert_eq!(
            pulls(&effects(&mut b, now)),
            vec![PullOut::Want {
                key,
                ask: PeerSet::EMPTY,
                director: true,
            }]
        );
        Three {
            a,
            b,
            d,
            m,
            key,
            now,
        }
    }

    /// D serves B's pull: its answer, from its copy off the path.
    fn d_answers(&mut self) -> FlowState {
        self.d.serve_pull(&self.key, B, true, None, self.now);
        match pulls(&effects(&mut self.d, self.now)).as_slice() {
            [
                PullOut::Answer {
                    to: B,
                    state,
                    on_path: false,
                    holders,
                    forwardable: true,
                },
            ] => {
                assert_eq!(*holders, PeerSet::of(A));
                *state
            }
            other => panic!("D answers B: {other:?}"),
        }
    }
}

fn released(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Release { .. }))
        .count()
}

#[test]
fn the_owner_confirms_the_directors_answer_briefly_and_demotes_it_without_state() {
    let mut t = Three::new();
    let now = t.now;
    let state = t.d_answers();
    // B applies D's answer: a passive copy, the SYN-ACK still waits.
    t.b.apply_peer(
        &SyncEvent::Upsert(state),
        Source::answer(None, PeerSet::of(A)),
        now,
    )
    .expect("valid");
    assert_eq!(t.b.is_passive_copy(&t.key), Some(true));
    assert_eq!(released(&effects(&mut t.b, now)), 0);
    // The pull passed on reaches A with the digest of D's answer: A's
    // state is the same, so it confirms, and demotes its backup D.
    t.a.serve_pull(&t.key, B, false, Some(state.digest()), now);
    let out = effects(&mut t.a, now);
    let confirm = match pulls(&out).as_slice() {
        [PullOut::Confirm { to: B, confirm }] => *confirm,
        other => panic!("A confirms: {other:?}"),
    };
    assert_eq!((confirm.key, confirm.inc), (state.key, state.inc));
    assert_eq!(confirm.digest, state.digest());
    assert_eq!(t.a.sync_counters().unwrap().pulls_confirmed, 1);
    let demote = out
        .into_iter()
        .find_map(Effect::into_sync)
        .expect("a demote for D");
    assert_eq!(
        demote.event,
        SyncEvent::Demote {
            key: state.key,
            inc: state.inc,
        }
    );
    assert_eq!(
        (demote.full, demote.passive),
        (PeerSet::EMPTY, PeerSet::of(D))
    );
    // B takes the confirm as A's answer: whole, the SYN-ACK leaves.
    t.b.apply_confirm(&confirm, A, now);
    assert_eq!(t.b.is_passive_copy(&t.key), Some(false));
    let out = effects(&mut t.b, now);
    assert_eq!(released(&out), 1);
    // B's change (the SYN-ACK) goes to A alone.
    for o in out.into_iter().filter_map(Effect::into_sync) {
        assert_eq!((o.full, o.passive), (PeerSet::of(A), PeerSet::EMPTY));
        t.a.apply_peer(&o.event, Source::batch(Some(B), false), now)
            .expect("valid");
    }
    // D's copy turns passive, as it stands.
    let applied =
        t.d.apply_peer(&demote.event, Source::batch(Some(A), true), now)
            .expect("valid");
    assert_eq!(applied, Applied::Demoted);
    assert_eq!(t.d.is_passive_copy(&t.key), Some(true));
    // A's changes go to B alone.
    let ack = t.m.ack(Side::Client);
    let mut f = t.m.frame(&ack);
    let v =
        t.a.process(&mut f, PacketMeta::default(), t.m.iface(Side::Client), now);
    assert!(matches!(v, Verdict::Forward { .. }));
    let change = effects(&mut t.a, now)
        .into_iter()
        .find_map(Effect::into_sync)
        .expect("A's change");
    assert_eq!(change.full, PeerSet::of(B));
}

#[test]
fn a_state_that_moved_on_is_sent_whole_not_confirmed() {
    let mut t = Three::new();
    let now = t.now;
    let state = t.d_answers();
    // D's answer lags behind A (here: a digest of another state).
    t.a.serve_pull(&t.key, B, false, Some(state.digest() ^ 1), now);
    match pulls(&effects(&mut t.a, now)).as_slice() {
        [
            PullOut::Answer {
                to: B,
                on_path: true,
                ..
            },
        ] => {}
        other => panic!("A answers whole: {other:?}"),
    }
}

#[test]
fn a_confirm_that_finds_no_matching_copy_pulls_from_its_sender_alone() {
    let mut t = Three::new();
    let now = t.now;
    let state = t.d_answers();
    let confirm = Confirm {
        key: state.key,
        inc: state.inc,
        digest: state.digest(),
        last_seen_ns: state.last_seen_ns,
        holders: PeerSet::EMPTY,
    };
    // D's answer has not reached B yet: B asks A itself, not the director
    // (whose pass-on would bring another confirm).
    t.b.apply_confirm(&confirm, A, now + Duration::from_micros(100));
    assert_eq!(
        pulls(&effects(&mut t.b, now)),
        vec![PullOut::Want {
            key: t.key,
            ask: PeerSet::of(A),
            director: false,
        }]
    );
    let c = t.b.sync_counters().unwrap();
    assert_eq!((c.confirms_missed, c.pulls_sent), (1, 2));
    assert_eq!(t.b.is_passive_copy(&t.key), None);
}
