//! A pull at three nodes (docs/sync.md §13): the reply's node B lacks a
//! flow whose owner A backs it up on its director D. D's copy is a backup
//! (A pushes it every change): B takes D's answer whole, and A, hearing
//! of B from B's first change, demotes D with an event that carries no
//! state. When D's copy is passive instead, D passes the pull on to A
//! with the digest of its answer; A, on the path with the same state,
//! confirms briefly instead of sending it again.

mod common;

use std::time::Duration;

use rampart_dataplane::conntrack::TcpState;
use rampart_dataplane::engine::Effect;
use rampart_dataplane::engine::sync::{Applied, PullOut, Source, SyncOut};
use rampart_dataplane::flow::FlowKey;
use rampart_dataplane::packet::PacketMeta;
use rampart_dataplane::placement::Placement;
use rampart_dataplane::sync::{AnswerCopy, Confirm, FlowState, PeerSet, SyncEvent};
use rampart_dataplane::trace::{Seg, Side, TcpModel, v4_pair};
use rampart_dataplane::{Engine, Instant, Verdict};

const A: u16 = 1;
const B: u16 = 2;
const D: u16 = 3;

fn node(id: u16) -> Engine {
    let mut e = common::synced_node(id, Duration::ZERO, 2);
    e.set_placement(Placement::new([A, B, D], 2));
    e
}

fn effects(e: &mut Engine, now: Instant) -> Vec<Effect> {
    std::iter::from_fn(|| e.poll_effect(now)).collect()
}

/// The sync events among `e`'s effects at `now`.
fn sync_out(e: &mut Engine, now: Instant) -> Vec<SyncOut> {
    effects(e, now)
        .into_iter()
        .filter_map(Effect::into_sync)
        .collect()
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

/// Whether `e`, serving `to`'s pull for `key`, answers from a passive copy.
fn answers_passive(e: &mut Engine, key: &FlowKey, to: u16, now: Instant) -> bool {
    e.serve_pull(key, to, true, None, now);
    matches!(
        pulls(&effects(e, now)).as_slice(),
        [PullOut::Answer {
            copy: AnswerCopy::Passive,
            ..
        }]
    )
}

/// A connection whose flow the three nodes rank in `order`.
fn ranked_as(order: [u16; 3]) -> (TcpModel, FlowKey) {
    let members = Placement::new([A, B, D], 2);
    (40_000..41_000)
        .map(|port| {
            let (c, s) = v4_pair(port, 80);
            let m = TcpModel::new(c, s, [7, 9], [65535, 65535], [None, None]);
            let (key, _) = FlowKey::of(&m.tuple());
            (m, key)
        })
        .find(|(_, key)| members.ranked(key) == order)
        .expect("some port ranks the nodes so")
}

/// The client's SYN crosses `a`, which opens the connection.
fn syn_opens_on(a: &mut Engine, m: &mut TcpModel, now: Instant) {
    let syn = m.syn();
    let mut f = m.frame(&syn);
    let v = a.process(&mut f, PacketMeta::default(), m.iface(Side::Client), now);
    assert!(matches!(v, Verdict::Forward { .. }));
    m.set_shift(a.find(&m.tuple(), now).expect("opened").seq_offset);
}

/// Three engines after the client's SYN crossed A and A's insert reached
/// D (as A's backup, or as a passive copy); B holds the server's SYN-ACK
/// and pulled.
struct Three {
    a: Engine,
    b: Engine,
    d: Engine,
    m: TcpModel,
    key: FlowKey,
    now: Instant,
}

impl Three {
    fn new(d_passive: bool) -> Three {
        // A client port whose flow D directs, so that A's backup is D
        // and B is no copy.
        let (mut m, key) = ranked_as([D, B, A]);
        let (mut a, mut b, mut d) = (node(A), node(B), node(D));
        let now = Instant::from_secs(1_700_000_000);
        syn_opens_on(&mut a, &mut m, now);
        // A's insert goes to D alone, as its backup (or, for the passive
        // case, D takes it as a copy no longer kept up to date: a backup
        // demoted).
        for e in effects(&mut a, now) {
            let o = e.into_sync().expect("a sync event");
            assert_eq!((o.full, o.passive), (PeerSet::of(D), PeerSet::EMPTY));
            d.apply_peer(&o.event, Source::batch(Some(A), d_passive), now)
                .expect("valid");
        }
        assert_eq!(d.is_passive_copy(&key), Some(d_passive));
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

    /// D answers B's pull from its copy of kind `copy`, and B applies
    /// the answer; returns the state answered with.
    fn b_applies_ds_answer(&mut self, copy: AnswerCopy) -> FlowState {
        let state = self.d_answers(copy);
        self.b
            .apply_peer(
                &SyncEvent::Upsert(state),
                Source::answer(D, copy, PeerSet::of(A)),
                self.now,
            )
            .expect("valid");
        assert_eq!(
            self.b.is_passive_copy(&self.key),
            Some(copy == AnswerCopy::Passive)
        );
        state
    }

    /// B takes D's backup answer whole: returns B's change for the
    /// holders (its SYN-ACK, held until then).
    fn b_takes_backup_answer(&mut self) -> SyncOut {
        self.b_applies_ds_answer(AnswerCopy::Backup);
        effects(&mut self.b, self.now)
            .into_iter()
            .find_map(Effect::into_sync)
            .expect("B's change")
    }

    /// B takes D's backup answer and A takes B's change (B is on the
    /// flow's path for A): B's change and A's events after it.
    fn b_joins_the_path(&mut self) -> (SyncOut, Vec<SyncOut>) {
        let b_change = self.b_takes_backup_answer();
        self.a
            .apply_peer(&b_change.event, Source::batch(Some(B), false), self.now)
            .expect("valid");
        let after = sync_out(&mut self.a, self.now);
        (b_change, after)
    }

    /// A's `demote` of `state`'s incarnation carries no state and goes to
    /// D alone; D applies it: its copy turns passive, as it stands. Then
    /// the client's ACK crosses A, whose change goes to B alone.
    fn d_demoted_then_a_changes_go_to_b_alone(&mut self, demote: &SyncOut, state: &FlowState) {
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
        let now = self.now;
        let applied = self
            .d
            .apply_peer(&demote.event, Source::batch(Some(A), true), now)
            .expect("valid");
        assert_eq!(applied, Applied::Demoted);
        assert_eq!(self.d.is_passive_copy(&self.key), Some(true));
        let change = self.a_changes_on_clients_ack();
        assert_eq!(change.full, PeerSet::of(B));
    }

    /// A new engine for B that takes D's backup answer whole, with no
    /// packet of its own waiting.
    fn fresh_b_with_backup_answer(&mut self) -> Engine {
        let state = self.d_answers(AnswerCopy::Backup);
        let mut b = node(B);
        b.apply_peer(
            &SyncEvent::Upsert(state),
            Source::answer(D, AnswerCopy::Backup, PeerSet::of(A)),
            self.now,
        )
        .expect("valid");
        b
    }

    /// The client's RST crosses A (ending the connection there): A's
    /// effects.
    fn a_sees_client_rst(&mut self) -> Vec<Effect> {
        let rst = self.m.rst(Side::Client);
        self.a_passes_from_client(&rst)
    }

    /// The client's `packet` crosses A, which forwards it: A's effects.
    fn a_passes_from_client(&mut self, packet: &Seg) -> Vec<Effect> {
        let mut f = self.m.frame(packet);
        let v = self.a.process(
            &mut f,
            PacketMeta::default(),
            self.m.iface(Side::Client),
            self.now,
        );
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        effects(&mut self.a, self.now)
    }

    /// A passes the client's ACK: returns A's change for the holders.
    fn a_changes_on_clients_ack(&mut self) -> SyncOut {
        let ack = self.m.ack(Side::Client);
        self.a_passes_from_client(&ack)
            .into_iter()
            .find_map(Effect::into_sync)
            .expect("A's change")
    }

    /// D serves B's pull: its answer, from its copy off the path, of
    /// the kind `copy`.
    fn d_answers(&mut self, copy: AnswerCopy) -> FlowState {
        self.d.serve_pull(&self.key, B, true, None, self.now);
        match pulls(&effects(&mut self.d, self.now)).as_slice() {
            [
                PullOut::Answer {
                    to: B,
                    state,
                    copy: answered,
                    holders,
                    forwardable: true,
                },
            ] => {
                assert_eq!(*answered, copy);
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
fn a_backups_answer_is_taken_whole_and_the_owner_demotes_it_on_the_replys_change() {
    let mut t = Three::new(false);
    let now = t.now;
    // B applies D's answer: whole, the SYN-ACK leaves at once.
    let state = t.b_applies_ds_answer(AnswerCopy::Backup);
    let out = effects(&mut t.b, now);
    assert_eq!(released(&out), 1);
    // B's change (the SYN-ACK) goes to A alone: D, off the path, is no
    // holder of B's.
    let mut demote = None;
    for o in out.into_iter().filter_map(Effect::into_sync) {
        assert_eq!((o.full, o.passive), (PeerSet::of(A), PeerSet::EMPTY));
        t.a.apply_peer(&o.event, Source::batch(Some(B), false), now)
            .expect("valid");
        // A hears of B on the path: D, its backup, is no longer needed.
        demote = effects(&mut t.a, now)
            .into_iter()
            .find_map(Effect::into_sync);
    }
    let demote = demote.expect("a demote for D");
    t.d_demoted_then_a_changes_go_to_b_alone(&demote, &state);
    // D, passive now, answers a later pull as such: the asker waits for
    // the path.
    assert!(answers_passive(&mut t.d, &t.key, B, now));
}

#[test]
fn a_whole_copy_nobody_pushes_answers_as_passive() {
    // B took D's backup answer whole, but its packets never crossed B
    // and no holder knows of it: its copy may fall behind, so B answers a
    // pull for it as passive, not as a backup.
    let mut t = Three::new(false);
    let now = t.now;
    let mut b = t.fresh_b_with_backup_answer();
    assert_eq!(b.is_passive_copy(&t.key), Some(false));
    assert!(answers_passive(&mut b, &t.key, D, now));
}

#[test]
fn the_owner_confirms_a_passive_answer_briefly_and_demotes_the_director_without_state() {
    let mut t = Three::new(true);
    let now = t.now;
    // B applies D's answer: a passive copy, the SYN-ACK still waits.
    let state = t.b_applies_ds_answer(AnswerCopy::Passive);
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
    t.d_demoted_then_a_changes_go_to_b_alone(&demote, &state);
}

#[test]
fn a_state_that_moved_on_is_sent_whole_not_confirmed() {
    let mut t = Three::new(true);
    let now = t.now;
    let state = t.d_answers(AnswerCopy::Passive);
    // D's answer lags behind A (here: a digest of another state).
    t.a.serve_pull(&t.key, B, false, Some(state.digest() ^ 1), now);
    match pulls(&effects(&mut t.a, now)).as_slice() {
        [
            PullOut::Answer {
                to: B,
                copy: AnswerCopy::Path,
                ..
            },
        ] => {}
        other => panic!("A answers whole: {other:?}"),
    }
}

#[test]
fn a_confirm_that_finds_no_matching_copy_pulls_from_its_sender_alone() {
    let mut t = Three::new(true);
    let now = t.now;
    let state = t.d_answers(AnswerCopy::Passive);
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

#[test]
fn a_backups_answer_is_announced_to_the_holders_even_without_a_change() {
    // B takes D's backup answer whole but has no packet of its own that
    // changes the flow: the holders still hear of it (they would never
    // send it the flow's changes, nor its end).
    let mut t = Three::new(false);
    let now = t.now;
    let mut b = t.fresh_b_with_backup_answer();
    let told: Vec<_> = effects(&mut b, now)
        .into_iter()
        .filter_map(Effect::into_sync)
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        (told[0].full, told[0].passive),
        (PeerSet::of(A), PeerSet::EMPTY)
    );
    // A takes B on the path: D, its backup, is demoted.
    t.a.apply_peer(&told[0].event, Source::batch(Some(B), false), now)
        .expect("valid");
    let demote = effects(&mut t.a, now)
        .into_iter()
        .filter_map(Effect::into_sync)
        .find(|o| matches!(o.event, SyncEvent::Demote { .. }))
        .expect("D demoted");
    assert_eq!(demote.passive, PeerSet::of(D));
}

#[test]
fn a_newcomer_behind_this_node_hears_its_state() {
    // B's change (made on D's backup answer) reaches A only after A saw
    // the client's RST, as across a partition between A and B: A has
    // never sent B anything, so it answers with the end.
    let mut t = Three::new(false);
    let now = t.now;
    let b_change = t.b_takes_backup_answer();
    let _ = t.a_sees_client_rst();
    t.a.apply_peer(&b_change.event, Source::batch(Some(B), false), now)
        .expect("valid");
    let out = effects(&mut t.a, now);
    let to_b = out.iter().any(|e| match e {
        Effect::FlowDeleted { peers, .. } => peers.contains(B),
        Effect::FlowChanged(o) => {
            o.full.contains(B)
                && matches!(o.event, SyncEvent::Upsert(s)
                    if matches!(s.proto, rampart_dataplane::sync::SyncProto::Tcp(tcp)
                        if tcp.state == rampart_dataplane::conntrack::TcpState::Close))
        }
        _ => false,
    });
    assert!(to_b, "A tells B of the end: {out:?}");
}

#[test]
fn a_whole_copy_relays_an_end_to_the_holders_the_sender_may_not_reach() {
    // D is whole (A's backup) and hears B's changes too (B took D's
    // answer and syncs through it): A's end reaches D, which passes it on
    // to B. With two holders only, nothing is relayed.
    let mut t = Three::new(false);
    let now = t.now;
    let b_change = t.b_takes_backup_answer();
    t.d.apply_peer(&b_change.event, Source::batch(Some(B), false), now)
        .expect("valid");
    assert!(
        effects(&mut t.d, now).is_empty(),
        "no end yet, nothing relayed"
    );
    // A sees the client's RST (it has B's SYN-ACK through D's answer to
    // its own pull in a real run; here A's state is enough to close).
    let end = t
        .a_sees_client_rst()
        .into_iter()
        .find_map(Effect::into_sync)
        .expect("A's end");
    assert!(end.full.contains(D));
    t.d.apply_peer(&end.event, Source::batch(Some(A), false), now)
        .expect("valid");
    let relayed: Vec<_> = effects(&mut t.d, now)
        .into_iter()
        .filter_map(Effect::into_sync)
        .collect();
    assert_eq!(relayed.len(), 1, "{relayed:?}");
    assert_eq!(relayed[0].full, PeerSet::of(B));
}

#[test]
fn a_backup_lost_to_a_members_death_is_replaced_whole_at_once() {
    // A's flow is idle, backed up on D alone. D dies: A's walk over its
    // table makes the flow's next event now, whole to the new backup B,
    // instead of leaving A the only whole copy until the next refresh.
    let mut t = Three::new(false);
    let now = t.now;
    let _ = effects(&mut t.a, now);
    let old = Placement::new([A, B, D], 2);
    let new = Placement::new([A, B], 2);
    t.a.set_placement(new.clone());
    let mut cursor = 0;
    let mut out = Vec::new();
    while !t
        .a
        .rebalance_chunk(&mut cursor, 1024, &old, &new, now, &mut out)
    {}
    // Backups wait `backup_delay` (5 ms) to merge changes.
    let later = now + Duration::from_millis(10);
    let events: Vec<_> = effects(&mut t.a, later)
        .into_iter()
        .filter_map(Effect::into_sync)
        .collect();
    assert!(
        events.iter().any(
            |o| o.full.contains(B) && matches!(o.event, SyncEvent::Upsert(s) if s.key == t.key)
        ),
        "{events:?} (walk: {out:?})"
    );
}

/// A's walk after the members changed from `old` to `new`, and its
/// events once backups' delay has passed.
fn walk(a: &mut Engine, old: &Placement, new: &Placement, now: Instant) -> Vec<SyncOut> {
    a.set_placement(new.clone());
    let mut cursor = 0;
    let mut out = Vec::new();
    while !a.rebalance_chunk(&mut cursor, 1024, old, new, now, &mut out) {}
    sync_out(a, now + Duration::from_millis(10))
}

#[test]
fn a_holder_back_from_an_outage_is_sent_the_flow_whole_again() {
    // B is on the flow's path (A took its change). B restarts: it comes
    // back empty, but A still counts it a holder, so A's walk must send
    // it the flow whole again; before, an idle flow stayed with one whole
    // copy (A's) until its next packet.
    let mut t = Three::new(false);
    let now = t.now;
    let _ = t.b_joins_the_path();
    let away = Placement::new([A, D], 2);
    let _ = walk(&mut t.a, &Placement::new([A, B, D], 2), &away, now);
    let back = walk(&mut t.a, &away, &Placement::new([A, B, D], 2), now);
    assert!(
        back.iter().any(
            |o| o.full.contains(B) && matches!(o.event, SyncEvent::Upsert(s) if s.key == t.key)
        ),
        "{back:?}"
    );
    // A member that stayed is not sent it again.
    let again = walk(
        &mut t.a,
        &Placement::new([A, B, D], 2),
        &Placement::new([A, B, D], 2),
        now,
    );
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_whole_change_from_a_peer_told_passive_is_answered_whole() {
    // A demoted its backup D (B joined the path). D's whole change of the
    // flow then reaches A (D sent it before the demote reached it, as a
    // backup that lost its link to A sends its copy on): D applies the
    // demote after sending, so its copy is passive while A now counts D
    // a holder. A must send D the state whole, or the flow is held whole
    // by fewer nodes than A believes.
    let mut t = Three::new(false);
    let now = t.now;
    let (b_change, after) = t.b_joins_the_path();
    // D's change holds what A holds: nothing for A to correct but D's
    // kind of copy.
    let SyncEvent::Upsert(state) = b_change.event else {
        panic!("B's change is a state: {b_change:?}");
    };
    let demote = after.first().expect("a demote for D");
    assert_eq!(demote.passive, PeerSet::of(D));
    t.a.apply_peer(
        &SyncEvent::Upsert(state),
        Source::batch(Some(D), false),
        now,
    )
    .expect("valid");
    let out: Vec<_> = sync_out(&mut t.a, now + Duration::from_millis(10));
    assert!(
        out.iter()
            .any(|o| o.full.contains(D) && matches!(o.event, SyncEvent::Upsert(_))),
        "{out:?}"
    );
    // Once D was sent the state whole, its next change is a holder's.
    let _ = t.a.apply_peer(
        &SyncEvent::Upsert(state),
        Source::batch(Some(D), false),
        now,
    );
    assert!(sync_out(&mut t.a, now + Duration::from_millis(20)).is_empty());
}

#[test]
fn a_node_that_answered_from_a_passive_copy_hears_of_the_end() {
    // B's pull is answered by D from a passive copy (a backup A demoted)
    // and by A, on the path. D is not the flow's director, and A may be
    // gone when the connection ends at B: B must tell D of the end
    // itself, or D's copy outlives the connection (the simulator found
    // an embryonic copy left so after the owner's crash).
    let (mut m, key) = ranked_as([A, B, D]);
    let (mut a, mut b) = (node(A), node(B));
    let now = Instant::from_secs(1_700_000_000);
    syn_opens_on(&mut a, &mut m, now);
    let _ = effects(&mut a, now);
    let synack = m.syn_ack();
    let mut f = m.frame(&synack);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert_eq!(v, Verdict::Hold);
    let _ = effects(&mut b, now);
    a.serve_pull(&key, B, true, None, now);
    let state = match pulls(&effects(&mut a, now)).as_slice() {
        [PullOut::Answer { state, .. }] => *state,
        other => panic!("A answers: {other:?}"),
    };
    b.apply_peer(
        &SyncEvent::Upsert(state),
        Source::answer(D, AnswerCopy::Passive, PeerSet::of(A)),
        now,
    )
    .expect("valid");
    b.apply_peer(
        &SyncEvent::Upsert(state),
        Source::answer(A, AnswerCopy::Path, PeerSet::EMPTY),
        now,
    )
    .expect("valid");
    assert_eq!(released(&effects(&mut b, now)), 1);
    // The server resets the connection through B.
    let rst = m.rst(Side::Server);
    let mut f = m.frame(&rst);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    let end: Vec<_> = sync_out(&mut b, now);
    assert!(
        end.iter()
            .any(|o| o.passive.contains(D) || o.full.contains(D)),
        "{end:?}"
    );
}

/// `e`'s whole bulk for `node`'s share of three members: how many flows.
fn bulk_for(e: &mut Engine, node: u16, now: Instant) -> usize {
    let share = rampart_dataplane::placement::Share {
        placement: Placement::new([A, B, D], 2),
        node,
    };
    let mut cursor = 0;
    let mut flows = Vec::new();
    while !e.bulk_chunk_for(&mut cursor, 1024, now, &mut flows, &share) {}
    flows.len()
}

#[test]
fn a_bulk_for_a_backup_is_followed_by_the_flow_whole() {
    // D, A's backup, lost a batch (or restarted) and asks A for a bulk:
    // a bulk's copies are passive, so A sends D the flow whole after it;
    // before, A went on counting D a whole copy that D held passive.
    let mut t = Three::new(false);
    let now = t.now;
    let _ = effects(&mut t.a, now);
    assert_eq!(bulk_for(&mut t.a, D, now), 1);
    let later = now + Duration::from_millis(10);
    let events: Vec<_> = sync_out(&mut t.a, later);
    assert!(
        events.iter().any(
            |o| o.full.contains(D) && matches!(o.event, SyncEvent::Upsert(s) if s.key == t.key)
        ),
        "{events:?}"
    );
    // A bulk for B, which holds nothing of the flow, sends no event.
    bulk_for(&mut t.a, B, later);
    assert!(sync_out(&mut t.a, later + Duration::from_millis(10)).is_empty());
}

#[test]
fn a_whole_copy_that_learns_from_a_bulk_tells_its_holders() {
    // B holds the flow whole (it took D's backup answer; A counts it on
    // the path). A bulk then brings B a newer state of the flow (here A's
    // own, after the client's ACK: in a real run, a change that reached
    // only a node since demoted, whose copy answered the bulk). Nobody
    // pushed B that change, so B's holders may lack it: B tells them.
    let mut t = Three::new(false);
    let now = t.now;
    let _ = t.b_joins_the_path();
    let newer = t.a_changes_on_clients_ack();
    let applied =
        t.b.apply_peer(&newer.event, Source::batch(None, true), now)
            .expect("valid");
    assert_eq!(applied, Applied::Joined);
    assert_eq!(t.b.is_passive_copy(&t.key), Some(false));
    let told: Vec<_> = sync_out(&mut t.b, now + Duration::from_millis(10));
    assert!(
        told.iter()
            .any(|o| o.full.contains(A) && matches!(o.event, SyncEvent::Upsert(_))),
        "{told:?}"
    );
    // The same bulk again brings nothing new: nothing is sent.
    let again =
        t.b.apply_peer(&newer.event, Source::batch(None, true), now)
            .expect("valid");
    assert_eq!(again, Applied::Stale);
    assert!(sync_out(&mut t.b, now + Duration::from_millis(20)).is_empty());
}

#[test]
fn a_holder_back_empty_before_its_death_was_walked_leaves_no_copy_behind() {
    // A owns and directs the flow; D, its backup, turns passive when B
    // joins the path, and only A knows of D's copy. A dies: B's end of
    // the connection, sent to A alone, is lost with it. A restarts empty
    // and its new connection comes up at B before B saw the old one
    // down (the transport's order, docs/sync.md §5), so the walk for A's
    // leaving, which would have told D (the director while A was away),
    // is cut short, and the one that follows starts from the members
    // that stayed (B and D). It must still tell D the state: D, ranked
    // right after A, took it for a node that held the flow, and its
    // embryonic copy outlived the connection (the simulator, seed 10606
    // with --replaced-first).
    let (mut m, key) = ranked_as([A, D, B]);
    let (mut a, mut b, mut d) = (node(A), node(B), node(D));
    let now = Instant::from_secs(1_700_000_000);
    syn_opens_on(&mut a, &mut m, now);
    for o in sync_out(&mut a, now) {
        assert_eq!((o.full, o.passive), (PeerSet::of(D), PeerSet::EMPTY));
        d.apply_peer(&o.event, Source::batch(Some(A), false), now)
            .expect("valid");
    }
    // The SYN-ACK through B waits and pulls from A, the director, which
    // answers from the path and demotes D.
    let synack = m.syn_ack();
    let mut f = m.frame(&synack);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert_eq!(v, Verdict::Hold);
    let _ = effects(&mut b, now);
    a.serve_pull(&key, B, true, None, now);
    let out = effects(&mut a, now);
    let state = match pulls(&out).as_slice() {
        [
            PullOut::Answer {
                state,
                copy: AnswerCopy::Path,
                ..
            },
        ] => *state,
        other => panic!("A answers from the path: {other:?}"),
    };
    for o in out.into_iter().filter_map(Effect::into_sync) {
        assert_eq!((o.full, o.passive), (PeerSet::EMPTY, PeerSet::of(D)));
        d.apply_peer(&o.event, Source::batch(Some(A), true), now)
            .expect("valid");
    }
    assert_eq!(d.is_passive_copy(&key), Some(true));
    b.apply_peer(
        &SyncEvent::Upsert(state),
        Source::answer(A, AnswerCopy::Path, PeerSet::EMPTY),
        now,
    )
    .expect("valid");
    assert_eq!(released(&effects(&mut b, now)), 1);
    // A dies. The server resets the connection through B, whose end
    // goes to A alone: lost.
    let rst = m.rst(Side::Server);
    let mut f = m.frame(&rst);
    let v = b.process(&mut f, PacketMeta::default(), m.iface(Side::Server), now);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    for o in sync_out(&mut b, now) {
        assert!(!o.full.union(o.passive).contains(D), "{o:?}");
    }
    // A is back, empty, before B's walk for its leaving got anywhere:
    // the walk restarts from B and D to all three.
    let stayed = Placement::new([B, D], 2);
    let all = Placement::new([A, B, D], 2);
    b.set_placement(all.clone());
    let mut cursor = 0;
    let mut pushed = Vec::new();
    while !b.rebalance_chunk(&mut cursor, 1024, &stayed, &all, now, &mut pushed) {}
    // The walk's copies arrive passive (docs/sync.md §13).
    for (peer, state, holders) in &pushed {
        if *peer == D {
            d.apply_peer(
                &SyncEvent::Upsert(*state),
                Source::answer(B, AnswerCopy::Passive, *holders),
                now,
            )
            .expect("valid");
        }
    }
    let left = d.find(&m.tuple(), now).and_then(|e| e.tcp_state());
    assert!(
        left.is_none_or(|s| s == TcpState::Close),
        "D holds the connection {left:?} after its end (walk: {pushed:?})"
    );
}
