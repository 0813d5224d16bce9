//! UDP, ICMP echo and other IP protocols' flows: an idle timeout and no
//! state machine; an inspected echo flow passes one reply per request
//! (docs/asa-behaviour.md §2.1, §2.5).

use super::{Engine, Kind, Opened, Pkt, account};
use crate::conntrack::entry::conn_flags;
use crate::conntrack::{EchoSeqs, ProtoState};
use crate::counters::RemoveReason;
use crate::flow::Direction;
use crate::verdict::DropReason;

impl Engine {
    /// UDP, ICMP echo and any other IP protocol (GRE, ESP, SCTP, …):
    /// flows with an idle timeout and no state machine; an inspected echo
    /// flow passes one reply per request (docs/asa-behaviour.md §2.5).
    pub(super) fn datagram(&mut self, pkt: &Pkt, kind: Kind) -> Result<Opened, DropReason> {
        let (key, src_is_lo, hash) = (pkt.key, pkt.src_is_lo, pkt.hash);
        let Some(id) = self.lookup_hinted(hash, &key, pkt.hint, pkt.now) else {
            return self.open_datagram(pkt, kind);
        };
        // As for TCP: a passive copy is refreshed by a pull first.
        if self.passive_copy(id) {
            return Err(DropReason::LenientWait);
        }
        let mut entry = self.table.get_mut(id);
        let dir = entry.direction(src_is_lo);
        if entry.ingress[dir.index()] != pkt.ingress {
            return Err(DropReason::InterfaceMismatch);
        }
        if entry.ah() != pkt.ah {
            return Err(DropReason::AhMismatch);
        }
        let mut changed = false;
        match (kind, dir, &mut entry.proto) {
            // An echo reply answers the requester, never the reverse; a
            // request from the responder's side that shares the flow's key
            // (both identifiers 0) is no part of this flow: the rules judge
            // it alone.
            (Kind::EchoReply(_), Direction::Orig, _) => return Err(DropReason::IcmpNoConnection),
            (Kind::EchoRequest(_), Direction::Reply, _) => {
                drop(entry);
                return self.permitted(pkt).map(|()| None);
            }
            (Kind::EchoRequest(seq), Direction::Orig, ProtoState::IcmpEcho(seqs)) => {
                let mut next = *seqs;
                match next.request(seq) {
                    // A new request: the ASA's connection for each request
                    // ends with its reply, so the next request is judged by
                    // the rules in force, as one opening the flow is
                    // (docs/asa-behaviour.md §2.5); else a running ping
                    // outlived an access list, or the end of `inspect
                    // icmp`, that denies it. Uninspected now, it is judged
                    // by the rules alone and not recorded. Denied, it is
                    // not recorded either, and the flow stays for the
                    // replies to earlier requests.
                    Some(true) => {
                        drop(entry);
                        if !self.icmp_inspection(pkt).echo {
                            return self.permitted(pkt).map(|()| None);
                        }
                        self.permitted(pkt)?;
                        entry = self.table.get_mut(id);
                        if let ProtoState::IcmpEcho(seqs) = &mut entry.proto {
                            *seqs = next;
                        }
                        changed = true;
                    }
                    // Asked again before its reply: its connection is open.
                    Some(false) => {}
                    // Far behind the window (or half the sequence space
                    // ahead), or asked again after its reply: the
                    // identifier's numbering started anew (a new ping on
                    // the same identifier, a fixed-sequence probe). A new
                    // incarnation replaces the flow, as a SYN on a closed
                    // tuple does, and only for a request the rules let
                    // open the new flow (a denied one changes nothing).
                    None => {
                        let created = entry.created;
                        drop(entry);
                        self.permitted(pkt)?;
                        self.reopened_after = Some(created);
                        self.remove(id, RemoveReason::Reopen);
                        return self.open_datagram(pkt, kind);
                    }
                }
            }
            (Kind::EchoReply(seq), Direction::Reply, ProtoState::IcmpEcho(seqs)) => {
                if seqs.answer(seq).is_err() {
                    drop(entry);
                    // A request passed without inspection (above) left no
                    // trace here: its reply, too, is the rules' alone.
                    if !self.icmp_inspection(pkt).echo {
                        return self.permitted(pkt).map(|()| None);
                    }
                    return Err(DropReason::IcmpSeqMismatch);
                }
                changed = true;
            }
            _ => {}
        }
        if dir == Direction::Reply && entry.flags & conn_flags::REPLIED == 0 {
            entry.flags |= conn_flags::REPLIED;
            changed = true;
        }
        account(&mut entry, dir, pkt.ip_len, pkt.now, true);
        drop(entry);
        self.sync_touch(id, changed, pkt.now);
        Ok(None)
    }

    /// A UDP datagram, echo request or other protocol's packet that no flow
    /// holds opens one where the rules permit it.
    fn open_datagram(&mut self, pkt: &Pkt, kind: Kind) -> Result<Opened, DropReason> {
        // Without `inspect icmp` echo is stateless, as on the ASA: each
        // request and reply is judged by the access rules on its own and
        // opens nothing (docs/asa-behaviour.md §2.5).
        if matches!(kind, Kind::EchoRequest(_) | Kind::EchoReply(_))
            && !self.icmp_inspection(pkt).echo
        {
            return self.permitted(pkt).map(|()| None);
        }
        let proto = match kind {
            Kind::Udp => ProtoState::Udp,
            Kind::Other => ProtoState::Other,
            Kind::EchoRequest(seq) => ProtoState::IcmpEcho(EchoSeqs::opened(seq)),
            Kind::EchoReply(_) => return Err(DropReason::IcmpNoConnection),
        };
        self.permitted(pkt)?;
        let (class, _, _, entries) = self.classify(pkt);
        let id = self.create(pkt, proto, class, super::admission::HalfOpen::Replace)?;
        self.opened_in(entries);
        Ok(self.opened(id))
    }
}
