//! Connection log events: what the ASA reports as syslog messages 302013/
//! 302014 (TCP built/teardown), 302303/302304 (state-bypass), 302015/302016
//! (UDP), 106023 and 106015 (denies). The engine only records them in a
//! bounded queue, off by default; the shell takes them between batches and
//! the ops crate formats them. A full queue drops the event and counts it
//! (`Counters::conn_events_dropped`), so logging can never slow the packet
//! path by more than one copy of an entry per connection.

use std::collections::VecDeque;
use std::time::Duration;

use super::Engine;
use crate::conntrack::{Entry, ProtoState, TcpState};
use crate::counters::{RemoveReason, bump};
use crate::flow::Tuple;
use crate::packet::{PacketMeta, Parsed, TcpFlags, Transport, parse};
use crate::policy::classifier::Probe;
use crate::policy::compile::DeniedBy;
use crate::time::Instant;
use crate::verdict::{DropReason, IfaceId};

/// Most events queued between two takes when the shell does not say.
pub const DEFAULT_CONN_EVENTS_MAX: usize = 4096;

/// One connection event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// A connection was created by this node.
    Built(Entry),
    /// A connection this node owns left the table.
    Teardown {
        /// The entry as it was last.
        entry: Entry,
        /// Why it left.
        reason: RemoveReason,
        /// When it ended: its last packet, or for an idle expiry of a live
        /// connection the moment its timeout ran out.
        ended: Instant,
    },
    /// A packet that would have opened a connection was refused.
    Denied {
        /// The packet's tuple.
        tuple: Tuple,
        /// Where it arrived.
        ingress: IfaceId,
        /// Where it would have gone.
        egress: IfaceId,
        /// The access-group whose list refused it, and the list's name
        /// (as the policy that refused it names it); `None` when the
        /// security levels did, or for `TcpNotSyn`.
        by: Option<DeniedBy>,
        /// `AclDeny` or `TcpNotSyn`.
        reason: DropReason,
        /// TCP flags or ICMP type and code.
        detail: DenyDetail,
        /// When.
        at: Instant,
    },
    /// A packet from a shunned source was dropped (syslog 401004).
    Shunned {
        /// Its source.
        src: std::net::IpAddr,
        /// Its destination.
        dst: std::net::IpAddr,
        /// Where it arrived.
        ingress: IfaceId,
        /// When.
        at: Instant,
    },
}

/// What the deny messages print beyond the tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyDetail {
    /// TCP flags of the segment.
    Tcp(TcpFlags),
    /// ICMP type and code.
    Icmp {
        /// Type.
        icmp_type: u8,
        /// Code.
        code: u8,
    },
    /// Nothing more (UDP and other protocols: the tuple says which).
    None,
}

/// The bounded queue.
#[derive(Debug, Default)]
pub(super) struct ConnLog {
    events: VecDeque<ConnEvent>,
    /// 0: logging off.
    capacity: usize,
}

impl ConnLog {
    pub(super) fn on(&self) -> bool {
        self.capacity > 0
    }
}

impl Engine {
    /// Record connection events, at most `capacity` between two
    /// [`take_conn_events`](Self::take_conn_events) (0 turns logging off).
    pub fn set_conn_log(&mut self, capacity: usize) {
        self.conn_log.capacity = capacity;
        self.conn_log.events.truncate(capacity);
    }

    /// Move the recorded events, oldest first, to `out`.
    pub fn take_conn_events(&mut self, out: &mut Vec<ConnEvent>) {
        out.extend(self.conn_log.events.drain(..));
    }

    pub(super) fn push_conn_event(&mut self, ev: ConnEvent) {
        if self.conn_log.events.len() >= self.conn_log.capacity {
            bump(&mut self.counters.conn_events_dropped);
            return;
        }
        self.conn_log.events.push_back(ev);
    }

    pub(super) fn log_built(&mut self, entry: &Entry) {
        if self.conn_log.on() {
            self.push_conn_event(ConnEvent::Built(*entry));
        }
    }

    /// The owner logs the teardown (a node that learned a flow from a peer
    /// did not build it either).
    pub(super) fn log_teardown(&mut self, entry: &Entry, reason: RemoveReason) {
        if !self.conn_log.on() || entry.owner != self.config.node {
            return;
        }
        let closed = matches!(
            entry.proto,
            ProtoState::Tcp(t) if matches!(t.state, TcpState::TimeWait | TcpState::Close)
        );
        let ended = if reason == RemoveReason::Timeout && !closed {
            entry.last_seen + self.timeout_of(entry)
        } else {
            entry.last_seen
        };
        self.push_conn_event(ConnEvent::Teardown {
            entry: *entry,
            reason,
            ended,
        });
    }

    /// A frame dropped for `reason`: log the denies the ASA logs.
    pub(super) fn log_denied(
        &mut self,
        frame: &[u8],
        meta: PacketMeta,
        ingress: IfaceId,
        reason: DropReason,
        at: Instant,
    ) {
        if !self.conn_log.on() || !matches!(reason, DropReason::AclDeny | DropReason::TcpNotSyn) {
            return;
        }
        if self.conn_log.events.len() >= self.conn_log.capacity {
            // Skip the parse too: a flood costs one comparison per frame.
            bump(&mut self.counters.conn_events_dropped);
            return;
        }
        let Ok(Parsed::Ip {
            tuple,
            transport,
            ah,
            ..
        }) = parse(frame, meta)
        else {
            return;
        };
        // An entry with `log disable` denied it: nothing is logged. Asked
        // of the policy again here, on the logging path of a denied
        // packet only, as the parse above is redone: the verdict's path
        // carries no logging state.
        let egress = self
            .config
            .interfaces
            .get(usize::from(ingress.0))
            .map_or(ingress, |i| i.peer);
        let icmp = transport.icmp_type_code(tuple.src.addr.is_v6());
        let by = if reason == DropReason::AclDeny {
            let probe = Probe::of_packet(&tuple, ah, icmp);
            let d = self.policy.permits_by(ingress, egress, &probe);
            if !self.policy.decision_logged(&d, &probe) {
                return;
            }
            self.policy.denied_list(&d)
        } else {
            None
        };
        let detail = match transport {
            Transport::Tcp(seg) => DenyDetail::Tcp(seg.flags),
            Transport::Icmp(i) => {
                let Some((icmp_type, code)) = i.type_code(tuple.src.addr.is_v6()) else {
                    return;
                };
                DenyDetail::Icmp { icmp_type, code }
            }
            Transport::Udp { .. } | Transport::Other => DenyDetail::None,
        };
        self.push_conn_event(ConnEvent::Denied {
            tuple,
            ingress,
            egress,
            by,
            reason,
            detail,
            at,
        });
    }
}

/// How long a connection lasted, as its teardown message prints it.
pub fn duration(entry: &Entry, ended: Instant) -> Duration {
    ended.saturating_since(entry.created)
}
