//! ICMP errors about a connection (docs/asa-behaviour.md §2.5): an
//! inspected error passes only toward the sender of a live connection's
//! packet it quotes, and leaves with the quote as that sender sent it
//! (§6.2).

use super::{Engine, Pkt, normalize};
use crate::conntrack::{FlowId, ProtoState};
use crate::counters::bump;
use crate::flow::{Direction, FlowKey, Tuple, proto};
use crate::policy::classifier::Probe;
use crate::seq::SeqNumber;
use crate::verdict::DropReason;

impl Engine {
    /// An ICMP error. Inspected (`inspect icmp error`, or `inspect icmp`
    /// for an error about an echo), it passes only if it quotes a live
    /// connection and travels back toward the sender of the quoted packet
    /// (RFC 5927 §4.1's advice to middleboxes: match errors to state, drop
    /// the rest). Uninspected, the access rules judge it like any packet,
    /// as on the ASA (docs/asa-behaviour.md §2.5). An inspected error that
    /// quotes a TCP segment passes only if the sequence number it quotes
    /// is one that segment could have had (`quoted_seq_ok`).
    pub(super) fn icmp_error(
        &mut self,
        pkt: &Pkt,
        quoted: &Tuple,
        quoted_seq: Option<SeqNumber>,
        frame: &mut [u8],
        at: (usize, usize),
    ) -> Result<(), DropReason> {
        let inspect = self.icmp_inspection(pkt);
        let about_echo = matches!(quoted.proto, proto::ICMP | proto::ICMPV6);
        if !(inspect.error || inspect.echo && about_echo) {
            self.permitted(pkt)?;
            // Passed by the rules: an error about a connection known here
            // still gets its quoted sequence number back (below).
            if pkt.tuple.dst.addr == quoted.src.addr
                && let Some((id, back)) = self.quoted_entry(pkt, quoted)
                && self.table.get(id).ingress[back.index()] == pkt.ingress
            {
                self.unshift_quoted(id, back, quoted, frame, at);
            }
            return Ok(());
        }
        if pkt.tuple.dst.addr != quoted.src.addr {
            return Err(DropReason::IcmpNoConnection);
        }
        let (id, back) = self
            .quoted_entry(pkt, quoted)
            .ok_or(DropReason::IcmpNoConnection)?;
        if self.table.get(id).ingress[back.index()] != pkt.ingress {
            return Err(DropReason::InterfaceMismatch);
        }
        if let Some(seq) = quoted_seq {
            self.quoted_seq_ok(id, back, seq)?;
        }
        self.unshift_quoted(id, back, quoted, frame, at);
        bump(&mut self.counters.icmp_related_passed);
        Ok(())
    }

    /// The check OpenBSD pf makes of a TCP header an ICMP error quotes:
    /// its sequence number lies where its sender's segments could have
    /// been (`TcpTrack::quoted_seq_in_window`), or the error is dropped
    /// as `icmp-err-bad-seq`. Without it, anyone who knew a connection's
    /// addresses and ports could send its endpoints errors (an unreachable
    /// that resets it, RFC 5927 §4.1), and bytes riding on them, past
    /// access rules that deny them. The quote is of a segment as it travelled on the side
    /// the error comes from: a segment of the initiator's, quoted from the
    /// responder's side, carries the randomization offset the tracker's
    /// initiator half does not have; the responder's sequence numbers are
    /// never shifted. A connection without windows (`tcp-state-bypass`)
    /// has nothing to check against.
    fn quoted_seq_ok(&self, id: FlowId, back: Direction, seq: SeqNumber) -> Result<(), DropReason> {
        let entry = self.table.get(id);
        let ProtoState::Tcp(track) = &entry.proto else {
            return Ok(());
        };
        let sent = back.other();
        let seq = seq - entry.seq_shift(sent);
        if track.quoted_seq_in_window(sent, seq) {
            Ok(())
        } else {
            Err(DropReason::IcmpErrorBadSeq)
        }
    }

    /// The live entry an ICMP error quotes, and the direction the error
    /// travels in it (against the quoted packet's).
    fn quoted_entry(&mut self, pkt: &Pkt, quoted: &Tuple) -> Option<(FlowId, Direction)> {
        let (key, quoted_src_is_lo) = FlowKey::of(quoted);
        let hash = self.table.hash(&key);
        let id = self.lookup(hash, &key, pkt.now)?;
        let back = self.table.get(id).direction(quoted_src_is_lo).other();
        Some((id, back))
    }

    /// Give the initiator the sequence number it sent back in an error
    /// quoting its segment, and the responder the acknowledgement and SACK
    /// edges it sent in an error quoting its own.
    fn unshift_quoted(
        &mut self,
        id: FlowId,
        back: Direction,
        quoted: &Tuple,
        frame: &mut [u8],
        (icmp_at, quoted_l4_at): (usize, usize),
    ) {
        let entry = self.table.get(id);
        // An error about the initiator's segment quotes it as the far side
        // saw it, shifted by randomization: give the initiator its own
        // sequence number back, or its stack discards the error (RFC 5927
        // §4.1 has stacks check the quoted sequence number).
        // The quoted TCP header starts where the parser found it, past any
        // IPv4 options, authentication header or IPv6 extension headers.
        // The same for the responder's segments when TCP Intercept shifts
        // them (`Entry::seq_shift`).
        if quoted.proto != proto::TCP {
            return;
        }
        let (acked, sent) = (entry.seq_shift(back), entry.seq_shift(back.other()));
        if acked != 0 {
            normalize::reshift_quoted_ack(frame, quoted_l4_at, icmp_at + 2, acked);
        }
        if sent != 0 {
            normalize::unshift_quoted_seq(frame, quoted_l4_at, icmp_at + 2, sent);
        }
    }

    /// For an ICMP error no entry here matches: could a peer hold the
    /// connection it quotes? Only if the rules permit that connection one
    /// way or the other; otherwise anyone could have the node hold (and
    /// pull for) errors quoting made-up tuples under `inspect icmp error`.
    /// The quoted packet crossed the firewall the other way from the error.
    pub(super) fn peer_could_hold_quoted(&self, pkt: &Pkt, quoted: &crate::flow::Tuple) -> bool {
        if !self.sync.as_ref().is_some_and(|s| s.active()) {
            return false;
        }
        let v6 = quoted.src.addr.is_v6();
        // A quoted echo names a flow its request opened, one way or the
        // other (a request and a reply of identifier 0 quote alike): ask
        // the rules about the request each way, never about the quote's
        // ports taken for a type and code (its "ports" are the echo
        // identifier). Any other quote is asked as its packet travelled,
        // and as its reply.
        let (out, back) = if proto::is_icmp_of(quoted.proto, v6) {
            (
                Probe::echo_request(v6, quoted.src.addr, quoted.dst.addr),
                Probe::echo_request(v6, quoted.dst.addr, quoted.src.addr),
            )
        } else {
            let out = Probe::of_packet(quoted, false, None);
            let Some(back) = out.reversed() else {
                return false;
            };
            (out, back)
        };
        self.policy.permits(pkt.egress, pkt.ingress, &out)
            || self.policy.permits(pkt.ingress, pkt.egress, &back)
    }
}
