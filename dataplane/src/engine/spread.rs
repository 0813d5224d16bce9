//! Which of a node's workers judges a frame (docs/io.md §9). The kernel's
//! fanout program gives a flow's packets the worker of its key
//! ([`WorkerShare::worker_of`](super::fragment::WorkerShare)), by its
//! addresses and, for TCP and UDP, its ports: that worker holds the flow,
//! and the node sends it what peers say of the flow. Some frames the
//! program can only spread by their addresses; each such frame is handed
//! to the worker of the flow it belongs to, which judges it and lets it
//! out:
//!
//! - the fragments of a datagram, reassembled first (`fragment.rs`);
//! - an ICMP error, spread by its own addresses: to the worker of the flow
//!   it quotes, unless this worker holds that flow;
//! - a TCP or UDP packet behind more IPv6 extension headers than the
//!   program walks (`EXTENSION_HEADERS_WALKED` in the AF_PACKET crate's
//!   `fanout`, six: RFC 8200 §4.1's order holds no more). The engine keys
//!   such a packet by its ports, as any other of its flow, wherever its
//!   headers end.
//!
//! A frame handed on is counted as held by the worker it reached; the
//! shell sends nothing now.

use super::fragment::Handed;
use super::{Effect, Engine};
use crate::counters::VerdictKind;
use crate::flow::FlowKey;
use crate::packet::{Icmp, PacketMeta, Parsed, Transport};
use crate::verdict::{DropReason, IfaceId, Verdict};

/// The fixed IPv6 header (RFC 8200 §3): transport headers further on
/// follow extension headers.
const IPV6_HEADER_LEN: u16 = 40;

impl Engine {
    /// A frame another worker must judge, arrived here on `ingress`:
    /// handed to that worker. `None` when it is this worker's to judge.
    pub(super) fn hand_off_foreign(
        &mut self,
        frame: &[u8],
        meta: PacketMeta,
        ingress: IfaceId,
        parsed: &Result<Parsed, DropReason>,
    ) -> Option<Verdict> {
        let share = self.config.workers.filter(|s| s.count > 1)?;
        let Ok(Parsed::Ip {
            tuple,
            transport,
            l3,
            l4,
            ah,
            ..
        }) = parsed
        else {
            return None;
        };
        let key = match transport {
            Transport::Icmp(Icmp::Error { quoted, .. }) => {
                let key = FlowKey::of(quoted).0;
                // Held here: judged where its flow is.
                if self.table.find(self.table.hash(&key), &key).is_some() {
                    return None;
                }
                key
            }
            // Only such a packet may have been spread by its addresses.
            Transport::Tcp(_) | Transport::Udp { .. }
                if *ah || (tuple.src.addr.is_v6() && l4.saturating_sub(*l3) > IPV6_HEADER_LEN) =>
            {
                FlowKey::of(tuple).0
            }
            _ => return None,
        };
        let worker = (share.worker_of)(&key, share.count);
        if worker == share.index {
            return None;
        }
        self.push_effect(Effect::HandOff {
            worker,
            chain: Box::new(Handed::whole(ingress, frame.to_vec(), meta)),
        });
        self.counters
            .count_frame(usize::from(ingress.0), VerdictKind::Hold, frame.len());
        Some(Verdict::Hold)
    }
}
