//! TCP Intercept (docs/asa-behaviour.md §2.2). Past a class's half-open
//! limit (`embryonic-conn-max`, or a client's `per-client-embryonic-max`)
//! the firewall answers a SYN itself, in the server's place, with a SYN
//! cookie: a SYN-ACK whose sequence number is a keyed hash of the flow,
//! the client's ISN and the time, and keeps nothing. Only a client that
//! receives it can acknowledge it, so a spoofed SYN flood fills no table
//! and reaches no server. A client's ACK of a valid cookie proves its
//! address: the firewall opens the connection to the server with the
//! client's ISN, acknowledges the server's SYN-ACK in the client's place,
//! and from then shifts the server's sequence numbers into the cookie's
//! space ([`Entry::seq_shift`](crate::conntrack::Entry::seq_shift)).
//!
//! The cookie's key derives from the sequence-randomization key, which the
//! nodes of a cluster share (docs/sync.md §1): any node can check a
//! cookie another node gave. The handshake with the server is ordinary
//! connection state, synced as any other; the node that sees the server's
//! SYN-ACK answers it, whichever it is.
//!
//! The cookie carries the client's MSS in 3 bits and nothing else: the
//! connection has no window scaling, SACK or timestamps (the firewall's
//! SYN-ACK offers none, so the SYN it sends the server offers none
//! either, RFC 7323 §2.2, RFC 2018 §2). Data the client sends before the
//! server answered is dropped (`intercept-unexpected`); the client
//! resends it.

use std::hash::{Hash, Hasher};

use super::admission::HalfOpen;
use super::reset::{self, Built, Kind, Segment};
use super::segment::{as_received, judge};
use super::{Effect, Engine, MAX_PENDING_EFFECTS, Opened, Pkt};
use crate::class_slot::SlotId;
use crate::conntrack::entry::conn_flags;
use crate::conntrack::tcp::Tracked;
use crate::conntrack::{Entry, FlowId, ProtoState, TcpState, TcpTrack};
use crate::counters::bump;
use crate::engine::acl_hits::ClassEntries;
use crate::engine::normalize::{self, TcpView};
use crate::flow::{Direction, FlowKey};
use crate::packet::{TcpFlags, TcpOptions, TcpSegment};
use crate::policy::compile::ConnOptions;
use crate::policy::mss::MssClamp;
use crate::seq::SeqNumber;
use crate::time::Instant;
use crate::verdict::DropReason;

/// Length of a cookie's time slot. A cookie is accepted in its own slot
/// and the slots either side (the next one for nodes whose clocks are a
/// little behind the node that gave it): for 64 to 128 seconds.
const SLOT_NANOS: u64 = 64_000_000_000;

/// The MSS values a cookie can carry (its low 3 bits index them): the
/// client's is rounded down to one of them (1380 is the default clamp,
/// `sysopt connection tcpmss`, so a clamped MSS keeps its value).
const MSS_TABLE: [u16; 8] = [536, 1220, 1300, 1360, 1380, 1400, 1440, 1460];

/// The window the firewall's SYN-ACK offers the client: no more than a
/// server's SYN-ACK usually offers, so the client's first flight fits the
/// window the server then announces (a segment past it would be dropped
/// as `tcp-seq-past-win`).
const COOKIE_WINDOW: u16 = 8192;

/// What TCP Intercept notes of the frame being judged, for the sync
/// layer's hold.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Judged {
    /// The frame is a cookie's data segment that waits for a peer's state
    /// (`tcp-not-syn` by [`Engine::intercept_accept`]'s choice): if the
    /// hold buffer has no room for it, it opens the connection at once,
    /// as it would at its hold deadline.
    pub waits: bool,
    /// The frame is judged again after waiting in the hold buffer: what it
    /// made the firewall send (a SYN again) was sent at its first
    /// judgement.
    pub again: bool,
}

/// The cookie for a client's SYN (`isn`) on `key` from the side
/// `src_is_lo` says, in time slot `slot`, carrying MSS index `mss`:
/// 27 bits of a keyed hash, the slot's low 2 bits, the index.
fn cookie(secret: [u64; 2], key: &FlowKey, src_is_lo: bool, isn: u32, slot: u64, mss: u32) -> u32 {
    // Its own key: nothing of it can be learned from the randomization
    // offsets, which hosts see.
    let mut h = siphasher::sip::SipHasher24::new_with_keys(
        secret[0] ^ 0x7463_7069_6e74_6572,
        secret[1].rotate_left(31) ^ 0x636f_6f6b_6965_7321,
    );
    key.hash(&mut h);
    src_is_lo.hash(&mut h);
    isn.hash(&mut h);
    slot.hash(&mut h);
    mss.hash(&mut h);
    (h.finish() as u32 & !0x1f) | ((slot as u32 & 3) << 3) | (mss & 7)
}

fn slot_of(now: Instant) -> u64 {
    now.as_nanos() / SLOT_NANOS
}

/// The MSS a cookie the firewall gave carries, if `c` is one for this
/// SYN and still valid at `now`.
fn check(
    secret: [u64; 2],
    key: &FlowKey,
    src_is_lo: bool,
    isn: u32,
    c: u32,
    now: Instant,
) -> Option<u16> {
    let (mss, low) = (c & 7, (c >> 3) & 3);
    let cur = slot_of(now);
    [cur.wrapping_add(1), cur, cur.wrapping_sub(1)]
        .into_iter()
        .find(|&slot| slot as u32 & 3 == low)
        .filter(|&slot| cookie(secret, key, src_is_lo, isn, slot, mss) == c)
        .map(|_| MSS_TABLE[mss as usize])
}

/// The MSS the firewall announces in the server's place: what the
/// server's own SYN-ACK would reach the client with at most (the policy's
/// clamp), else the client's own.
fn offered_mss(clamp: MssClamp, client: u16) -> u16 {
    if clamp == MssClamp::OFF {
        client
    } else {
        clamp.apply(client)
    }
}

impl Engine {
    /// Answer `syn` (as received: its MSS clamped), a SYN past its
    /// class's half-open limit, with a SYN cookie from the server's
    /// address. Nothing is kept.
    pub(super) fn intercept_syn(
        &mut self,
        pkt: &Pkt,
        syn: &TcpSegment,
    ) -> Result<Opened, DropReason> {
        // No host answers from a group, broadcast or reserved address: the
        // firewall does not either (its own parser refuses such a source,
        // `sp-security-failed`). Past the limit such a SYN is refused.
        if crate::packet::no_host_sends_from(pkt.tuple.dst.addr) {
            return Err(DropReason::EmbryonicConnLimit);
        }
        if self.effects.len() >= MAX_PENDING_EFFECTS {
            bump(&mut self.counters.effects_dropped);
            return Err(DropReason::TcpIntercepted);
        }
        let client_mss = syn.options.mss.unwrap_or(MSS_TABLE[0]);
        let mss = MSS_TABLE
            .iter()
            .rposition(|&m| m <= client_mss)
            .unwrap_or(0) as u32;
        let c = cookie(
            self.config.seq_secret,
            &pkt.key,
            pkt.src_is_lo,
            syn.seq.0,
            slot_of(pkt.now),
            mss,
        );
        let offered = offered_mss(self.policy.mss_clamp(), MSS_TABLE[mss as usize]);
        let frame = reset::build(
            pkt.tuple.dst,
            pkt.tuple.src,
            [pkt.macs[1], pkt.macs[0]],
            pkt.key.vlan,
            &Segment {
                seq: c,
                ack: (syn.seq + 1).0,
                window: COOKIE_WINDOW,
                kind: Kind::SynAck { mss: offered },
            },
        );
        bump(&mut self.counters.intercept.syn_cookies);
        self.effects.push_back(Effect::Transmit {
            egress: pkt.ingress,
            frame,
        });
        Err(DropReason::TcpIntercepted)
    }

    /// A segment that opens no connection (not a SYN, no entry): if it is
    /// a client's ACK of a valid cookie in a class that intercepts, open
    /// the connection toward the server in the client's place (the
    /// segment itself goes no further: data on it is resent by the
    /// client). Otherwise `tcp-not-syn`, as always.
    pub(super) fn intercept_accept(
        &mut self,
        pkt: &Pkt,
        seg: &TcpSegment,
        class: SlotId,
        options: &ConnOptions,
        entries: ClassEntries,
    ) -> Result<Opened, DropReason> {
        let intercepts = options.embryonic_conn_max > 0 || options.per_client_embryonic_max > 0;
        let f = seg.flags;
        if !intercepts
            || pkt.ah
            || !f.has(TcpFlags::ACK)
            || f.0 & (TcpFlags::SYN | TcpFlags::RST | TcpFlags::FIN) != 0
        {
            return Err(DropReason::TcpNotSyn);
        }
        let isn = seg.seq - 1;
        let c = seg.ack.0.wrapping_sub(1);
        let Some(client_mss) = check(
            self.config.seq_secret,
            &pkt.key,
            pkt.src_is_lo,
            isn.0,
            c,
            pkt.now,
        ) else {
            return Err(DropReason::TcpNotSyn);
        };
        // In a cluster, the client's data may reach this node before the
        // connection its handshake ACK opened on a peer does: a second
        // connection from the same cookie would supersede the first. Only
        // the handshake's own ACK opens at once; a segment with data waits
        // for a peer's state (`tcp-not-syn` is held and pulled), and opens
        // the connection at its hold deadline if none came (the ACK was
        // lost), or at once if the hold buffer has no room for it
        // (`intercept_without_waiting`).
        if seg.payload_len > 0
            && self.sync.as_ref().is_some_and(|s| s.active())
            && !self.lenient_passes
        {
            self.intercept.waits = true;
            return Err(DropReason::TcpNotSyn);
        }
        self.permitted(pkt)?;
        let clamp = self.policy.mss_clamp();
        // The SYN the server receives: the client's ISN and window (not
        // scaled: the cookie offered no scaling), its MSS as clamped.
        let mut syn = TcpSegment {
            seq: isn,
            ack: SeqNumber(0),
            flags: TcpFlags(TcpFlags::SYN),
            window: seg.window,
            options: TcpOptions {
                mss: Some(client_mss),
                ..TcpOptions::default()
            },
            payload_len: 0,
            header_len: 24,
        };
        as_received(&mut syn, clamp, &options.tcp_normalizer, false);
        let track = TcpTrack::open(&syn);
        let id = self.create(pkt, ProtoState::Tcp(track), class, HalfOpen::Proven)?;
        self.opened_in(entries);
        bump(&mut self.counters.tcp_transitions[0][track.state as usize]);
        {
            let mut e = self.table.get_mut(id);
            e.flags |= conn_flags::INTERCEPTED;
            e.seq_offset = c;
        }
        bump(&mut self.counters.intercept.accepted);
        self.send_syn(id);
        Err(DropReason::TcpIntercepted)
    }

    /// Judge again, as at its hold deadline, a cookie's data segment that
    /// was to wait for a peer's state and found no room in the hold
    /// buffer: it opens the connection (`tcp-intercept`).
    pub(super) fn intercept_without_waiting(
        &mut self,
        frame: &[u8],
        meta: crate::packet::PacketMeta,
        ingress: crate::verdict::IfaceId,
        now: Instant,
    ) -> crate::verdict::Verdict {
        let mut copy = frame.to_vec();
        let parsed = crate::packet::parse(&copy, meta);
        self.lenient_passes = true;
        let judged = self.judge(&mut copy, meta, ingress, now, &parsed, None);
        self.lenient_passes = false;
        self.count_decided(&judged.decided);
        match judged.decision {
            // The segment itself never passes (the handshake's ACK).
            Ok(_) => crate::verdict::Verdict::Drop(DropReason::HoldOverflow),
            Err(reason) => crate::verdict::Verdict::Drop(reason),
        }
    }

    /// The firewall's SYN toward the server of intercepted connection `id`.
    fn send_syn(&mut self, id: FlowId) {
        self.send_to_server(id, |e, macs, t| {
            let orig = &t.half[0];
            let mss = if orig.mss == 0 {
                MSS_TABLE[0]
            } else {
                orig.mss
            };
            reset::build(
                e.initiator(),
                e.responder(),
                macs,
                e.key.vlan,
                &Segment {
                    seq: (orig.end - 1).0,
                    ack: 0,
                    window: u16::try_from(orig.max_win).unwrap_or(u16::MAX),
                    kind: Kind::Syn { mss },
                },
            )
        });
    }

    /// The firewall's ACK of the server's SYN-ACK, in the client's place.
    fn send_ack(&mut self, id: FlowId) {
        self.send_to_server(id, |e, macs, t| {
            reset::frame(e, macs, t, Direction::Reply, Built::Ack)
        });
    }

    /// Send the segment `build` makes of intercepted connection `id` (its
    /// entry, MACs and track) toward its server, unless that interface is
    /// shut or the effects queue is full (counted).
    fn send_to_server(
        &mut self,
        id: FlowId,
        build: impl FnOnce(&Entry, crate::conntrack::Macs, &TcpTrack) -> Vec<u8>,
    ) {
        let entry = *self.table.get(id);
        let ProtoState::Tcp(t) = &entry.proto else {
            return;
        };
        let egress = entry.ingress[Direction::Reply.index()];
        if self.policy.is_shut(egress) {
            return;
        }
        if self.effects.len() >= MAX_PENDING_EFFECTS {
            bump(&mut self.counters.effects_dropped);
            return;
        }
        let frame = build(&entry, self.table.macs_of(&entry), t);
        self.effects.push_back(Effect::Transmit { egress, frame });
    }

    /// A segment of intercepted connection `id` in the handshake's part
    /// the firewall plays: any while the server has not answered, and the
    /// server's SYNs after.
    pub(super) fn intercept_handshake(
        &mut self,
        id: FlowId,
        dir: Direction,
        pkt: &Pkt,
        seg: &TcpSegment,
        frame: &mut [u8],
        view: &TcpView,
    ) -> Result<Opened, DropReason> {
        let entry = *self.table.get(id);
        let ProtoState::Tcp(mut track) = entry.proto else {
            unreachable!("only TCP entries are intercepted")
        };
        let pending = entry.intercept_pending();
        let f = seg.flags;
        let unexpected = |e: &mut Engine| {
            if !e.intercept.again {
                bump(&mut e.counters.intercept.unexpected);
            }
            Err(DropReason::InterceptUnexpected)
        };
        let orig_end = track.half[0].end;
        match dir {
            // The client's RST at the sequence number the server expects
            // takes the half-open connection down both here and there.
            Direction::Orig if f.has(TcpFlags::RST) && seg.seq == orig_end => {
                let map = &self.classes.get(entry.class).options.tcp_normalizer;
                judge(map, track.half[1].mss, seg, frame, view)?;
                let before = track.state;
                track.state = TcpState::Close;
                self.intercept_moved(&entry, before, track.state);
                self.relay_reset(id, track, dir, pkt, seg, frame, view);
                Ok(None)
            }
            Direction::Orig => {
                // The client thinks the connection open; the server has
                // not answered (or its answer is on a peer, which a
                // cluster waits for): the SYN may have been lost.
                // Once per flight: its first segment, or the client's
                // retransmission of it (a whole first flight would send
                // as many SYNs).
                if !self.intercept.again
                    && f.has(TcpFlags::ACK)
                    && seg.seq == orig_end
                    && seg.ack.0 == entry.seq_offset.wrapping_add(1)
                    && f.0 & (TcpFlags::SYN | TcpFlags::RST) == 0
                {
                    bump(&mut self.counters.intercept.syn_resent);
                    self.send_syn(id);
                }
                unexpected(self)
            }
            Direction::Reply if f.has(TcpFlags::SYN | TcpFlags::ACK) && pending => {
                let clamp = self.policy.mss_clamp();
                let map = &self.classes.get(entry.class).options.tcp_normalizer;
                // The class's normalizer first (`synack-data drop`).
                judge(map, track.half[0].mss, seg, frame, view)?;
                let mut seen = *seg;
                as_received(&mut seen, clamp, map, false);
                // Data on it (a map allowing it) the client does not get:
                // the firewall acknowledges the SYN alone, and the server
                // sends the data again.
                seen.payload_len = 0;
                // The client sends by the MSS it was offered in the
                // server's place (`exceed-mss` judges its data by it).
                let offered = offered_mss(clamp, MSS_TABLE[(entry.seq_offset & 7) as usize]);
                seen.options.mss = Some(offered);
                let before = track.state;
                if !matches!(track.track(Direction::Reply, &seen)?, Tracked::Pass { .. }) {
                    return unexpected(self);
                }
                // The client's ACK, as it would have sent it.
                let ack = TcpSegment {
                    seq: track.half[0].end,
                    ack: track.half[1].end,
                    flags: TcpFlags(TcpFlags::ACK),
                    window: u16::try_from(track.half[0].max_win).unwrap_or(u16::MAX),
                    options: TcpOptions::default(),
                    payload_len: 0,
                    header_len: 20,
                };
                if !matches!(track.track(Direction::Orig, &ack)?, Tracked::Pass { .. }) {
                    return unexpected(self);
                }
                self.intercept_moved(&entry, before, track.state);
                let mut e = self.table.get_mut(id);
                e.proto = ProtoState::Tcp(track);
                e.seq_offset = entry.seq_offset.wrapping_sub(seg.seq.0);
                super::account(&mut e, dir, pkt.ip_len, pkt.now, true);
                drop(e);
                bump(&mut self.counters.intercept.established);
                self.send_ack(id);
                self.sync_touch(id, true, pkt.now);
                Err(DropReason::TcpIntercepted)
            }
            // The server's SYN-ACK again: the firewall's ACK was lost.
            Direction::Reply
                if f.has(TcpFlags::SYN | TcpFlags::ACK)
                    && seg.seq + 1 == track.half[1].end
                    && seg.ack == orig_end =>
            {
                self.send_ack(id);
                Err(DropReason::TcpIntercepted)
            }
            // The server refuses the connection: the client, which thinks
            // it open, gets the RST at the sequence number it expects.
            Direction::Reply if f.has(TcpFlags::RST) && pending => {
                let map = &self.classes.get(entry.class).options.tcp_normalizer;
                judge(map, track.half[0].mss, seg, frame, view)?;
                let before = track.state;
                if !matches!(track.track(Direction::Reply, seg)?, Tracked::Pass { .. }) {
                    return unexpected(self);
                }
                self.intercept_moved(&entry, before, track.state);
                self.relay_reset(id, track, dir, pkt, seg, frame, view);
                let to = entry.seq_offset.wrapping_add(1);
                normalize::shift_seq(frame, view, to.wrapping_sub(seg.seq.0));
                Ok(None)
            }
            Direction::Reply => unexpected(self),
        }
    }

    /// A RST of intercepted connection `id` that closes it while the
    /// server has not answered, relayed: the normalizer's rewrites as on
    /// any segment it passes, the entry closed with `track`.
    #[allow(clippy::too_many_arguments)]
    fn relay_reset(
        &mut self,
        id: FlowId,
        track: TcpTrack,
        dir: Direction,
        pkt: &Pkt,
        seg: &TcpSegment,
        frame: &mut [u8],
        view: &TcpView,
    ) {
        let clamp = self.policy.mss_clamp();
        let mut e = self.table.get_mut(id);
        let map = &self.classes.get(e.class).options.tcp_normalizer;
        e.proto = ProtoState::Tcp(track);
        e.flags |= conn_flags::reset_by(dir);
        super::account(&mut e, dir, pkt.ip_len, pkt.now, true);
        super::segment::normalize_and_shift(
            &mut e,
            &mut self.counters.normalizer,
            dir,
            seg,
            frame,
            view,
            super::segment::Floor::Lower,
            clamp,
            map,
        );
        drop(e);
        self.sync_touch(id, true, pkt.now);
    }

    /// Count intercepted connection `entry`'s move from state `from` to
    /// `to` (out of the half-open counts if it left the handshake).
    fn intercept_moved(&mut self, entry: &crate::conntrack::Entry, from: TcpState, to: TcpState) {
        if from == to {
            return;
        }
        bump(&mut self.counters.tcp_transitions[from as usize][to as usize]);
        if from.is_embryonic() && !to.is_embryonic() {
            self.classes
                .established(entry.class, entry.initiator_host());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FlowKey {
        use crate::flow::{Addr, Endpoint, Tuple, proto};
        let end = |a, port| Endpoint {
            addr: Addr::v4(a),
            port,
        };
        let t = Tuple {
            src: end([198, 18, 0, 1], 40000),
            dst: end([198, 18, 1, 1], 80),
            proto: proto::TCP,
            vlan: 0,
        };
        FlowKey::of(&t).0
    }

    #[test]
    fn a_cookie_checks_in_its_slot_and_the_slots_either_side_only() {
        let s = [1, 2];
        let t = Instant::from_nanos(10 * SLOT_NANOS + 5);
        let c = cookie(s, &key(), true, 1000, slot_of(t), 7);
        for (dt, ok) in [(0i64, true), (1, true), (-1, true), (2, false), (-2, false)] {
            let at = Instant::from_nanos((10 + dt) as u64 * SLOT_NANOS + 7);
            assert_eq!(
                check(s, &key(), true, 1000, c, at).is_some(),
                ok,
                "slot offset {dt}"
            );
        }
        assert_eq!(check(s, &key(), true, 1000, c, t), Some(1460));
        // Another ISN, side, key or secret: no.
        assert_eq!(check(s, &key(), true, 1001, c, t), None);
        assert_eq!(check(s, &key(), false, 1000, c, t), None);
        assert_eq!(check([1, 3], &key(), true, 1000, c, t), None);
        // The MSS bits are covered by the hash.
        assert_eq!(check(s, &key(), true, 1000, c ^ 1, t), None);
        assert_eq!(check(s, &key(), true, 1000, c ^ 0x20, t), None);
    }
}
